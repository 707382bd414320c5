"""The code passes ruff with the project's rules ([tool.ruff] in pyproject.toml: pyflakes, pycodestyle, bugbear,
import order, upgrades), and is as `ruff format` writes it: an unused import, a shadowed loop variable, a
130-character line or code laid out by hand fails here, in CI."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytest.importorskip("ruff")


def _passes(*command: str) -> None:
    """Run a checker over the checkout; its complaints are the failure's message."""
    done = subprocess.run(list(command), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]


@pytest.mark.parametrize(
    "checker",
    [["check"], ["format", "--check"]],  # the rules, and the one formatter (pyproject.toml's line length)
    ids=["lint", "format"],
)
def test_ruff_finds_nothing(checker):
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    _passes(sys.executable, "-m", "ruff", *checker, "--no-cache", str(ROOT))


def test_clang_format_changes_nothing():
    """One layout for the C++ core: as clang-format writes it with the project's .clang-format."""
    clang_format = pytest.importorskip("clang_format")
    sources = sorted((ROOT / "src" / "cpp").rglob("*.[ch]pp"))
    if not sources:
        pytest.skip("not run from a source checkout")
    _passes(clang_format.get_executable("clang-format"), "--dry-run", "--Werror", *map(str, sources))


def test_mypy_finds_nothing():
    """The public functions, the request, the dispatcher and the adapter are typed, strictly ([tool.mypy])."""
    pytest.importorskip("mypy")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    _passes(sys.executable, "-m", "mypy", "--no-incremental")
