"""layout.py is the one home of the names on the session branch and in a run (issue #12,
acceptance 3): the artifact name, the iteration folders and the config path are spelled there
once, and the workflow templates get them from there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wild_ci import layout
from wild_ci.config import Config
from wild_ci.engines.github.workflow import render_inbox_workflow
from wild_ci.generate import read_brain_output, render_workflow
from wild_ci.specs import IterationSpec

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wild_ci"
TEMPLATES = ROOT / "templates"

# Each name as it would be spelled by hand: in code (`f"wild-{label}-"`), in a template
# (`"wild-" ~ label`, `wild-{{ label }}`) or in prose (`wild-NNNN-<id>`).
SPELLINGS = {
    "artifact name": re.compile(r"""wild-(?:\{|NNNN|["'])"""),
    "iteration folders": re.compile(re.escape(".wild/iterations")),
    "config path": re.compile(re.escape(".wild/config.yml")),
}


def occurrences(folder: Path, pattern: re.Pattern[str]) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".j2"}:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found += [f"{path.relative_to(ROOT)}:{number}"] * len(pattern.findall(line))
    return found


@pytest.mark.parametrize("name", SPELLINGS)
def test_a_name_is_spelled_once_in_the_package_and_never_in_the_templates(name: str) -> None:
    pattern = SPELLINGS[name]
    in_package = occurrences(PACKAGE, pattern)
    assert len(in_package) == 1 and in_package[0].startswith("wild_ci/layout.py:"), in_package
    assert occurrences(TEMPLATES, pattern) == []


def test_the_install_step_is_written_once_across_the_templates() -> None:
    assert len(occurrences(TEMPLATES, re.compile(r"- name: Install wild-ci"))) == 1


def workflow(iteration: int = 3) -> dict:
    parsed = read_brain_output(b"<experiments>\n- goal: Train\n  command: echo train\n</experiments>\n")
    spec = IterationSpec("main", iteration, "/p", parsed.experiments)
    return yaml.safe_load(render_workflow(spec, Config(install_spec="wild-ci==0.1.0")))


def legs_job(rendered: dict) -> dict:
    (job,) = [job for name, job in rendered["jobs"].items() if name not in ("collect", "gate")]
    return job


def step_using(job: dict, action: str, given: str | None = None) -> dict:
    """The first step of `job` that uses `action` (with the input `given`)."""
    return next(
        step
        for step in job["steps"]
        if action in step.get("uses", "") and (given is None or given in step.get("with", {}))
    )


def test_the_workflow_gets_its_names_from_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "WORKFLOW_NAME", "renamed-workflow")
    monkeypatch.setattr(layout, "EXPERIMENT_STEP", "A renamed step")
    monkeypatch.setattr(layout, "LEG_OUT_DIR", "renamed-out")
    monkeypatch.setattr(layout, "ITERATIONS_DIR", "renamed/iterations")
    monkeypatch.setattr(layout, "artifact_prefix", lambda n: f"renamed-{n}-")
    rendered = workflow(3)
    assert rendered["name"] == "renamed-workflow"
    gate = rendered["jobs"]["gate"]["steps"][1]["run"]
    assert 'spec="renamed/iterations/0003/experiments.json"' in gate
    leg, collect = legs_job(rendered), rendered["jobs"]["collect"]
    steps = {step["name"]: step for step in leg["steps"]}
    assert "A renamed step" in steps
    upload = step_using(leg, "upload-artifact")
    assert upload["with"]["name"] == "renamed-3-${{ matrix.experiment }}"
    assert upload["with"]["path"] == "${{ runner.temp }}/renamed-out"
    download = step_using(collect, "download-artifact", "pattern")  # the legs' (the first is the wheel's)
    assert download["with"]["pattern"] == "renamed-3-*"


def test_the_workflow_matches_what_the_code_reads() -> None:
    rendered = workflow(12)
    leg = legs_job(rendered)
    assert rendered["name"] == layout.WORKFLOW_NAME
    assert layout.EXPERIMENT_STEP in [step["name"] for step in leg["steps"]]
    download = step_using(rendered["jobs"]["collect"], "download-artifact", "pattern")
    assert download["with"]["pattern"] == layout.artifact_pattern(12) == "wild-0012-*"
    installs = [
        s for job in rendered["jobs"].values() for s in job["steps"] if s["name"] == "Install wild-ci"
    ]
    assert len(installs) == 2 and all(layout.CONFIG_PATH in s["run"] for s in installs)


def test_the_inbox_workflow_gets_its_names_from_layout() -> None:
    text = render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest")
    rendered = yaml.safe_load(text)
    assert "paths" not in rendered[True]["push"]  # GitHub cuts it at 300 files (#25 finding 5)
    look = rendered["jobs"]["submit"]["steps"][1]["run"]
    assert f'find "{layout.INBOX_DIR}"' in look
    assert f"'{layout.ITERATION_TRAILER}: '" in rendered["jobs"]["submit"]["if"]
    assert f"'{layout.ITERATION_SUBJECT}'" in rendered["jobs"]["submit"]["if"]
    assert f"'{layout.START_REF_SEPARATOR}'" in rendered["jobs"]["submit"]["if"]
    (install,) = [s for s in rendered["jobs"]["submit"]["steps"] if s["name"] == "Install wild-ci"]
    assert install["env"]["WILD_CI_SPEC"] == "wild-ci==0.1.0"


def test_names_round_trip() -> None:
    assert layout.iteration_label(7) == "0007"
    assert layout.iteration_file(7, layout.RESULTS_MD) == ".wild/iterations/0007/results.md"
    name = layout.artifact_name(7, "train-a-model-2")
    assert name == "wild-0007-train-a-model-2"
    assert layout.artifact_experiment(name) == "train-a-model-2"


def test_layout_imports_only_the_standard_library() -> None:
    tree = ast.parse((PACKAGE / "layout.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("wild_ci.layout", ["wild_ci.specs", "git", "yaml", "jinja2", "rich"]),
        ("wild_ci.engines.act.progress", ["wild_ci.execute"]),  # it shares names with the leg, not code
    ],
)
def test_importing_loads_no_more_than_it_needs(module: str, absent: list[str]) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print(' '.join(sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert not [name for name in absent if name in loaded]
