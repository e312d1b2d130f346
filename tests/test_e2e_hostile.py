"""Literal execution, end to end: every runnable case of the hostile corpus goes through a real
`wild-ci run` (act, host mode) and its experiment prints back exactly the bytes it was given."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import RepoState, run_cli
from hostile_cases import load_cases

from wild_ci.parse import parse_brain_output

pytestmark = pytest.mark.e2e


def test_hostile_text_runs_exactly_as_written(make_repo, tmp_path: Path) -> None:
    runnable = [c for c in load_cases() if c.outcome == "runs"]
    text = "Hostile corpus.\n<experiments>\n" + "".join(c.brain_item() for c in runnable) + "</experiments>\n"
    ids = [e.id for e in parse_brain_output(text).experiments]
    assert len(ids) == len(runnable)
    repo = make_repo()
    before = RepoState.of(repo)
    brain = tmp_path / "brain.md"
    brain.write_text(text, encoding="utf-8")
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert RepoState.of(repo) == before
    legs = repo / ".git/wild-ci/runs/main/0001/legs"
    for case, experiment_id in zip(runnable, ids, strict=True):
        stdout = (legs / experiment_id / "stdout.log").read_bytes()
        assert stdout == case.expected_stdout(), case.name
