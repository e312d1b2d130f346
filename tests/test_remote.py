"""Remote mode against the local GitHub stand-in: the collect job's PR comment through act,
`wild-ci wait`, `wild-ci collect --run-id`, and `submit --push --open-pr`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_github import FakeGitHub, artifact_zip_of
from helpers import IDENTITY, git, writable_for_tests

pytestmark = pytest.mark.e2e


def cli(*args: str, cwd: Path, fake: FakeGitHub, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {
        **os.environ, **IDENTITY,
        "GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repository, "GITHUB_API_URL": fake.url,
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", *args], cwd=cwd, env=env, capture_output=True, timeout=timeout
    )


def with_remote(make_repo, tmp_path: Path) -> tuple[Path, Path]:
    repo = make_repo()
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    return repo, remote


def loud_brain(tmp_path: Path) -> Path:
    """31 experiments whose results.md (over 200 KB) is far too big for one comment. The first one
    counts its runs on stderr, so a re-run's results (and comment) differ from the first run's by
    more than rounded durations, which a fast machine makes equal."""
    big = "python3 -c \"print(('y' * 99 + chr(10)) * 60)\" | tee /dev/stderr; exit 1"
    items = "".join(f"- goal: Loud {n}\n  command: {json.dumps(big)}\n" for n in range(30))
    brain = tmp_path / "brain.md"
    runs = tmp_path / "quiet-runs.txt"
    quiet = json.dumps(
        f"echo event=$GITHUB_EVENT_NAME head=$GITHUB_HEAD_REF; echo run >> {runs}; "
        f"echo quiet run $(wc -l < {runs}) >&2"
    )
    brain.write_text(f"<experiments>\n- goal: Quiet\n  command: {quiet}\n{items}</experiments>\n")
    return brain


def test_a_pull_request_event_run_comments_once_and_a_rerun_updates_that_comment(
    make_repo, tmp_path: Path, fake
) -> None:
    """#5 acceptance 2: with `trigger: pull_request` the workflow runs through `act pull_request -e
    event.json`; one comment cut to fit with a link is posted, and a re-run of the iteration updates
    that same comment. wild-ci itself posts it once the legs have ended: no job of act holds the
    token (issue 23)."""
    runs = tmp_path / "quiet-runs.txt"  # the quiet experiment counts its runs there: let in
    runs.touch()
    config = "trigger: pull_request\n" + writable_for_tests(runs)[".wild/config.yml"]
    repo = make_repo({".wild/config.yml": config})
    done = cli("run", str(loud_brain(tmp_path)), "--repo", str(repo), "--pr", "7", cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    quiet = (repo / ".git/wild-ci/runs/main/0001/legs/quiet/stdout.log").read_text()
    assert quiet == "event=pull_request head=wild/main\n"
    act_log = (repo / ".git/wild-ci/runs/main/0001/act.log").read_text()
    assert "results comment" not in act_log and fake.token not in act_log  # the host, not the job
    assert "wild-ci: results comment on #7:" in done.stderr.decode()
    [comment] = fake.comments[7]
    assert comment["body"].startswith("<!-- wild-ci results: session=main iteration=0001 -->")
    assert "quiet run 1" in comment["body"]
    results_md = git(repo, "show", "wild/main:.wild/iterations/0001/results.md")
    assert len(results_md) > 200_000  # too big for one comment: cut, with a link to the whole file
    assert len(comment["body"]) <= 60_000
    assert "https://github.com/octo/lab/blob/wild/main/.wild/iterations/0001/results.md" in comment["body"]
    posts = fake.calls("POST", r"/repos/octo/lab/issues/7/comments")
    assert len(posts) == 1 and posts[0].headers["Authorization"] == f"token {fake.token}"

    first_results = git(repo, "rev-parse", "wild/main")
    again = cli("rerun", "--repo", str(repo), "--pr", "7", cwd=tmp_path, fake=fake)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert git(repo, "rev-parse", "wild/main^") == first_results  # a new results commit on top
    assert "wild-ci: results comment on #7:" in again.stderr.decode()
    assert "quiet run 2" in fake.comments[7][0]["body"]  # the re-run's results, not the first run's
    assert (repo / ".git/wild-ci/runs/main/0001.run-1/act.log").is_file()  # the first run's logs kept
    assert len(fake.comments[7]) == 1 and fake.comments[7][0]["id"] == comment["id"]
    assert len(fake.calls("POST", r"/repos/octo/lab/issues/7/comments")) == 1
    assert fake.calls("PATCH", rf"/repos/octo/lab/issues/comments/{comment['id']}")


def test_a_local_push_run_comments_from_wild_ci_and_comment_updates(make_repo, tmp_path: Path, fake) -> None:
    repo = make_repo()
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: Quiet\n  command: echo fine\n</experiments>\n")
    done = cli("run", str(brain), "--repo", str(repo), "--pr", "7", cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert "wild-ci: results comment on #7:" in done.stderr.decode()  # posted by wild-ci, after the legs
    [comment] = fake.comments[7]
    comment["body"] = "<!-- wild-ci results: session=main iteration=0001 -->\nstale"
    again = cli("comment", "--repo", str(repo), "--iteration", "1", "--pr", "7", cwd=tmp_path, fake=fake)
    assert again.returncode == 0, again.stderr.decode()
    assert len(fake.comments[7]) == 1 and fake.comments[7][0]["id"] == comment["id"]
    assert fake.comments[7][0]["body"].startswith("<!-- wild-ci results: session=main iteration=0001 -->\n#")


def test_a_local_run_without_pr_never_talks_to_github(make_repo, tmp_path: Path, fake) -> None:
    repo = make_repo()
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: Quiet\n  command: echo fine\n</experiments>\n")
    done = cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()
    assert fake.requests == []


def submit_and_publish_results(repo: Path, remote: Path, tmp_path: Path, fake) -> str:
    """An iteration pushed to the remote, plus a results commit as the collect job would push it."""
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: Remote one\n  command: echo remote\n</experiments>\n")
    done = cli("submit", str(brain), "--repo", str(repo), "--push", cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()
    return git(repo, "rev-parse", "wild/main")


def publish_results(repo: Path, tmp_path: Path, artifacts: Path) -> None:
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--branch", "wild/main", str(repo.parent / "remote.git"), str(runner))
    env = {**os.environ, **IDENTITY}
    subprocess.run(
        [sys.executable, "-m", "wild_ci", "collect", "--artifacts", str(artifacts), "--push"],
        cwd=runner, env=env, check=True, capture_output=True,
    )  # fmt: skip


def leg_zip(experiment_id: str, status: str, stdout: str) -> bytes:
    """A leg's artifact as upload-artifact builds it (tests/fake_github.py `artifact_zip`)."""
    result = {"id": experiment_id, "goal": "g", "command": "c", "status": status, "exit_code": 0}
    return artifact_zip_of({"result.json": json.dumps(result), "stdout.log": stdout, "stderr.log": ""})


def test_wait_follows_the_run_and_prints_the_context(make_repo, tmp_path: Path, fake) -> None:
    import threading
    import time

    repo, _remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, _remote, tmp_path, fake)
    run = fake.add_run(commit, status="queued", conclusion=None)
    fake.jobs[run["id"]] = [
        {"id": 1, "name": "remote-one", "status": "completed", "conclusion": "success",
         "started_at": "2026-11-26T10:00:00Z", "completed_at": "2026-11-26T10:00:07Z"},
    ]  # fmt: skip
    fake.run_updates[run["id"]] = [{"status": "in_progress"}] * 80 + [
        {"status": "completed", "conclusion": "success"}
    ]
    artifacts = tmp_path / "artifacts" / "wild-0001-remote-one"
    artifacts.mkdir(parents=True)
    (artifacts / "result.json").write_text(json.dumps({"id": "remote-one", "goal": "g", "command": "c",
                                                       "status": "succeeded", "exit_code": 0}))  # fmt: skip
    (artifacts / "stdout.log").write_text("remote\n")

    def collect_job() -> None:  # the run's collect job pushes the results while wait is polling
        deadline = time.monotonic() + 60
        while len(fake.calls("GET", r"/repos/octo/lab/actions/runs")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        publish_results(repo, tmp_path, tmp_path / "artifacts")

    publisher = threading.Thread(target=collect_job)
    publisher.start()
    done = cli("wait", "--repo", str(repo), "--interval", "0.1", "--timeout", "60", cwd=tmp_path, fake=fake)
    publisher.join()
    assert done.returncode == 0, done.stderr.decode()
    assert len(fake.calls("GET", r"/repos/octo/lab/actions/runs")) >= 3  # it polled before results came
    assert done.stdout.decode().startswith('<experiment_results session="main" iteration="0001"')
    assert "remote-one: succeeded" in done.stdout.decode()
    assert "remote-one: success in 7.0 s" in done.stderr.decode()
    subject = git(repo, "log", "-1", "--format=%s", "wild/main")
    assert subject == "wild: results of main iteration 0001 [skip ci]"


def test_wait_reports_a_failed_run(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, remote, tmp_path, fake)
    run = fake.add_run(commit, status="completed", conclusion="failure")
    done = cli("wait", "--repo", str(repo), "--interval", "0.1", "--timeout", "30", cwd=tmp_path, fake=fake)
    assert done.returncode == 1
    assert f"the run failed without committing results for iteration 1: {run['html_url']}" in (
        done.stderr.decode()
    )


def test_wait_gives_up_on_a_run_that_never_ends(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, remote, tmp_path, fake)
    fake.add_run(commit, status="in_progress", conclusion=None)
    done = cli("wait", "--repo", str(repo), "--interval", "0.2", "--timeout", "2s", cwd=tmp_path, fake=fake)
    assert done.returncode == 1
    assert "gave up after 2s: the run is in progress" in done.stderr.decode()


def test_collect_rebuilds_results_from_a_runs_artifacts(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, remote, tmp_path, fake)
    run = fake.add_run(commit)
    fake.artifacts[run["id"]] = [
        ("wild-0001-remote-one", leg_zip("remote-one", "succeeded", "from github\n"))
    ]
    done = cli("collect", "--run-id", str(run["id"]), "--repo", str(repo), cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert [(e["id"], e["status"], e["stdout_tail"]) for e in data["experiments"]] == [
        ("remote-one", "succeeded", "from github")
    ]


def test_collect_refuses_a_run_of_another_commit(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    submit_and_publish_results(repo, remote, tmp_path, fake)
    run = fake.add_run("f" * 40)
    done = cli("collect", "--run-id", str(run["id"]), "--repo", str(repo), cwd=tmp_path, fake=fake)
    assert done.returncode == 2  # a --run-id of another session is bad input, not a pipeline failure
    assert b"is for commit ffffffffffff, which is no iteration of main" in done.stderr
    assert git(repo, "ls-tree", "-r", "--name-only", "wild/main", ".wild").count("results.json") == 0


def test_submit_pushes_and_opens_the_pull_request_once(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: One\n  command: echo 1\n</experiments>\n")
    first = cli("submit", str(brain), "--repo", str(repo), "--open-pr", cwd=tmp_path, fake=fake)
    assert first.returncode == 0, first.stderr.decode()
    assert b"opened pull request #1" in first.stdout
    assert git(remote, "rev-parse", "wild/main") == git(repo, "rev-parse", "wild/main")
    second = cli("submit", str(brain), "--repo", str(repo), "--open-pr", cwd=tmp_path, fake=fake)
    assert b"using pull request #1" in second.stdout
    assert len(fake.pulls) == 1 and fake.pulls[0]["head"] == {"ref": "wild/main"}


def test_init_writes_a_pinned_least_privilege_inbox_workflow(make_repo, tmp_path: Path, fake) -> None:
    import yaml

    repo = make_repo()
    done = cli("init", "--repo", str(repo), "--install-spec", "wild-ci==0.1.0", cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()
    workflow = yaml.safe_load((repo / ".github/workflows/wild-inbox.yml").read_text())
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["submit"]["permissions"] == {"contents": "read"}  # WILD_CI_TOKEN pushes
    # YAML 1.1 reads `on` as True; no paths filter, which GitHub cuts at 300 files (#25 finding 5)
    assert workflow[True] == {"push": {"branches": ["wild/**"]}}
    uses = [s["uses"] for s in workflow["jobs"]["submit"]["steps"] if "uses" in s]
    assert all(len(u.split("@")[1]) == 40 for u in uses)
    again = cli("init", "--repo", str(repo), cwd=tmp_path, fake=fake)
    assert again.returncode == 2 and b"--force" in again.stderr


def test_inbox_turns_a_committed_brain_output_into_an_iteration(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    git(repo, "checkout", "--quiet", "-b", "wild/lab")
    (repo / ".wild/inbox").mkdir(parents=True)
    (repo / ".wild/inbox/2026-11-26-brain.md").write_text(
        "<experiments>\n- goal: From the inbox\n  command: echo inbox\n</experiments>\n"
    )
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "brain output")
    git(repo, "push", "--quiet", "origin", "wild/lab")
    runner = tmp_path / "inbox-runner"  # what the inbox workflow's checkout looks like
    git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(runner))
    git(runner, "checkout", "--quiet", "--detach")
    env_cwd = runner
    fake.git_dir = remote  # what GitHub has: a dispatch reads the workflow on the pushed branch
    fake.known_workflows.add("wild-experiments.yml")  # as after the session's first run
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "inbox", "--push", "--dispatch", "--config-ref", "main"],
        cwd=env_cwd, capture_output=True, timeout=120,
        env={**os.environ, **IDENTITY, "GITHUB_REF_NAME": "wild/lab", "GITHUB_TOKEN": fake.token,
             "GITHUB_REPOSITORY": fake.repository, "GITHUB_API_URL": fake.url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    files = git(remote, "ls-tree", "-r", "--name-only", "wild/lab", ".wild").splitlines()
    assert ".wild/iterations/0001/brain.md" in files
    assert not [f for f in files if f.startswith(".wild/inbox/")]
    assert fake.dispatches == [{"workflow": "wild-experiments.yml", "ref": "wild/lab", "inputs": {}}]


def test_an_inbox_file_that_cannot_run_never_blocks_the_inbox(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    git(repo, "checkout", "--quiet", "-b", "wild/lab")
    (repo / ".wild/inbox").mkdir(parents=True)
    (repo / ".wild/inbox/01-bad.md").write_text("<experiments>\n- goal: no command\n</experiments>\n")
    (repo / ".wild/inbox/02-good.md").write_text(
        "<experiments>\n- goal: Good\n  command: ls\n</experiments>\n"
    )
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "two brain outputs")
    git(repo, "push", "--quiet", "origin", "wild/lab")
    for expected in (2, 0):  # one run takes both (exit 2: one was rejected); the next finds none
        runner = tmp_path / f"runner-{expected}"
        git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(runner))
        git(runner, "checkout", "--quiet", "--detach")
        done = subprocess.run(
            [sys.executable, "-m", "wild_ci", "inbox", "--push", "--config-ref", "main"],
            cwd=runner, capture_output=True, timeout=120,
            env={**os.environ, **IDENTITY, "GITHUB_REF_NAME": "wild/lab"},
        )  # fmt: skip
        assert done.returncode == expected, done.stderr.decode()
    files = git(remote, "ls-tree", "-r", "--name-only", "wild/lab", ".wild").splitlines()
    assert ".wild/rejected/01-bad.md" in files and ".wild/iterations/0001/brain.md" in files
    assert not [f for f in files if f.startswith(".wild/inbox/")]
    errors = git(remote, "show", "wild/lab:.wild/rejected/01-bad.md.errors.txt")
    assert "line 2: 'command' is required" in errors


def test_logs_of_a_github_run_are_downloaded(make_repo, tmp_path: Path, fake) -> None:
    repo, remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, remote, tmp_path, fake)
    artifacts = tmp_path / "artifacts" / "wild-0001-remote-one"
    artifacts.mkdir(parents=True)
    (artifacts / "result.json").write_text(json.dumps({"id": "remote-one", "goal": "g", "command": "c",
                                                       "status": "succeeded", "exit_code": 0}))  # fmt: skip
    (artifacts / "stdout.log").write_text("remote\n")
    publish_results(repo, tmp_path, tmp_path / "artifacts")
    git(repo, "fetch", "--quiet", "origin", "wild/main:wild/main")
    run = fake.add_run(commit)
    fake.artifacts[run["id"]] = [
        ("wild-0001-remote-one", leg_zip("remote-one", "succeeded", "the whole log\n"))
    ]
    done = cli("logs", "remote-one", "--repo", str(repo), cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"the whole log\n"


@pytest.mark.parametrize(
    ("conclusion", "said"),
    [
        ("action_required", "needs someone to approve it"),
        ("startup_failure", "failed to start"),
        ("stale", "was marked stale"),
        ("timed_out", "timed out"),
    ],
)
def test_wait_names_each_run_state_and_conclusion(
    make_repo, tmp_path: Path, fake, conclusion: str, said: str
) -> None:
    """#14 finding 6: the states GitHub documents, in words, as they change; today's main prints none
    of the run's own states and ends with "the run action_required"."""
    repo, remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, remote, tmp_path, fake)
    run = fake.add_run(commit, status="requested", conclusion=None)
    states = ["queued", "pending", "waiting", "in_progress"]
    fake.run_updates[run["id"]] = [{"status": state} for state in states] + [
        {"status": "completed", "conclusion": conclusion}
    ]
    done = cli("wait", "--repo", str(repo), "--interval", "0.05", "--timeout", "30", cwd=tmp_path, fake=fake)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    for state in ("queued: waiting for a runner", "pending: waiting for a run of the same concurrency group",
                  "waiting: a deployment protection rule", "in progress"):  # fmt: skip
        assert f"run {run['id']} (push): {state}" in err
    assert f"the run {said}" in err and run["html_url"] in err


def test_expired_artifacts_make_their_experiments_missing_with_a_note(
    make_repo, tmp_path: Path, fake
) -> None:
    """#14 finding 6: an artifact past its retention (listed expired, or 410 Gone on download)."""
    repo, remote = with_remote(make_repo, tmp_path)
    commit = submit_and_publish_results(repo, remote, tmp_path, fake)
    run = fake.add_run(commit)
    fake.artifacts[run["id"]] = [("wild-0001-remote-one", leg_zip("remote-one", "succeeded", "gone\n"))]
    fake.expired_artifacts.add("wild-0001-remote-one")
    done = cli("collect", "--run-id", str(run["id"]), "--repo", str(repo), cwd=tmp_path, fake=fake)
    assert done.returncode == 0, done.stderr.decode()
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    [one] = results["experiments"]
    assert one["status"] == "missing"
    assert "expired on GitHub" in one["note"] and "410" in one["note"]
    assert fake.calls("GET", rf"/repos/octo/lab/actions/artifacts/{run['id'] * 10_000}/zip") == []
