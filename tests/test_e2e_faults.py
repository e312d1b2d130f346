"""End to end through act: faults of the machine and of experiments (issue 15, observations 4-6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git

pytestmark = pytest.mark.e2e


def wild(repo: Path, tmp_path: Path, *args: str, brain: str | None = None) -> subprocess.CompletedProcess:
    if brain is not None:
        (tmp_path / "brain.md").write_text(brain)
        args = ("run", str(tmp_path / "brain.md"), *args)
    env = {**os.environ, **IDENTITY, "WILD_CI_ENV_CACHE": str(tmp_path / "envs"), "UV_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", *args, "--repo", str(repo)],
        cwd=tmp_path, env=env, capture_output=True, timeout=600,
    )  # fmt: skip


def results(repo: Path, label: str = "0001") -> dict[str, dict]:
    data = json.loads(git(repo, "show", f"wild/main:.wild/iterations/{label}/results.json"))
    return {e["id"]: e for e in data["experiments"]}


def test_an_experiment_that_deletes_its_checkout_keeps_its_result_and_logs(make_repo, tmp_path: Path) -> None:
    brain = (
        "<experiments>\n- goal: Vanish\n"
        "  command: 'echo still here; cd .. && rm -rf \"$OLDPWD\"'\n</experiments>\n"
    )
    repo = make_repo()
    done = wild(repo, tmp_path, brain=brain)
    assert done.returncode == 0, done.stderr.decode()
    vanish = results(repo)["vanish"]
    assert (vanish["status"], vanish["stdout_tail"]) == ("succeeded", "still here")
    logs = wild(repo, tmp_path, "logs", "vanish")
    assert (logs.returncode, logs.stdout) == (0, b"still here\n")
