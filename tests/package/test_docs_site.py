"""The documentation site builds with warnings as errors: the API pages from the docstrings, the user guide from
the README, the migration guide, and the gallery, whose examples run and draw their figures."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytest.importorskip("sphinx_gallery")
pytest.importorskip("numpydoc")


def test_the_site_builds_without_warnings(tmp_path):
    if not (ROOT / "docs" / "conf.py").is_file():
        pytest.skip("not run from a source checkout")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-E", "-q", "-b", "html", str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    html = tmp_path / "html"
    pages = [
        "index.html",
        "api.html",
        "migration.html",
        "guide/tour.html",
        "generated/histeq.clahe.html",
        "gallery/index.html",
        "gallery/plot_global_clahe_exact.html",
    ]
    for page in pages:
        assert (html / page).is_file(), page
    figures = sorted((html / "_images").glob("sphx_glr_plot_*_001.png"))
    assert len(figures) >= 7, figures
    assert "clip_limit" in (html / "generated" / "histeq.clahe.html").read_text()
