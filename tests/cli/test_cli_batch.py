"""The command line on many files, every method and format, and its failure modes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import histeq
from histeq import io
from histeq.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


def _run(*argv):
    return main([str(a) for a in argv])


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def folder(tmp_path, camera, astronaut):
    """photos/a.png (grey), photos/b.png (RGB), photos/sub/c.tif (16-bit), photos/notes.txt"""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    io.write_image(root / "a.png", camera[::4, ::4])
    io.write_image(root / "b.png", astronaut[::4, ::4])
    io.write_image(root / "sub" / "c.tif", camera[::4, ::4].astype(np.uint16) * 200)
    (root / "notes.txt").write_text("not an image")
    return root


def test_a_folder_tree_is_mirrored_in_parallel(tmp_path, folder, capsys):
    out = tmp_path / "out"
    assert _run("equalize", folder, "-o", out, "-r", "--jobs", "2", "--json") == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == 3 and summary["failed"] == 0 and len(summary["files"]) == 3
    assert _tree(out) == ["a.png", "b.png", "sub/c.tif"]
    for name in _tree(out):
        image = io.read_image(folder / name)
        expected = histeq.equalize(image, channel_axis=-1 if image.ndim == 3 else None)
        np.testing.assert_array_equal(io.read_image(out / name), expected)
    assert _run("equalize", folder, "-o", tmp_path / "flat") == EXIT_OK  # without -r: the top folder only
    assert _tree(tmp_path / "flat") == ["a.png", "b.png"]


def test_glob_with_suffix_and_in_place(tmp_path, folder):
    assert _run("equalize", str(folder / "*.png"), "--suffix", "_eq", "--quiet") == EXIT_OK
    assert (folder / "a_eq.png").exists() and (folder / "b_eq.png").exists()
    original = io.read_image(folder / "a.png")
    assert _run("equalize", folder / "a.png", "--in-place") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(folder / "a.png"), histeq.equalize(original))


def test_format_and_dtype_conversion(tmp_path, camera):
    source = tmp_path / "in.png"
    io.write_image(source, camera)
    assert _run("equalize", source, "-o", tmp_path / "out", "--format", "tiff", "--dtype", "uint16") == EXIT_OK
    out = io.read_image(tmp_path / "out.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, histeq.equalize(camera).astype(np.uint16) * 257)


def test_clahe_on_a_multipage_tiff_is_clahe_over_the_volume(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(0)
    volume = (rng.normal(2000, 300, (5, 40, 48))).clip(0, 65535).astype(np.uint16)
    source, target = tmp_path / "stack.tif", tmp_path / "stack_clahe.tif"
    tifffile.imwrite(source, volume, photometric="minisblack")
    assert _run("clahe", source, "-o", target, "--clip-limit", "3") == EXIT_OK
    out = io.read_image(target)
    assert out.shape == volume.shape and out.dtype == np.uint16
    np.testing.assert_array_equal(out, histeq.clahe(volume, tiles=(5, 8, 8), clip_limit=3.0))
    assert _run("clahe", source, "-o", tmp_path / "pages.tif", "--axes", "1", "2", "--tiles", "4") == EXIT_OK
    np.testing.assert_array_equal(
        io.read_image(tmp_path / "pages.tif"), histeq.clahe(volume, axes=(1, 2), tiles=4, clip_limit=2.0)
    )


def test_match_and_specify(tmp_path, camera):
    from skimage import data

    source, reference = tmp_path / "in.png", tmp_path / "ref.png"
    io.write_image(source, camera)
    io.write_image(reference, data.moon())
    assert _run("match", source, "-o", tmp_path / "m.png", "--reference", reference) == EXIT_OK
    np.testing.assert_array_equal(io.read_image(tmp_path / "m.png"), histeq.match(camera, data.moon()))
    assert _run("match", source, "-o", tmp_path / "mx.png", "--reference", reference, "--exact") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(tmp_path / "mx.png"), histeq.match(camera, data.moon(), exact=True))
    assert _run("specify", source, "-o", tmp_path / "s.png", "--histogram", "1,2,3,4") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(tmp_path / "s.png"), histeq.specify(camera, [1, 2, 3, 4]))
    weights = tmp_path / "w.npy"
    np.save(weights, np.arange(1.0, 257.0))
    assert _run("specify", source, "-o", tmp_path / "w.png", "--histogram", weights, "--exact") == EXIT_OK
    np.testing.assert_array_equal(
        io.read_image(tmp_path / "w.png"), histeq.specify(camera, np.arange(1.0, 257.0), exact=True)
    )
    assert _run("specify", source, "-o", tmp_path / "r.png", "--histogram", "rayleigh", "--alpha", "0.3") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(tmp_path / "r.png"), histeq.specify(camera, "rayleigh", alpha=0.3))


def test_npz_keeps_its_arrays(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"left": rng.integers(0, 90, (20, 30), dtype=np.uint8), "right": rng.random((10, 12))}
    source = tmp_path / "pair.npz"
    np.savez(source, **arrays)
    assert _run("equalize", source, "-o", tmp_path / "out.npz") == EXIT_OK
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["left", "right"]
        for name, array in arrays.items():
            np.testing.assert_array_equal(out[name], histeq.equalize(array))


def test_dicom_round_trip_keeps_the_header(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    source = tmp_path / "ct.dcm"
    from pathlib import Path

    source.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    original = pydicom.dcmread(source)
    assert _run("clahe", source, "-o", tmp_path / "ct_clahe.dcm", "--tiles", "4") == EXIT_OK
    out = pydicom.dcmread(tmp_path / "ct_clahe.dcm")
    assert out.PatientName == original.PatientName and out.Modality == original.Modality
    assert out.pixel_array.dtype == original.pixel_array.dtype
    pixels = original.pixel_array
    np.testing.assert_array_equal(
        out.pixel_array, histeq.clahe(pixels, tiles=4, clip_limit=2.0, out_range=(int(pixels.min()), int(pixels.max())))
    )


def _dicom_file(tmp_path, name):
    from pathlib import Path

    from pydicom.data import get_testdata_file

    source = tmp_path / name
    source.write_bytes(Path(get_testdata_file(name)).read_bytes())
    return source


def test_dicom_output_is_a_derived_image_viewers_show_as_it_is(tmp_path):
    # Was: pixels spread over -32768..32767 under the input's window 600/1600 (almost pure black and white),
    # and the input's SOPInstanceUID kept (two different images with one identity).
    pydicom = pytest.importorskip("pydicom")
    source = _dicom_file(tmp_path, "MR_small.dcm")
    original = pydicom.dcmread(source)
    assert _run("equalize", source, "-o", tmp_path / "eq.dcm") == EXIT_OK
    assert _run("equalize", source, "-o", tmp_path / "again.dcm") == EXIT_OK
    out, again = pydicom.dcmread(tmp_path / "eq.dcm"), pydicom.dcmread(tmp_path / "again.dcm")
    pixels = out.pixel_array
    lo, hi = int(original.pixel_array.min()), int(original.pixel_array.max())
    assert (int(pixels.min()), int(pixels.max())) == (lo, hi)  # the input's stored range
    np.testing.assert_array_equal(pixels, histeq.equalize(original.pixel_array, out_range=(lo, hi)))
    # The window shows exactly that range: DICOM's linear window maps c - 1/2 -+ (w - 1)/2 to black and white.
    centre, width = float(out.WindowCenter), float(out.WindowWidth)
    assert centre - 0.5 - (width - 1) / 2 == lo and centre - 0.5 + (width - 1) / 2 == hi
    assert (out.SmallestImagePixelValue, out.LargestImagePixelValue) == (lo, hi)
    assert out.SOPInstanceUID != original.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SeriesInstanceUID != original.SeriesInstanceUID
    assert again.SeriesInstanceUID == out.SeriesInstanceUID  # one derived series per source series and operation
    assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "histeq equalize" in out.DerivationDescription
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert out.StudyInstanceUID == original.StudyInstanceUID and out.PatientID == original.PatientID


def test_dicom_with_rescale_gets_a_window_in_rescaled_units(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    source = _dicom_file(tmp_path, "CT_small.dcm")  # RescaleIntercept -1024: Hounsfield units
    assert _run("equalize", source, "-o", tmp_path / "eq.dcm") == EXIT_OK
    out = pydicom.dcmread(tmp_path / "eq.dcm")
    pixels = out.pixel_array.astype(float) * float(out.RescaleSlope) + float(out.RescaleIntercept)
    centre, width = float(out.WindowCenter), float(out.WindowWidth)
    assert centre - 0.5 - (width - 1) / 2 == pixels.min() and centre - 0.5 + (width - 1) / 2 == pixels.max()
    assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"]


def test_dicom_to_8bit_png_rescales_from_the_data_range(tmp_path):
    # Was a flat grey PNG of 9 levels: int16's nominal range mapped onto 0..255.
    pytest.importorskip("pydicom")
    source = _dicom_file(tmp_path, "MR_small.dcm")
    assert _run("equalize", source, "-o", tmp_path / "eq.png", "--dtype", "uint8") == EXIT_OK
    png = io.read_image(tmp_path / "eq.png")
    assert png.dtype == np.uint8 and png.min() == 0 and png.max() == 255 and len(np.unique(png)) > 200


def test_dicom_report_draws_the_data_range(tmp_path, monkeypatch):
    pydicom = pytest.importorskip("pydicom")
    from histeq import plot

    drawn = {}
    real = plot.before_after

    def spy(original, result, **kwargs):
        drawn.update(kwargs, original=original, result=result)
        return real(original, result, **kwargs)

    monkeypatch.setattr(plot, "before_after", spy)
    source = _dicom_file(tmp_path, "MR_small.dcm")
    assert _run("report", source, "-o", tmp_path / "report.png") == EXIT_OK
    pixels = pydicom.dcmread(source).pixel_array
    assert drawn["value_range"] == (int(pixels.min()), int(pixels.max()))
    figure = real(drawn["original"], drawn["result"], value_range=drawn["value_range"])
    shown = figure.axes[0].images[0].get_array()
    assert shown.min() == 0 and shown.max() == 1  # not a dark band of int16's range


def test_resolution_metadata_is_kept(tmp_path, camera):
    tifffile = pytest.importorskip("tifffile")
    from PIL import Image

    tif = tmp_path / "scan.tif"
    tifffile.imwrite(tif, camera, resolution=(300, 300), resolutionunit="INCH")
    assert _run("equalize", tif, "-o", tmp_path / "scan_eq.tif") == EXIT_OK
    with tifffile.TiffFile(tmp_path / "scan_eq.tif") as f:
        assert f.pages[0].tags["XResolution"].value == (300, 1)
    png = tmp_path / "photo.png"
    Image.fromarray(camera).save(png, dpi=(150, 150))
    assert _run("equalize", png, "-o", tmp_path / "photo_eq.png") == EXIT_OK
    with Image.open(tmp_path / "photo_eq.png") as im:
        assert round(im.info["dpi"][0]) == 150


def test_a_bad_file_fails_alone(tmp_path, folder, capsys):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    assert _run("equalize", folder, "-o", out) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "broken.png" in err and "1 failed" in err
    assert _tree(out) == ["a.png", "b.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs permissions that bind (not root)")
def test_read_only_output_folder(tmp_path, folder, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert _run("equalize", folder / "a.png", folder / "b.png", "-o", out) == EXIT_FAILED
        assert capsys.readouterr().err.count("error:") == 2
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o700)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["clahe", "{a}", "-o", "{t}/x.png", "--tiles", "0"], "must be >= 1"),
        (["clahe", "{a}", "-o", "{t}/x.png", "--clip-limit", "0.5"], "must be >= 1"),
        (["match", "{a}", "-o", "{t}/x.png"], "--reference"),
        (["match", "{a}", "-o", "{t}/x.png", "--reference", "{t}/missing.png"], "--reference"),
        (["specify", "{a}", "-o", "{t}/x.png", "--histogram", "1,-1"], "non-negative"),
        (["specify", "{a}", "-o", "{t}/x.png", "--histogram", "gauss"], "--histogram gauss"),
        (["equalize", "{a}", "{f}/b.png", "{t}/x.png"], "say where results go"),
        (["equalize", "{a}", "-o", "{a}"], "never overwrites its input"),
        (["equalize", "{a}", "-o", "{f}/b.png"], "exists"),
        (["equalize", "{f}/a.png", "{f}/sub/a.png", "-o", "{t}/o"], "same output"),
        (["equalize", "{t}/*.nothing", "-o", "{t}/o"], "no file matches"),
        (["equalize", "{f}", "--color", "hsl", "-o", "{t}/o"], "invalid choice"),
    ],
)
def test_bad_options_touch_nothing(tmp_path, folder, capsys, argv, message):
    io.write_image(folder / "sub" / "a.png", np.zeros((4, 4), np.uint8))
    before = _tree(tmp_path)
    argv = [a.format(a=folder / "a.png", f=folder, t=tmp_path) for a in argv]
    try:
        code = _run(*argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_report_command_and_batch_contact_sheet(tmp_path, camera):
    source = tmp_path / "cam.png"
    io.write_image(source, camera)
    assert _run("report", source) == EXIT_OK
    picture = io.read_image(tmp_path / "cam_report.png")
    assert picture.shape[0] > 400 and picture[..., :3].std() > 30
    batch = np.random.default_rng(2).integers(0, 100, (30, 1, 24, 24), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", batch)
    assert (
        _run(
            "equalize",
            tmp_path / "batch.npy",
            "-o",
            tmp_path / "out.npy",
            "--axes",
            "-2",
            "-1",
            "--report",
            tmp_path / "sheet.png",
        )
        == EXIT_OK
    )
    sheet = io.read_image(tmp_path / "sheet.png")
    assert sheet.shape[1] > 600 and sheet[..., :3].std() > 30
    assert _run("report", source, "-o", tmp_path / "cam.pdf") == EXIT_OK
    assert (tmp_path / "cam.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("command", ["equalize", "clahe", "match", "specify", "report"])
def test_each_subcommand_as_a_real_process(tmp_path, camera, command):
    source = tmp_path / "in.png"
    io.write_image(source, camera[::2, ::2])
    argv = [sys.executable, "-m", "histeq", command, str(source)]
    argv += {
        "report": ["-o", str(tmp_path / "r.png")],
        "match": ["-o", str(tmp_path / "o.png"), "--reference", str(source)],
    }.get(command, ["-o", str(tmp_path / "o.png")])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ("r.png" if command == "report" else "o.png")).exists()


def test_many_files_go_through_worker_processes(tmp_path, folder, monkeypatch, capsys):
    from histeq.cli import _workers

    monkeypatch.setattr(_workers, "PROCESSES_FROM", 2)
    (folder / "broken.png").write_bytes(b"not a png")
    assert _run("equalize", folder, "-o", tmp_path / "out", "-r", "--jobs", "2", "--json") == EXIT_FAILED
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"]) == (3, 1)
    assert _tree(tmp_path / "out") == ["a.png", "b.png", "sub/c.tif"]
    np.testing.assert_array_equal(
        io.read_image(tmp_path / "out" / "a.png"), histeq.equalize(io.read_image(folder / "a.png"))
    )


def test_an_output_folder_that_cannot_be_made_fails_each_file(tmp_path, folder, capsys):
    (tmp_path / "blocked").write_text("a file where the output folder should be")
    assert _run("equalize", folder / "a.png", folder / "b.png", "-o", tmp_path / "blocked" / "out") == EXIT_FAILED
    assert capsys.readouterr().err.count("error:") == 2
    assert _tree(tmp_path) == sorted(["blocked"] + [f"photos/{n}" for n in _tree(folder)])


def test_zarr_and_dask_chunk_by_chunk(tmp_path, camera, capsys):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("zarr")
    tifffile = pytest.importorskip("tifffile")
    store = tmp_path / "scene.zarr"
    da.from_array(camera, chunks=(100, 128)).to_zarr(str(store))
    expected = histeq.equalize(camera)
    assert _run("equalize", store, "-o", tmp_path / "out.zarr") == EXIT_OK
    result = da.from_zarr(str(tmp_path / "out.zarr"))
    assert result.chunks == ((100,) * 5 + (12,), (128,) * 4)  # written chunk by chunk, as read
    np.testing.assert_array_equal(result.compute(), expected)
    assert _run("equalize", store, "-o", tmp_path / "out.zarr") == EXIT_USAGE  # exists
    assert _run("match", store, "-o", tmp_path / "out.zarr", "--overwrite", "--reference", store) == EXIT_OK
    np.testing.assert_array_equal(da.from_zarr(str(tmp_path / "out.zarr")).compute(), camera)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a staging folder was left behind"
    tiled = tmp_path / "tiled.tif"
    tifffile.imwrite(tiled, camera, tile=(128, 128))
    assert _run("equalize", tiled, "-o", tmp_path / "t.png", "--dask") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(tmp_path / "t.png"), expected)
    assert _run("equalize", store, "-o", tmp_path / "t.tif") == EXIT_OK  # written chunk by chunk
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "t.tif"), expected)
    assert _run("clahe", store, "-o", tmp_path / "c.zarr", "--tiles", "4", "6") == EXIT_OK
    np.testing.assert_array_equal(
        da.from_zarr(str(tmp_path / "c.zarr")).compute(), histeq.clahe(camera, tiles=(4, 6), clip_limit=2.0)
    )


@pytest.mark.parametrize(
    "shape, chunks",
    [
        ((300, 500), (64, 100)),
        ((300, 500, 3), (70, 90, 2)),
        ((5, 60, 70), (2, 25, 30)),
        ((4, 50, 40, 4), (3, 20, 15, 4)),
    ],
)
def test_tiff_written_chunk_by_chunk(tmp_path, shape, chunks):
    da = pytest.importorskip("dask.array")
    tifffile = pytest.importorskip("tifffile")
    image = np.random.default_rng(0).integers(0, 65535, shape, endpoint=True).astype(np.uint16)
    target = tmp_path / "out.tif"
    io.write_tiff_chunked(target, da.from_array(image, chunks=chunks))
    np.testing.assert_array_equal(tifffile.imread(target), image)
    with tifffile.TiffFile(target) as tif:  # pages for the leading axes, RGB(A) for a last axis of 3 or 4
        assert len(tif.pages) == (shape[0] if len(shape) - (shape[-1] in (3, 4)) == 3 else 1)
        assert (tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB) == (shape[-1] in (3, 4))

    def broken(block, block_info=None):
        if block_info[0]["chunk-location"] == (0,) * len(shape):
            raise RuntimeError("a chunk failed")
        return block

    with pytest.raises(RuntimeError, match="a chunk failed"):
        io.write_tiff_chunked(target, da.from_array(image, chunks=chunks).map_blocks(broken, dtype=image.dtype))
    np.testing.assert_array_equal(tifffile.imread(target), image)  # the earlier file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]  # no temporary file left


def test_a_tiff_too_big_for_memory_goes_chunk_by_chunk(tmp_path, camera, monkeypatch):
    pytest.importorskip("dask.array")
    tifffile = pytest.importorskip("tifffile")
    from histeq import _chunks as histeq_dask
    from histeq.cli._job import _Job

    chunked = []
    run_chunked = _Job._run_chunked
    monkeypatch.setattr(_Job, "_run_chunked", lambda job, *a: chunked.append(a) or run_chunked(job, *a))
    source = tmp_path / "scene.tif"
    tifffile.imwrite(source, camera, tile=(64, 64))
    assert _run("clahe", source, "-o", tmp_path / "small.tif") == EXIT_OK
    assert chunked == []  # fits: read whole
    monkeypatch.setattr(histeq_dask, "available_memory", lambda: 4 * camera.nbytes - 1)
    assert _run("clahe", source, "-o", tmp_path / "big.tif", "--tiles", "4") == EXIT_OK
    assert len(chunked) == 1
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "big.tif"), histeq.clahe(camera, tiles=4))
    assert _run("equalize", source, "-o", tmp_path / "shown.tif", "--report", tmp_path / "r.png") == EXIT_OK
    assert len(chunked) == 1  # a report draws in-memory images


@pytest.mark.parametrize("version, keyword", [("3.0.1", "enforce_file_format"), ("2.4.4", "write_like_original")])
def test_dicom_is_saved_with_either_pydicom(version, keyword):
    # Was pydicom-3 only (save_as(enforce_file_format=True)), while pyproject admitted pydicom 2.3.
    from histeq.io import _dicom

    class Dataset:
        def save_as(self, file, **kwargs):
            self.kwargs = kwargs

    dataset = Dataset()
    _dicom._save_as(dataset, None, version)
    assert list(dataset.kwargs) == [keyword] and dataset.kwargs[keyword] is (keyword == "enforce_file_format")
