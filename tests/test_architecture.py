"""The import contract: layers import one way, no import hides in a function to dodge a cycle, no cycles.

    app.py -> ui/ ; cli.py  ->  ops/  ->  models/  ->  core/

A layer may import any layer below it and its own package, never one above. ``training/``, ``bench/``
and ``scripts/`` sit beside the app: they may use it, and nothing the app imports may use them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Rank of each top-level name: a module imports only names of a lower rank, or of its own package.
LAYERS = {"core": 0, "models": 1, "ops": 2, "ui": 3, "cli": 3, "app": 4}
#: Beside the app: they may import every layer, and no layer may import them.
BESIDE = {"training": 5, "bench": 6, "scripts": 6, "tests": 7}
RANK = {**LAYERS, **BESIDE}
#: Files whose imports inside functions are deliberate, with the reason.
LAZY_ALLOWED = {
    # `cli.py --help` and its one-line input errors answer before torch is imported (about 2 s here)
    "cli.py": "the CLI's parser answers before torch loads",
}


def _project_files() -> list[Path]:
    files = [ROOT / "app.py", ROOT / "cli.py"]
    for top in (*LAYERS, *BESIDE):
        folder = ROOT / top
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)
    return [f for f in files if f.is_file()]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for each import of a project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                # `from models import weights` imports the module models.weights
                names = [f"{child.module}.{a.name}" for a in child.names] + [child.module]
            for name in names:
                if name.split(".")[0] in RANK:
                    found.append((name, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    files = {_module_name(p): p for p in _project_files()}
    graph: dict[str, set[str]] = {m: set() for m in files}
    lazy: set[str] = set()
    for mod, path in files.items():
        rel = str(path.relative_to(ROOT))
        for name, line, in_function in _imports(path):
            # the longest known module the name refers to (names may end in a class or function)
            parts = name.split(".")
            target = next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in files), None)
            if target is None or target == mod:
                continue
            graph[mod].add(target)
            if in_function and RANK[mod.split(".")[0]] < RANK["training"] and rel not in LAZY_ALLOWED:
                lazy.add(f"{rel}:{line} imports {target} inside a function")
    return graph, sorted(lazy)


GRAPH, LAZY = _graph()


def test_the_project_is_parsed():
    assert {"core.errors", "models.registry", "ops.convert", "ui.common", "app", "cli"} <= set(GRAPH)


def test_layers_import_one_way():
    wrong = []
    for mod, targets in GRAPH.items():
        top = mod.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != top and RANK[other] >= RANK[top]:
                wrong.append(f"{mod} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_core_imports_nothing_of_ganvas_but_itself():
    assert all(t.startswith("core") for m, ts in GRAPH.items() if m.startswith("core") for t in ts)


def test_no_project_import_inside_a_function():
    assert not LAZY, (
        "imports inside functions (move them to the top; a cycle must be broken, not hidden):\n" + "\n".join(LAZY)
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    assert not _cycles(GRAPH), f"import cycles: {_cycles(GRAPH)}"


@pytest.mark.parametrize(
    "graph, cycles",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph, cycles):
    assert _cycles(graph) == cycles


def test_a_lazy_import_and_an_upward_import_are_caught(tmp_path):
    src = "from ops.convert import load_image\n\ndef f():\n    from ui.common import AppContext\n"
    path = tmp_path / "x.py"
    path.write_text(src)
    assert _imports(path) == [
        ("ops.convert.load_image", 1, False),
        ("ops.convert", 1, False),
        ("ui.common.AppContext", 4, True),
        ("ui.common", 4, True),
    ]
