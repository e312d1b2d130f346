"""Every iteration commit gets its run (#25 finding 2). GitHub starts a push's run for the head of
the push only ("GITHUB_SHA: the last commit on the updated ref" of a push event, docs/github-
conformance.md), so wild-ci's own pushes push each iteration commit on its own, oldest first; and
`wait` on an iteration that a person's plain `git push` buried under a later commit says within a
minute that it will not run, and how to start it. Real git repositories and a bare remote whose
hook logs each push; the fake GitHub starts a run for the head of each logged push, as GitHub does."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fake_github import FakeGitHub, record_pushes
from helpers import git

from wild_ci import layout
from wild_ci.config import Config
from wild_ci.engines.github import runs
from wild_ci.engines.github.client import GitHubClient, GitHubSettings
from wild_ci.generate import submit
from wild_ci.ledger import open_repo


def brain(n: int) -> bytes:
    return f"<experiments>\n- goal: Step {n}\n  command: echo {n}\n</experiments>\n".encode()


@pytest.fixture
def session(make_repo, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(repo, bare remote, the remote's log of pushes), main already pushed."""
    repo = make_repo()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    return repo, remote, record_pushes(remote)


def iterate(repo: Path, n: int) -> str:
    submission = submit(repo, brain(n), config=Config(project_root=str(repo)))
    assert submission is not None
    return submission.commit


def hand_commit(repo: Path, name: str) -> str:
    """A person's commit on the session branch (a note), made in a worktree of it."""
    tree = repo.parent / f"hand-{name}"
    git(repo, "worktree", "add", "--quiet", str(tree), "wild/main")
    (tree / f"{name}.md").write_text("by hand\n")
    git(tree, "add", f"{name}.md")
    git(tree, "commit", "--quiet", "-m", f"notes {name}")
    git(repo, "worktree", "remove", "--force", str(tree))
    return git(repo, "rev-parse", "wild/main")


def pushed_heads(log: Path) -> list[str]:
    return [
        line.split()[1] for line in log.read_text().splitlines() if line.endswith(" refs/heads/wild/main")
    ]


def test_a_push_of_three_iterations_pushes_each_on_its_own(session) -> None:
    repo, _remote, log = session
    commits = [iterate(repo, n) for n in (1, 2, 3)]
    runs.push_branch(open_repo(repo), "main", "origin")
    assert pushed_heads(log) == commits  # each the head of its own push, oldest first
    fake = FakeGitHub()
    fake.url = "http://unused"
    assert [r["head_sha"] for r in fake.start_push_runs(log)] == commits  # so each gets its run


def test_an_iteration_under_a_hand_commit_is_pushed_first(session) -> None:
    repo, _remote, log = session
    first = iterate(repo, 1)
    runs.push_branch(open_repo(repo), "main", "origin")
    second = iterate(repo, 2)
    hand = hand_commit(repo, "after-2")
    runs.push_branch(open_repo(repo), "main", "origin")
    assert pushed_heads(log) == [first, second, hand]
    runs.push_branch(open_repo(repo), "main", "origin")  # nothing new: the tip again, refused by nobody
    assert pushed_heads(log) == [first, second, hand]  # git logs no update for an unchanged ref


def test_an_iteration_without_experiments_is_not_pushed_on_its_own(session) -> None:
    repo, _remote, log = session
    first = iterate(repo, 1)
    submit(repo, b"<promise>DONE</promise>\n", config=Config(project_root=str(repo)))  # nothing to run
    last = iterate(repo, 3)
    runs.push_branch(open_repo(repo), "main", "origin")
    assert pushed_heads(log) == [first, last]


def test_a_diverged_remote_is_refused_whole(session, tmp_path: Path) -> None:
    repo, remote, log = session
    iterate(repo, 1)
    runs.push_branch(open_repo(repo), "main", "origin")
    other = tmp_path / "other"  # someone force-pushes another history to the session branch
    git(tmp_path, "clone", "--quiet", "--branch=wild/main", str(remote), str(other))
    git(other, "commit", "--quiet", "--amend", "-m", "rewritten")
    git(other, "push", "--quiet", "--force", "origin", "wild/main")
    before = log.read_text()
    iterate(repo, 2)
    iterate(repo, 3)
    with pytest.raises(runs.ledger.LedgerError, match="pushing wild/main to origin failed"):
        runs.push_branch(open_repo(repo), "main", "origin")
    assert log.read_text() == before  # nothing half-pushed


# --- a person's plain `git push` of several: `wait` says so within a minute ----------------------


def client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient(GitHubSettings(fake.repository, fake.token, api_url=fake.url), polite=False)


def ticking(step: float):
    """A clock that moves `step` seconds at each reading: `wait` polls without sleeping for real."""
    counter = itertools.count()
    return lambda: next(counter) * step


def wait(repo: Path, fake: FakeGitHub, iteration: int, timeout_s: float = 6 * 3600):
    options = runs.WaitOptions(timeout_s=timeout_s, interval_s=0.0)
    return runs.wait_for_results(
        open_repo(repo), "main", iteration, client(fake), options, clock=ticking(5.0)
    )


def test_wait_says_within_a_minute_that_a_buried_iteration_will_not_run(session, fake) -> None:
    repo, _remote, log = session
    first = iterate(repo, 1)
    iterate(repo, 2)
    git(repo, "push", "--quiet", "origin", "wild/main")  # a person's plain push of both
    started = fake.start_push_runs(log)
    assert [r["head_sha"] for r in started] != [first]  # GitHub starts the head's run only
    with pytest.raises(runs.WaitFailed) as failed:
        wait(repo, fake, 1)
    message = str(failed.value)
    assert f"iteration 0001 ({first[:12]}) will not run: it was the head of no push" in message
    start = f"git push origin {first}:refs/heads/{layout.start_branch('main', 1)}"
    assert start in (failed.value.hint or "")
    polls = len(fake.calls("GET", r"/repos/octo/lab/actions/runs"))
    assert polls * 5.0 <= 60  # the clock moved 5 s a reading: well within a minute


def test_the_start_branch_push_starts_the_buried_iteration(session, fake) -> None:
    repo, remote, log = session
    first = iterate(repo, 1)
    iterate(repo, 2)
    hand_commit(repo, "after-2")
    git(repo, "push", "--quiet", "origin", "wild/main")
    fake.start_push_runs(log)
    with pytest.raises(runs.WaitFailed) as failed:
        wait(repo, fake, 1)
    command = (failed.value.hint or "").split("`")[1]
    git(repo, *command.split()[1:])  # what the hint says to run
    (run,) = fake.start_push_runs(log)
    assert (run["head_sha"], run["head_branch"], run["event"]) == (first, "wild/main+0001", "push")
    assert git(remote, "rev-parse", "wild/main+0001") == first


def test_wait_keeps_polling_an_iteration_at_the_head_of_its_push(session, fake) -> None:
    repo, _remote, _log = session
    iterate(repo, 1)
    git(repo, "push", "--quiet", "origin", "wild/main")
    with pytest.raises(runs.WaitFailed, match="gave up after 120s: the run is not started"):
        wait(repo, fake, 1, timeout_s=120)  # no run yet, but it is the head: GitHub may be slow


def test_wait_says_an_iteration_that_was_never_pushed_will_not_run(session, fake) -> None:
    repo, _remote, _log = session
    iterate(repo, 1)
    git(repo, "push", "--quiet", "origin", "wild/main")
    iterate(repo, 2)
    with pytest.raises(runs.WaitFailed, match=r"iteration 0002 .* will not run: it is not on origin's"):
        wait(repo, fake, 2)


# --- runs have events and attempts (the fake as GitHub documents them) ------------------------------


def test_a_re_run_is_a_new_attempt_of_the_same_run_and_is_followed_as_such(session, fake) -> None:
    """ "Re-run a workflow" answers 201 and keeps the run's id; `run_attempt` counts up and the run's
    status is the new attempt's; "Get a workflow run attempt" still answers the earlier one."""
    import io

    import requests

    repo, _remote, _log = session
    commit = iterate(repo, 1)
    git(repo, "push", "--quiet", "origin", "wild/main")
    push = fake.add_run(commit, status="completed", conclusion="failure")
    dispatch = fake.add_run(commit, status="completed", conclusion="success", event="workflow_dispatch")
    headers = {"Authorization": f"Bearer {fake.token}"}
    base = f"{fake.url}/repos/{fake.repository}/actions/runs/{push['id']}"
    assert requests.post(f"{base}/rerun", headers=headers, timeout=10).status_code == 201
    assert requests.get(f"{base}/attempts/1", headers=headers, timeout=10).json()["conclusion"] == "failure"
    assert requests.get(f"{base}/attempts/2", headers=headers, timeout=10).json()["status"] == "queued"
    (run,) = [r for r in client(fake).runs_for_commit(commit) if r.id == push["id"]]
    assert (run.event, run.run_attempt, run.status) == ("push", 2, "queued")
    out = io.StringIO()
    options = runs.WaitOptions(timeout_s=30, interval_s=0.0)
    with pytest.raises(runs.WaitFailed, match="the run is queued"):
        runs.wait_for_results(open_repo(repo), "main", 1, client(fake), options, out, ticking(5.0))
    said = out.getvalue()
    assert f"run {push['id']} (push, attempt 2): queued: waiting for a runner" in said
    assert f"run {dispatch['id']} (workflow_dispatch): succeeded" in said
    with pytest.raises(runs.WaitFailed, match=rf"run {push['id']} \(push, attempt 2\) is queued"):
        runs.collect_from_run(open_repo(repo), "main", None, push["id"], client(fake))


def test_the_start_branch_run_commits_to_the_session_branch_and_deletes_it(session, tmp_path) -> None:
    """The run a start branch began: its collect job puts the results on the session branch (on
    top of the later commits) and deletes the branch that was made for it alone."""
    import json
    import os
    import subprocess
    import sys

    from helpers import IDENTITY

    repo, remote, _log = session
    first = iterate(repo, 1)
    second = iterate(repo, 2)
    git(repo, "push", "--quiet", "origin", "wild/main")
    start = layout.start_branch("main", 1)
    git(repo, "push", "--quiet", "origin", f"{first}:refs/heads/{start}")
    runner = tmp_path / "runner"  # the collect job's checkout of the start branch
    git(tmp_path, "clone", "--quiet", "--branch", start, str(remote), str(runner))
    leg = tmp_path / "artifacts" / "wild-0001-step-1"
    leg.mkdir(parents=True)
    (leg / "result.json").write_text(json.dumps({"id": "step-1", "goal": "g", "command": "c",
                                                 "status": "succeeded", "exit_code": 0}))  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("ACT", "WILD_CI_LOCAL")}, **IDENTITY,
        "GITHUB_ACTIONS": "true", "GITHUB_SHA": first, "GITHUB_REF_NAME": start, "GITHUB_RUN_ATTEMPT": "1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "collect", "--artifacts", str(tmp_path / "artifacts"), "--push"],
        cwd=runner, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"deleted the start branch {start}" in done.stdout
    assert git(remote, "rev-parse", "wild/main^") == second
    results = json.loads(git(remote, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert [e["status"] for e in results["experiments"]] == ["succeeded"]
    assert git(remote, "branch", "--list", start) == ""


def test_on_pull_request_events_the_hint_dispatches_the_start_branch(session, fake) -> None:
    """With `trigger: pull_request` a push of a branch starts nothing: the start branch is dispatched."""
    repo, _remote, _log = session
    config = Config(project_root=str(repo), trigger="pull_request")
    first = submit(repo, brain(1), config=config)
    submit(repo, brain(2), config=config)
    git(repo, "push", "--quiet", "origin", "wild/main")
    assert first is not None
    with pytest.raises(runs.WaitFailed) as failed:
        wait(repo, fake, 1)
    hint = failed.value.hint or ""
    assert f"git push origin {first.commit}:refs/heads/wild/main+0001" in hint
    assert "gh workflow run wild-experiments.yml --ref wild/main+0001" in hint


# --- `status`, from this clone alone -------------------------------------------------------------------


def status(repo: Path) -> str:
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "status", "--repo", str(repo)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_says_a_buried_iteration_will_not_run(session) -> None:
    repo, _remote, _log = session
    first = iterate(repo, 1)
    iterate(repo, 2)
    hand_commit(repo, "after-2")
    git(repo, "push", "--quiet", "origin", "wild/main")  # a plain push: only the hand commit runs
    said = status(repo)
    assert f"wild/main 0001 ({first[:12]}) will not run on GitHub" in said
    assert f"git push origin {first}:refs/heads/wild/main+0001" in said
    assert "wild/main 0002" in said  # the hand commit was the head: 0002 is buried too


def test_status_is_quiet_when_wild_ci_pushed_each_iteration(session) -> None:
    repo, _remote, _log = session
    iterate(repo, 1)
    iterate(repo, 2)
    hand_commit(repo, "after-2")
    runs.push_branch(open_repo(repo), "main", "origin")
    assert "will not run" not in status(repo)


def test_a_dispatch_while_the_push_run_is_queued_runs_the_iteration_once(session, fake, tmp_path) -> None:
    """`inbox --dispatch` after a push made with a token: GitHub starts a push run and a dispatch
    run of the same commit; one concurrency group (`wild-experiments-<sha>`) makes the second wait,
    then run. Its gate finds the results the first committed and runs nothing."""
    from test_gate import gate

    repo, remote, log = session
    fake.git_dir = remote  # the dispatch reads the branch GitHub has
    commit = iterate(repo, 1)
    runs.push_branch(open_repo(repo), "main", "origin")
    (push,) = fake.start_push_runs(log)  # the push run makes the workflow known to GitHub
    client(fake).dispatch(layout.WORKFLOW_FILE, "wild/main")
    (dispatch,) = fake.start_dispatch_runs(remote)
    found = client(fake).runs_for_commit(commit)
    assert sorted((r.event, r.head_sha) for r in found) == [("push", commit), ("workflow_dispatch", commit)]
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--branch=wild/main", str(remote), str(runner))
    assert gate(runner, push["head_sha"], tmp_path, push["event"])[1] == "iteration=true\n"
    collect_job = tmp_path / "collect-job"  # the push run's collect job pushes its results
    git(tmp_path, "clone", "--quiet", "--branch=wild/main", str(remote), str(collect_job))
    (collect_job / ".wild/iterations/0001/results.json").write_text("{}\n")
    git(collect_job, "add", "--force", ".wild/iterations/0001/results.json")
    git(collect_job, "commit", "--quiet", "-m", "wild: results of main iteration 0001 [skip ci]")
    git(collect_job, "push", "--quiet", "origin", "wild/main")
    code, output, said = gate(runner, dispatch["head_sha"], tmp_path, dispatch["event"])  # then pending
    assert (code, output) == (0, "iteration=false\n"), said


def test_a_force_push_of_rewritten_iterations_is_told_apart(session, fake) -> None:
    """A person rewrites the session (two new iterations on a reset branch) and force-pushes it in
    one push: the new 0002 is its head and runs; the new 0001 was the head of no push."""
    repo, _remote, log = session
    iterate(repo, 1)
    runs.push_branch(open_repo(repo), "main", "origin")
    fake.start_push_runs(log)
    git(repo, "branch", "--force", "wild/main", "main")  # start the session over
    rewritten = iterate(repo, 5)  # another brain output: another commit
    second = iterate(repo, 2)
    git(repo, "push", "--quiet", "--force", "origin", "wild/main")
    assert [r["head_sha"] for r in fake.start_push_runs(log)] == [second]
    with pytest.raises(runs.WaitFailed, match=rf"iteration 0001 \({rewritten[:12]}\) will not run"):
        wait(repo, fake, 1)
    assert "wild/main 0001" in status(repo) and "wild/main 0002" not in status(repo)


def test_wait_keeps_polling_an_iteration_this_clone_pushed_as_a_head(session, fake) -> None:
    """`submit --push` twice in a row: the first iteration is no longer the remote's tip, but it was
    the head of its own push; a run GitHub is slow to create is waited for, not declared lost."""
    repo, _remote, _log = session
    iterate(repo, 1)
    runs.push_branch(open_repo(repo), "main", "origin")
    iterate(repo, 2)
    runs.push_branch(open_repo(repo), "main", "origin")
    with pytest.raises(runs.WaitFailed, match="gave up after 120s: the run is not started"):
        wait(repo, fake, 1, timeout_s=120)
