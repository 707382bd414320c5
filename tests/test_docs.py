"""The Examples sections of the public docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["histeq.equalize", "histeq.clahe", "histeq.histogram", "histeq.matching", "histeq.mapping", "histeq.io",
           "histeq.plot", "histeq.cli"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_function_has_an_example():
    import histeq

    for name in histeq.__all__:
        doc = getattr(histeq, name).__doc__ or ""
        if name in ("set_num_threads", "get_num_threads"):
            continue
        assert "Examples" in doc and ">>>" in doc, f"histeq.{name} has no example"


def test_readme_tour_runs():
    """The README's Python blocks run, in order, in one namespace."""
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(readme), "exec"), namespace)
    assert namespace["out"].shape == namespace["photo"].shape


def test_the_core_stub_lists_every_kernel():
    import ast
    from importlib.resources import files

    from histeq import _core

    stub = ast.parse((files("histeq") / "_core.pyi").read_text())
    declared = {node.name for node in stub.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    bound = {name for name in dir(_core) if not name.startswith("_")}
    assert declared == bound


@pytest.mark.parametrize("script, rows, columns", [("gallery.py", 1000, 600), ("flat_histogram.py", 300, 600)])
def test_the_docs_figures_render(tmp_path, script, rows, columns):
    import runpy
    from pathlib import Path

    from histeq import io

    path = Path(__file__).resolve().parents[1] / "docs" / script
    out = runpy.run_path(str(path))["main"]([str(tmp_path / "figure.png")])
    picture = io.read_image(out)
    assert picture.shape[0] > rows and picture.shape[1] > columns
    assert picture[..., :3].std() > 30, "the figure is blank"
