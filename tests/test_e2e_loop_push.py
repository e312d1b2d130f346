"""`wild-ci loop --push`: each iteration is pushed to the remote and its results come back from
"GitHub" — a bare remote, the local GitHub API stand-in, and a thread that plays the workflow: for
each iteration commit pushed, a run appears, and then its collect job (the real `wild-ci collect
--push`, in a clone of its own) commits the results to the remote branch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_github import FakeGitHub, record_pushes
from helpers import IDENTITY, git

pytestmark = pytest.mark.e2e

BRAIN = r"""
import re, sys
prompt = sys.stdin.read()
if "you have just said DONE" in prompt:  # the reflection on DONE (#28)
    print("<reflection>The variant is better on every run.</reflection>\n<continue>no</continue>")
    sys.exit(0)
turn = int(re.search(r"turn (\d+)", prompt, re.I).group(1))
with open("prompts.log", "a") as log:
    log.write(f"=== turn {turn}\n{prompt}\n")
ASK = "<experiments>\n- goal: {}\n  command: python3 train.py{}\n</experiments>"
if turn == 1:
    print("Start with a baseline.\n" + ASK.format("Baseline", ""))
elif turn == 2:
    assert "baseline: succeeded" in prompt, prompt
    print("Now the variant.\n" + ASK.format("Variant", " --fast"))
else:
    assert "variant: succeeded" in prompt, prompt
    print("The variant wins.\n<promise>DONE</promise>")
"""


class PlayedWorkflow:
    """Plays GitHub Actions for the remote: every iteration commit that reaches wild/main gets a
    completed run in the fake, and its results are committed by the real collect command."""

    def __init__(self, remote: Path, work: Path, fake: FakeGitHub) -> None:
        self.remote, self.work, self.fake = remote, work, fake
        self.pushes = record_pushes(remote)  # GitHub starts a run per push, for the push's head
        self.seen = 0
        self.handled: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> PlayedWorkflow:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(30)

    def _serve(self) -> None:
        while not self.stop.wait(0.1):
            for head in self._new_heads():
                subject = git(self.remote, "log", "-1", "--format=%s", head)
                if head in self.handled or "[skip ci]" in subject:  # as GitHub skips them
                    continue
                self.handled.append(head)
                try:
                    self._run(head)
                except Exception as exc:  # reported by the test, not lost in a thread
                    self.errors.append(repr(exc))

    def _new_heads(self) -> list[str]:
        """The head of each push to wild/main since the last look (the remote's post-receive log): a
        poll of the branch's tip missed a push followed at once by another (the DONE iteration, then
        its reflection and conclusion), as a loaded machine showed."""
        lines = self.pushes.read_text().splitlines() if self.pushes.exists() else []
        fresh, self.seen = lines[self.seen :], len(lines)
        return [new for _old, new, ref in (line.split() for line in fresh)
                if ref == "refs/heads/wild/main" and set(new) != {"0"}]  # fmt: skip

    def _run(self, commit: str) -> None:
        runner = self.work / f"runner-{len(self.handled)}"
        git(self.work, "clone", "--quiet", "--branch", "wild/main", str(self.remote), str(runner))
        number = max(int(p.name) for p in (runner / ".wild/iterations").iterdir())
        spec = json.loads((runner / f".wild/iterations/{number:04d}/experiments.json").read_text())
        if not spec["experiments"]:  # committed without a workflow: GitHub starts no run
            return
        artifacts = self.work / f"artifacts-{number}"
        for experiment in spec["experiments"]:
            leg = artifacts / f"wild-{number:04d}-{experiment['id']}"
            leg.mkdir(parents=True)
            result = {"id": experiment["id"], "status": "succeeded", "exit_code": 0, "duration_s": 1.5}
            (leg / "result.json").write_text(json.dumps(result))
            (leg / "stdout.log").write_text(f"accuracy of {experiment['id']}: 0.9\n")
            (leg / "stderr.log").write_text("")
        subprocess.run(
            [sys.executable, "-m", "wild_ci", "collect", "--artifacts", str(artifacts), "--push"],
            cwd=runner, env={**os.environ, **IDENTITY}, check=True, capture_output=True,
        )  # fmt: skip
        # as on GitHub, the run completes once its collect job has pushed the results
        self.fake.add_run(commit, status="completed", conclusion="success")


def test_loop_push_runs_each_iteration_on_github_and_feeds_back_its_results(
    make_repo, tmp_path: Path, fake: FakeGitHub
) -> None:
    repo = make_repo({"train.py": "print('training')\n", "brain.py": BRAIN, ".gitignore": "prompts.log\n"})
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    env = {
        **os.environ, **IDENTITY,
        "GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repository, "GITHUB_API_URL": fake.url,
    }  # fmt: skip
    fake.pulls.append({"number": 1, "state": "open", "title": "wild/main", "body": None,
                       "head": {"ref": "wild/main"}, "base": {"ref": "main"}})  # fmt: skip
    started = time.monotonic()
    with PlayedWorkflow(remote, tmp_path, fake) as workflow:
        done = subprocess.run(
            [sys.executable, "-m", "wild_ci", "loop", "--brain", f"{sys.executable} brain.py", "--push",
             "--repo", str(repo), "--max-iterations", "5", "--wait-interval", "0.2", "--wait-timeout", "2m"],
            cwd=tmp_path, env=env, capture_output=True, timeout=300,
        )  # fmt: skip
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    assert workflow.errors == []
    assert time.monotonic() - started < 240
    # three iterations on the remote: two ran on "GitHub" (results committed by the collect job), the
    # third says DONE and was committed without a run
    subjects = git(remote, "log", "--format=%s", "wild/main").splitlines()
    assert subjects[:2] == [  # #28: the reflection on the DONE, then the conclusion, pushed too
        "wild: main iteration 0003: conclusion [skip ci]",
        "wild: main iteration 0003: reflection on DONE [skip ci]",
    ]
    assert subjects[2].startswith("wild: main iteration 0003")
    assert "wild: results of main iteration 0002 [skip ci]" in subjects
    assert "wild: results of main iteration 0001 [skip ci]" in subjects
    assert len(workflow.handled) == 3  # each iteration commit was pushed once
    assert len(fake.runs) == 2
    assert "the brain said DONE in iteration 0003 (turn 3)" in stderr
    assert "waiting for iteration 0001" in stderr and "waiting for iteration 0002" in stderr
    prompts = (repo / "prompts.log").read_text()
    turn_3 = prompts.split("=== turn 3")[1]
    assert "variant: succeeded" in turn_3 and "accuracy of variant: 0.9" in turn_3
    assert git(repo, "rev-parse", "wild/main") == git(remote, "rev-parse", "wild/main")
    results_md = git(remote, "show", "wild/main:.wild/iterations/0003/results.md")
    assert "## Conclusion" in results_md and "The variant is better on every run." in results_md
    [comment] = fake.comments[1]  # the DONE iteration's comment on the session's pull request
    assert comment["body"].rstrip("\n") == results_md  # (git() strips its output)
