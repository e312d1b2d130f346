"""A SIGKILL between the iteration commit and the run marker (#26 item 18): the next command of the
session records the iteration, every experiment missing, instead of leaving it waiting for results
that no run will bring."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import IDENTITY, git

BRAIN = (
    "<experiments>\n- goal: Never ran\n  command: echo hi\n- goal: Nor this\n  command: echo ho\n"
    "</experiments>\n"
)
# `wild-ci run` killed at the first instant after its iteration commit: where the run (and with it
# the run marker, running.json) would begin
KILLED_AFTER_COMMIT = (
    "import os, signal, sys\n"
    "from wild_ci.engines.act import runs\n"
    "runs.run_submission = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
    "from wild_ci.cli import app\n"
    "sys.exit(app.main(sys.argv[1:]))\n"
)


def killed_run(repo: Path, tmp_path: Path) -> None:
    brain = tmp_path / "brain.md"
    brain.write_text(BRAIN)
    env = {**os.environ, **IDENTITY}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, "run", str(brain), "--repo", str(repo)],
        env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "wild: main iteration 0001" in git(repo, "log", "-1", "--format=%s", "wild/main")


def status(repo: Path) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "status", "--json", "--repo", str(repo)],
        env={**os.environ, **IDENTITY}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["sessions"][0]["iterations"][0], done.stderr


def test_the_next_command_records_an_iteration_killed_before_its_run(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    killed_run(repo, tmp_path)
    iteration, said = status(repo)
    assert iteration["state"] != "waiting for results", iteration
    assert iteration["counts"] == {"missing": 2}
    assert "killed before its legs started" in said and "wild-ci rerun --session main" in said
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert [e["status"] for e in results["experiments"]] == ["missing", "missing"]
    assert all(e["note"] for e in results["experiments"])
    assert not list((repo / ".git" / "wild-ci" / "runs" / "main").glob("*.json"))  # the marker is gone
    again, said = status(repo)  # recorded once
    assert again == iteration and "killed" not in said
    assert git(repo, "log", "-1", "--format=%s", "wild/main").startswith(
        "wild: results of main iteration 0001"
    )
