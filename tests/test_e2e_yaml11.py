"""Issue #26, items 1-3 through the real act: a few `run` examples where YAML 1.1 would have
surprised — what the experiment receives is the text the brain wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, run_cli

pytestmark = pytest.mark.e2e

BRAIN = """Dates and words.
<experiments>
- goal: echo its flags
  command: python3 -c 'import json, sys; json.dump(sys.argv[1:], open("outputs/argv.json", "w"))'
  parameters: {since: 2024-01-01, on: 1, null: 2, at: 2024-01-01T10:00:00Z}
  sweep: {off: [yes, "yes"]}
</experiments>
"""


def test_dates_and_yaml11_keys_reach_the_experiment_as_written(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"outputs/.keep": ""})
    brain = tmp_path / "brain.md"
    brain.write_text(BRAIN)
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert [r["status"] for r in results["experiments"]] == ["succeeded", "succeeded"]
    runs = [r["command"] for r in results["experiments"]]
    assert all("--since=2024-01-01" in run and "--on=1" in run and "--null=2" in run for run in runs), runs
    assert any("--off=true" in run for run in runs) and any("--off=yes" in run for run in runs), runs
