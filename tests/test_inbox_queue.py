"""The inbox job syncs before it pushes and retries on a non-fast-forward (#14 finding 4): the
checkout GitHub gives the job is the pushed commit, and the remote branch may move before and while
the job pushes (a results commit, another push)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from helpers import IDENTITY, git

from wild_ci.cli import inbox as inbox_command
from wild_ci.engines.github import runs

GOOD = "<experiments>\n- goal: From the inbox\n  command: echo inbox\n</experiments>\n"


def session_with_inbox_file(
    make_repo,
    tmp_path: Path,
    files: dict[str, str] | None = None,
    message: str = "brain output",
    detach: bool = True,
) -> tuple[Path, Path, Path]:
    """(user's repo, bare remote, the inbox job's checkout of the push that brought the file): one
    commit on wild/lab adding `files` ({name in .wild/inbox: text}; default one good output)."""
    repo = make_repo()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    git(repo, "checkout", "--quiet", "-b", "wild/lab")
    (repo / ".wild/inbox").mkdir(parents=True)
    for name, text in (files or {"01-brain.md": GOOD}).items():
        (repo / ".wild/inbox" / name).write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    git(repo, "push", "--quiet", "origin", "wild/lab")
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(runner))
    if detach:
        git(runner, "checkout", "--quiet", "--detach")
    return repo, remote, runner


def land_on_remote(repo: Path, name: str) -> str:
    """Someone else's commit reaches the remote branch (a results commit, a hand commit)."""
    git(repo, "pull", "--quiet", "--ff-only", "origin", "wild/lab")
    (repo / name).write_text("landed meanwhile\n")
    git(repo, "add", name)
    git(repo, "commit", "--quiet", "-m", f"{name} [skip ci]")
    git(repo, "push", "--quiet", "origin", "wild/lab")
    return git(repo, "rev-parse", "HEAD")


def test_the_inbox_job_syncs_with_the_remote_branch_before_it_pushes(make_repo, tmp_path: Path) -> None:
    """Today's main builds on the event's commit and its push is refused (non-fast-forward)."""
    repo, remote, runner = session_with_inbox_file(make_repo, tmp_path)
    landed = land_on_remote(repo, "landed.txt")
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "inbox", "--push", "--config-ref", "main"],
        cwd=runner, capture_output=True, timeout=120,
        env={**os.environ, **IDENTITY, "GITHUB_REF_NAME": "wild/lab"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert git(remote, "rev-parse", "wild/lab^") == landed
    files = git(remote, "ls-tree", "-r", "--name-only", "wild/lab").splitlines()
    assert "landed.txt" in files and ".wild/iterations/0001/brain.md" in files


def test_the_inbox_job_rebuilds_and_pushes_again_when_the_branch_moves_while_it_pushes(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """The first push is refused because a commit landed between the fetch and the push."""
    repo, remote, runner = session_with_inbox_file(make_repo, tmp_path)
    pushes = []
    real_push = runs.push_branch

    def racing_push(*args: object) -> None:
        pushes.append(args)
        if len(pushes) == 1:
            land_on_remote(repo, "raced.txt")
        real_push(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(runs, "push_branch", racing_push)
    monkeypatch.setenv("GITHUB_REF_NAME", "wild/lab")
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    args = argparse.Namespace(repo=runner, push=True, remote="origin", dispatch=False, config_ref="main")
    assert inbox_command.inbox(args) == 0
    assert len(pushes) == 2
    assert git(remote, "log", "-1", "--format=%s", "wild/lab^") == "raced.txt [skip ci]"
    files = git(remote, "ls-tree", "-r", "--name-only", "wild/lab").splitlines()
    assert "raced.txt" in files and ".wild/iterations/0001/brain.md" in files
    assert not [f for f in files if f.startswith(".wild/inbox/")]


def test_the_readme_names_the_permissions_the_inbox_workflow_asks_for() -> None:
    """Today's README says `contents: write`, `actions: write`; the template asks `contents: read`."""
    import re

    import yaml

    from wild_ci.engines.github.workflow import render_inbox_workflow

    page = (Path(__file__).resolve().parents[1] / "docs" / "github.md").read_text()
    said = re.search(r"the inbox job: ((?:`[a-z-]+: [a-z]+`(?:, )?)+)", page)
    assert said, "docs/github.md step 3 names the inbox job's permissions"
    named = dict(pair.split(": ") for pair in re.findall(r"`([a-z-]+: [a-z]+)`", said.group(1)))
    workflow = yaml.safe_load(render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest"))
    assert workflow["jobs"]["submit"]["permissions"] == named
    assert workflow["jobs"]["submit"]["environment"] == "wild-inbox"
    plain = yaml.safe_load(render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest", None))
    assert "environment" not in plain["jobs"]["submit"]  # `init --no-environment`: any plan
    assert plain["jobs"]["submit"]["permissions"] == named
