"""A method's options, the same for every file of a run: checked and loaded up front, then turned into each
image's keywords.
"""

from __future__ import annotations

from pathlib import Path

from ._files import UsageError
from ._read_write import _FileError, _read_one, _reason


def _range(values):
    if values is None:
        return None
    lo, hi = values
    return (int(lo), int(hi)) if lo.is_integer() and hi.is_integer() else (lo, hi)


def _weights(text: str):
    """specify's --histogram: a name, comma-separated weights or a file of weights."""
    import numpy as np

    if text in ("uniform", "rayleigh", "exponential"):
        return text
    path = Path(text)
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        if path.exists():
            return np.loadtxt(path, delimiter="," if "," in path.read_text() else None, ndmin=1)
        return np.array([float(w) for w in text.split(",")])
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"--histogram {text}: not a name, weights or a readable weights file ({_reason(exc)})"
        ) from exc


class _Options:
    """The method's options, the same for every file: checked and loaded (mask, reference, histogram) up front,
    then turned into each image's keywords."""

    def __init__(self, args, threads: int | None):
        self.args = args
        self.method = args.command
        self.threads = threads
        self.mask = None if args.mask is None else _read_one(args.mask, "--mask") != 0
        self.extra: dict = {}
        self.reference_colour: bool | None = None
        self._grey_as_rgb = None
        if self.method == "match":
            self.extra["reference"] = reference = _read_one(args.reference, "--reference")
            # An image file's format says whether it is colour, as for the inputs; an array's (--channel-axis,
            # .npy, .zarr) is left to histeq.match, which takes the image's channel axis, counted from the end.
            if args.channel_axis is None and args.reference.suffix.lower() not in (".npy", ".npz", ".zarr"):
                from .. import io

                self.reference_colour = io.is_color_file(args.reference, reference)
            if args.reference_mask is not None:
                self.extra["reference_mask"] = _read_one(args.reference_mask, "--reference-mask") != 0
        if self.method == "specify":
            from .._backends.cpu.matching import target_weights

            try:
                self.extra["histogram"] = target_weights(_weights(args.histogram), args.alpha)
            except (ValueError, TypeError) as exc:
                raise UsageError(f"--histogram {args.histogram} --alpha {args.alpha}: {exc}") from exc
            self.extra["alpha"] = args.alpha
        self._check_options()

    def _check_options(self) -> None:
        """Options that no image could take (``--compat opencv --exact``, ``--in-range 200 100``, ...) are a
        usage error before any file is touched: the method is tried on small stand-in images of the dtypes
        files come in, and the options fail only when every stand-in refuses them.  (An option that only some
        files refuse, such as a range beyond 8 bits, is those files' error.)"""
        import numpy as np

        import histeq

        method = getattr(histeq, self.method)
        colour = self.args.color not in (None, "per-channel")
        if self.reference_colour is not None:
            # Only images of the reference's kind can be matched to it (see _reference): the others are those
            # files' errors, not the options'.
            colour = self.reference_colour
        if self.method == "clahe" and self.args.kernel_size and self.args.tiles:
            raise UsageError("give the regions either as --tiles (counts) or as --kernel-size (sizes), not both")
        if self.method == "clahe" and self.args.spacing and not self.args.kernel_size:
            raise UsageError("--spacing gives the units of --kernel-size; it needs --kernel-size")
        tiles = self.args.tiles if self.method == "clahe" and self.args.tiles else [8]
        ndim = max([2, len(tiles)] + [a + 1 if a >= 0 else -a for a in self.args.axes or []])
        shape = self.mask.shape if self.mask is not None else (max(16, *tiles),) * ndim
        errors = []
        for dtype in (np.uint16, np.uint8, np.float64, np.int16, np.int32):
            stand_in = np.zeros(shape + ((3,) if colour else ()), dtype)
            stand_in.flat[::2] = 1
            try:
                kwargs = self.kwargs(Path("options"), stand_in, -1 if colour else None)
                if "kernel_size" in kwargs:  # its numbers were checked by the parser; its fit is each file's
                    kwargs.update(kernel_size=None, spacing=None, tiles=1)
                method(stand_in, **kwargs)
                return
            except (ValueError, TypeError) as exc:
                errors.append(exc)
        raise UsageError(str(errors[0]).split(" (the last axis has")[0])

    def kwargs(self, path: Path, image, channel_axis, stored: bool = False, meta: dict | None = None):
        """The method's keywords for one image; ``stored``: a DICOM image, whose results keep its stored range;
        ``meta``: the file's metadata (an OME-Zarr image's axes give the spatial axes; pixel sizes, --spacing
        file)."""
        args = self.args
        ome = (meta or {}).get("ome_zarr")
        # A grey image's one channel is its lightness, luma and value alike: colour options leave it as it is.
        kw = dict(
            axes=args.axes if args.axes or ome is None else ome.spatial,
            channel_axis=channel_axis,
            color=None if channel_axis is None else args.color,
            threads=self.threads,
            nbins=args.nbins,
        )
        for name in ("in_range", "out_range"):
            if hasattr(args, name):
                kw[name] = _range(getattr(args, name))
        if (
            stored
            and "out_range" in kw
            and kw["out_range"] is None
            and channel_axis is None
            and not getattr(args, "compat", None)
        ):
            from ..io import _dicom

            kw["out_range"] = _dicom.stored_range(image)
        if getattr(args, "exact", False):
            kw["exact"] = True
        if getattr(args, "compat", None):
            kw["compat"] = args.compat
        if self.method == "clahe":
            kw["clip_limit"] = args.clip_limit
            if args.kernel_size:
                kw["kernel_size"] = args.kernel_size[0] if len(args.kernel_size) == 1 else tuple(args.kernel_size)
                kw["spacing"] = self._spacing(path, image, channel_axis, kw["axes"], meta)
            else:
                kw["tiles"] = self._tiles(image, channel_axis, kw["axes"])
        if self.mask is not None:
            grey = (
                image.shape
                if channel_axis is None
                else tuple(n for a, n in enumerate(image.shape) if a != channel_axis % image.ndim)
            )
            if self.mask.shape != grey:
                raise _FileError(f"{path}: the mask has shape {self.mask.shape}, the image (without channels) {grey}")
            kw["mask"] = self.mask
        kw.update(self.extra)
        if self.method == "match":
            kw["reference"] = self._reference(path, channel_axis, kw["color"])
        return kw

    def _reference(self, path: Path, channel_axis, color):
        """The reference of one image, as its kind (grey or colour) can be matched to it.

        A grey image takes any reference as histeq.match takes it (a colour one: all its values as one grey
        image).  For a colour image, a grey reference is an intensity as it stands: a grey pixel's lightness,
        luma and value are those of the RGB pixel with its value in every channel, so it becomes that RGB image;
        per-channel matching has no channels of a grey reference to pair with the image's, and that file
        fails with its own message."""
        reference, name = self.extra["reference"], self.args.reference
        if self.reference_colour is not False or channel_axis is None:
            return reference
        if color in (None, "per-channel"):
            raise _FileError(
                f"{path}: a colour image, and the reference {name} is grey: per-channel matching has "
                "no channels of the reference to pair with the image's; pass --color lightness, luma "
                "or value to match the image's intensity to it"
            )
        if self._grey_as_rgb is None:  # two threads may both make it: the same array
            import numpy as np

            self._grey_as_rgb = np.stack([reference] * 3, axis=-1)
        return self._grey_as_rgb

    @staticmethod
    def _spatial(image, channel_axis, axes) -> list[int]:
        channel = None if channel_axis is None else channel_axis % image.ndim
        return [a % image.ndim for a in axes] if axes else [a for a in range(image.ndim) if a != channel]

    def spatial_sizes(self, image, channel_axis, kwargs: dict, meta: dict) -> tuple[float, ...] | None:
        """The pixel sizes along the image's spatial axes that an OME-Zarr output records: the --spacing used,
        else the file's own where it states every one; None where they are unknown."""
        if isinstance(kwargs.get("spacing"), (tuple, float)):
            return kwargs["spacing"]
        return self._file_sizes(image, channel_axis, kwargs["axes"], meta)[0]

    def _spacing(self, path: Path, image, channel_axis, axes, meta: dict | None):
        """--spacing as given, or the pixel sizes the file states along the spatial axes (--spacing file; None
        for the stand-ins of _check_options, which have no file)."""
        if self.args.spacing != "file":
            spacing = self.args.spacing
            return spacing if spacing is None or len(spacing) > 1 else spacing[0]
        if meta is None:
            return None
        sizes, missing = self._file_sizes(image, channel_axis, axes, meta)
        if sizes is None:
            raise _FileError(
                f"{path}: --spacing file, but the file states no pixel size along axis {missing} "
                "(OME-Zarr, OME-TIFF and ImageJ TIFF files do): give --spacing numbers"
            )
        return sizes

    def _file_sizes(self, image, channel_axis, axes, meta: dict) -> tuple[tuple[float, ...] | None, int | None]:
        """(the pixel sizes the file states along the spatial axes, None), or (None, the first axis it does not
        state a size for)."""
        from ..io import pixel_sizes

        sizes = pixel_sizes(meta)
        spatial = self._spatial(image, channel_axis, axes)
        missing = [axis for axis in spatial if axis not in sizes]
        return (None, missing[0]) if missing else (tuple(sizes[axis] for axis in spatial), None)

    def _tiles(self, image, channel_axis, axes):
        """--tiles as given; by default 8 per spatial axis, at most the axis's size (so stacks of a few pages
        work)."""
        sizes = [image.shape[a] for a in self._spatial(image, channel_axis, axes)]
        tiles = self.args.tiles
        if tiles is None:
            return tuple(min(8, n) for n in sizes)
        return tiles[0] if len(tiles) == 1 else tuple(tiles)

    def grey_note(self, channel_axis) -> str | None:
        if channel_axis is None and self.args.color not in (None, "per-channel"):
            return f"--color {self.args.color} applies to colour images; grey images are processed as they are"
        return None

    def operation(self) -> str:
        """What a run does, in words (a DICOM output records it as its derivation)."""
        words = {
            "equalize": "histogram equalization",
            "clahe": "CLAHE",
            "match": "histogram matching",
            "specify": "histogram specification",
        }[self.method]
        if self.method == "clahe" and self.args.kernel_size:
            spacing = "" if not self.args.spacing else f" at spacing {self.args.spacing}"
            words += f", regions {' x '.join(map(str, self.args.kernel_size))}{spacing}"
        elif self.method == "clahe":
            words += f", tiles {' x '.join(map(str, self.args.tiles or [8]))}"
        if self.method == "clahe":
            words += f", clip limit {self.args.clip_limit}"
        if getattr(self.args, "exact", False):
            words += ", exact"
        return f"{self.method} ({words})"

    def convert(self, out, value_range=None):
        """--dtype: a linear map from the range the result was mapped into (``value_range``: its out_range;
        by default the nominal range: the dtype's range for integers, [0, 1] for floats) to the new dtype's
        nominal range."""
        import numpy as np

        if self.args.dtype is None or out.dtype == np.dtype(self.args.dtype):
            return out
        source, dest = np.dtype(out.dtype), np.dtype(self.args.dtype)

        def nominal(dt):
            return (float(np.iinfo(dt).min), float(np.iinfo(dt).max)) if dt.kind in "iu" else (0.0, 1.0)

        (slo, shi), (dlo, dhi) = (value_range or nominal(source)), nominal(dest)
        scaled = dlo + (out.astype(np.float64) - slo) * ((dhi - dlo) / (shi - slo))
        if dest.kind in "iu":
            scaled = np.clip(np.floor(scaled + 0.5), dlo, dhi)
        return scaled.astype(dest)
