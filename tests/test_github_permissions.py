"""The fake GitHub's permission model and dispatch rules (issue 25), and how wild-ci reports what
GitHub refuses: a token holds the permissions it was given (a job's `permissions:` for the
workflow's GITHUB_TOKEN, or a fine-grained token's), a dispatch needs a workflow GitHub knows and a
branch whose copy of it has `workflow_dispatch`. docs/github-conformance.md has the sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from fake_github import FakeGitHub, job_permissions
from helpers import IDENTITY, git
from test_remote import with_remote

from wild_ci.engines.github.client import (
    DispatchRefused,
    GitHubClient,
    GitHubSettings,
    PermissionRefused,
)
from wild_ci.engines.github.inbox import start_run
from wild_ci.errors import UsageError
from wild_ci.generate import submit

WORKFLOW = "wild-experiments.yml"


def client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient(GitHubSettings(fake.repository, fake.token, api_url=fake.url), polite=False)


def rendered_workflow(make_repo) -> tuple[Path, str]:
    """The experiments workflow wild-ci renders, as committed on wild/main."""
    repo = make_repo()
    submission = submit(repo, b"<experiments>\n- goal: One\n  command: echo 1\n</experiments>\n")
    assert submission is not None
    return repo, git(repo, "show", f"wild/main:.github/workflows/{WORKFLOW}")


def narrowed(workflow: str, job: str, permissions: dict[str, str]) -> str:
    data = yaml.safe_load(workflow)
    data["jobs"][job]["permissions"] = permissions
    return yaml.safe_dump(data)


def test_the_fake_refuses_with_githubs_403_body_and_the_accepted_permissions(fake: FakeGitHub) -> None:
    fake.permissions = {"metadata": "read", "contents": "write"}
    request = urllib.request.Request(
        f"{fake.url}/repos/{fake.repository}/issues/7/comments",
        data=json.dumps({"body": "hi"}).encode(),
        headers={"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    body = json.loads(refused.value.read())
    assert body["message"] == "Resource not accessible by integration"
    assert body["documentation_url"].startswith("https://docs.github.com/rest/issues/comments#")
    assert refused.value.headers["X-Accepted-GitHub-Permissions"] == "issues=write; pull_requests=write"
    assert fake.comments == {}


def test_job_permissions_replace_the_workflows_and_metadata_is_always_read() -> None:
    text = "permissions: {}\njobs:\n  a: {permissions: {pull-requests: write}}\n  b: {}\n"
    assert job_permissions(text, "a") == {"metadata": "read", "pull_requests": "write"}
    assert job_permissions(text, "b") == {"metadata": "read"}
    assert job_permissions("permissions: read-all\njobs: {c: {}}\n", "c")["actions"] == "read"


def test_the_collect_jobs_token_may_comment_and_a_narrowed_one_is_told_what_it_lacks(
    make_repo, fake: FakeGitHub
) -> None:
    _repo, workflow = rendered_workflow(make_repo)
    fake.grant_job(workflow, "collect")  # what the rendered workflow asks for: enough to comment
    github = client(fake)
    assert github.upsert_comment(7, "<!-- m -->", "<!-- m --> results").created
    assert github.find_open_pull("wild/main") is None

    fake.grant_job(narrowed(workflow, "collect", {"contents": "write"}), "collect")
    with pytest.raises(PermissionRefused) as refused:
        github.upsert_comment(7, "<!-- m -->", "<!-- m --> new results")
    message = str(refused.value)
    assert "commenting on #7 failed: HTTP 403: Resource not accessible by integration: " in message
    assert "the token was not granted pull-requests: read (or issues: read)" in message
    assert "permissions:" in (refused.value.hint or "")
    with pytest.raises(PermissionRefused, match=r"not granted pull-requests: read$"):
        github.find_open_pull("wild/main")
    assert fake.comments[7][0]["body"] == "<!-- m --> results"  # nothing changed


def test_a_legs_token_may_not_read_runs_and_the_error_names_actions_read(make_repo, fake: FakeGitHub) -> None:
    _repo, workflow = rendered_workflow(make_repo)
    fake.grant_job(workflow, "gate")  # contents: read, nothing else
    with pytest.raises(PermissionRefused, match=r"listing the runs of aaaaaaaaaaaa failed.*actions: read"):
        client(fake).runs_for_commit("a" * 40)


# --- dispatch --------------------------------------------------------------------------------------


def test_a_workflow_github_does_not_know_is_not_dispatched_and_wild_ci_says_what_to_do(
    make_repo, fake: FakeGitHub
) -> None:
    repo, _workflow = rendered_workflow(make_repo)
    fake.git_dir = repo  # GitHub's copy: main has no workflow, wild/main has it, it never ran
    with pytest.raises(DispatchRefused) as refused:
        client(fake).dispatch(WORKFLOW, "wild/main")
    assert "GitHub does not know the workflow wild-experiments.yml (HTTP 404: Not Found)" in str(
        refused.value
    )
    assert "push the workflow to the default branch once" in (refused.value.hint or "")
    assert fake.dispatches == []

    fake.known_workflows.add(WORKFLOW)  # it has run on a session branch: now GitHub knows it
    client(fake).dispatch(WORKFLOW, "wild/main")
    assert fake.dispatches == [{"workflow": WORKFLOW, "ref": "wild/main", "inputs": {}}]


def test_a_workflow_on_the_default_branch_is_known(make_repo, fake: FakeGitHub) -> None:
    repo, workflow = rendered_workflow(make_repo)
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows" / WORKFLOW).write_text(workflow)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "the workflow on the default branch, once")
    fake.git_dir = repo
    client(fake).dispatch(WORKFLOW, "wild/main")  # the copy on wild/main runs
    assert len(fake.dispatches) == 1


def test_a_branch_not_on_github_or_without_the_trigger_is_refused_with_what_to_do(
    make_repo, fake: FakeGitHub
) -> None:
    repo, workflow = rendered_workflow(make_repo)
    fake.git_dir = repo
    fake.known_workflows.add(WORKFLOW)
    with pytest.raises(
        DispatchRefused, match=r"no branch wild/other .*No ref found for: wild/other"
    ) as refused:
        client(fake).dispatch(WORKFLOW, "wild/other")
    assert "push the branch first" in (refused.value.hint or "")

    git(repo, "checkout", "--quiet", "-b", "wild/old", "wild/main")
    (repo / ".github/workflows" / WORKFLOW).write_text(workflow.replace("workflow_dispatch: {}", ""))
    git(repo, "commit", "--quiet", "-am", "a workflow without the trigger")
    with pytest.raises(DispatchRefused, match=r"Workflow does not have 'workflow_dispatch' trigger"):
        client(fake).dispatch(WORKFLOW, "wild/old")
    assert fake.dispatches == []


def test_a_token_without_actions_write_may_not_dispatch(make_repo, fake: FakeGitHub) -> None:
    fake.permissions = {"metadata": "read", "contents": "write", "workflows": "write"}
    fake.token_kind = "personal access token"  # a fine-grained WILD_CI_TOKEN
    fake.known_workflows.add(WORKFLOW)
    fake.refs["wild/main"] = {WORKFLOW: "on: {push: {}, workflow_dispatch: {}}\n"}
    with pytest.raises(
        PermissionRefused,
        match=r"HTTP 403: Resource not accessible by personal access token: .*actions: write",
    ):
        client(fake).dispatch(WORKFLOW, "wild/main")


def test_after_a_push_the_run_the_push_started_answers_a_404(make_repo, fake: FakeGitHub) -> None:
    """A workflow only on wild/*: the dispatch is refused until the push's run registers it, so the
    inbox (push, then dispatch) takes that run rather than failing."""
    repo = make_repo()
    submission = submit(repo, b"<experiments>\n- goal: One\n  command: echo 1\n</experiments>\n")
    assert submission is not None
    fake.git_dir = repo
    run = fake.add_run(submission.commit, status="queued", conclusion=None)  # what the push started
    assert start_run(client(fake), submission, pushed=True) == run["id"]
    assert fake.dispatches == []
    with pytest.raises(DispatchRefused, match="does not know the workflow"):
        start_run(client(fake), submission, pushed=False)  # not pushed by us: no run to take


def inbox_runner(make_repo, tmp_path: Path) -> tuple[Path, Path]:
    """A remote with wild/lab holding one inbox file, and the inbox job's checkout of it."""
    repo, remote = with_remote(make_repo, tmp_path)
    git(repo, "checkout", "--quiet", "-b", "wild/lab")
    (repo / ".wild/inbox").mkdir(parents=True)
    (repo / ".wild/inbox/brain.md").write_text(
        "<experiments>\n- goal: One\n  command: echo 1\n</experiments>\n"
    )
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "brain output")
    git(repo, "push", "--quiet", "origin", "wild/lab")
    runner = tmp_path / "inbox-runner"
    git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(runner))
    git(runner, "checkout", "--quiet", "--detach")
    return runner, remote


def inbox(runner: Path, fake: FakeGitHub, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **IDENTITY, "GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repository,
           "GITHUB_API_URL": fake.url, "GITHUB_REF_NAME": "wild/lab",
           "WILD_CI_PUSH_RUN_WAIT": "0"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", "inbox", *flags, "--dispatch", "--config-ref", "main"],
        cwd=runner, env=env, capture_output=True, timeout=120,
    )  # fmt: skip


def test_inbox_dispatch_of_a_workflow_github_never_ran_fails_saying_what_to_do(
    make_repo, tmp_path: Path, fake: FakeGitHub
) -> None:
    runner, remote = inbox_runner(make_repo, tmp_path)
    fake.git_dir = remote  # the workflow is only on wild/lab, it never ran, and no push run came
    done = inbox(runner, fake, "--push")
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "error: GitHub does not know the workflow wild-experiments.yml (HTTP 404: Not Found)" in stderr
    assert "push the workflow to the default branch once" in stderr
    assert "Traceback" not in stderr and fake.dispatches == []
    assert ".wild/iterations/0001/brain.md" in git(remote, "ls-tree", "-r", "--name-only", "wild/lab")


def test_inbox_dispatch_of_an_unpushed_iteration_says_push_it_first(
    make_repo, tmp_path: Path, fake: FakeGitHub
) -> None:
    runner, remote = inbox_runner(make_repo, tmp_path)
    fake.git_dir = remote
    fake.known_workflows.add(WORKFLOW)
    done = inbox(runner, fake)  # no --push: GitHub's wild/lab is the brain output, without a workflow
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Workflow does not have 'workflow_dispatch' trigger" in stderr
    assert "push the iteration first" in stderr and fake.dispatches == []


def test_inbox_dispatch_with_a_token_without_actions_write_names_it(
    make_repo, tmp_path: Path, fake: FakeGitHub
) -> None:
    runner, remote = inbox_runner(make_repo, tmp_path)
    fake.git_dir = remote
    fake.known_workflows.add(WORKFLOW)
    fake.permissions = {"metadata": "read", "contents": "write", "workflows": "write"}  # the README's set
    fake.token_kind = "personal access token"
    done = inbox(runner, fake, "--push")
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "the token was not granted actions: write" in stderr and "permissions:" in stderr


def test_a_wait_that_is_no_number_is_bad_input(make_repo, fake: FakeGitHub, monkeypatch) -> None:
    repo = make_repo()
    submission = submit(repo, b"<experiments>\n- goal: One\n  command: echo 1\n</experiments>\n")
    assert submission is not None
    fake.git_dir = repo
    monkeypatch.setenv("WILD_CI_PUSH_RUN_WAIT", "soon")
    with pytest.raises(UsageError, match="WILD_CI_PUSH_RUN_WAIT='soon' is not a number of seconds"):
        start_run(client(fake), submission, pushed=True)


def test_the_collect_jobs_comment_warning_names_the_permission_and_where_to_grant_it(
    make_repo, fake: FakeGitHub, tmp_path: Path, monkeypatch
) -> None:
    """What the collect job prints when its workflow's `permissions:` were narrowed: a warning (the
    results are committed already) that says which permission and where it goes."""
    from wild_ci import collect
    from wild_ci.engines.github.runs import comment_from_collect_job

    repo, workflow = rendered_workflow(make_repo)
    submission = submit(repo, b"<experiments>\n- goal: Two\n  command: echo 2\n</experiments>\n")
    assert submission is not None
    results = collect.collect_results(submission.spec, tmp_path / "no-artifacts", submission.commit)
    monkeypatch.delenv("WILD_CI_LOCAL", raising=False)
    for name, value in {"GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repository,
                        "GITHUB_API_URL": fake.url}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    fake.grant_job(narrowed(workflow, "collect", {"contents": "write"}), "collect")
    said = comment_from_collect_job(results, 7, None) or ""
    assert said.startswith("::warning::wild-ci could not comment on the pull request: ")
    assert "not granted pull-requests: read (or issues: read)" in said and "`permissions:`" in said
    fake.grant_job(workflow, "collect")  # as rendered: it may
    assert (comment_from_collect_job(results, 7, None) or "").startswith(
        "wild-ci: posted the results comment on #7"
    )
