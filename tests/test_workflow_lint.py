"""Every workflow wild-ci renders — for every brain output of the corpus and the hostile corpus, and
the inbox workflow — passes GitHub's workflow schema (check-jsonschema) and zizmor's security audit
(offline, auditor persona) with zero findings."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git
from hostile_cases import load_cases

from wild_ci.config import Config
from wild_ci.engines.github.workflow import render_inbox_workflow
from wild_ci.generate import read_brain_output, render_workflow
from wild_ci.specs import IterationSpec

pytestmark = pytest.mark.e2e
TESTS = Path(__file__).parent
CORPORA = sorted((TESTS / "corpus").glob("*.md"))
CONFIG = Config(install_spec="wild-ci==0.1.0", runs_on="ubuntu-latest")


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install '.[test]'")
    return found


def rendered(folder: Path) -> list[Path]:
    workflows = folder / ".github" / "workflows"
    workflows.mkdir(parents=True)
    written = []
    for case in CORPORA:
        parsed = read_brain_output(case.read_bytes())
        if not parsed.experiments:
            continue
        spec = IterationSpec("main", 1, "/p", parsed.experiments)
        path = workflows / f"{case.stem}.yml"
        path.write_text(render_workflow(spec, CONFIG))
        written.append(path)
    for case in load_cases():  # the hostile corpus: each item alone, valid or not
        parsed = read_brain_output(f"<experiments>\n{case.brain_item()}</experiments>\n".encode())
        if parsed.experiments:
            path = workflows / f"hostile-{case.name}.yml"
            path.write_text(render_workflow(IterationSpec("main", 1, "/p", parsed.experiments), CONFIG))
            written.append(path)
    # a sharded iteration (600 legs, two runner-label groups), on the pull_request trigger, capped.
    # (zizmor's auditor persona flags every literal `self-hosted` label: that is the user's choice.)
    many = "".join(
        f"- goal: run {i}\n  command: echo {i}\n" + ("  runs_on: [linux, gpu]\n" if i % 3 else "")
        for i in range(600)
    )
    parsed = read_brain_output(f"<experiments>\n{many}</experiments>\n".encode())
    sharded = workflows / "sharded-pull-request.yml"
    pr_config = dataclasses.replace(CONFIG, trigger="pull_request", max_parallel=8)
    sharded.write_text(render_workflow(IterationSpec("main", 1, "/p", parsed.experiments), pr_config))
    written.append(sharded)
    # legs past GitHub's 6 h on its runners: their job is cut to 360 minutes and told when to stop
    long = read_brain_output(
        b"<experiments>\n- goal: long\n  command: x\n  timeout: 2h\n  retries: 3\n</experiments>\n"
    )
    cut = workflows / "cut-to-the-hosted-limit.yml"
    cut.write_text(render_workflow(IterationSpec("main", 1, "/p", long.experiments), CONFIG))
    written.append(cut)
    inbox = workflows / "wild-inbox.yml"
    inbox.write_text(render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest"))
    plain = workflows / "wild-inbox-no-environment.yml"  # `wild-ci init --no-environment`
    plain.write_text(render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest", None))
    return [*written, inbox, plain]


def test_rendered_workflows_pass_the_schema_and_zizmor(tmp_path: Path) -> None:
    files = rendered(tmp_path)
    assert len(files) > 70
    schema = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr
    git(tmp_path, "init", "--quiet")
    audit = subprocess.run(
        [tool("zizmor"), "--offline", "--persona=auditor", "--format=plain", ".github/workflows"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout[-5000:] + audit.stderr[-2000:]
    assert "No findings" in audit.stdout + audit.stderr or "0 findings" in audit.stdout + audit.stderr
