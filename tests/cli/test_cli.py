"""The command line and file I/O: round trips per format, and no lost data."""

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


def _folder_files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def grey(request):
    from skimage import data

    return data.camera()[::2, ::2]


@pytest.mark.parametrize(
    "suffix, make",
    [
        (".png", lambda g, rgb: g),
        (".png", lambda g, rgb: g.astype(np.uint16) * 257 + 3),
        (".png", lambda g, rgb: rgb),
        (".png", lambda g, rgb: rgb.astype(np.uint16) * 200),
        (".png", lambda g, rgb: np.dstack([rgb, g])),
        (".tif", lambda g, rgb: g.astype(np.uint16) * 100),
        (".tif", lambda g, rgb: rgb.astype(np.uint16) * 257),
        (".tif", lambda g, rgb: (g / 255).astype(np.float32)),
        (".npy", lambda g, rgb: (g.astype(np.int16) - 128) * 3),
    ],
    ids=["png8", "png16", "png-rgb8", "png-rgb16", "png-rgba", "tif16", "tif-rgb16", "tif-float", "npy-int16"],
)
def test_round_trip_equals_the_library(tmp_path, grey, astronaut, suffix, make):
    image = make(grey, astronaut[::2, ::2])
    source, target = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    io.write_image(source, image)
    assert io.read_image(source).dtype == image.dtype
    np.testing.assert_array_equal(io.read_image(source), image)
    assert _run("equalize", source, target) == EXIT_OK
    out = io.read_image(target)
    colour = suffix != ".npy" and image.ndim == 3
    expected = histeq.equalize(image, channel_axis=-1 if colour else None)
    assert out.dtype == image.dtype and out.shape == image.shape
    np.testing.assert_array_equal(out, expected)
    if colour and image.shape[-1] == 4:
        np.testing.assert_array_equal(out[..., 3], image[..., 3])


def test_jpeg_keeps_shape_and_dtype(tmp_path, astronaut):
    source, target = tmp_path / "photo.jpg", tmp_path / "photo_eq.jpeg"
    io.write_image(source, astronaut)
    assert _run("equalize", source, target, "--color", "luma") == EXIT_OK
    out = io.read_image(target)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    # Lossy, so compared loosely: the output is the equalized photo, not the input.
    expected = histeq.equalize(io.read_image(source), channel_axis=-1, color="luma")
    assert np.abs(out.astype(int) - expected).mean() < 3


def test_options_reach_the_library(tmp_path):
    batch = np.random.default_rng(0).integers(10, 90, (5, 1, 16, 16), dtype=np.uint8)
    source, target = tmp_path / "batch.npy", tmp_path / "out.npy"
    np.save(source, batch)
    argv = [
        "equalize",
        source,
        target,
        "--axes",
        "-2",
        "-1",
        "--nbins",
        "64",
        "--out-range",
        "0",
        "100",
        "--threads",
        "1",
    ]
    assert _run(*argv) == EXIT_OK
    expected = histeq.equalize(batch, axes=(-2, -1), nbins=64, out_range=(0, 100))
    np.testing.assert_array_equal(np.load(target), expected)
    for i in range(5):
        np.testing.assert_array_equal(np.load(target)[i, 0], histeq.equalize(batch[i, 0], nbins=64, out_range=(0, 100)))


def test_compat_opencv_from_the_command_line(tmp_path, grey):
    import cv2

    source, target = tmp_path / "in.png", tmp_path / "out.png"
    io.write_image(source, grey)
    assert _run("equalize", source, target, "--compat", "opencv") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(target), cv2.equalizeHist(grey))


def test_mask_file(tmp_path, grey):
    mask = np.zeros(grey.shape, np.uint8)
    mask[50:150, 40:200] = 255
    source, mask_file, target = tmp_path / "in.png", tmp_path / "roi.png", tmp_path / "out.png"
    io.write_image(source, grey)
    io.write_image(mask_file, mask)
    assert _run("equalize", source, target, "--mask", mask_file) == EXIT_OK
    np.testing.assert_array_equal(io.read_image(target), histeq.equalize(grey, mask=mask > 0))


def test_mask_of_the_wrong_size_fails_and_writes_nothing(tmp_path, grey, capsys):
    source, mask_file, target = tmp_path / "in.png", tmp_path / "roi.png", tmp_path / "out.png"
    io.write_image(source, grey)
    io.write_image(mask_file, np.ones((5, 5), np.uint8))
    assert _run("equalize", source, target, "--mask", mask_file) == EXIT_FAILED
    assert "mask" in capsys.readouterr().err
    assert not target.exists()


def test_never_overwrites_its_input(tmp_path, grey, capsys):
    source = tmp_path / "in.png"
    io.write_image(source, grey)
    before = source.read_bytes()
    for extra in ([], ["--overwrite"]):
        assert _run("equalize", source, source, *extra) == EXIT_USAGE
        assert "never overwrites its input" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path, grey, capsys):
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    io.write_image(source, grey)
    target.write_bytes(b"keep me")
    assert _run("equalize", source, target) == EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert _run("equalize", source, target, "--overwrite") == EXIT_OK
    np.testing.assert_array_equal(io.read_image(target), histeq.equalize(grey))


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n garbage", b"not an image at all"])
def test_corrupt_input_fails_cleanly(tmp_path, content, capsys):
    source, target = tmp_path / "broken.png", tmp_path / "out.png"
    source.write_bytes(content)
    assert _run("equalize", source, target) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err
    assert _folder_files(tmp_path) == ["broken.png"]


def test_truncated_png_fails_cleanly(tmp_path, grey, capsys):
    source, target = tmp_path / "cut.png", tmp_path / "out.png"
    io.write_image(source, grey)
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    assert _run("equalize", source, target) == EXIT_FAILED
    assert "cut.png" in capsys.readouterr().err
    assert _folder_files(tmp_path) == ["cut.png"]


def test_missing_input_and_bad_suffixes(tmp_path, grey, capsys):
    assert _run("equalize", tmp_path / "nope.png", tmp_path / "out.png") == EXIT_FAILED
    assert "nope.png" in capsys.readouterr().err
    source = tmp_path / "in.png"
    io.write_image(source, grey)
    assert _run("equalize", source, tmp_path / "out.gif") == EXIT_USAGE
    assert "unsupported file type" in capsys.readouterr().err


def test_bad_options_are_usage_errors(tmp_path, grey, capsys):
    source = tmp_path / "in.png"
    io.write_image(source, grey)
    with pytest.raises(SystemExit) as exit_info:
        _run("equalize", source, tmp_path / "out.png", "--color", "hsl")
    assert exit_info.value.code == EXIT_USAGE
    # Options no image could take stop the run before any file is touched (were one error per file, exit 1).
    for options in (
        ["--nbins", "1"],
        ["--compat", "opencv", "--exact"],
        ["--in-range", "200", "100"],
        ["--compat", "opencv", "--color", "luma"],
        ["--out-range", "9", "9"],
    ):
        assert _run("equalize", source, tmp_path / "out" / "o.png", *options) == EXIT_USAGE
        assert "error" in capsys.readouterr().err
    assert _run("clahe", source, tmp_path / "out" / "o.png", "--compat", "opencv", "--mask", source) == EXIT_USAGE
    assert _folder_files(tmp_path) == ["in.png"]  # no output folder either
    # An option only some files refuse (a range beyond 8 bits) is those files' error.
    assert _run("equalize", source, tmp_path / "out" / "o.png", "--in-range", "0", "4095") == EXIT_FAILED
    assert "outside the uint8 range" in capsys.readouterr().err
    assert _folder_files(tmp_path) == ["in.png"]  # the failed file left no folder behind


def test_colour_options_on_grey_files_apply_to_their_one_channel(tmp_path, grey, astronaut, capsys):
    # Was "--color luma needs a colour image": the README's own glob example failed on grey files.
    io.write_image(tmp_path / "grey.png", grey)
    io.write_image(tmp_path / "photo.png", astronaut)
    assert _run("equalize", str(tmp_path / "*.png"), "--suffix", "_eq", "--color", "luma") == EXIT_OK
    assert capsys.readouterr().err.count("note: --color luma applies to colour images") == 1
    np.testing.assert_array_equal(io.read_image(tmp_path / "grey_eq.png"), histeq.equalize(grey))
    np.testing.assert_array_equal(
        io.read_image(tmp_path / "photo_eq.png"), histeq.equalize(astronaut, channel_axis=-1, color="luma")
    )
    # Re-running the glob: this run's outputs are not its inputs (was coffee_eq_eq_eq.png).
    for _ in range(2):
        assert _run("equalize", str(tmp_path / "*.png"), "--suffix", "_eq", "--overwrite", "--quiet") == EXIT_OK
    assert _folder_files(tmp_path) == ["grey.png", "grey_eq.png", "photo.png", "photo_eq.png"]


def test_a_result_the_format_cannot_hold_is_not_written(tmp_path, grey, capsys):
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    io.write_image(source, grey)
    # compat='skimage' returns float64, which PNG cannot hold.
    assert _run("equalize", source, target, "--compat", "skimage") == EXIT_FAILED
    assert "float64" in capsys.readouterr().err
    assert _folder_files(tmp_path) == ["in.png"]
    assert _run("equalize", source, tmp_path / "out.npy", "--compat", "skimage") == EXIT_OK


def test_atomic_writer_leaves_the_target_alone_on_error(tmp_path):
    target = tmp_path / "result.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with io.atomic_writer(target) as f:
            f.write(b"half of a new fi")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert _folder_files(tmp_path) == ["result.png"]


def test_written_files_get_the_usual_permissions(tmp_path, grey):
    target = tmp_path / "out.png"
    io.write_image(target, grey)
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_report_figure(tmp_path, grey):
    source, target, figure = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "report.png"
    io.write_image(source, grey)
    assert _run("equalize", source, target, "--report", figure) == EXIT_OK
    picture = io.read_image(figure)
    assert picture.shape[0] > 300 and picture.shape[1] > 300
    assert picture[..., :3].std() > 20, "the figure is blank"


def test_demo_writes_the_sample_its_result_and_the_figure(tmp_path, capsys):
    folder = tmp_path / "demo"
    assert _run("demo", "-o", folder) == EXIT_OK
    assert _folder_files(folder) == ["before_after.png", "sample.png", "sample_equalized.png"]
    sample, result = io.read_image(folder / "sample.png"), io.read_image(folder / "sample_equalized.png")
    assert sample.max() - sample.min() < 100, "the sample should be low-contrast"
    assert result.min() == 0 and result.max() == 255
    np.testing.assert_array_equal(result, histeq.equalize(sample))
    assert io.read_image(folder / "before_after.png")[..., :3].std() > 20
    assert "before_after.png" in capsys.readouterr().out


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _run("--version")
    assert exit_info.value.code == 0 and histeq.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _run("equalize", "--help")
    assert "examples" in capsys.readouterr().out


def test_real_subprocess(tmp_path, grey):
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    io.write_image(source, grey)
    done = subprocess.run(
        [sys.executable, "-m", "histeq", "equalize", str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(io.read_image(target), histeq.equalize(grey))
    done = subprocess.run(
        [sys.executable, "-m", "histeq", "equalize", str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_USAGE and "exists" in done.stderr
