"""Regression tests of what fuzzing, sanitizers and fault injection found (issue 13), finding by finding."""

import errno
import os

import numpy as np
import pytest

import histeq
from histeq import io
from histeq.cli import EXIT_FAILED, EXIT_OK, main


def _run(*argv):
    return main([str(a) for a in argv])


# --- 1. short writes and a full disk --------------------------------------------------------------------------


@pytest.fixture()
def array_file(tmp_path):
    image = np.random.default_rng(0).integers(0, 200, (512, 300), dtype=np.uint8)
    np.save(tmp_path / "arr.npy", image)
    return tmp_path / "arr.npy", image


def test_chunked_tiff_survives_short_writes(tmp_path, array_file, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("dask")
    source, image = array_file
    real = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: real(fd, bytes(data)[: max(1, len(data) // 3)], offset))
    assert _run("equalize", source, "-o", tmp_path / "out.tif", "--dask") == EXIT_OK
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), histeq.equalize(image))


def test_chunked_tiff_without_pwrite_seeks_and_writes(tmp_path, array_file, monkeypatch):
    # Windows has no os.pwrite: blocks are written by a seek and a write under a lock, from several threads.
    pytest.importorskip("dask")
    tifffile = pytest.importorskip("tifffile")
    source, image = array_file
    monkeypatch.delattr(os, "pwrite")
    assert _run("equalize", source, "-o", tmp_path / "out.tif", "--dask") == EXIT_OK
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), histeq.equalize(image))


@pytest.mark.parametrize("failure", ["nothing written", "ENOSPC"])
def test_chunked_tiff_on_a_full_disk_fails_and_leaves_nothing(tmp_path, array_file, monkeypatch, capsys, failure):
    # Was exit 0 and a corrupt TIFF (258 of 512 rows zero): the short count of os.pwrite was ignored.
    pytest.importorskip("dask")
    source, _ = array_file
    real, calls = os.pwrite, []

    def full_disk(fd, data, offset):  # a third of the first write fits, then the disk is full
        calls.append(offset)
        if len(calls) == 1:
            return real(fd, bytes(data)[: len(data) // 3], offset)
        if failure == "ENOSPC":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return 0

    monkeypatch.setattr(os, "pwrite", full_disk)
    assert _run("equalize", source, "-o", tmp_path / "out.tif", "--dask") == EXIT_FAILED
    assert "No space left on device" in capsys.readouterr().err or failure == "nothing written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arr.npy"]  # no output, no temporary


# --- 2. signals, worker processes and stale temporaries -------------------------------------------------------


@pytest.fixture()
def many_files(tmp_path):
    """160 PNGs: the process pool's size of run."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for k in range(160):
        io.write_image(folder / f"{k:03d}.png", rng.integers(0, 150, (160, 160), dtype=np.uint8))
    return folder


def _start(argv):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "histeq", *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_outputs(out, process, count=3):
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and len(list(out.glob("*.png"))) >= count:
            return
        time.sleep(0.02)
    pytest.skip("the run ended before it could be interrupted")


def _temporaries(folder):
    return [p.name for p in folder.rglob("*") if ".histeq-" in p.name]


def _interrupt(tmp_path, many_files, sig):
    """A process-pool run into tmp_path/out, sent ``sig`` once it has written a few files: (process, its
    stderr, the processes it had started, which are gone or zombies once it has ended, the output folder)."""
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    process = _start(["equalize", many_files, "-o", out, "--jobs", "2"])
    _wait_for_outputs(out, process)
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)  # the pipes close: nobody else holds them
    _, alive = psutil.wait_procs(children, timeout=10)
    return process, err, [c for c in alive if c.status() != psutil.STATUS_ZOMBIE], out


def test_sigterm_is_handled_like_ctrl_c(tmp_path, many_files):
    # Was: workers and the resource tracker kept running (and writing), temporaries were left behind.
    import signal

    process, err, left, out = _interrupt(tmp_path, many_files, signal.SIGTERM)
    assert process.returncode == 143 and "terminated" in err
    assert left == [] and _temporaries(out) == []
    assert len(list(out.glob("*.png"))) < 160  # it stopped


def test_workers_die_with_a_killed_command(tmp_path, many_files):
    # Was: after kill -9 the workers went on, held stdout/stderr, and subprocess.run(capture_output=True) hung.
    import signal

    _, _, left, _ = _interrupt(tmp_path, many_files, signal.SIGKILL)
    assert left == []


def test_stale_temporaries_of_dead_runs_are_removed_by_the_next(tmp_path, camera):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()  # a process that no longer runs
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / f".a.png.histeq-{dead}-x1y2z3.tmp", out / f".b.zarr.histeq-{dead}-q9w8e7"]
    stale[0].write_bytes(b"half an image")
    stale[1].mkdir()
    kept = [out / f".a.png.histeq-{os.getpid()}-abc123.tmp", out / ".notes.tmp", out / "c.histeq-1-x.tmp"]
    for path in kept:
        path.write_bytes(b"not ours to remove")
    io.write_image(tmp_path / "a.png", camera)
    assert _run("equalize", tmp_path / "a.png", "-o", out / "a.png") == EXIT_OK
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)


def test_names_up_to_the_file_system_limit(tmp_path, camera):
    # Was "File name too long" for 242-255 bytes: the temporary's name added to the target's.
    name = "x" * 251 + ".png"
    io.write_image(tmp_path / "a.png", camera)
    assert _run("equalize", tmp_path / "a.png", "-o", tmp_path / name) == EXIT_OK
    np.testing.assert_array_equal(io.read_image(tmp_path / name), histeq.equalize(camera))


# --- 3. fitted mappings agree with the functions -----------------------------------------------------------


from conftest import any_images  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


@st.composite
def fit_case(draw):
    image = draw(any_images(max_dims=2, max_side=9))
    if draw(st.booleans()):
        image = image.astype(image.dtype.newbyteorder(">" if image.dtype.byteorder in "<=" else "<"))
    kwargs = {}
    if draw(st.booleans()):
        kwargs["mask"] = draw(hnp.arrays(np.bool_, image.shape))
    info = np.iinfo(image.dtype) if image.dtype.kind in "iu" else None
    if draw(st.booleans()):
        lo = draw(st.integers(int(info.min), int(info.max) - 1)) if info else draw(st.floats(-60, 59))
        hi = draw(st.integers(lo + 1, int(info.max))) if info else lo + draw(st.floats(0.5, 100))
        kwargs["in_range"] = (lo, hi)
    if draw(st.booleans()):
        lo = draw(st.integers(int(info.min), int(info.max) - 1)) if info else draw(st.floats(-2, 1))
        hi = draw(st.integers(lo + 1, int(info.max))) if info else lo + draw(st.floats(0.5, 3))
        kwargs["out_range"] = (lo, hi)
    return image, kwargs


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a).astype(np.float64), np.asarray(b).astype(np.float64))
    assert a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=")


@given(fit_case())
def test_fit_equalize_apply_equals_equalize(case):
    # Was: fit_equalize(np.full((4, 4), 0.5), in_range=(0, 1)).apply(x) gave 0.0 where equalize gave 0.5.
    image, kwargs = case
    _same(histeq.fit_equalize(image, **kwargs).apply(image), histeq.equalize(image, **kwargs))


@given(fit_case(), st.data())
def test_fit_clahe_apply_equals_clahe(case, data):
    # Was: TypeError "this mapping was fitted on uint16 images, got >u2" for any non-native byte order.
    image, kwargs = case
    kwargs["tiles"] = tuple(data.draw(st.integers(1, n)) for n in image.shape)
    kwargs["clip_limit"] = data.draw(st.none() | st.floats(1, 5))
    _same(histeq.fit_clahe(image, **kwargs).apply(image), histeq.clahe(image, **kwargs))


def test_fit_examples_of_the_issue():
    constant = np.full((4, 4), 0.5)
    np.testing.assert_array_equal(
        histeq.fit_equalize(constant, in_range=(0, 1)).apply(constant), histeq.equalize(constant, in_range=(0, 1))
    )
    swapped = np.arange(64, dtype=">u2").reshape(8, 8) * 100
    np.testing.assert_array_equal(histeq.fit_clahe(swapped, tiles=2).apply(swapped), histeq.clahe(swapped, tiles=2))


@given(fit_case(), any_images(max_dims=2, max_side=6))
def test_fit_match_and_specify_apply_equal_the_functions_in_any_byte_order(case, reference):
    image, kwargs = case
    mask = kwargs.get("mask")
    if np.isfinite(reference.astype(np.float64)).any():
        _same(histeq.fit_match(image, reference, mask=mask).apply(image), histeq.match(image, reference, mask=mask))
    _same(histeq.fit_specify(image, "rayleigh", mask=mask).apply(image), histeq.specify(image, "rayleigh", mask=mask))


# --- 4. cost bounded by the image, not by tiles x bins ---------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        # Were 8.1 s and 4.6 GiB; 50 s and 6.2 GiB; about 17 GB.
        lambda: histeq.fit_clahe(np.zeros((512, 512), np.uint16) + np.arange(512, dtype=np.uint16), tiles=64),
        lambda: histeq.histogram(np.zeros((16, 2, 2), np.float32), axes=(1, 2), nbins=2**24),
        lambda: histeq.clahe(np.random.default_rng(0).random((256, 256), np.float32), tiles=128, nbins=65536),
        lambda: histeq.equalize(np.zeros((16, 2, 2), np.float32) + np.arange(2), axes=(1, 2), nbins=2**24),
    ],
)
def test_calls_that_would_need_absurd_tables_are_refused_up_front(call):
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"would need [\d,]+ MiB .* use fewer bins or tiles"):
        call()
    assert time.perf_counter() - start < 2


def test_sane_calls_with_many_tiles_or_images_still_run():
    rng = np.random.default_rng(0)
    image = (rng.normal(30000, 3000, (512, 512))).astype(np.uint16)
    assert histeq.clahe(image, tiles=64).shape == image.shape  # windowed tables: a few MiB
    batch = rng.integers(0, 65535, (1800, 1, 24, 24), dtype=np.uint16)
    np.testing.assert_array_equal(
        histeq.match(batch, batch[0, 0], axes=(-2, -1))[:3], np.stack([histeq.match(b, batch[0, 0]) for b in batch[:3]])
    )


def test_singleton_axes_cost_nothing_in_exact_ordering():
    # Was about 5x per singleton axis: 8 of them on a 4x4 image took 41 s.
    import time

    image = np.random.default_rng(0).integers(0, 5, (4, 4)).astype(np.uint8)
    start = time.perf_counter()
    out = histeq.equalize(image.reshape((1,) * 8 + (4, 4)), exact=True)
    assert time.perf_counter() - start < 1
    np.testing.assert_array_equal(out.reshape(4, 4), histeq.equalize(image, exact=True))


# --- 5. undefined behaviour at the seam ----------------------------------------------------------------------


def _unaligned(array):
    """The same values in a view one byte off its natural alignment."""
    buffer = np.zeros(array.nbytes + 1, np.uint8)
    view = np.frombuffer(buffer.data, dtype=array.dtype, count=array.size, offset=1).reshape(array.shape)
    view[...] = array
    return view


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
def test_unaligned_views_are_copied_before_the_kernels(dtype):
    # Reached the kernels unchanged: UBSan reported misaligned loads at 18 lines.
    image = (np.random.default_rng(0).random((24, 20, 3)) * 1000).astype(dtype)
    view = _unaligned(image)
    assert not view.flags.aligned
    for call in (
        lambda x: histeq.equalize(x),
        lambda x: histeq.clahe(x, tiles=2),
        lambda x: histeq.match(x, x[::-1]),
        lambda x: histeq.histogram(x)[0],
        lambda x: histeq.equalize(x, channel_axis=-1, color="per-channel"),
        lambda x: histeq.fit_equalize(x).apply(x),
    ):
        np.testing.assert_array_equal(call(view), call(image))
    if dtype != np.int32:  # colour modes take unsigned integers and floats
        np.testing.assert_array_equal(histeq.equalize(view, channel_axis=-1), histeq.equalize(image, channel_axis=-1))


def test_many_spatial_axes_are_refused_or_dropped_not_miscomputed():
    # 33 or more axes shifted a 32-bit int by 32 (wrong output); 29-32 gave std::bad_alloc.
    with pytest.raises(ValueError, match="at most 16 spatial axes"):
        histeq.clahe(np.zeros((2,) * 17, np.uint8), tiles=1)
    image = np.random.default_rng(0).integers(0, 200, (1,) * 33 + (12, 10)).astype(np.uint8)
    out = histeq.clahe(image, tiles=(1,) * 33 + (3, 2))  # singleton axes are dropped: they change nothing
    np.testing.assert_array_equal(out.reshape(12, 10), histeq.clahe(image.reshape(12, 10), tiles=(3, 2)))
    from histeq._kernels import core

    with pytest.raises(ValueError, match="at most 16 spatial axes"):
        core.TilePlan(
            np.full(17, 2, np.int64),
            np.ones(17, np.int64),
            np.tile([0, 2], 17).astype(np.int64),
            np.zeros(34, np.int32),
            np.ones(34),
            np.zeros(34),
            1.0,
        )


# --- 6. every argument checked where it enters ------------------------------------------------------------


def test_threads_beyond_any_machine_are_refused_clearly(camera):
    # Was nanobind's "incompatible function arguments".
    for threads in (2**31, 2**40, 2**15 + 1):
        with pytest.raises(ValueError, match="threads must be between 1 and 32768"):
            histeq.equalize(camera, threads=threads)
    with pytest.raises(ValueError, match="threads must be between"):
        histeq.set_num_threads(2**31)


@pytest.mark.parametrize(
    "name, alpha", [("rayleigh", 1e-300), ("rayleigh", 1e-10), ("exponential", 1e300), ("exponential", 1e10)]
)
def test_extreme_alpha_says_so(camera, name, alpha):
    # Was OverflowError, IndexError (matching.py:61) or every pixel set to one value.
    import re

    with pytest.raises(ValueError, match=re.escape(f"alpha={alpha!r} puts all the weight of the {name} distribution")):
        histeq.specify(camera, name, alpha=alpha)


@pytest.mark.parametrize("name, alpha", [("rayleigh", 1e300), ("exponential", 1e-300), ("rayleigh", 0.4)])
def test_large_or_small_alpha_that_leaves_a_distribution_works(camera, name, alpha):
    out = histeq.specify(camera, name, alpha=alpha)
    assert out.dtype == camera.dtype and len(np.unique(out)) > 50


def test_huge_weights_are_the_same_target(camera):
    # Were a constant image (their sum overflowed), and with exact=True NumPy's "negative repeats".
    for exact in (False, True):
        np.testing.assert_array_equal(
            histeq.specify(camera, [1e308, 1e308, 2e307], exact=exact), histeq.specify(camera, [10, 10, 2], exact=exact)
        )


# --- 7. one rule each, with and without exact ------------------------------------------------------------------


@pytest.mark.parametrize("mask", [np.zeros(4, bool), False])
def test_nothing_counted_follows_out_range_with_exact_too(mask):
    # Was: exact=True returned the input, ignoring out_range.
    image = np.array([10, 20, 30, 40], np.uint8)
    expected = histeq.equalize(image, mask=mask, out_range=(100, 200))
    np.testing.assert_array_equal(expected, 100 + np.round(image.astype(int) * 100 / 255).astype(int))
    np.testing.assert_array_equal(histeq.equalize(image, mask=mask, out_range=(100, 200), exact=True), expected)
    floats = np.array([np.nan, np.nan])
    np.testing.assert_array_equal(histeq.equalize(floats, exact=True), histeq.equalize(floats))


def test_infinities_map_to_the_ends_with_exact_too():
    # Was 0.5 for [inf] with exact=True and 1.0 without.
    np.testing.assert_array_equal(histeq.equalize(np.array([np.inf]), exact=True), [1.0])
    out = histeq.equalize(np.array([-np.inf, 0.2, 0.5, np.inf, np.nan]), exact=True, out_range=(2.0, 4.0))
    assert out[0] == 2.0 and out[3] == 4.0 and np.isnan(out[4]) and 2 < out[1] < out[2] < 4
    matched = histeq.match(np.array([-np.inf, 0.3, np.inf]), np.array([5.0, 6.0, 7.0]), exact=True)
    assert matched[0] == 5.0 and matched[2] == 7.0


def test_ranges_no_float_can_honour_are_refused():
    # Were NaN from finite input, and inf with a RuntimeWarning.
    with pytest.raises(ValueError, match="too narrow"):
        histeq.equalize(np.zeros(3), in_range=(0.0, 5e-324))
    with pytest.raises(ValueError, match="beyond what float16 holds"):
        histeq.equalize(np.arange(3, dtype=np.float16), out_range=(0, 70000))


# --- 8. a mapping file is a foreign input ------------------------------------------------------------------------


def _crafted(path, header, **arrays):
    import json

    np.savez(path, header=np.array(header if isinstance(header, str) else json.dumps(header)), **arrays)
    return path


def _valid_equalize_header(kind="table", nbins=256, **changes):
    header = dict(
        dtype="uint8",
        kind=kind,
        lo=0.0,
        hi=255.0,
        nbins=nbins,
        nominal_lo=0.0,
        nominal_hi=255.0,
        out_lo=0.0,
        out_hi=255.0,
    )
    header.update(changes)
    return header


@pytest.mark.parametrize(
    "header, values, field",
    [
        (_valid_equalize_header(kind="mystery"), np.zeros(256, np.int64), "kind"),  # was applied as a table
        (_valid_equalize_header(nbins=10), np.zeros(256, np.int64), "values"),  # was IndexError
        (_valid_equalize_header(kind="levels"), np.full(257, np.nan), "values"),  # was a silent 0
        (_valid_equalize_header(lo=5.0, hi=5.0), np.zeros(256, np.int64), "lo, hi"),  # was ZeroDivisionError
        (_valid_equalize_header(nbins=10**30), np.zeros(3), "nbins"),  # was OverflowError
        (_valid_equalize_header(dtype="object"), np.zeros(256, np.int64), "dtype"),
        (_valid_equalize_header(), np.full(256, 10**6), "values"),
        ("[" * 100000 + "]" * 100000, np.zeros(3), "header"),  # was RecursionError
        ({"dtype": "uint8"}, np.zeros(3), "header"),
        (_valid_equalize_header(kind="pieces", nbins=2), np.array([[0.0, 2.0], [0, 1], [1, 1]]), "values"),
    ],
)
def test_crafted_equalize_mappings_are_refused(tmp_path, header, values, field):
    path = _crafted(tmp_path / "m.npz", header, values=values)
    with pytest.raises(ValueError, match=f"not a valid histeq mapping file: {field}"):
        histeq.EqualizeMapping.load(path)


def _clahe_header(**changes):
    header = dict(
        dtype="uint8",
        shape=[16, 16],
        tiles=[2, 2],
        nbins=256,
        lo=0.0,
        hi=255.0,
        nominal_lo=0.0,
        nominal_hi=255.0,
        out_lo=0.0,
        out_hi=255.0,
        rescale=False,
    )
    header.update(changes)
    return header


def _clahe_arrays(tiles=4, nbins=256):
    return dict(identity=np.zeros(tiles, np.uint8), table=np.zeros((tiles, nbins), np.uint8), slope=np.zeros((0, 0)))


@pytest.mark.parametrize(
    "header, arrays, field",
    [
        (_clahe_header(shape=[2] * 33, tiles=[1] * 33), _clahe_arrays(1), "shape"),  # was a shift by 33
        (_clahe_header(shape=[2**40]), _clahe_arrays(), "shape"),  # would allocate 8 TiB
        (_clahe_header(tiles=[4, 4]), _clahe_arrays(), "identity"),
        (_clahe_header(tiles=[32, 2]), _clahe_arrays(64), "tiles"),
        (_clahe_header(nbins=0), _clahe_arrays(), "nbins"),
        (_clahe_header(rescale="yes"), _clahe_arrays(), "rescale"),
        (_clahe_header(), dict(_clahe_arrays(), table=np.zeros((4, 256), np.float32)), "table"),
    ],
)
def test_crafted_clahe_mappings_are_refused(tmp_path, header, arrays, field):
    path = _crafted(tmp_path / "c.npz", header, **arrays)
    with pytest.raises(ValueError, match=f"not a valid histeq mapping file: {field}"):
        histeq.ClaheMapping.load(path)


class _Trap:
    """A pickle that touches a file when loaded: the file's absence shows that no pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        from pathlib import Path

        return Path.touch, (Path(self.path),)


def _npy(array) -> bytes:
    import io as _io

    buffer = _io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _zipped(path, members: dict, bare=()):
    """A .npz written member by member: arrays as .npy files, bytes as they are; the names in ``bare`` without the
    .npy suffix (NumPy then gives such a member back as raw bytes, whatever it holds)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, member in members.items():
            archive.writestr(
                name if name in bare else name + ".npy", member if isinstance(member, bytes) else _npy(member)
            )
    return path


def _saved_members(tmp_path, cls) -> dict:
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    fitted = histeq.fit_equalize(image) if cls is histeq.EqualizeMapping else histeq.fit_clahe(image, tiles=2)
    fitted.save(tmp_path / "saved.npz")
    with np.load(tmp_path / "saved.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.mark.parametrize(
    "cls, field",
    [
        (histeq.EqualizeMapping, "header"),
        (histeq.EqualizeMapping, "values"),
        (histeq.ClaheMapping, "header"),
        (histeq.ClaheMapping, "table"),
        (histeq.ClaheMapping, "identity"),
        (histeq.ClaheMapping, "slope"),
    ],
)
@pytest.mark.parametrize("how", ["bare pickle", "bare pickle without .npy suffix", "object array"])
def test_pickled_members_of_a_mapping_file_are_refused_unread(tmp_path, cls, field, how):
    # Were AttributeError ('bytes' object has no attribute 'dtype') and NumPy's ValueError naming no field.
    import pickle

    trap = tmp_path / "the pickle ran"
    members = _saved_members(tmp_path, cls)
    path = tmp_path / "crafted.npz"
    if how == "object array":
        members[field] = np.array([_Trap(trap)], dtype=object)
        np.savez(path, **members)
    else:
        members[field] = pickle.dumps(_Trap(trap))
        _zipped(path, members, bare=(field,) if how.endswith("suffix") else ())
    with pytest.raises(ValueError, match=f"not a valid histeq mapping file: {field} must be a .npy array"):
        cls.load(path)
    assert not trap.exists()
    np.savez(path, **_saved_members(tmp_path, cls))  # the same file, unpickled, loads
    cls.load(path)


@pytest.mark.parametrize("damage", ["crc", "deflate", "directory"])
def test_damaged_mapping_files_are_a_value_error(tmp_path, damage):
    # Were zipfile.BadZipFile and zlib.error, which callers catching ValueError for a bad file let through.
    saved = tmp_path / "saved.npz"
    members = _saved_members(tmp_path, histeq.EqualizeMapping)
    (np.savez_compressed if damage == "deflate" else np.savez)(saved, **members)
    data = bytearray(saved.read_bytes())
    if damage == "directory":
        data = data[:-10]  # the end of the central directory cut off
    else:
        start = data.index(b"values.npy") + len("values.npy")  # the member's data follows its local header
        data[start + 150] ^= 0xFF
    (tmp_path / "damaged.npz").write_bytes(bytes(data))
    expected = "not a readable .npz file" if damage == "directory" else "not a valid histeq mapping file: values "
    with pytest.raises(ValueError, match=expected):
        histeq.EqualizeMapping.load(tmp_path / "damaged.npz")


@pytest.mark.parametrize("cls", [histeq.EqualizeMapping, histeq.ClaheMapping])
def test_a_mapping_file_that_is_a_pickle_or_an_npy_is_a_value_error_naming_it(tmp_path, cls):
    # Were NumPy's ValueError naming no file (a pickle) and a TypeError (an ndarray is no context manager).
    import pickle

    trap = tmp_path / "the pickle ran"
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps(_Trap(trap)))
    with pytest.raises(ValueError, match=r"pickled\.npz: not a readable \.npz file \(.*pickled"):
        cls.load(tmp_path / "pickled.npz")
    assert not trap.exists()
    with open(tmp_path / "array.npz", "wb") as file:
        np.save(file, np.zeros(256, np.uint8))
    with pytest.raises(
        ValueError,
        match=r"array\.npz: not a valid histeq mapping file: expected a \.npz archive, "
        r"got a \.npy array of shape \(256,\)",
    ):
        cls.load(tmp_path / "array.npz")


def test_saved_mappings_still_load(tmp_path, camera):
    for fitted, cls in [
        (histeq.fit_equalize(camera), histeq.EqualizeMapping),
        (histeq.fit_match(camera / 255, camera.T / 255), histeq.EqualizeMapping),
        (histeq.fit_clahe(camera, tiles=4), histeq.ClaheMapping),
        (histeq.fit_clahe(camera / 255, tiles=3), histeq.ClaheMapping),
    ]:
        fitted.save(tmp_path / "m.npz")
        loaded = cls.load(tmp_path / "m.npz")
        image = camera if fitted.dtype == "uint8" else camera / 255
        np.testing.assert_array_equal(loaded.apply(image), fitted.apply(image))


# --- 9. the command line ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["input", "--mask", "--reference"])
def test_a_fifo_is_refused_not_read_forever(tmp_path, camera, capsys, role):
    # Was: a FIFO given as input blocked forever.
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    io.write_image(tmp_path / "a.png", camera)
    argv = {
        "input": ["equalize", fifo, "-o", tmp_path / "o.png"],
        "--mask": ["equalize", tmp_path / "a.png", "-o", tmp_path / "o.png", "--mask", fifo],
        "--reference": ["match", tmp_path / "a.png", "-o", tmp_path / "o.png", "--reference", fifo],
    }[role]
    assert _run(*argv) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_tiff_that_fails_to_decode_on_the_chunked_path_is_a_read_error(tmp_path, capsys):
    # Was reported as "cannot write".
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("dask")
    source = tmp_path / "tiled.tif"
    tifffile.imwrite(source, np.zeros((256, 256), np.uint8), tile=(64, 64), compression="zlib")
    data = bytearray(source.read_bytes())
    data[-600:-100] = b"\xff" * 500  # corrupt the last tiles' compressed data
    source.write_bytes(bytes(data))
    assert _run("equalize", source, "-o", tmp_path / "out.tif", "--dask") == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"cannot read {source}" in err and "cannot write" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiled.tif"]


def test_a_worker_exits_on_sigterm_whichever_thread_takes_it():
    # Was: a SIGTERM that the kernel handed to a thread other than the main one (OpenBLAS's, say) left the
    # main thread asleep in its read of the task queue, its handler never run: the command waited for ever
    # (one run in three on Python 3.12).  Here the signal is sent to another thread on purpose.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os, signal, threading, time
        from histeq.cli import _workers
        _workers._start_worker(os.getppid(), lambda: None, ())
        other = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        other.start()
        read, _ = os.pipe()
        threading.Timer(0.5, signal.pthread_kill, (other.ident, signal.SIGTERM)).start()
        os.read(read, 1)  # the task queue's read: blocks until the process ends
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert done.returncode == 143, done.stderr
