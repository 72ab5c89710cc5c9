"""The layering rule, checked on the source: imports point down, and no files import each other in a circle.

Layers, lowest first: schemas/ <- curation/ <- trainers/ <- flows/ <- the CLI (flows/cli.py and
flows/commands/). A module may import its own layer or lower ones. Every import counts,
including those inside functions (a lazy import hides a circle, it does not remove it).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["schemas", "curation", "trainers", "flows", "cli"]
# Known upward imports, each to be removed by the change named beside it; the test fails when one
# disappears so the list only shrinks.
KNOWN_UPWARD = {
    ("flows.deployed", "flows.cli"): "the deployed train flow parses a `warmstart train` command line",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    return {module_name(p): p for package in LAYERS[:4] for p in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """Project modules a module imports anywhere in its body: `from a import b` is module a.b
    when that exists, else package a; a dotted name resolves to its longest module prefix."""
    names = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules()
    return {module: imported_modules(path, module, modules) for module, path in modules.items()}


def layer(module: str) -> int:
    if module == "flows.cli" or module.startswith("flows.commands"):
        return LAYERS.index("cli")
    return LAYERS.index(module.split(".")[0])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_another_in_a_circle():
    assert cycles(import_graph()) == []


def test_imports_point_down_the_layers():
    upward = {(m, t) for m, targets in import_graph().items() for t in targets if layer(t) > layer(m)}
    assert upward - set(KNOWN_UPWARD) == set(), "imports from a higher layer"
    assert set(KNOWN_UPWARD) - upward == set(), "fixed: remove it from KNOWN_UPWARD"


def test_the_checker_sees_lazy_imports_and_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    lazy = ROOT / "flows" / "curate.py"  # imports curation.backends inside run_curation
    assert "curation.backends" in import_graph()[module_name(lazy)]
