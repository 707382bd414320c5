"""The code passes ruff with the project's rules ([tool.ruff] in pyproject.toml: pyflakes, pycodestyle, bugbear,
import order, upgrades), and is as `ruff format` writes it: an unused import, a shadowed loop variable, a
130-character line or code laid out by hand fails here, in CI."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytest.importorskip("ruff")


def test_ruff_finds_nothing():
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_changes_nothing():
    """One formatter: the code is as `ruff format` writes it (pyproject.toml's line length)."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_clang_format_changes_nothing():
    """One layout for the C++ core: as clang-format writes it with the project's .clang-format."""
    clang_format = pytest.importorskip("clang_format")
    sources = sorted((ROOT / "src" / "cpp").rglob("*.[ch]pp"))
    if not sources:
        pytest.skip("not run from a source checkout")
    program = pathlib.Path(clang_format.get_executable("clang-format"))
    done = subprocess.run(
        [str(program), "--dry-run", "--Werror", *map(str, sources)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
