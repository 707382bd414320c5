"""The ``histeq`` command line.

    histeq equalize|clahe|match|specify INPUT... [-o OUT | --suffix S | --in-place] [options]
    histeq equalize IN OUT [options]     one file to one file
    histeq report IN [-o FIG] [--mask M] the image next to its equalization, with histograms
    histeq demo [-o DIR]                 run on the bundled sample, write a figure

Inputs are files, folders (``-r``: with their subfolders) or glob patterns.
Exit codes: 0 success, 1 some file could not be processed (the others were),
2 usage error (bad options: nothing was touched), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM).  Outputs are written atomically; an input is
overwritten only with ``--in-place``, an existing output only with ``--overwrite``.  Heavy imports (NumPy, the core,
Pillow, matplotlib) happen only once a command runs, so that ``--help`` and
start-up stay fast.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._cli_files import FORMATS, Planned, UsageError, plan

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
METHODS = ("equalize", "clahe", "match", "specify")


_EXAMPLES = """\
examples:
  histeq equalize photo.jpg photo_eq.jpg                  # colour: CIELAB lightness
  histeq equalize photos/ -o out/ -r --jobs 2             # a folder tree, mirrored into out/
  histeq equalize '*.png' --suffix _eq --color luma       # as OpenCV's YCrCb recipe, next to each input
  histeq clahe scan16.tif -o scan16_clahe.tif --tiles 8 --clip-limit 2
  histeq clahe stack.tif -o stack_clahe.tif               # a multi-page TIFF: CLAHE over the volume
  histeq match day.png -o matched.png --reference night.png --color lightness
  histeq specify cells.png -o out.png --histogram rayleigh --exact
  histeq equalize batch.npy -o out.npy --axes -2 -1       # (1800, 1, 96, 96): each image alone
  histeq equalize scene.zarr -o scene_eq.zarr             # larger than memory: chunk by chunk (Dask)
  histeq clahe big.tif -o big_clahe.tif --dask             # tiles read, and the output written, chunk by chunk
  histeq equalize cells.png -o out.png --mask roi.png --report figure.png
  histeq report scan.tif -o scan_report.pdf
  histeq demo                                             # writes histeq-demo/
"""


def _examples(command: str) -> str:
    """The examples of one command (``histeq COMMAND --help``); ``histeq --help`` shows them all."""
    lines = [line for line in _EXAMPLES.splitlines()[1:] if line.split()[1] == command]
    return "examples:\n" + "\n".join(lines) + "\n" if lines else ""


class _FileError(Exception):
    """A file that could not be processed; the message names it."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("histeq")
    except PackageNotFoundError:  # pragma: no cover - only in an uninstalled tree
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, looked up only when asked (importlib.metadata is slow to import)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"histeq {_version()}")
        parser.exit()


def _clip_limit(text: str):
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (a multiple of the mean bin height), got {text}")
    return value


def _int_list(text: str) -> list[int]:
    """One int or a comma-separated list of them (``-2,-1``)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers (e.g. -2 -1 or -2,-1), got {text!r}") from None


#: Options whose values may be negative comma lists, which argparse would take for options (``--axes -2,-1``).
_LIST_OPTIONS = ("--axes", "--tiles")


def _joined_lists(argv: list[str]) -> list[str]:
    """``--axes -2,-1`` as ``--axes=-2,-1``, which argparse reads as a value."""
    out: list[str] = []
    for token in argv:
        if (
            out
            and out[-1] in _LIST_OPTIONS
            and token[:1] == "-"
            and "," in token
            and all(part.strip().lstrip("-").isdigit() for part in token.split(",") if part.strip())
        ):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _flat(values):
    """Lists of ints from nargs="+" with _int_list, flattened."""
    return None if values is None else [v for part in values for v in part]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_list(text: str) -> list[int]:
    """One positive int or a comma-separated list of them (``8,8``)."""
    return [_positive(part) for part in text.split(",") if part.strip()]


def _add_files(p: argparse.ArgumentParser, method: str) -> None:
    files = p.add_argument_group("files")
    files.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="+",
        type=Path,
        help="files, folders or glob patterns (IN OUT: one file to one file)",
    )
    files.add_argument(
        "-o", "--output", metavar="OUT", help="output file (one input) or folder (mirrors the input tree)"
    )
    files.add_argument("--suffix", metavar="S", help="write next to each input, as NAME + S + extension")
    files.add_argument("--in-place", action="store_true", help="replace each input with its result")
    files.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    files.add_argument("-r", "--recursive", action="store_true", help="descend into subfolders of input folders")
    files.add_argument("--format", choices=sorted(FORMATS), help="output format (default: the input's)")
    files.add_argument(
        "--dtype",
        choices=("uint8", "uint16", "float32", "float64"),
        help="output dtype, rescaled between the nominal ranges (default: the input's)",
    )
    files.add_argument("--jobs", type=_positive, help="files processed at once (default: all cores)")
    files.add_argument(
        "--dask",
        action="store_true",
        help="process chunk by chunk (Dask), for inputs larger than memory; implied by .zarr "
        "input and by a TIFF over a quarter of the free memory; a .zarr or .tif output is "
        "written chunk by chunk (.tif: uncompressed)",
    )
    files.add_argument("--quiet", action="store_true", help="no progress and no summary")
    files.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    files.add_argument(
        "--report",
        type=Path,
        metavar="FIG",
        help="before/after figure with histograms (.png, .pdf, .svg); a folder for many inputs",
    )

    opts = p.add_argument_group(f"{method} options (the keywords of histeq.{method})")
    opts.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="image or .npy of the input's size; only its non-zero pixels feed the histogram",
    )
    opts.add_argument(
        "--axes",
        type=_int_list,
        nargs="+",
        metavar="AXIS",
        help="spatial axes of one image of an array batch, e.g. --axes -2 -1 or --axes -2,-1",
    )
    opts.add_argument(
        "--channel-axis",
        type=int,
        metavar="AXIS",
        help="colour axis of a NumPy array (image files: found from the format)",
    )
    opts.add_argument(
        "--color", choices=("lightness", "luma", "value", "per-channel"), help="what to change in a colour image"
    )
    opts.add_argument(
        "--nbins", type=_positive, help="histogram bins (default: one per level up to 16 bits, 4096 for floats)"
    )
    opts.add_argument("--threads", type=_positive, help="threads per file (default: all cores)")
    if method in ("equalize", "clahe"):
        opts.add_argument("--in-range", type=float, nargs=2, metavar=("LO", "HI"), help="range the histogram covers")
    if method != "match":
        opts.add_argument("--out-range", type=float, nargs=2, metavar=("LO", "HI"), help="range of the output")
    if method != "clahe":
        opts.add_argument("--exact", action="store_true", help="strict ordering: exactly the target histogram")
    if method in ("equalize", "clahe"):
        opts.add_argument(
            "--compat",
            choices=("opencv", "pillow", "skimage") if method == "equalize" else ("opencv",),
            help="reproduce a peer library's result",
        )
    if method == "clahe":
        opts.add_argument(
            "--tiles",
            type=_positive_list,
            nargs="+",
            metavar="N",
            help="tiles per spatial axis, one number or one per axis (default: 8, at most the size)",
        )
        opts.add_argument(
            "--clip-limit",
            type=_clip_limit,
            default=2.0,
            metavar="C",
            help="maximum slope, a multiple of the mean bin height, or 'none' (default: 2)",
        )
    if method == "match":
        opts.add_argument("--reference", type=Path, required=True, metavar="FILE", help="the reference image")
        opts.add_argument("--reference-mask", type=Path, metavar="FILE", help="mask of the reference")
    if method == "specify":
        opts.add_argument(
            "--histogram",
            default="uniform",
            metavar="H",
            help="'uniform', 'rayleigh', 'exponential', comma-separated weights, or a .npy/.txt "
            "file of weights (default: uniform)",
        )
        opts.add_argument("--alpha", type=float, default=0.4, help="parameter of rayleigh and exponential")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histeq",
        description="Histogram equalization of images and arrays.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    summaries = {
        "equalize": "global histogram equalization",
        "clahe": "contrast-limited adaptive equalization (2-D, 3-D stacks, n-D arrays)",
        "match": "match the histogram of a reference image",
        "specify": "map to a given histogram (uniform, Rayleigh, exponential, weights)",
    }
    # Written out, not made from the summaries: a summary with " of images" appended read "... of a reference
    # image of images", and capitalize() lowered the rest ("2-d", "rayleigh").
    descriptions = {
        "equalize": "Global histogram equalization of each input.",
        "clahe": "Contrast-limited adaptive histogram equalization (CLAHE) of each input: 2-D images, 3-D stacks, "
        "n-D arrays.",
        "match": "Match the histogram of each input to that of a reference image.",
        "specify": "Map each input to a given histogram: uniform, Rayleigh, exponential or weights.",
    }
    for method in METHODS:
        p = commands.add_parser(
            method,
            help=summaries[method],
            epilog=_examples(method),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description=f"{descriptions[method]}  Inputs: images (PNG, JPEG, TIFF incl. multi-page stacks; "
            "8/16 bit; grey, RGB, RGBA), NumPy .npy/.npz arrays and DICOM.  Outputs keep the input's dtype, "
            "shape and format unless --dtype/--format say otherwise.",
        )
        _add_files(p, method)

    report = commands.add_parser(
        "report",
        help="draw an image next to its equalization, with histograms",
        epilog=_examples("report"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw the image and its global equalization side by side, with their histograms and "
        "cumulative distributions (colour: luma); for an array batch (--axes), a contact sheet of a sample.",
    )
    report.add_argument("input", metavar="IN", type=Path, help="image or array file")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FIG",
        help="figure (.png, .pdf, .svg; default: IN's name + _report.png, next to it)",
    )
    report.add_argument(
        "--axes",
        type=_int_list,
        nargs="+",
        metavar="AXIS",
        help="spatial axes of an array batch, e.g. --axes -2 -1 or --axes -2,-1",
    )
    report.add_argument("--channel-axis", type=int, metavar="AXIS", help="colour axis of a NumPy array")
    report.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="image or .npy of IN's size; only its non-zero pixels feed the histogram of the equalization",
    )
    report.add_argument("--overwrite", action="store_true", help="replace FIG if it exists")

    demo = commands.add_parser(
        "demo",
        help="equalize the bundled sample image and draw the before/after figure",
        epilog=_examples("demo"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Equalize the sample image shipped with histeq (a synthetic low-contrast micrograph) and "
        "write the result and a before/after figure with histograms and cumulative distributions.",
    )
    demo.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=Path("histeq-demo"),
        metavar="DIR",
        help="folder for the results (default: ./histeq-demo)",
    )
    return parser


# --- one file ----------------------------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _read(path: Path):
    """(arrays, metadata) of a file; any failure becomes one line that names the file."""
    from . import io

    try:
        return io.read_file(path)
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
        raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc


def _read_one(path: Path, option: str | None = None):
    """The one array of a file (a Zarr store: lazily); for an option's file (mask, reference) a failure is a
    usage error."""
    from ._cli_files import require_regular

    require_regular(path)
    try:
        if path.suffix.lower() == ".zarr":
            try:
                return _open_lazy(path)
            except Exception as exc:  # noqa: BLE001 - the store's readers raise anything
                raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc
        arrays, _ = _read(path)
    except _FileError as exc:
        if option is None:
            raise
        raise UsageError(f"{option}: {exc}") from exc
    if len(arrays) != 1:
        raise UsageError(f"{path} holds {len(arrays)} arrays; give a file with one")
    return next(iter(arrays.values()))


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
                from . import io

                self.reference_colour = io.is_color_file(args.reference, reference)
            if args.reference_mask is not None:
                self.extra["reference_mask"] = _read_one(args.reference_mask, "--reference-mask") != 0
        if self.method == "specify":
            from .matching import target_weights

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
        tiles = self.args.tiles if self.method == "clahe" and self.args.tiles else [8]
        ndim = max([2, len(tiles)] + [a + 1 if a >= 0 else -a for a in self.args.axes or []])
        shape = self.mask.shape if self.mask is not None else (max(16, *tiles),) * ndim
        errors = []
        for dtype in (np.uint16, np.uint8, np.float64, np.int16, np.int32):
            stand_in = np.zeros(shape + ((3,) if colour else ()), dtype)
            stand_in.flat[::2] = 1
            try:
                kwargs = self.kwargs(Path("options"), stand_in, -1 if colour else None)
                method(stand_in, **kwargs)
                return
            except (ValueError, TypeError) as exc:
                errors.append(exc)
        raise UsageError(str(errors[0]).split(" (the last axis has")[0])

    def kwargs(self, path: Path, image, channel_axis, stored: bool = False):
        """The method's keywords for one image; ``stored``: a DICOM image, whose results keep its stored range."""
        args = self.args
        # A grey image's one channel is its lightness, luma and value alike: colour options leave it as it is.
        kw = dict(
            axes=args.axes,
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
            from . import _dicom

            kw["out_range"] = _dicom.stored_range(image)
        if getattr(args, "exact", False):
            kw["exact"] = True
        if getattr(args, "compat", None):
            kw["compat"] = args.compat
        if self.method == "clahe":
            kw["clip_limit"] = args.clip_limit
            kw["tiles"] = self._tiles(image, channel_axis)
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

    def _tiles(self, image, channel_axis):
        """--tiles as given; by default 8 per spatial axis, at most the axis's size (so stacks of a few pages
        work)."""
        ndim = image.ndim
        channel = None if channel_axis is None else channel_axis % ndim
        axes = self.args.axes or [a for a in range(ndim) if a != channel]
        sizes = [image.shape[a] for a in axes]
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
        if self.method == "clahe":
            words += f", tiles {' x '.join(map(str, self.args.tiles or [8]))}, clip limit {self.args.clip_limit}"
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


class _Job:
    """A run over many files: how many at once, and one file processed in memory or chunk by chunk."""

    def __init__(self, args, files: int):
        self.args = args
        self.method = args.command
        jobs = args.jobs or min(os.cpu_count() or 1, files)
        self.jobs = max(1, min(jobs, files))
        # Several files at once: one thread each, unless asked.
        self.options = _Options(args, args.threads if args.threads else (1 if self.jobs > 1 else None))

    def run(self, item: Planned) -> dict:
        """Process one file; raises _FileError with one line naming it."""
        path, target = item.source, item.target
        if (
            path.suffix.lower() == ".zarr"
            or target.suffix.lower() == ".zarr"
            or self.args.dask
            or (self.args.report is None and _too_big_for_memory(path))
        ):
            return self._run_chunked(path, target)
        import histeq

        from . import io

        arrays, meta = _read(path)
        method = getattr(histeq, self.method)
        results, channel_axes, value_range, note = {}, {}, None, None
        for name, image in arrays.items():
            channel_axes[name] = channel_axis = _channel_axis(self.args.channel_axis, path, image)
            kwargs = self.options.kwargs(path, image, channel_axis, stored="dicom" in meta)
            note = note or self.options.grey_note(channel_axis)
            try:
                out = method(image, **kwargs)
            except (ValueError, TypeError) as exc:
                raise _FileError(f"{path}: {exc}") from exc
            value_range = kwargs.get("out_range")
            results[name] = self.options.convert(out, value_range)
        meta["operation"] = self.options.operation()
        _write(target, lambda: io.write_file(target, results, meta))
        if item.report is not None:
            first = next(iter(arrays))
            image, out = arrays[first], results[first]
            _write(
                item.report,
                lambda: _write_report(
                    item.report,
                    image,
                    out if out.dtype == image.dtype else None,
                    channel_axes[first],
                    self.args.axes,
                    titles=("original", _DONE[self.method]),
                    value_range=value_range if "dicom" in meta else None,
                    mask=self.options.mask,
                ),
            )
        return {"input": str(path), "output": str(target), "status": "ok", **({"note": note} if note else {})}

    def _run_chunked(self, path: Path, target: Path) -> dict:
        """Zarr stores and --dask: the input opened lazily (Zarr, TIFF tiles/strips, else in memory), the
        method's chunked path, a .zarr or .tif output written chunk by chunk (other formats are computed, then
        written)."""
        if self.args.report is not None:
            raise _FileError(f"{path}: --report draws in-memory images; not with chunked (Dask, .zarr) processing")
        opened: list = []
        try:
            return self._chunked(path, target, opened)
        finally:
            for store in opened:
                store.close()

    def _chunked(self, path: Path, target: Path, opened: list) -> dict:
        import histeq

        from . import io

        try:
            image = _open_lazy(path, opened)
        except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
            raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc
        channel_axis = _channel_axis(self.args.channel_axis, path, image)
        try:
            out = getattr(histeq, self.method)(image, **self.options.kwargs(path, image, channel_axis))
        except (ValueError, TypeError) as exc:
            raise _FileError(f"{path}: {exc}") from exc
        if self.args.dtype is not None:
            out = out.map_blocks(self.options.convert, dtype=self.args.dtype)

        def write():
            if target.suffix.lower() == ".zarr":
                _write_zarr(out, target)
            elif target.suffix.lower() in (".tif", ".tiff"):
                io.write_tiff_chunked(target, out)
            else:
                io.write_file(target, {"image": out.compute()})

        _write(target, write)
        note = self.options.grey_note(channel_axis)
        return {"input": str(path), "output": str(target), "status": "ok", **({"note": note} if note else {})}


def _channel_axis(given: int | None, path: Path, image) -> int | None:
    """The colour axis of a file's array: --channel-axis, else the last axis of a colour image file."""
    from . import io

    return -1 if given is None and io.is_color_file(path, image) else given


#: Report titles of each method's result.
_DONE = {"equalize": "equalized", "clahe": "CLAHE", "match": "matched", "specify": "specified"}


def _write(target: Path, write) -> None:
    """Run ``write`` (an atomic writer of ``target``), creating the folders it needs only now, and removing
    those it created when the write fails: a failed file leaves nothing behind."""
    from . import io

    created = []
    folder = target.parent
    while folder != folder.parent and not folder.exists():
        created.append(folder)
        folder = folder.parent
    try:
        for made in reversed(created):
            made.mkdir(exist_ok=True)
        write()
    except Exception as exc:  # noqa: BLE001 - encoders and the file system raise anything
        for made in created:
            try:
                made.rmdir()
            except OSError:  # not empty: another file of the run went there
                break
        if isinstance(exc, _FileError):
            raise
        hint = f" (convert with --dtype {exc.dtype})" if isinstance(exc, io.FormatError) and exc.dtype else ""
        raise _FileError(f"cannot write {target}: {_reason(exc)}{hint}") from exc


def _too_big_for_memory(path: Path) -> bool:
    """A TIFF whose decoded image (from its header) would take more than a quarter of the free memory: input,
    output and working space would not fit, so it goes chunk by chunk (when Dask is installed)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return False
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            size = math.prod(series.shape) * series.dtype.itemsize
    except Exception:  # noqa: BLE001 - the in-memory path reports an unreadable file
        return False
    from .dask import available_memory

    available = available_memory()
    return bool(available) and size > available / 4 and importlib.util.find_spec("dask") is not None


def _open_lazy(path: Path, opened: list | None = None):
    """A Dask array of the file: a Zarr store or a TIFF's tiles/strips as they are stored, else read whole.
    A TIFF stays open until the caller closes what ``opened`` received."""
    import dask.array as da

    suffix = path.suffix.lower()
    if suffix == ".zarr":
        return _read_lazily(path, str(path))
    if suffix in (".tif", ".tiff") and opened is not None:
        import tifffile

        # The TiffFile held open until the caller closes it: tifffile.imread(aszarr=True) closes it at once and
        # the store reopens the file for its reads, a handle that a failed read could leave to the collector.
        tif = tifffile.TiffFile(path)
        opened.append(tif)
        store = tif.aszarr()
        opened.insert(0, store)  # closed first
        return _read_lazily(path, store)
    from . import io

    return da.from_array(io.read_image(path))


def _read_lazily(path: Path, store):
    """The Zarr array in ``store`` (``path``'s) as a Dask array of its own chunks, whose reading errors say
    that ``path`` could not be read (they surface while the output is written, chunk by chunk)."""
    import dask.array as da
    import numpy as np
    import zarr

    stored = zarr.open(store, mode="r")

    def read(block_info=None):
        region = tuple(slice(a, b) for a, b in block_info[None]["array-location"])
        try:
            return np.asarray(stored[region])
        except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
            raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc

    chunks = da.core.normalize_chunks(stored.chunks, stored.shape)
    return da.map_blocks(read, chunks=chunks, dtype=stored.dtype, meta=np.empty((0,) * stored.ndim, stored.dtype))


def _write_zarr(array, target: Path) -> None:
    """Write a Dask array to a Zarr store chunk by chunk, atomically: into a hidden folder beside the target,
    renamed into place when complete (a replaced store is removed only after that)."""
    from . import _temporary

    staging = Path(_temporary.new_folder(target))
    try:
        array.to_zarr(str(staging / "store.zarr"))
        if target.exists():
            old = Path(_temporary.new_folder(target))
            os.replace(target, old / "store.zarr")
            os.replace(staging / "store.zarr", target)
            _temporary.remove(str(old))
        else:
            os.replace(staging / "store.zarr", target)
    finally:
        _temporary.remove(str(staging))


def _write_report(
    path: Path, original, result, channel_axis, axes=None, titles=("original", "equalized"), value_range=None, mask=None
) -> None:
    """Write the before/after figure of one image (see _report_figure) atomically; run it in _write, which
    names ``path`` in its errors, not the temporary file."""
    figure = _report_figure(original, result, channel_axis, axes, titles, value_range, mask)
    _save_figure(figure, path)


def _save_figure(figure, path: Path) -> None:
    from .io import atomic_writer

    with atomic_writer(path) as f:
        figure.savefig(f, format=path.suffix.lstrip(".").lower() or "png", dpi=100)


def _report_figure(
    original, result, channel_axis, axes=None, titles=("original", "equalized"), value_range=None, mask=None
):
    """The before/after figure of one image; a contact sheet of a sample for a batch (``axes``).  Without a
    result (None), the original's global equalization is drawn, of the histogram of the pixels in ``mask``
    (all: None).  ``value_range``: the values both are shown over (a DICOM image's stored range), which the
    equalization maps into too."""
    import numpy as np

    from .equalize import equalize
    from .plot import before_after, contact_sheet

    if result is None:
        result = equalize(
            original,
            channel_axis=channel_axis,
            axes=axes,
            mask=mask,
            out_range=value_range if channel_axis is None else None,
        )
        titles = (titles[0], "equalized")
    spatial = original.ndim - (channel_axis is not None)
    if axes is not None and spatial > 2:
        figure = contact_sheet(original, result, axes=axes, channel_axis=channel_axis, titles=titles)
    elif spatial == 2:
        figure = before_after(original, result, channel_axis=channel_axis, titles=titles, value_range=value_range)
    elif spatial == 3:  # a stack: its middle slice
        index = [slice(None)] * original.ndim
        index[0] = original.shape[0] // 2
        figure = before_after(
            original[tuple(index)],
            result[tuple(index)],
            channel_axis=None if channel_axis is None else channel_axis - (channel_axis > 0),
            titles=(f"{titles[0]} (slice {original.shape[0] // 2})", titles[1]),
            value_range=value_range,
        )
    else:
        raise ValueError(
            f"a report draws 2-D images, stacks or batches (--axes); this one has shape {np.shape(original)}"
        )
    return figure


# --- commands ----------------------------------------------------------------------------------------------------


class _Progress:
    """Progress on a terminal's stderr, silent otherwise: a tqdm bar (rate and time left) where tqdm is
    installed and there is more than one file, else a one-line [n/N] counter."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done = total, 0
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None
        if self.enabled and total > 1 and importlib.util.find_spec("tqdm") is not None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="file", dynamic_ncols=True)

    def step(self, name: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(name[-40:], refresh=False)
            self.bar.update(1)
        elif self.enabled:
            sys.stderr.write(f"\r[{self.done}/{self.total}] {name[-60:]:<60}")
            sys.stderr.flush()

    def message(self, text: str) -> None:
        """A line on stderr, above the progress line."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            sys.stderr.write(("\n" if self.enabled else "") + text + "\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


_WORKER_JOB: _Job | None = None


def _start_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _one(item: Planned, job: _Job | None = None) -> dict:
    job = job or _WORKER_JOB
    source, target = item.source, item.target
    try:
        return job.run(item)
    except _FileError as exc:
        return {"input": str(source), "output": str(target), "status": "failed", "error": str(exc)}
    except OSError as exc:
        return {"input": str(source), "output": str(target), "status": "failed", "error": f"{target}: {_reason(exc)}"}


def _method(args) -> int:
    from functools import partial

    from . import _cli_workers

    pairs, found = plan(args, args.output)
    job = _Job(args, len(pairs))
    if found.skipped_folders and not (args.quiet or args.json):
        names = ", ".join(str(p) for p in found.skipped_folders[:3]) + (
            ", ..." if len(found.skipped_folders) > 3 else ""
        )
        print(
            f"histeq {args.command}: note: {len(found.skipped_folders)} subfolder(s) skipped ({names}); "
            "pass -r to include them",
            file=sys.stderr,
        )
    start = time.perf_counter()
    results, failed = [], 0
    progress = _Progress(len(pairs), not (args.quiet or args.json))
    pool = _cli_workers.pool(job.jobs, len(pairs), _start_worker, (job,))
    run_one = partial(_one, job=job) if isinstance(pool, ThreadPoolExecutor) else _one
    notes: set = set()
    for result in _cli_workers.run_all(pool, run_one, pairs):
        results.append(result)
        progress.step(result["input"])
        if result.get("note") and result["note"] not in notes and not (args.quiet or args.json):
            notes.add(result["note"])
            progress.message(f"histeq {args.command}: note: {result['note']}")
        if result["status"] == "failed":
            failed += 1
            if not args.json:
                progress.message(f"histeq {args.command}: error: {result['error']}")
        elif not (args.quiet or args.json) and len(pairs) == 1:
            print(f"{result['input']} -> {result['output']}")
    progress.close()
    seconds = time.perf_counter() - start
    if args.json:
        print(
            json.dumps(
                {
                    "command": args.command,
                    "done": len(pairs) - failed,
                    "failed": failed,
                    "seconds": round(seconds, 3),
                    "files": results,
                },
                indent=1,
            )
        )
    elif not args.quiet and (len(pairs) > 1 or failed):
        print(f"histeq {args.command}: {len(pairs) - failed} done, {failed} failed, {seconds:.1f} s", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _report(args) -> int:
    target = args.output or args.input.with_name(args.input.stem + "_report.png")
    if target.exists() and not args.overwrite:
        raise UsageError(f"{target} exists; pass --overwrite to replace it")
    image = _read_one(args.input, "IN")
    channel_axis = _channel_axis(args.channel_axis, args.input, image)
    mask = None
    if args.mask is not None:
        mask = _read_one(args.mask, "--mask") != 0
        grey = (
            image.shape
            if channel_axis is None
            else tuple(n for a, n in enumerate(image.shape) if a != channel_axis % image.ndim)
        )
        if mask.shape != grey:
            raise UsageError(f"--mask {args.mask} has shape {mask.shape}; {args.input} (without channels) has {grey}")
    value_range = None
    if args.input.suffix.lower() == ".dcm":
        from . import _dicom

        value_range = _dicom.stored_range(image)
    figure = _report_figure(image, None, channel_axis, args.axes, value_range=value_range, mask=mask)
    _write(target, lambda: _save_figure(figure, target))
    print(f"report: {target}")
    return EXIT_OK


def _demo(args) -> int:
    from functools import partial
    from importlib.resources import as_file, files

    from . import io
    from .equalize import equalize

    with as_file(files("histeq") / "data" / "sample.png") as sample:
        image = _read_one(sample)
    result = equalize(image)
    # Through _write, as every output: an error names the file asked for, not its temporary file.
    for name, array in (("sample.png", image), ("sample_equalized.png", result)):
        _write(args.output_dir / name, partial(io.write_image, args.output_dir / name, array))
    figure = args.output_dir / "before_after.png"
    _write(figure, lambda: _write_report(figure, image, result, None))
    print(f"sample: levels {image.min()}..{image.max()} -> equalized: levels {result.min()}..{result.max()}")
    for name in ("sample.png", "sample_equalized.png", "before_after.png"):
        print(f"wrote {args.output_dir / name}")
    return EXIT_OK


def _commands(parser: argparse.ArgumentParser) -> dict:
    """The subcommands' parsers, by name."""
    return parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them there


def _parse(parser: argparse.ArgumentParser, argv: list[str]):
    """Parsed arguments; an unknown option gets the nearest options of every command as a hint."""
    args, unknown = parser.parse_known_args(_joined_lists(argv))
    if unknown:
        import difflib

        known = {}
        for name, sub in _commands(parser).items():
            for action in sub._actions:  # noqa: SLF001 - argparse keeps them there
                for option in action.option_strings:
                    known.setdefault(option, []).append(name)
        hints = []
        for word in unknown:
            if not word.startswith("-"):
                continue
            for option in difflib.get_close_matches(word.split("=")[0], known, n=2, cutoff=0.75):
                commands = known[option]
                where = "" if args.command in commands else f" (an option of histeq {' and '.join(commands)})"
                hints.append(f"{option}{where}")
        message = f"unrecognized arguments: {' '.join(unknown)}"
        if hints:
            message += "; did you mean " + " or ".join(hints) + "?"
        _commands(parser)[args.command].error(message)
    for name in ("axes", "tiles"):
        if getattr(args, name, None) is not None:
            setattr(args, name, _flat(getattr(args, name)))
    return args


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = _parse(parser, sys.argv[1:] if argv is None else list(argv))
    run = {"report": _report, "demo": _demo}.get(args.command, _method)
    from . import _cli_workers

    try:
        with _cli_workers.sigterm_raises():
            return run(args)
    except _cli_workers.Terminated:
        print("histeq: terminated", file=sys.stderr)
        return _cli_workers.EXIT_TERMINATED
    except UsageError as exc:
        _commands(parser)[args.command].print_usage(sys.stderr)
        print(f"histeq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("histeq: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (_FileError, OSError, ValueError, TypeError, ImportError) as exc:
        print(f"histeq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
