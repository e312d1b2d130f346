"""Issue 16: `wild-ci rerun --only STATUSES` through act (host mode): only the experiments whose
latest result has one of the statuses run again, and the new results commit keeps the others'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, run_cli, writable_for_tests

pytestmark = pytest.mark.e2e


def _results(repo: Path) -> dict[str, dict]:
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    return {e["id"]: e for e in data["experiments"]}


def test_rerun_only_failed_and_timed_out_runs_those_and_keeps_the_rest(make_repo, tmp_path: Path) -> None:
    counts = tmp_path / "counts"
    repo = make_repo(writable_for_tests(counts))
    counts.mkdir()
    steady = f"echo run >> {counts}/steady; echo steady"
    flaky = f"echo run >> {counts}/flaky; if [ $(wc -l < {counts}/flaky) -ge 2 ]; then echo second try; else echo first try >&2; exit 1; fi"  # noqa: E501
    slow = f"if [ -e {counts}/slow ]; then echo fast now; else touch {counts}/slow; sleep 60; fi"
    brain = tmp_path / "brain.md"
    brain.write_text(
        "<experiments>\n"
        f"- goal: Steady\n  id: steady\n  command: {json.dumps(steady)}\n"
        f"- goal: Flaky\n  id: flaky\n  command: {json.dumps(flaky)}\n"
        f"- goal: Slow\n  id: slow\n  timeout: 3s\n  command: {json.dumps(slow)}\n"
        "</experiments>\n"
    )
    first = run_cli("run", str(brain), "--repo", str(repo), timeout=600)
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    before = _results(repo)
    assert {k: v["status"] for k, v in before.items()} == {
        "steady": "succeeded", "flaky": "failed", "slow": "timed_out"
    }  # fmt: skip

    nothing = run_cli("rerun", "--repo", str(repo), "--only", "missing,cancelled")
    assert nothing.returncode == 2 and b"nothing to re-run" in nothing.stderr, nothing.stderr.decode()
    refused = run_cli("rerun", "--repo", str(repo), "--only", "failed,broken")
    assert refused.returncode == 2 and b"broken: not a status" in refused.stderr

    tip = git(repo, "rev-parse", "wild/main")
    again = run_cli("rerun", "--repo", str(repo), "--only", "failed,timed_out", "--format", "wild-v2")
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert git(repo, "rev-parse", "wild/main^") == tip  # one new results commit
    after = _results(repo)
    assert {k: v["status"] for k, v in after.items()} == {
        "steady": "succeeded", "flaky": "succeeded", "slow": "succeeded"
    }  # fmt: skip
    assert after["steady"] == before["steady"]  # not run again: its result kept as it was
    assert (counts / "steady").read_text() == "run\n" and (counts / "flaky").read_text() == "run\nrun\n"
    legs = repo / ".git/wild-ci/runs/main/0001/legs"
    assert sorted(p.name for p in legs.iterdir()) == ["flaky", "slow"]  # only those legs ran
    out = again.stdout.decode()
    assert out.startswith("## Results from Previous Experiments\n")
    assert "### Experiment 1: Steady\n- **Command:** `echo run" in out
    assert out.count("- **Status:** PASSED") == 3 and "second try" in out and "fast now" in out
    assert run_cli("logs", "steady", "--repo", str(repo)).stdout == b"steady\n"  # from the first run
