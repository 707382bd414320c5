"""The code passes ruff with the project's rules ([tool.ruff] in pyproject.toml: pyflakes, pycodestyle, bugbear,
import order, upgrades): an unused import, a shadowed loop variable or a 130-character line fails here, in CI."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytest.importorskip("ruff")


def test_ruff_finds_nothing():
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
