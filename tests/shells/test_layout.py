"""The layout the code must keep: `rag` is the library and imports no shell; the shells (CLI, chat,
eval harness, benchmarks) import the library and never each other (their shared helpers live in
`shells.common`); and no two modules import each other, even inside functions."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from rag.settings import CHECKOUT

PACKAGES = ("rag", "shells", "ui", "evals", "benchmarks")
SHELLS = ("ui", "evals", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(CHECKOUT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Every module of ours that `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {n for n in names if n.split(".")[0] in PACKAGES}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in PACKAGES for p in (CHECKOUT / package).rglob("*.py")}
    # benchmarks are scripts that import their sibling files by bare name
    modules |= {p.stem: p for p in (CHECKOUT / "benchmarks").glob("*.py")}
    return {name: {m for m in project_imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_library_imports_no_shell():
    offenders = {m: deps for m, deps in graph().items() if m.startswith("rag")
                 and any(d.split(".")[0] in ("shells", *SHELLS) for d in deps)}
    assert offenders == {}


def test_shells_never_import_each_other():
    offenders = {}
    for module, deps in graph().items():
        top = module.split(".")[0]
        if top in ("shells", *SHELLS):
            foreign = {d for d in deps if d.split(".")[0] not in ("rag", top) and d != "shells.common"
                       and d.split(".")[0] in PACKAGES}
            if foreign:
                offenders[module] = foreign
    assert offenders == {}


def test_no_import_cycle():
    try:
        order = list(TopologicalSorter(graph()).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert order.index("rag.settings") < order.index("rag.service")  # the graph really holds our modules
