"""OME-Zarr and OME-TIFF: their axes, physical scale and pyramid read and written (histeq.io), and the command
line's CLAHE with regions in microns on them, equal to the call on the array in memory for any chunking."""

import json

import numpy as np
import pytest

import histeq
import histeq.io
from histeq.cli import EXIT_OK, EXIT_USAGE, main

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")


def _run(*argv):
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def _volume(shape=(24, 160, 192), seed=0):
    """A noisy 16-bit volume over most of the range, brighter towards one corner (anisotropic structure)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float64)
    field = 9000 + 30000 * (x / shape[2]) * (y / shape[1]) + 8000 * np.sin(z / 3)
    return (field + rng.normal(0, 3000, shape)).clip(0, 65535).astype(np.uint16)


def _write_ngff_04(path, levels, axes, scales, translation=None, chunks=(4, 64, 64), attributes=None):
    """An OME-Zarr image as the NGFF 0.4 specification lays it out (a group with ``multiscales``, one array per
    level with nested chunk keys), written with zarr directly: the reader's independent counterpart."""
    datasets = []
    chunks = (1,) * (levels[0].ndim - len(chunks)) + tuple(chunks)  # one per axis: a channel at a time
    for index, (level, scale) in enumerate(zip(levels, scales)):
        version = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
        stored = zarr.open_array(
            str(path / f"s{index}"),
            mode="w",
            shape=level.shape,
            chunks=tuple(min(c, n) for c, n in zip(chunks, level.shape)),
            dtype=level.dtype,
            dimension_separator="/",
            **version,
        )
        stored[...] = level
        transforms = [{"type": "scale", "scale": list(scale)}]
        if translation is not None:
            transforms.append({"type": "translation", "translation": list(translation)})
        datasets.append({"path": f"s{index}", "coordinateTransformations": transforms})
    (path / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    multiscales = [{"version": "0.4", "name": "volume", "axes": axes, "datasets": datasets}]
    (path / ".zattrs").write_text(json.dumps({**(attributes or {}), "multiscales": multiscales}))


AXES = [
    {"name": "z", "type": "space", "unit": "micrometer"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def test_an_ngff_image_is_read_with_its_axes_scale_and_pyramid(tmp_path):
    volume = _volume()
    levels = [volume, volume[:, ::2, ::2], volume[:, ::4, ::4]]
    scales = [(1.4, 0.4, 0.4), (1.4, 0.8, 0.8), (1.4, 1.6, 1.6)]
    omero = {"omero": {"channels": [{"label": "DAPI", "window": {"start": 0, "end": 40000}}]}}
    _write_ngff_04(tmp_path / "in.ome.zarr", levels, AXES, scales, (5.0, 0, 0), attributes=omero)
    assert histeq.io.is_ome_zarr(tmp_path / "in.ome.zarr")
    image, meta = histeq.io.read_ome_zarr(tmp_path / "in.ome.zarr")
    np.testing.assert_array_equal(image.compute(), volume)
    assert [axis["name"] for axis in meta.axes] == ["z", "y", "x"] and meta.spatial == (0, 1, 2)
    assert meta.scale == (1.4, 0.4, 0.4) and meta.translation == (5.0, 0.0, 0.0)
    assert meta.factors == ((1, 1, 1), (1, 2, 2), (1, 4, 4))
    assert meta.attributes == omero
    assert histeq.io.pixel_sizes({"ome_zarr": meta}) == {0: 1.4, 1: 0.4, 2: 0.4}


def test_a_written_image_keeps_axes_scale_and_pyramid(tmp_path):
    volume = _volume((8, 130, 260))
    image = np.stack([volume, 65535 - volume])  # a (c, z, y, x) image: two channels
    axes = [{"name": "c", "type": "channel"}, *AXES]
    meta = histeq.io.OmeZarr(tuple(axes), (1.0, 1.4, 0.4, 0.4), (0.0, 2.0, 0.0, 0.0), ((1, 1, 1, 1), (1, 1, 2, 2)))
    histeq.io.write_ome_zarr(tmp_path / "out.ome.zarr", da.from_array(image, chunks=(1, 4, 64, 64)), meta)
    back, read = histeq.io.read_ome_zarr(tmp_path / "out.ome.zarr")
    np.testing.assert_array_equal(back.compute(), image)
    assert read.axes == meta.axes and read.scale == meta.scale and read.factors == meta.factors
    # The second level is the mean of 2 x 2 blocks of y and x, rounded; its first pixel's centre half a pixel on.
    group = zarr.open_group(str(tmp_path / "out.ome.zarr"), mode="r")
    blocks = image[..., :130, :260].reshape(2, 8, 65, 2, 130, 2).astype(np.float64).mean(axis=(3, 5))
    np.testing.assert_array_equal(np.asarray(group["1"]), np.round(blocks).astype(np.uint16))
    second = json.loads((tmp_path / "out.ome.zarr" / ".zattrs").read_text())["multiscales"][0]["datasets"][1]
    assert second["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 1.4, 0.8, 0.8]},
        {"type": "translation", "translation": [0.0, 2.0, 0.2, 0.2]},
    ]
    assert json.loads((tmp_path / "out.ome.zarr" / "1" / ".zarray").read_text())["dimension_separator"] == "/"
    # Metadata without a pyramid: y and x halved while both stay at least 64 pixels.
    histeq.io.write_ome_zarr(tmp_path / "halved.ome.zarr", image, histeq.io.OmeZarr(tuple(axes), meta.scale))
    assert histeq.io.read_ome_zarr(tmp_path / "halved.ome.zarr")[1].factors == ((1, 1, 1, 1), (1, 1, 2, 2))


@pytest.mark.parametrize("chunks", [(4, 64, 64), (24, 33, 50)])
def test_the_command_lines_clahe_in_microns_equals_the_call_in_memory(tmp_path, chunks):
    volume = _volume()
    scales = [(1.4, 0.4, 0.4), (1.4, 0.8, 0.8)]
    _write_ngff_04(tmp_path / "in.ome.zarr", [volume, volume[:, ::2, ::2]], AXES, scales, chunks=chunks)
    target = tmp_path / "out.ome.zarr"
    assert _run("clahe", tmp_path / "in.ome.zarr", "-o", target, "--kernel-size", "20", "--spacing", "file") == EXIT_OK
    out, meta = histeq.io.read_ome_zarr(target)
    expected = histeq.clahe(volume, kernel_size=20, spacing=(1.4, 0.4, 0.4))
    np.testing.assert_array_equal(out.compute(), expected)
    np.testing.assert_array_equal(out.compute(), histeq.clahe(volume, tiles=(2, 4, 4)))  # 33.6 x 64 x 76.8 um
    assert meta.axes == tuple(AXES) and meta.scale == (1.4, 0.4, 0.4) and meta.factors == ((1, 1, 1), (1, 2, 2))


def test_channels_and_time_are_images_of_their_own(tmp_path):
    volume = _volume((6, 96, 128))
    image = np.stack([volume, volume[::-1]])  # (c, z, y, x)
    axes = [{"name": "c", "type": "channel"}, *AXES]
    _write_ngff_04(tmp_path / "in.ome.zarr", [image], axes, [(1, 2.0, 0.5, 0.5)])
    assert _run("clahe", tmp_path / "in.ome.zarr", "-o", tmp_path / "out.ome.zarr", "--tiles", "2", "3", "4") == 0
    out, _ = histeq.io.read_ome_zarr(tmp_path / "out.ome.zarr")
    for channel in range(2):
        np.testing.assert_array_equal(out[channel].compute(), histeq.clahe(image[channel], tiles=(2, 3, 4)))


def test_ome_tiff_physical_sizes_give_the_spacing(tmp_path):
    volume = _volume((12, 100, 120))
    source = tmp_path / "stack.ome.tif"
    sizes = {"PhysicalSizeZ": 2.0, "PhysicalSizeY": 0.5, "PhysicalSizeX": 0.25}
    tifffile.imwrite(source, volume, ome=True, metadata={"axes": "ZYX", **sizes})
    assert histeq.io.pixel_sizes(histeq.io.read_file(source)[1]) == {0: 2.0, 1: 0.5, 2: 0.25}
    out = tmp_path / "out.tif"
    assert _run("clahe", source, "-o", out, "--kernel-size", "10", "--spacing", "file") == EXIT_OK
    expected = histeq.clahe(volume, kernel_size=10, spacing=(2.0, 0.5, 0.25))
    np.testing.assert_array_equal(tifffile.imread(out), expected)
    np.testing.assert_array_equal(expected, histeq.clahe(volume, tiles=(3, 5, 3)))
    # To OME-Zarr: the physical sizes go with it, with a pyramid.
    assert _run("clahe", source, "-o", tmp_path / "out.ome.zarr", "--kernel-size", "10", "--spacing", "file") == 0
    back, meta = histeq.io.read_ome_zarr(tmp_path / "out.ome.zarr")
    np.testing.assert_array_equal(back.compute(), expected)
    assert meta.scale == (2.0, 0.5, 0.25) and [axis["name"] for axis in meta.axes] == ["z", "y", "x"]


def test_imagej_spacing_and_resolution(tmp_path):
    volume = _volume((10, 80, 90))
    source = tmp_path / "fiji.tif"
    tifffile.imwrite(
        source,
        volume,
        imagej=True,
        resolution=(1 / 0.3, 1 / 0.3),
        metadata={"spacing": 1.5, "axes": "ZYX", "unit": "um"},
    )
    sizes = histeq.io.pixel_sizes(histeq.io.read_file(source)[1])
    assert sizes.keys() == {0, 1, 2} and sizes[0] == 1.5 and sizes[1] == pytest.approx(0.3)


def test_spacing_from_a_file_that_states_none_or_in_two_ways(tmp_path, capsys, camera):
    histeq.io.write_image(tmp_path / "camera.png", camera)
    assert (
        _run("clahe", tmp_path / "camera.png", "-o", tmp_path / "o.png", "--kernel-size", "9", "--spacing", "file") != 0
    )
    assert "states no pixel size" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    assert (
        _run("clahe", tmp_path / "camera.png", "-o", tmp_path / "o.png", "--kernel-size", "64", "--tiles", "4")
        == EXIT_USAGE
    )
    assert "not both" in capsys.readouterr().err
    assert _run("clahe", tmp_path / "camera.png", "-o", tmp_path / "o.png", "--spacing", "2") == EXIT_USAGE
    assert _run("clahe", tmp_path / "camera.png", "-o", tmp_path / "o.png", "--kernel-size", "-3") == EXIT_USAGE
    assert (
        _run("clahe", tmp_path / "camera.png", "-o", tmp_path / "o.png", "--kernel-size", "64", "--spacing", "0.1") != 0
    )
    assert "larger than the image" in capsys.readouterr().err
    assert _run("clahe", tmp_path / "camera.png", "-o", tmp_path / "o.png", "--kernel-size", "64") == EXIT_OK
    np.testing.assert_array_equal(histeq.io.read_image(tmp_path / "o.png"), histeq.clahe(camera, tiles=8))


def test_bad_ome_zarr_inputs_are_refused_clearly(tmp_path):
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    assert not histeq.io.is_ome_zarr(tmp_path / "plain.zarr")
    with pytest.raises(ValueError, match="without OME-NGFF multiscales"):
        histeq.io.read_ome_zarr(tmp_path / "plain.zarr")
    meta = histeq.io.OmeZarr.for_array((4, 64, 64))
    with pytest.raises(ValueError, match="metadata has 3 axes, the image 2"):
        histeq.io.write_ome_zarr(tmp_path / "out.ome.zarr", np.zeros((64, 64), np.uint16), meta)
    assert not (tmp_path / "out.ome.zarr").exists()
    with pytest.raises(ValueError, match="2 to 5 axes"):
        histeq.io.OmeZarr.for_array((2, 2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="one number per spatial axis"):
        histeq.io.OmeZarr.for_array((4, 64, 64), spacing=(1.0, 2.0))
