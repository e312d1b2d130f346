"""The inbox workflow through act (#14 finding 4): every inbox file is taken in one run, oldest
first, each on the branch as the remote has it and pushed on its own; a rejected file never stalls
the queue. The workflow is the one `wild-ci init` writes; act runs it in host mode, wild-ci comes
from this source tree (WILD_CI_LOCAL), and the job talks to the local GitHub stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git
from test_inbox_queue import session_with_inbox_file

from wild_ci.engines.act.runs import find_act
from wild_ci.engines.github.workflow import render_inbox_workflow

pytestmark = pytest.mark.e2e

GOOD = "<experiments>\n- goal: {goal}\n  command: echo {goal}\n</experiments>\n"
BAD = "<experiments>\n- goal: no command\n</experiments>\n"


def inbox_through_act(runner: Path, tmp_path: Path, fake) -> subprocess.CompletedProcess:
    """Run `.github/workflows/wild-inbox.yml` of `runner` (a clone of the session branch whose
    origin is the "GitHub" remote) as GitHub would on a push to wild/lab whose head is the clone's
    HEAD (the push event's `head_commit`)."""
    workflow = tmp_path / "wild-inbox.yml"
    workflow.write_text(render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest"))
    event = tmp_path / "event.json"
    head = {"id": git(runner, "rev-parse", "HEAD"), "message": git(runner, "log", "-1", "--format=%B")}
    event.write_text(json.dumps({"ref": "refs/heads/wild/lab", "head_commit": head, "repository": {
        "full_name": fake.repository, "default_branch": "main"}}))  # fmt: skip
    shim = tmp_path / "bin" / "wild-ci"
    shim.parent.mkdir(exist_ok=True)
    source = Path(__file__).resolve().parents[1]
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={source} exec {sys.executable} -m wild_ci "$@"\n')
    shim.chmod(0o755)
    home = tmp_path / "act-home"
    home.mkdir(exist_ok=True)
    command = [
        find_act(), "push", "-C", str(runner), "-W", str(workflow), "-e", str(event),
        "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
        "--action-cache-path", str(tmp_path / "act-cache"),
        "--env-file", os.devnull, "--secret-file", os.devnull, "--var-file", os.devnull,
        "--input-file", os.devnull,
        "--env", f"WILD_CI_LOCAL={shim}", "--env", f"HOME={os.environ.get('HOME', '/root')}",
        "--env", f"GITHUB_API_URL={fake.url}",
        "-s", f"WILD_CI_TOKEN={fake.token}",
    ]  # fmt: skip
    env = {**os.environ, **IDENTITY, "HOME": str(home)}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=600)


def test_three_inbox_files_with_the_second_invalid_drain_in_order(make_repo, tmp_path: Path, fake) -> None:
    """#14 acceptance 3. Today's main takes one file per run and rejects with `[skip ci]`, so the
    reject push starts no next run and the third file waits for ever."""
    repo = make_repo()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(remote, "config", "core.logAllRefUpdates", "always")  # a reflog: one entry per push
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    git(repo, "checkout", "--quiet", "-b", "wild/lab")
    (repo / ".wild/inbox").mkdir(parents=True)
    (repo / ".wild/inbox/01-first.md").write_text(GOOD.format(goal="first"))
    (repo / ".wild/inbox/02-broken.md").write_text(BAD)
    (repo / ".wild/inbox/03-third.md").write_text(GOOD.format(goal="third"))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "three brain outputs")
    git(repo, "push", "--quiet", "origin", "wild/lab")
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(runner))

    done = inbox_through_act(runner, tmp_path, fake)
    log = done.stdout.decode(errors="replace")
    assert "02-broken.md was not run" in log, log[-4000:]
    assert done.returncode != 0  # the job fails to say a file was rejected, after taking them all

    files = git(remote, "ls-tree", "-r", "--name-only", "wild/lab", ".wild").splitlines()
    assert not [f for f in files if f.startswith(".wild/inbox/")]
    assert ".wild/rejected/02-broken.md" in files and ".wild/rejected/02-broken.md.errors.txt" in files
    assert git(remote, "show", "wild/lab:.wild/iterations/0001/brain.md") == GOOD.format(goal="first").strip()
    assert git(remote, "show", "wild/lab:.wild/iterations/0002/brain.md") == GOOD.format(goal="third").strip()
    subjects = git(remote, "log", "--format=%s", "wild/lab").splitlines()
    assert subjects[:3] == [
        "wild: lab iteration 0002 (1 experiment)",
        "wild: 02-broken.md rejected [skip ci]",
        "wild: lab iteration 0001 (1 experiment)",
    ]
    # each commit was pushed on its own, so each iteration's push starts its own experiments run
    pushed = git(remote, "reflog", "--format=%H", "refs/heads/wild/lab").splitlines()
    assert pushed[:3] == git(remote, "log", "--format=%H", "-3", "wild/lab").splitlines()


def test_the_inbox_s_own_pushes_start_no_second_inbox_run(make_repo, tmp_path: Path, fake) -> None:
    """#25 finding 5. The inbox's push of an iteration commit removes the inbox file it took, which
    matched the old `paths:` filter: a second inbox run, which installed wild-ci to find nothing.
    Now a push whose head is an iteration commit skips the job, and a push of hand commits only
    stops before installing anything."""
    files = {"01-first.md": GOOD.format(goal="first")}
    _repo, remote, runner = session_with_inbox_file(make_repo, tmp_path, files, "a brain output", False)
    first = inbox_through_act(runner, tmp_path, fake)
    assert first.returncode == 0, first.stdout.decode(errors="replace")[-4000:]
    pushed = git(remote, "rev-parse", "wild/lab")
    assert "Wild-CI-Iteration: 0001" in git(remote, "log", "-1", "--format=%B", "wild/lab")

    again = tmp_path / "again"  # the run GitHub starts for the inbox's own push of that commit
    git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(again))
    second = inbox_through_act(again, tmp_path, fake)
    log = second.stdout.decode(errors="replace")
    assert second.returncode == 0, log[-4000:]
    assert "Install wild-ci" not in log and "Check out the session branch" not in log, log[-4000:]
    assert git(remote, "rev-parse", "wild/lab") == pushed

    (again / "notes.md").write_text("by hand\n")  # a person's push of a hand commit on top
    git(again, "add", "notes.md")
    git(again, "commit", "--quiet", "-m", "notes")
    hand = inbox_through_act(again, tmp_path, fake)
    log = hand.stdout.decode(errors="replace")
    assert hand.returncode == 0, log[-4000:]
    assert ".wild/inbox/ is empty at" in log, log[-4000:]
    assert (
        "Success - Main Install wild-ci" not in log
        and "Turn the brain outputs" not in log.split("is empty at")[1]
    )


def test_a_brain_output_whose_message_names_the_iteration_trailer_is_taken(
    make_repo, tmp_path: Path, fake
) -> None:
    """#25 attack: the job skipped every push whose head commit's message *contains*
    `Wild-CI-Iteration:`, anywhere. A brain (or a person) that quotes the log in the message of the
    commit adding its output ("follows Wild-CI-Iteration: 0001") had that output left in the inbox,
    silently, until some later push. Only wild-ci's own iteration commits skip the job now."""
    message = "next brain output\n\nWhat Wild-CI-Iteration: 0001 showed suggests a larger batch.\n"
    files = {"01-next.md": GOOD.format(goal="next")}
    _repo, remote, runner = session_with_inbox_file(make_repo, tmp_path, files, message, detach=False)

    done = inbox_through_act(runner, tmp_path, fake)
    log = done.stdout.decode(errors="replace")
    assert done.returncode == 0, log[-4000:]
    assert git(remote, "show", "wild/lab:.wild/iterations/0001/brain.md") == GOOD.format(goal="next").strip()
