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
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: real(fd, bytes(data)[:max(1, len(data) // 3)], offset))
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
            return real(fd, bytes(data)[:len(data) // 3], offset)
        if failure == "ENOSPC":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return 0

    monkeypatch.setattr(os, "pwrite", full_disk)
    assert _run("equalize", source, "-o", tmp_path / "out.tif", "--dask") == EXIT_FAILED
    assert "No space left on device" in capsys.readouterr().err or failure == "nothing written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arr.npy"]  # no output, no temporary
