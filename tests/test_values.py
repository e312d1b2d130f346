"""Shared value types (`wild_ci.values`) and the import shape they make possible."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from wild_ci import values

PACKAGE = Path(values.__file__).parent


def _imports(path: Path) -> list[tuple[ast.AST, str, bool]]:
    """(node, module, inside a function) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[ast.AST, str, bool]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((child, alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = "." * child.level + (child.module or "")
                found.append((child, module, in_function))
            walk(child, inner)

    walk(tree, False)
    return found


def test_values_imports_only_the_standard_library() -> None:
    for _node, module, _inside in _imports(PACKAGE / "values.py"):
        top = module.split(".")[0]
        assert top and (top == "__future__" or top in sys.stdlib_module_names), module


@pytest.mark.parametrize("name", ["config.py", *sorted(p.name for p in (PACKAGE / "parse").glob("*.py"))])
def test_config_and_parse_import_at_the_top_only(name: str) -> None:
    path = PACKAGE / name if name == "config.py" else PACKAGE / "parse" / name
    inside = [module for _node, module, is_inside in _imports(path) if is_inside]
    assert inside == []


def test_config_does_not_import_parse() -> None:
    modules = [module for _node, module, _inside in _imports(PACKAGE / "config.py")]
    assert not any(m.startswith((".parse", "wild_ci.parse")) for m in modules), modules


@pytest.mark.parametrize("module", ["wild_ci.values", "wild_ci.config", "wild_ci.parse", "wild_ci.specs"])
def test_each_module_imports_alone(module: str) -> None:
    """A cycle shows up as an ImportError when the module is the first one imported."""
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1.5 hours", 5400), (0.2, 1)],
)
def test_durations(text: object, seconds: int) -> None:
    assert values.parse_duration(text) == seconds


@pytest.mark.parametrize("text", [True, None, 0, -5, "soon", float("inf"), "2d"])
def test_not_durations(text: object) -> None:
    assert values.parse_duration(text) is None


def test_runner_labels_and_setup() -> None:
    problems: list[str] = []
    assert values.runner_labels("gpu", problems.append) == ["gpu"]
    assert values.runner_labels(["self-hosted", "gpu"], problems.append) == ["self-hosted", "gpu"]
    assert problems == []
    assert values.runner_labels(["gpu", "${{ x }}"], problems.append) == []
    assert problems and "may only use letters" in problems[0]
    assert values.normalize_setup("  AUTO ") == "auto"
    assert values.normalize_setup(" make env ") == "make env"


def test_workflow_safe_refuses_expressions_and_line_breaks() -> None:
    def error(name: str, message: str) -> ValueError:
        return ValueError(message)

    assert values.workflow_safe("ubuntu-latest", "runs_on", error) == "ubuntu-latest"
    for bad in ("${{ secrets.X }}", "a\nb", "a\rb"):
        with pytest.raises(ValueError, match="runs_on may not contain"):
            values.workflow_safe(bad, "runs_on", error)
