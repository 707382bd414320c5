"""The Examples sections of the public docstrings run and print what they say."""

import ast
import doctest
import importlib
import importlib.util
import re
import shlex
import sys
import sysconfig
from pathlib import Path

import pytest

MODULES = [
    "histeq._equalize",
    "histeq._clahe",
    "histeq._histogram",
    "histeq._matching",
    "histeq._dispatch",
    "histeq._fitted.equalize",
    "histeq.albumentations",
    "histeq.io",
    "histeq.plot",
    "histeq.cli",
]


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
    """The README's Python blocks run, in order, in one namespace; those of tensors where PyTorch and
    torchvision are installed (the test-full extra), since the README's test extras leave them out."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    assert len(blocks) >= 4
    with_tensors = all(importlib.util.find_spec(name) for name in ("torch", "torchvision"))
    namespace: dict = {}
    for block in blocks:
        if with_tensors or "torch" not in block:
            exec(compile(block, str(readme), "exec"), namespace)
    assert namespace["out"].shape == namespace["photo"].shape


def test_the_core_stub_lists_every_kernel():
    import ast
    from importlib.resources import files

    from histeq import _core

    stub = ast.parse((files("histeq") / "_core.pyi").read_text())
    declared = {node.name for node in stub.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    declared |= {node.target.id for node in stub.body if isinstance(node, ast.AnnAssign)}  # the seam's limits
    bound = {name for name in dir(_core) if not name.startswith("_")}
    assert declared == bound


@pytest.mark.parametrize("script, rows, columns", [("gallery.py", 1000, 600), ("flat_histogram.py", 300, 600)])
def test_the_docs_figures_render(tmp_path, script, rows, columns):
    import runpy
    from pathlib import Path

    from histeq import io

    path = Path(__file__).resolve().parents[2] / "docs" / script
    out = runpy.run_path(str(path))["main"]([str(tmp_path / "figure.png")])
    picture = io.read_image(out)
    assert picture.shape[0] > rows and picture.shape[1] > columns
    assert picture[..., :3].std() > 30, "the figure is blank"


# --- the README's install commands provide what its code imports ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]

#: Import names whose distribution on PyPI is named otherwise (the rest are named as they are imported).
DISTRIBUTIONS = {
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "png": "pypng",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of each ``## `` section; a ``#`` line inside a code block is no heading."""
    sections, fenced = [("", [])], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("## ") and not fenced:
            sections.append((line[3:].strip(), []))
        else:
            sections[-1][1].append(line)
    return [(heading, "\n".join(lines)) for heading, lines in sections]


def _pip_installs(text: str) -> list[list[str]]:
    """The arguments of each ``pip install`` in the text, in code blocks or inline code, options dropped."""
    commands = re.findall(r"pip install((?:[ \t]+(?![&|;#])[^\s`;|&#)]+)+)", text)
    return [[arg for arg in shlex.split(command) if not arg.startswith("-")] for command in commands]


def _imports(block: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(block)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def _is_stdlib(module: str) -> bool:
    names = getattr(sys, "stdlib_module_names", None)  # Python >= 3.10
    if names is not None:
        return module in names
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    return spec.origin in ("built-in", "frozen") or (
        spec.origin.startswith(sysconfig.get_paths()["stdlib"]) and "site-packages" not in spec.origin
    )


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirement(text: str) -> tuple[str, list[str]]:
    """The distribution and extras of a requirement (``dask[array]>=2023.1``) or pip argument (``".[all]"``)."""
    name, extras = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", text).groups()
    return ("histeq" if name == "." else _normal(name)), [e.strip() for e in (extras or "").split(",") if e.strip()]


def _installed_by(args: list[str], project: dict) -> set[str]:
    """The distributions that ``pip install *args`` run in the checkout installs: histeq's dependencies, its
    extras resolved through pyproject.toml (``histeq[...]`` inside an extra too), and the packages named."""
    found = {_requirement(requirement)[0] for requirement in project["dependencies"]}
    pending, seen = list(args), set()
    while pending:
        name, extras = _requirement(pending.pop())
        if name != "histeq":
            found.add(name)
            continue
        for extra in extras:
            assert extra in project["optional-dependencies"], (
                f"`pip install {shlex.join(args)}` names the extra "
                f"[{extra}]; pyproject.toml has {sorted(project['optional-dependencies'])}"
            )
            if extra not in seen:
                seen.add(extra)
                pending.extend(project["optional-dependencies"][extra])
    return found


def test_readme_installs_from_the_checkout():
    """Every install command of the README installs histeq from the checkout (``"."``, ``".[extra]"``), as its
    first command does: ``histeq[extra]`` would look for histeq on PyPI."""
    wrong = [
        shlex.join(args)
        for args in _pip_installs((ROOT / "README.md").read_text())
        if any(re.match(r"histeq\b", arg) for arg in args)
    ]
    assert not wrong, f'README install commands that fetch histeq from PyPI: {wrong}; expected `pip install ".[x]"`'


def test_readme_sections_install_what_their_code_imports():
    """Each README section's Python blocks import only histeq, the standard library, histeq's dependencies and
    what the section's own install commands install (the README's first command, for a section without one)."""
    text = (ROOT / "README.md").read_text()
    project = _pyproject()
    first = _pip_installs(text)[0]
    missing = []
    for heading, body in _sections(text):
        blocks = re.findall(r"```python\n(.*?)```", body, flags=re.S)
        if not blocks:
            continue
        commands = _pip_installs(body) or [first]
        installed = set().union(*(_installed_by(args, project) for args in commands))
        for module in sorted(set().union(*map(_imports, blocks))):
            if module == "histeq" or _is_stdlib(module):
                continue
            if _normal(DISTRIBUTIONS.get(module, module)) not in installed:
                names = " / ".join(f"pip install {shlex.join(args)}" for args in commands)
                missing.append(f"section {heading!r}: imports {module}, which `{names}` does not install")
    assert not missing, "\n".join(missing)


def test_the_readme_lists_what_the_gpu_path_covers():
    """The README's list of GPU calls agrees with the GPU path's own table (histeq._backends.gpu.coverage): every
    function and dtype the table has is named as covered, and no keyword the table takes is named as missing."""
    from histeq._backends.gpu.coverage import FUNCTIONS

    text = (ROOT / "README.md").read_text()
    section = text[text.index("What runs on the GPU so far") : text.index("Arguments are checked by the CPU path")]
    covered, missing = section.split("- Not there yet")
    for entry in FUNCTIONS.values():
        assert f"`{entry.name}`" in covered, entry.name
        for dtype in entry.dtypes:
            assert f"`{dtype}`" in covered, (entry.name, dtype)
    taken = set().union(*(entry.keywords for entry in FUNCTIONS.values()))
    assert not taken & set(re.findall(r"`(\w+)`", missing))
    assert {"nbins", "in_range", "exact"} <= set(re.findall(r"`(\w+)`", missing))
