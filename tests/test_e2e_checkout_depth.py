"""Every job's checkout is depth 1, as GitHub's actions/checkout gives it (`fetch-depth` default 1:
action.yml and src/input-helper.ts at the pinned v7.0.1; docs/github-conformance.md): the legs see
one commit, no tag and no other branch; the gate (fetch-depth 2) sees the parent it needs; and the
collect job commits the results back from its shallow clone, iteration after iteration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, run_cli

pytestmark = pytest.mark.e2e

LOOK = (
    '<experiments>\n- goal: Look at the history\n  command: "git rev-parse --is-shallow-repository; '
    'git rev-list --count HEAD; git tag | wc -l; git for-each-ref | wc -l"\n</experiments>\n'
)


def test_legs_and_collect_run_on_depth_1_checkouts(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    for n in (1, 2):
        (repo / f"history-{n}.txt").write_text(f"{n}\n")
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "-m", f"history {n}")
    git(repo, "tag", "v1")
    brain = tmp_path / "brain.md"
    brain.write_text(LOOK)
    for iteration in (1, 2):  # the second iteration's collect commits on top of the first's results
        done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
        stderr = done.stderr.decode()
        assert done.returncode == 0, stderr[-3000:]
        assert "collected the results on the host" not in stderr  # the collect job did it itself
        results = json.loads(git(repo, "show", f"wild/main:.wild/iterations/{iteration:04d}/results.json"))
        [experiment] = results["experiments"]
        assert experiment["status"] == "succeeded", experiment
        # shallow, one commit, no tag, one ref (the branch): what GitHub's checkout gives a leg
        assert experiment["stdout_tail"].split() == ["true", "1", "0", "1"]
    history = git(repo, "log", "--format=%s", "wild/main").splitlines()
    assert history[:4] == [
        "wild: results of main iteration 0002 [skip ci]",
        "wild: main iteration 0002 (1 experiment)",
        "wild: results of main iteration 0001 [skip ci]",
        "wild: main iteration 0001 (1 experiment)",
    ]
