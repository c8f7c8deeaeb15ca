"""The package's structure holds: imports flow one way (no cycles), no module imports another's private names,
every module says what it exports, and nothing in the repository points outside it."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stracker"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (function-level ones too), except under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    walk(sub)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            walk(child)

    walk(tree)
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if module in PACKAGES else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the stracker modules it imports; and the private names imported across modules."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    private: list[str] = []
    for module, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                source = _resolve(module, node)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in MODULES else source)
                    if alias.name.startswith("_") and source.startswith("stracker") and source != module:
                        private.append(f"{module} imports {alias.name} from {source}")
            for target in targets:
                if not target.startswith("stracker") or target == module or target not in MODULES:
                    continue
                if any(part.startswith("_") for part in target.split(".")[1:] if part != "__main__"):
                    private.append(f"{module} imports the private module {target}")
                edges[module].add(target)
                # importing stracker.a.b first runs stracker/a/__init__.py (the root package is the facade,
                # which imports everything, and is left out)
                parts = target.split(".")
                for k in range(2, len(parts)):
                    parent = ".".join(parts[:k])
                    if parent in PACKAGES and not module.startswith(parent + ".") and module != parent:
                        edges[module].add(parent)
    edges.pop("stracker", None)
    for targets in edges.values():
        targets.discard("stracker")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_walker_sees_a_cycle_and_a_private_import():
    # the checks themselves must be able to fail
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    tree = ast.parse("from x import y\nif TYPE_CHECKING:\n    import z\ndef f():\n    import w\n")
    assert [type(n).__name__ for n in _imports(tree)] == ["ImportFrom", "Import"]


def test_no_import_cycles():
    edges, _ = _graph()
    assert edges["stracker.consensus.result"], "the walker found no imports at all"
    assert _cycles(edges) == []


def test_no_module_imports_another_modules_private_names():
    _, private = _graph()
    assert private == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_declares_what_it_exports(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names = [
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    ]
    assert "__all__" in names, f"{module} has no __all__"


def test_nothing_in_the_repository_points_outside_it():
    needles = ("../" + "shared", "shared/" + "DESIGN")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix.lower() in (".tif", ".png", ".gpkg", ".parquet", ".npz", ".npy", ".gz") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{name}: {needle}" for needle in needles if needle in text]
    assert offenders == []


def test_the_command_line_starts_without_what_fitting_does_not_need():
    """``import stracker`` and the command line leave the renderer, the simulator, rasterio, geopandas and scipy's
    special functions to the commands that use them (about 0.8 s of imports for every other command)."""
    import sys

    heavy = ["stracker.render", "stracker.simulation", "rasterio", "geopandas", "scipy.special", "scipy.spatial"]
    code = f"import sys, stracker.cli.main, stracker; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]", loaded.stdout
    # and the names are there on first use
    code = "import stracker, stracker.tasking as t; print(stracker.simulate.__module__, t.run_adaptive.__name__)"
    used = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert used.stdout.split() == ["stracker.simulation", "run_adaptive"]
