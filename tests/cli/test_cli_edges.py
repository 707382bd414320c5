"""The command line's rough edges, each a regression test: reports, option checks, names and messages."""

import sys
from io import StringIO

import numpy as np
import pytest

import histeq
from histeq import io
from histeq.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _main, main


def _run(*argv):
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def twins(tmp_path, camera):
    """photos/a.png and photos/sub/a.png: two files of one name."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    io.write_image(root / "a.png", camera[::4, ::4])
    io.write_image(root / "sub" / "a.png", camera[::-4, ::4])
    return root


def test_reports_mirror_the_input_tree(tmp_path, twins, capsys):
    # Was: both wrote a_report.png (one lost) and "2 done" was printed.
    assert _run("equalize", twins, "-r", "-o", tmp_path / "out", "--report", tmp_path / "reports") == EXIT_OK
    assert _tree(tmp_path / "reports") == ["a_report.png", "sub/a_report.png"]
    assert _tree(tmp_path / "out") == ["a.png", "sub/a.png"]


def test_one_overwrite_rule_for_outputs_and_reports(tmp_path, camera, capsys):
    # Was: --report fig.png replaced an existing file without --overwrite (histeq report refused).
    source, figure = tmp_path / "in.png", tmp_path / "fig.png"
    io.write_image(source, camera)
    figure.write_bytes(b"keep me")
    assert _run("equalize", source, "-o", tmp_path / "out.png", "--report", figure) == EXIT_USAGE
    assert "fig.png exists; pass --overwrite" in capsys.readouterr().err
    assert figure.read_bytes() == b"keep me" and not (tmp_path / "out.png").exists()
    assert _run("equalize", source, "-o", tmp_path / "out.png", "--report", figure, "--overwrite") == EXIT_OK
    assert figure.read_bytes() != b"keep me"
    assert _run("report", source, "-o", figure) == EXIT_USAGE


def test_report_titles_name_the_result(tmp_path, camera, monkeypatch):
    # Was "equalize" in a run's report and "equalized" in histeq report.
    from histeq import plot

    titles = []
    real = plot.before_after
    monkeypatch.setattr(plot, "before_after", lambda *a, **k: titles.append(k["titles"]) or real(*a, **k))
    source = tmp_path / "in.png"
    io.write_image(source, camera)
    for command, extra in [("equalize", []), ("clahe", []), ("specify", []), ("match", ["--reference", source])]:
        assert (
            _run(command, source, "-o", tmp_path / f"{command}.png", "--report", tmp_path / f"{command}_r.png", *extra)
            == EXIT_OK
        )
    assert _run("report", source) == EXIT_OK
    assert titles == [
        ("original", "equalized"),
        ("original", "CLAHE"),
        ("original", "specified"),
        ("original", "matched"),
        ("original", "equalized"),
    ]


@pytest.mark.parametrize("axes", [["--axes", "-2,-1"], ["--axes=-2,-1"], ["--axes", "-2", "-1"], ["--axes", "2,3"]])
def test_axes_as_comma_lists(tmp_path, axes):
    # Was rejected: argparse took -2,-1 for an option.
    batch = np.random.default_rng(0).integers(0, 150, (3, 1, 12, 10), dtype=np.uint8)
    np.save(tmp_path / "b.npy", batch)
    assert _run("equalize", tmp_path / "b.npy", "-o", tmp_path / "o.npy", *axes) == EXIT_OK
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), histeq.equalize(batch, axes=(-2, -1)))
    assert _run("clahe", tmp_path / "b.npy", "-o", tmp_path / "c.npy", *axes, "--tiles", "2,3") == EXIT_OK
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), histeq.clahe(batch, axes=(-2, -1), tiles=(2, 3)))


def test_output_with_a_trailing_slash_is_a_folder(tmp_path, camera):
    # Was "newdir: unsupported file type".
    io.write_image(tmp_path / "in.png", camera)
    assert _run("equalize", tmp_path / "in.png", "-o", str(tmp_path / "newdir") + "/") == EXIT_OK
    assert _tree(tmp_path / "newdir") == ["in.png"]


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.float32])
def test_jpeg_of_another_dtype_says_to_convert(tmp_path, dtype, capsys):
    # Were contradictory messages, neither mentioning --dtype uint8.
    np.save(tmp_path / "x.npy", (np.arange(64 * 64).reshape(64, 64) % 200).astype(dtype))
    assert _run("equalize", tmp_path / "x.npy", "-o", tmp_path / "x.jpg") == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"JPEG holds uint8 images, this one is {np.dtype(dtype)}" in err and "--dtype uint8" in err
    assert not (tmp_path / "x.jpg").exists()
    assert _run("equalize", tmp_path / "x.npy", "-o", tmp_path / "x.jpg", "--dtype", "uint8") == EXIT_OK


def test_a_missing_input_is_reported_before_an_existing_output(tmp_path, capsys):
    # Was "out.png exists; pass --overwrite", about a run that could not have read its input.
    (tmp_path / "out.png").write_bytes(b"x")
    assert _run("equalize", tmp_path / "missing.png", "-o", tmp_path / "out.png") == EXIT_FAILED
    err = capsys.readouterr().err
    assert "missing.png" in err and "exists" not in err


def test_unknown_options_get_a_hint(tmp_path, camera, capsys):
    # Was a bare "unrecognized arguments: --tile 8".
    io.write_image(tmp_path / "in.png", camera)
    assert _run("equalize", tmp_path / "in.png", "-o", tmp_path / "o.png", "--tile", "8") == EXIT_USAGE
    assert "did you mean --tiles (an option of histeq clahe)" in capsys.readouterr().err
    assert _run("clahe", tmp_path / "in.png", "-o", tmp_path / "o.png", "--clip-limt", "3") == EXIT_USAGE
    assert "did you mean --clip-limit?" in capsys.readouterr().err


def test_each_command_shows_its_own_examples(capsys):
    # Was the 13-line example block of every command under each one.
    assert _run("clahe", "--help") == 0
    examples = capsys.readouterr().out.split("examples:")[1]
    lines = [line for line in examples.splitlines() if line.strip()]
    assert lines and all(line.split()[1] == "clahe" for line in lines)


def test_format_and_output_name_must_agree(tmp_path, camera, capsys):
    # Was: --format jpg silently wrote out.jpg for -o out.png.
    io.write_image(tmp_path / "in.png", camera)
    assert _run("equalize", tmp_path / "in.png", "-o", tmp_path / "out.png", "--format", "jpg") == EXIT_USAGE
    assert "names a .png file but --format is jpg" in capsys.readouterr().err
    assert _run("equalize", tmp_path / "in.png", "-o", tmp_path / "out.jpeg", "--format", "jpg") == EXIT_OK
    assert _tree(tmp_path) == ["in.png", "out.jpeg"]


def test_subfolders_skipped_without_recursion_are_mentioned(tmp_path, twins, capsys):
    # Were skipped without a word.
    assert _run("equalize", twins, "-o", tmp_path / "out") == EXIT_OK
    err = capsys.readouterr().err
    assert "1 subfolder(s) skipped" in err and "pass -r to include them" in err
    assert _tree(tmp_path / "out") == ["a.png"]


@pytest.fixture(scope="module")
def icc():
    from PIL import ImageCms

    # A real ICC profile, made by Pillow's LittleCMS (pydicom's test file of one is not in every version).
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(
    "source, target",
    [("p.jpg", "o.jpg"), ("p.png", "o.png"), ("p.jpg", "o.png"), ("p.png", "o.jpg"), ("p.jpg", "o.tif")],
)
def test_photos_keep_exif_orientation_and_icc_profile(tmp_path, astronaut, icc, source, target):
    # Were dropped: phone portraits came out sideways, wide-gamut photos changed colour.
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to show
    exif[0x010F] = "Phone"
    photo = Image.fromarray(astronaut[:120, :160])
    photo.save(tmp_path / source, exif=exif.tobytes(), icc_profile=icc)
    assert _run("equalize", tmp_path / source, "-o", tmp_path / target) == EXIT_OK
    if target.endswith("tif"):  # TIFF has its own orientation tag (274, as in EXIF)
        tifffile = pytest.importorskip("tifffile")
        with tifffile.TiffFile(tmp_path / target) as tif:
            assert tif.pages[0].tags["Orientation"].value == 6
        assert _run("equalize", tmp_path / target, "-o", tmp_path / "back.jpg") == EXIT_OK
        target = "back.jpg"
    with Image.open(tmp_path / target) as out:
        assert out.getexif().get(0x0112) == 6  # the stored pixels and their orientation, kept together
        if target != "back.jpg":
            assert out.getexif().get(0x010F) == "Phone"
        assert out.info.get("icc_profile") == icc


def test_16bit_colour_png_keeps_its_metadata(tmp_path, astronaut, icc):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 3
    pixels = astronaut[:40, :50].astype(np.uint16) * 257
    io.write_file(tmp_path / "p16.png", {"image": pixels}, {"icc_profile": icc, "exif": exif.tobytes()})
    assert _run("clahe", tmp_path / "p16.png", "-o", tmp_path / "o16.png") == EXIT_OK
    with Image.open(tmp_path / "o16.png") as out:
        assert out.getexif().get(0x0112) == 3 and out.info.get("icc_profile") == icc
    assert io.read_image(tmp_path / "o16.png").dtype == np.uint16


def test_tiff_keeps_imagej_ome_and_geotiff_metadata(tmp_path, icc):
    tifffile = pytest.importorskip("tifffile")
    volume = (np.random.default_rng(0).random((4, 30, 40)) * 4000).astype(np.uint16)
    tifffile.imwrite(
        tmp_path / "ij.tif",
        volume,
        imagej=True,
        resolution=(3.0, 3.0),
        metadata={"spacing": 2.5, "unit": "micron", "axes": "ZYX"},
    )
    assert _run("clahe", tmp_path / "ij.tif", "-o", tmp_path / "ij_out.tif") == EXIT_OK
    with tifffile.TiffFile(tmp_path / "ij_out.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX"
        assert tif.imagej_metadata["spacing"] == 2.5 and tif.imagej_metadata["unit"] == "micron"
    tifffile.imwrite(tmp_path / "in.ome.tif", volume, ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 0.5})
    assert _run("equalize", tmp_path / "in.ome.tif", "-o", tmp_path / "out.ome.tif") == EXIT_OK
    with tifffile.TiffFile(tmp_path / "out.ome.tif") as tif:
        assert tif.is_ome and 'PhysicalSizeX="0.5"' in tif.ome_metadata
    geo = [
        (33550, 12, 3, (0.5, 0.5, 0.0), True),
        (33922, 12, 6, (0, 0, 0, 100.0, 200.0, 0), True),
        (34735, 3, 8, (1, 1, 0, 1, 1024, 0, 1, 1), True),
    ]
    tifffile.imwrite(tmp_path / "geo.tif", volume[0], extratags=geo, iccprofile=icc)
    assert _run("equalize", tmp_path / "geo.tif", "-o", tmp_path / "geo_out.tif") == EXIT_OK
    with tifffile.TiffFile(tmp_path / "geo_out.tif") as tif:
        tags = tif.pages[0].tags
        assert tags["ModelPixelScaleTag"].value == (0.5, 0.5, 0.0)
        assert tags["ModelTiepointTag"].value == (0, 0, 0, 100.0, 200.0, 0)
        assert tags["GeoKeyDirectoryTag"].value == (1, 1, 0, 1, 1024, 0, 1, 1)
        assert bytes(tags["InterColorProfile"].value) == icc


def test_colour_report_has_a_legend(astronaut):
    # The R/G/B curves had no legend.
    from histeq.plot import before_after

    figure = before_after(astronaut, histeq.equalize(astronaut, channel_axis=-1), channel_axis=-1)
    histogram_axes = [ax for ax in figure.axes if ax.get_legend() is not None]
    assert len(histogram_axes) == 2
    labels = [text.get_text() for text in histogram_axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["blue", "green", "luma (BT.601)", "red"]


class _Terminal(StringIO):
    def isatty(self):
        return True


def test_progress_is_a_tqdm_bar_on_a_terminal_when_tqdm_is_installed(monkeypatch):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = _main._Progress(3, enabled=True)
    for name in ("a.png", "b.png", "c.png"):
        progress.step(name)
    progress.message("histeq equalize: note: something")
    progress.close()
    shown = terminal.getvalue()
    assert "3/3" in shown and "file/s" in shown and "histeq equalize: note: something" in shown


def test_progress_is_a_counter_without_tqdm_and_silent_off_a_terminal(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(_main.importlib.util, "find_spec", lambda name: None)
    progress = _main._Progress(2, enabled=True)
    progress.step("a.png")
    progress.step("b.png")
    progress.close()
    assert "[1/2] a.png" in terminal.getvalue() and "[2/2] b.png" in terminal.getvalue()
    quiet = StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    progress = _main._Progress(2, enabled=True)
    progress.step("a.png")
    progress.close()
    assert quiet.getvalue() == ""


@pytest.fixture()
def day_and_night(tmp_path, camera, astronaut):
    """Grey day.png and night.png, colour photo.png and sky.png (the reference of the README's example)."""
    from skimage import data

    paths = {name: tmp_path / f"{name}.png" for name in ("day", "night", "photo", "sky")}
    io.write_image(paths["day"], camera[::4, ::4])
    io.write_image(paths["night"], data.moon()[::4, ::2])  # another size: a reference need not match
    io.write_image(paths["photo"], astronaut[::4, ::4])
    io.write_image(paths["sky"], astronaut[::-6, ::3])
    return paths


@pytest.mark.parametrize("color", ["lightness", "luma", "value"])
def test_match_grey_files_with_a_colour_mode_are_matched_as_grey(tmp_path, day_and_night, capsys, color):
    # Was a usage error naming no file ("... axis 1 has 128"), for the README's own example on grey PNGs;
    # equalize and clahe note that the colour mode leaves grey images as they are, and go on.
    day, night = day_and_night["day"], day_and_night["night"]
    assert _run("match", day, "-o", tmp_path / "matched.png", "--reference", night, "--color", color) == EXIT_OK
    assert f"note: --color {color} applies to colour images" in capsys.readouterr().err
    np.testing.assert_array_equal(
        io.read_image(tmp_path / "matched.png"), histeq.match(io.read_image(day), io.read_image(night))
    )


def test_match_a_colour_image_to_a_grey_reference_by_its_intensity(tmp_path, day_and_night, capsys):
    # A grey pixel's lightness, luma and value are those of the RGB pixel with its value in every channel:
    # the grey reference is that RGB image.
    photo, night = day_and_night["photo"], day_and_night["night"]
    assert _run("match", photo, "-o", tmp_path / "m.png", "--reference", night, "--color", "lightness") == EXIT_OK
    grey = io.read_image(night)
    expected = histeq.match(io.read_image(photo), np.stack([grey] * 3, axis=-1), channel_axis=-1, color="lightness")
    np.testing.assert_array_equal(io.read_image(tmp_path / "m.png"), expected)
    # Channel by channel (match's default) has no channels of the reference to pair: the file's own error.
    assert _run("match", photo, "-o", tmp_path / "p.png", "--reference", night) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"{photo}: a colour image, and the reference {night} is grey" in err and "--color lightness" in err
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("color", [[], ["--color", "lightness"], ["--color", "per-channel"]])
def test_match_a_grey_image_to_a_colour_reference_as_histeq_match_does(tmp_path, day_and_night, color):
    # A grey image takes a colour reference as histeq.match takes the same arrays: all its values as one image.
    day, sky = day_and_night["day"], day_and_night["sky"]
    assert _run("match", day, "-o", tmp_path / "out.png", "--reference", sky, *color) == EXIT_OK
    expected = histeq.match(io.read_image(day), io.read_image(sky))
    np.testing.assert_array_equal(io.read_image(tmp_path / "out.png"), expected)


def test_report_write_error_names_the_requested_output(tmp_path, camera, capsys):
    # Was "[Errno 20] Not a directory: '.../.fig.png.histeq-1234-0a1b2c3d.tmp'", a file the user never named.
    source, blocker = tmp_path / "in.png", tmp_path / "file"
    io.write_image(source, camera)
    blocker.write_bytes(b"not a folder")
    assert _run("report", source, "-o", blocker / "fig.png") == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"cannot write {blocker / 'fig.png'}: Not a directory" in err and ".histeq-" not in err


@pytest.fixture()
def masked_scene(tmp_path):
    """A dark left half and a bright right half, and a mask of the dark half: equalized over the mask, the
    dark levels spread over the whole range (over all pixels, only over its lower half)."""
    rng = np.random.default_rng(5)
    image = np.hstack([rng.integers(0, 60, (64, 32)), rng.integers(180, 256, (64, 32))]).astype(np.uint8)
    mask = np.zeros(image.shape, np.uint8)
    mask[:, :32] = 255
    io.write_image(tmp_path / "scene.png", image)
    io.write_image(tmp_path / "roi.png", mask)
    return image, mask != 0


def _drawn(monkeypatch):
    from histeq import plot

    drawn = []
    real = plot.before_after
    monkeypatch.setattr(plot, "before_after", lambda *a, **k: drawn.append(a) or real(*a, **k))
    return drawn


def test_report_equalizes_over_the_mask(tmp_path, masked_scene, monkeypatch):
    # Was refused ("unrecognized arguments: --mask"): the report drew an equalization of every pixel.
    image, mask = masked_scene
    drawn = _drawn(monkeypatch)
    assert _run("report", tmp_path / "scene.png", "--mask", tmp_path / "roi.png", "-o", tmp_path / "r.png") == EXIT_OK
    assert _run("report", tmp_path / "scene.png", "-o", tmp_path / "plain.png") == EXIT_OK
    (original, masked), (_, plain) = drawn
    np.testing.assert_array_equal(original, image)
    np.testing.assert_array_equal(masked, histeq.equalize(image, mask=mask))
    np.testing.assert_array_equal(plain, histeq.equalize(image))
    assert not np.array_equal(masked, plain)


def test_report_of_a_masked_run_converted_to_another_dtype_keeps_the_mask(tmp_path, masked_scene, monkeypatch):
    # A result of another dtype is not drawn: the report equalizes the input again, and did so over every pixel.
    image, mask = masked_scene
    drawn = _drawn(monkeypatch)
    assert (
        _run(
            "equalize",
            tmp_path / "scene.png",
            "-o",
            tmp_path / "out.png",
            "--dtype",
            "uint16",
            "--mask",
            tmp_path / "roi.png",
            "--report",
            tmp_path / "r.png",
        )
        == EXIT_OK
    )
    ((_, result),) = drawn
    np.testing.assert_array_equal(result, histeq.equalize(image, mask=mask))


def test_report_mask_of_another_shape_is_a_usage_error(tmp_path, masked_scene, capsys):
    io.write_image(tmp_path / "small.png", np.ones((8, 8), np.uint8))
    assert _run("report", tmp_path / "scene.png", "--mask", tmp_path / "small.png") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "small.png" in err and "(8, 8)" in err and "(64, 64)" in err
    assert not (tmp_path / "scene_report.png").exists()


@pytest.mark.parametrize(
    "command, sentence",
    [
        ("equalize", "Global histogram equalization of each input."),
        (
            "clahe",
            "Contrast-limited adaptive histogram equalization (CLAHE) of each input: 2-D images, 3-D stacks, "
            "n-D arrays.",
        ),
        ("match", "Match the histogram of each input to that of a reference image."),
        ("specify", "Map each input to a given histogram: uniform, Rayleigh, exponential or weights."),
    ],
)
def test_help_describes_each_command_in_a_sentence(capsys, command, sentence):
    # Was "Match the histogram of a reference image of images (PNG, ...)": one summary with " of images"
    # appended, and capitalize() made "2-d" and "rayleigh" of the rest.
    assert _run(command, "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert sentence + " Inputs: images (PNG, JPEG, TIFF" in text


def test_demo_write_error_names_the_requested_output(tmp_path, monkeypatch, capsys):
    # Was "[Errno 28] No space left on device: '.../.sample.png.histeq-1234-0a1b2c3d.tmp'", as histeq report.
    import errno
    import os

    from histeq.io import _temporary

    def full_disk(target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target.with_name(f".{target.name}.histeq-1.tmp")))

    monkeypatch.setattr(_temporary, "new_file", full_disk)
    assert _run("demo", "-o", tmp_path / "demo") == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'demo' / 'sample.png'}: No space left on device" in err and ".histeq-" not in err
