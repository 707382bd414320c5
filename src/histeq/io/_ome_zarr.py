"""OME-Zarr (OME-NGFF) images: the full-resolution level read lazily with its axes and physical scale, and
results written as OME-Zarr with their multiscale pyramid, chunk by chunk and atomically.

Reads NGFF 0.4 (Zarr v2 stores) and 0.5 (Zarr v3, where the installed zarr reads them); writes 0.4, which every
OME-Zarr reader takes (napari-ome-zarr, Fiji's MoBIE and N5 viewers, vizarr, ome-zarr-py).  A pyramid level is
the block mean of the level above it (integers rounded), computed from the level already written, so the
result is computed once however many levels there are.

References
----------
.. [1] J. Moore et al., "OME-NGFF: a next-generation file format for expanding bioimaging data-access
       strategies", Nature Methods 18, 1496-1498, 2021; the specification at https://ngff.openmicroscopy.org.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The version of the specification written.
VERSION = "0.4"
#: Levels of a pyramid made for an image that had none: halving y and x while both stay at least this long.
_SMALLEST = 64
_MOST_LEVELS = 6


@dataclass(frozen=True)
class OmeZarr:
    """The metadata of an OME-Zarr image that a result keeps.

    Attributes
    ----------
    axes : tuple of dict
        One NGFF axis per array axis: ``name``, ``type`` (``"space"``, ``"channel"``, ``"time"``) and ``unit``.
    scale : tuple of float
        The full-resolution level's pixel size along each axis, in its axis's unit (1 where unknown).
    translation : tuple of float or None
        The position of the first pixel's centre, in the same units.
    factors : tuple of tuple of int
        Each level's downsampling against the full-resolution level, per axis (the first is all ones).
    attributes : dict
        The image group's other attributes (``omero`` rendering settings, ...), kept as they are.
    paths : tuple of str
        Where each level lies in the group, as read (a written image's levels are ``"0"``, ``"1"``, ...).
    """

    axes: tuple[dict, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...] | None = None
    factors: tuple[tuple[int, ...], ...] = ((),)
    attributes: dict = field(default_factory=dict)
    paths: tuple[str, ...] = ()

    @property
    def spatial(self) -> tuple[int, ...]:
        """The axes of type ``"space"``, in array order."""
        return tuple(k for k, axis in enumerate(self.axes) if axis.get("type") == "space")

    @classmethod
    def for_array(cls, shape: tuple[int, ...], spacing=None, unit: str | None = None) -> OmeZarr:
        """The metadata of an array that came without any: its axes named as NGFF orders them (the last two y and
        x, a third-from-last z; any before them channels or time points in a leading axis ``c``/``t``), the given
        pixel size (``spacing`` per spatial axis) and a pyramid halving y and x."""
        ndim = len(shape)
        if not 2 <= ndim <= 5:
            raise ValueError(f"OME-Zarr images have 2 to 5 axes, got an array of shape {shape}")
        names = ("t", "c", "z", "y", "x")[5 - ndim :] if ndim > 3 else ("z", "y", "x")[3 - ndim :]
        types = {"t": "time", "c": "channel"}
        axes = tuple(
            {"name": name, "type": types.get(name, "space"), **({"unit": unit} if unit and name in "zyx" else {})}
            for name in names
        )
        spatial = [k for k, axis in enumerate(axes) if axis["type"] == "space"]
        scale = [1.0] * ndim
        if spacing is not None:
            steps = (spacing,) * len(spatial) if np.isscalar(spacing) else tuple(spacing)
            if len(steps) != len(spatial):
                raise ValueError(f"spacing {spacing!r} needs one number per spatial axis ({len(spatial)})")
            for axis, step in zip(spatial, steps):
                scale[axis] = float(step)
        return cls(axes, tuple(scale), None, _halvings(shape, spatial[-2:]))


def _halvings(shape: tuple[int, ...], axes: list[int]) -> tuple[tuple[int, ...], ...]:
    factors = [tuple(1 for _ in shape)]
    while len(factors) < _MOST_LEVELS:
        step = 2 ** len(factors)
        if any(shape[axis] // step < _SMALLEST for axis in axes):
            break
        factors.append(tuple(step if axis in axes else 1 for axis in range(len(shape))))
    return tuple(factors)


def is_ome_zarr(path) -> bool:
    """Whether ``path`` is a Zarr group whose attributes hold NGFF ``multiscales`` (without reading pixels)."""
    path = Path(path)
    for name in (".zattrs", "zarr.json"):
        try:
            attributes = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        attributes = attributes.get("attributes", attributes)  # zarr.json holds them under "attributes"
        return "multiscales" in attributes.get("ome", attributes)
    return False


def read_ome_zarr(path) -> tuple[Any, OmeZarr]:
    """The full-resolution level of an OME-Zarr image, as a Dask array of its stored chunks, and its metadata.

    Parameters
    ----------
    path : str or Path
        The image's group (a folder ending in ``.zarr``, with NGFF ``multiscales`` metadata; the first
        multiscale image when it holds several).

    Returns
    -------
    image : dask.array.Array
        Level 0 of the pyramid, lazily.
    metadata : OmeZarr
        Its axes, physical scale and pyramid.

    Examples
    --------
    >>> import numpy as np, tempfile, histeq.io
    >>> volume = np.arange(4 * 128 * 128, dtype=np.uint16).reshape(4, 128, 128)
    >>> path = tempfile.mkdtemp() + "/volume.ome.zarr"
    >>> histeq.io.write_ome_zarr(path, volume, histeq.io.OmeZarr.for_array(volume.shape, (2.0, 0.5, 0.5), "micrometer"))
    >>> image, metadata = histeq.io.read_ome_zarr(path)
    >>> image.shape, metadata.scale, [axis["name"] for axis in metadata.axes], len(metadata.factors)
    ((4, 128, 128), (2.0, 0.5, 0.5), ['z', 'y', 'x'], 2)
    """
    import dask.array as da
    import zarr

    path = Path(path)
    group = zarr.open_group(str(path), mode="r")
    attributes = dict(group.attrs)
    ome = attributes.get("ome", attributes)
    if "multiscales" not in ome:
        raise ValueError(f"{path} is a Zarr group without OME-NGFF multiscales metadata")
    multiscale = ome["multiscales"][0]
    ndim = len(group[multiscale["datasets"][0]["path"]].shape)
    axes = tuple(_axis(axis) for axis in multiscale.get("axes", [{"name": n} for n in "tczyx"[5 - ndim :]]))
    scales = [_transform(dataset, "scale", ndim) or (1.0,) * ndim for dataset in multiscale["datasets"]]
    overall = _transform(multiscale, "scale", ndim) or (1.0,) * ndim  # multiscale-wide transformations
    factors = tuple(tuple(max(1, round(s / s0)) for s, s0 in zip(level, scales[0])) for level in scales)
    kept = {key: value for key, value in attributes.items() if key not in ("multiscales", "ome")}
    metadata = OmeZarr(
        axes,
        tuple(s * o for s, o in zip(scales[0], overall)),
        _transform(multiscale["datasets"][0], "translation", ndim),
        factors,
        kept,
        tuple(str(dataset["path"]) for dataset in multiscale["datasets"]),
    )
    return da.from_zarr(group[metadata.paths[0]]), metadata


def _axis(axis: Any) -> dict:
    """An NGFF axis as a dict (0.3 gave names only), its type inferred from a conventional name."""
    if isinstance(axis, str):
        axis = {"name": axis}
    types = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    return {"type": types.get(axis["name"], "space"), **axis}


def _transform(entry: dict, kind: str, ndim: int) -> tuple[float, ...] | None:
    for transform in entry.get("coordinateTransformations", ()):
        if transform.get("type") == kind and len(transform.get(kind, ())) == ndim:
            return tuple(float(value) for value in transform[kind])
    return None


def write_ome_zarr(path, image, metadata: OmeZarr | None = None, *, chunks: tuple[int, ...] | None = None) -> None:
    """Write an image (NumPy or Dask) as OME-Zarr with its multiscale pyramid, chunk by chunk and atomically.

    Parameters
    ----------
    path : str or Path
        The store to write (a folder, conventionally ending in ``.ome.zarr``); an existing one is replaced
        only once the new one is complete.
    image : ndarray or dask.array.Array
        The full-resolution image, in the axis order of ``metadata``.
    metadata : OmeZarr, optional
        Axes, scale and pyramid (an input's, from :func:`read_ome_zarr`); default:
        :meth:`OmeZarr.for_array` of the image's shape.
    chunks : tuple of int, optional
        The stored chunks of every level; default: the Dask array's first chunk, else up to 256 along y and x
        and one along the other axes.
    """
    import dask.array as da

    from ._atomic import atomic_folder

    metadata = metadata or OmeZarr.for_array(image.shape)
    if len(metadata.axes) != image.ndim:
        raise ValueError(f"the metadata has {len(metadata.axes)} axes, the image {image.ndim}")
    factors = metadata.factors
    if len(factors[0]) != image.ndim:  # metadata without a pyramid: halve y and x
        factors = _halvings(image.shape, [image.ndim - 2, image.ndim - 1])
    if chunks is None:
        chunks = (
            tuple(c[0] for c in image.chunks)
            if hasattr(image, "chunks") and not isinstance(image, np.ndarray)
            else tuple(1 if k < image.ndim - 2 else min(256, n) for k, n in enumerate(image.shape))
        )
    chunks = tuple(min(c, n) for c, n in zip(chunks, image.shape))
    level = da.asarray(image).rechunk(chunks)
    with atomic_folder(path) as store:
        store.mkdir()
        (store / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
        previous = (1,) * image.ndim
        for index, factor in enumerate(factors):
            if index:
                relative = {k: f // p for k, (f, p) in enumerate(zip(factor, previous)) if f // p > 1}
                level = _block_mean(_stored(store / str(index - 1)), relative, chunks)
                previous = factor
            da.store(level, _new_array(store / str(index), level.shape, chunks, level.dtype), lock=False)
        attributes = {**metadata.attributes, "multiscales": [_multiscale(metadata, factors)]}
        (store / ".zattrs").write_text(json.dumps(attributes, indent=1))


def _multiscale(metadata: OmeZarr, factors) -> dict:
    datasets = []
    for index, factor in enumerate(factors):
        transforms: list[dict] = [{"type": "scale", "scale": [s * f for s, f in zip(metadata.scale, factor)]}]
        if metadata.translation is not None:
            # A level's first pixel covers f pixels of level 0: its centre lies (f - 1) / 2 of them further on.
            shifted = [t + s * (f - 1) / 2 for t, s, f in zip(metadata.translation, metadata.scale, factor)]
            transforms.append({"type": "translation", "translation": shifted})
        datasets.append({"path": str(index), "coordinateTransformations": transforms})
    return {"version": VERSION, "name": "histeq", "axes": list(metadata.axes), "datasets": datasets}


def _stored(path: Path):
    import dask.array as da

    return da.from_zarr(str(path))


def _block_mean(level, factors: dict[int, int], chunks: tuple[int, ...]):
    """The next level: means of blocks of ``factors`` pixels (the edge's partial blocks dropped, as NGFF's
    integer scale factors imply), integers rounded to the nearest level."""
    import dask.array as da

    if not factors:
        return level
    mean = da.coarsen(np.mean, level.astype(np.float64), factors, trim_excess=True)
    if level.dtype.kind in "iu":
        mean = da.round(mean)
    return mean.astype(level.dtype).rechunk(tuple(min(c, n) for c, n in zip(chunks, mean.shape)))


def _new_array(path: Path, shape, chunks, dtype):
    """An empty Zarr v2 array with NGFF 0.4's nested chunk keys ("/"), with zarr 2 or 3."""
    import zarr

    chunks = tuple(min(c, n) for c, n in zip(chunks, shape))
    version = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}  # zarr 2 writes only v2
    return zarr.open_array(
        str(path), mode="w", shape=shape, chunks=chunks, dtype=dtype, dimension_separator="/", **version
    )
