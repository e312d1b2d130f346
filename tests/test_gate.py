"""Runs start for every iteration commit however many files it changes, and never for results
commits or hand commits (#14 finding 5). GitHub compares at most 300 changed files with
`on.push.paths` / `on.pull_request.paths` ("Diffs are limited to 300 files. If there are files
changed that aren't matched in the first 300 files returned by the filter, the workflow will not
run."), so the workflow has no paths filter: its `gate` job decides from git whether the head commit
adds this iteration's experiments.json. act applies no paths filter, so this tests the rendered
trigger and the gate's own script, run with bash against real commits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import IDENTITY, git

from wild_ci import layout
from wild_ci.config import Config
from wild_ci.generate import submit

BRAIN = b"<experiments>\n- goal: A big change\n  command: ls\n</experiments>\n"


def gate(clone: Path, head: str, tmp_path: Path, event: str = "push", **extra: str) -> tuple[int, str, str]:
    """Run the gate step of the workflow in `head` as the runner would; (exit, output, log)."""
    workflow = yaml.safe_load(git(clone, "show", f"{head}:{layout.WORKFLOW_PATH}"))
    job = workflow["jobs"]["gate"]
    (step,) = [s for s in job["steps"] if s.get("name") == layout.GATE_STEP]
    output = tmp_path / f"output-{head[:8]}-{event}"
    output.write_text("")
    env = {
        **os.environ, **IDENTITY, **{k: str(v) for k, v in workflow["env"].items()},
        "GITHUB_SHA": head, "GITHUB_EVENT_NAME": event, "GITHUB_OUTPUT": str(output), **extra,
    }  # fmt: skip
    if "ACT" not in extra:
        env.pop("ACT", None)  # the gate as on GitHub, even when the tests run under act
    git(clone, "checkout", "--quiet", "--detach", head)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=clone, env=env, capture_output=True, text=True,
    )  # fmt: skip
    return done.returncode, output.read_text(), done.stdout + done.stderr


@pytest.fixture
def big_iteration(make_repo, tmp_path: Path) -> tuple[Path, str]:
    """A session whose iteration commit snapshots 400 new files."""
    repo = make_repo()
    for n in range(400):
        (repo / "data" / f"{n:03}.txt").parent.mkdir(exist_ok=True)
        (repo / "data" / f"{n:03}.txt").write_text(f"{n}\n")
    submission = submit(repo, BRAIN, config=Config(project_root=str(repo)))
    assert submission is not None
    changed = git(repo, "diff", "--name-only", f"{submission.commit}^", submission.commit).splitlines()
    assert len(changed) > 300
    runner = tmp_path / "runner"  # the job's checkout (full history here; fetch-depth 2 on GitHub)
    git(tmp_path, "clone", "--quiet", "--branch=wild/main", str(repo), str(runner))
    return runner, submission.commit


def test_the_workflow_has_no_paths_filter_that_github_cuts_at_300_files(big_iteration) -> None:
    repo, commit = big_iteration
    workflow = yaml.safe_load(git(repo, "show", f"{commit}:{layout.WORKFLOW_PATH}"))
    assert workflow[True] == {"push": {"branches": ["wild/**"]}, "workflow_dispatch": {}}  # `on:`
    for name, job in workflow["jobs"].items():
        if name != "gate":
            assert "gate" in job["needs"] and "needs.gate.outputs.iteration == 'true'" in job["if"]


def test_an_iteration_commit_of_over_300_files_runs(big_iteration, tmp_path: Path) -> None:
    repo, commit = big_iteration
    code, output, log = gate(repo, commit, tmp_path)
    assert code == 0, log
    assert output == "iteration=true\n"


def test_results_commits_hand_commits_and_rejects_do_not_run(big_iteration, tmp_path: Path) -> None:
    repo, commit = big_iteration
    git(repo, "checkout", "--quiet", "--detach", commit)
    for path in (".wild/iterations/0001/results.json", "notes.md", ".wild/rejected/x.md"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("{}\n")
        git(repo, "add", "--force", path)
        git(repo, "commit", "--quiet", "-m", f"add {path}")
        code, output, log = gate(repo, git(repo, "rev-parse", "HEAD"), tmp_path)
        assert (code, output) == (0, "iteration=false\n"), log


def test_a_dispatch_runs_and_a_checkout_without_the_parent_fails_clearly(
    big_iteration, tmp_path: Path
) -> None:
    repo, commit = big_iteration
    git(repo, "checkout", "--quiet", "--detach", commit)
    (repo / "notes.md").write_text("by hand\n")
    git(repo, "add", "notes.md")
    git(repo, "commit", "--quiet", "-m", "a hand commit")
    hand = git(repo, "rev-parse", "HEAD")
    assert gate(repo, hand, tmp_path, event="workflow_dispatch")[:2] == (0, "iteration=true\n")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth=1", "--branch=wild/main", f"file://{repo}", str(shallow))
    code, _output, log = gate(shallow, commit, tmp_path)
    assert code == 1 and "cannot tell what it added" in log


# --- not twice (#25 finding 3) ----------------------------------------------------------------------
# GitHub's concurrency docs: "at most one running and one pending job or workflow in a concurrency
# group at any time"; a run queued behind a running one of its group is pending, and then runs. So a
# push and a dispatch of one iteration are two runs; the later one must find the results.


def results_landed(repo: Path, commit: str) -> None:
    """The first run's collect job: a results commit on the session branch (the runner's origin)."""
    work = repo.parent / "collect-job"
    git(repo, "worktree", "add", "--quiet", str(work), "wild/main")
    (work / ".wild/iterations/0001/results.json").write_text("{}\n")
    git(work, "add", "--force", ".wild/iterations/0001/results.json")
    git(work, "commit", "--quiet", "-m", "wild: results of main iteration 0001 [skip ci]")
    git(repo, "worktree", "remove", "--force", str(work))


@pytest.fixture
def pushed_iteration(make_repo, tmp_path: Path) -> tuple[Path, Path, str]:
    """(the user's repository, the runner's clone of it, the iteration commit)."""
    repo = make_repo()
    submission = submit(repo, BRAIN, config=Config(project_root=str(repo)))
    assert submission is not None
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--branch=wild/main", str(repo), str(runner))
    return repo, runner, submission.commit


@pytest.mark.parametrize("event", ["workflow_dispatch", "push"])
def test_a_second_run_of_an_iteration_with_results_skips_it(pushed_iteration, tmp_path, event) -> None:
    repo, runner, commit = pushed_iteration
    assert gate(runner, commit, tmp_path, event)[:2] == (0, "iteration=true\n")  # the first run
    results_landed(repo, commit)
    code, output, log = gate(runner, commit, tmp_path, event)  # the second, pending until now
    assert (code, output) == (0, "iteration=false\n"), log
    assert "iteration 0001 already has results on wild/main" in log


def test_a_second_run_of_a_hand_commit_on_top_skips_the_iteration(pushed_iteration, tmp_path) -> None:
    repo, runner, commit = pushed_iteration
    git(runner, "checkout", "--quiet", "--detach", commit)
    (runner / "notes.md").write_text("by hand\n")
    git(runner, "add", "notes.md")
    git(runner, "commit", "--quiet", "-m", "a hand commit")
    hand = git(runner, "rev-parse", "HEAD")  # a dispatch on the branch when a hand commit is its tip
    results_landed(repo, commit)
    assert gate(runner, hand, tmp_path, "workflow_dispatch")[:2] == (0, "iteration=false\n")


def test_a_re_run_and_a_local_run_run_again(pushed_iteration, tmp_path) -> None:
    repo, runner, commit = pushed_iteration
    results_landed(repo, commit)
    rerun = gate(runner, commit, tmp_path, "push", GITHUB_RUN_ATTEMPT="2")  # "Re-run all jobs"
    assert rerun[:2] == (0, "iteration=true\n"), rerun[2]
    local = gate(runner, commit, tmp_path, "push", ACT="true")  # wild-ci rerun, under act
    assert local[:2] == (0, "iteration=true\n"), local[2]
