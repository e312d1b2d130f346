"""How wild-ci's modules import each other (#12 acceptance 1): a DAG, imports at the top of each
module, and the deferred imports in one place (`lazy.py`; `entry.py` chooses what a command loads)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wild_ci"
DEFERRING_MODULES = {"wild_ci.lazy", "wild_ci.entry"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, tree: ast.Module) -> set[str]:
    """wild_ci modules a module imports at its top level (TYPE_CHECKING blocks excluded)."""
    is_package = MODULES[name].name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import ledger` imports the module wild_ci.ledger
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def test_the_modules_import_each_other_as_a_dag() -> None:
    graph = {name: imported_modules(name, ast.parse(path.read_text())) for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = [*trail[trail.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        state[name] = "open"
        for target in sorted(graph[name]):
            visit(target, [*trail, name])
        state[name] = "done"

    for name in graph:
        visit(name, [])


def test_imports_are_at_the_top_except_in_the_deferring_modules() -> None:
    inside_functions = []
    for name, path in MODULES.items():
        if name in DEFERRING_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside_functions += [
                    f"{name}:{sub.lineno} in {node.name}()"
                    for sub in ast.walk(node)
                    if isinstance(sub, (ast.Import, ast.ImportFrom))
                ]
    assert inside_functions == []


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"wild_ci.__main__"}))  # that one runs the CLI
def test_each_module_imports_alone(name: str) -> None:
    """A cycle hidden by import order shows when a module is the first one loaded."""
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_leg_loads_no_heavy_library() -> None:
    """`wild-ci execute` runs in every matrix leg: no git, YAML, templates, rich or GitHub client."""
    code = "import sys, wild_ci.execute; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split())
    assert "wild_ci.execute" in loaded
    assert not loaded & {"git", "yaml", "jinja2", "rich", "github", "requests", "matplotlib"}
