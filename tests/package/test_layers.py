"""The package's import direction: public functions -> dispatch -> backends -> shared checks -> the core.

Every import of a histeq module counts, at module level or inside a function (a function-local import hides a
cycle from Python's import machinery, not from the design).  A module may import modules of its own layer or
below, and the imports form no cycle.
"""

import ast
from pathlib import Path

import histeq

PACKAGE = Path(histeq.__file__).parent

#: The layers, lowest first: a module belongs to the first whose prefix its name starts with.
LAYERS = [
    ("the core and plain types", ["histeq._core", "histeq._types", "histeq._threads"]),
    ("the core's tables and array types", ["histeq._kernels", "histeq._arrays"]),
    ("checks and geometry", ["histeq._checks", "histeq._spec", "histeq._layout", "histeq._tiles", "histeq._chunks"]),
    ("files", ["histeq.io"]),
    ("requests and the array adapter", ["histeq._request", "histeq._adapter"]),
    ("fitted mappings", ["histeq._fitted"]),
    ("the CPU backend", ["histeq._backends.cpu"]),
    ("the Dask and GPU backends", ["histeq._backends.dask", "histeq._backends.gpu"]),
    ("the dispatcher", ["histeq._backends", "histeq._dispatch"]),
    (
        "the public functions",
        [
            "histeq._equalize",
            "histeq._clahe",
            "histeq._histogram",
            "histeq._matching",
            "histeq.transforms",
            "histeq.albumentations",
            "histeq.monai",
        ],
    ),
    ("the package and its tools", ["histeq.plot", "histeq.cli", "histeq.__main__", "histeq"]),
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer of tests/package/test_layers.py")


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The histeq modules ``path`` imports (a name imported from a package counts as its module, if it is one)."""
    found = set()
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):  # names defined in ``base`` itself
                found.add(base)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = {_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths) | {"histeq._core"}
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def test_every_import_points_down_the_layers():
    upward = [
        f"{module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for module, targets in sorted(_graph().items())
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_imports_have_no_cycle():
    graph = _graph()
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        trail.append(module)
        for target in sorted(graph.get(module, ())):
            if target.startswith("histeq.") and module.startswith(target + "."):
                continue  # a module's own package (its __init__ runs first): not an edge back
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(target) :] + [target]))
            if target not in state:
                visit(target)
        trail.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_layers_name_every_module():
    for module in _graph():
        _layer(module)
