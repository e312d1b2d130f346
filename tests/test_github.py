"""The GitHub client against a local stand-in for GitHub's REST API (tests/fake_github.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fake_github import FakeGitHub

from wild_ci.github import GitHubClient, GitHubError, GitHubSettings


def client(fake: FakeGitHub, token: str | None = None) -> GitHubClient:
    settings = GitHubSettings(fake.repository, token or fake.token, api_url=fake.url)
    return GitHubClient(settings, polite=False)


def test_settings_come_from_the_runner_environment(monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9/api/v3")
    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    settings = GitHubSettings.from_env()
    assert (settings.repository, settings.api_url) == ("o/r", "http://127.0.0.1:9/api/v3")
    assert settings.blob_url("wild/main", "a.md") == "https://github.com/o/r/blob/wild/main/a.md"
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(GitHubError, match="GITHUB_TOKEN"):
        GitHubSettings.from_env()


def test_sticky_comment_is_found_across_pages_and_edited(fake: FakeGitHub) -> None:
    fake.comments[7] = [{"id": n, "body": f"chatter {n}"} for n in range(1, 251)]  # 3 pages of 100
    fake.comments[7].insert(230, {"id": 9999, "body": "<!-- wild-ci results: x -->\nold"})
    outcome = client(fake).upsert_comment(
        7, "<!-- wild-ci results: x -->", "<!-- wild-ci results: x -->\nnew"
    )
    assert (outcome.id, outcome.created, outcome.updated) == (9999, False, True)
    pages = [r.query.get("page", ["1"])[0] for r in fake.calls("GET", r"/repos/octo/lab/issues/7/comments")]
    assert pages == ["1", "2", "3"]
    assert all(
        r.query["per_page"] == ["100"] for r in fake.calls("GET", r"/repos/octo/lab/issues/7/comments")
    )
    edits = fake.calls("PATCH", r"/repos/octo/lab/issues/comments/9999")
    assert [e.body for e in edits] == [{"body": "<!-- wild-ci results: x -->\nnew"}]
    assert not fake.calls("POST", r"/repos/octo/lab/issues/7/comments")


def test_comment_is_created_once_then_left_alone(fake: FakeGitHub) -> None:
    github = client(fake)
    first = github.upsert_comment(3, "<!-- m -->", "<!-- m --> body")
    again = github.upsert_comment(3, "<!-- m -->", "<!-- m --> body")
    assert first.created and not again.created and not again.updated and first.id == again.id
    assert [c["body"] for c in fake.comments[3]] == ["<!-- m --> body"]


def test_github_refusals_become_clear_errors(fake: FakeGitHub) -> None:
    with pytest.raises(GitHubError, match="HTTP 422"):
        client(fake).upsert_comment(3, "<!-- m -->", "x" * 70_000)
    with pytest.raises(GitHubError, match="HTTP 401"):
        client(fake, token="wrong").upsert_comment(3, "<!-- m -->", "hello")


def test_rate_limits_are_waited_out(fake: FakeGitHub) -> None:
    fake.rate_limited_requests = 1
    outcome = client(fake).upsert_comment(5, "<!-- m -->", "<!-- m --> hi")
    assert outcome.created
    assert len(fake.calls("GET", r"/repos/octo/lab/issues/5/comments")) == 2  # the refused one, the retry


def test_pull_requests_are_found_or_opened(fake: FakeGitHub) -> None:
    github = client(fake)
    assert github.find_open_pull("wild/main") is None
    number = github.create_pull("wild/main", "main", "wild: session main", "Experiments of session main")
    assert github.find_open_pull("wild/main") == number == 1
    assert fake.calls("GET", r"/repos/octo/lab/pulls")[0].query["head"] == ["octo:wild/main"]
    assert fake.calls("POST", r"/repos/octo/lab/pulls")[0].body == {
        "base": "main", "head": "wild/main", "title": "wild: session main",
        "body": "Experiments of session main",
    }  # fmt: skip


def test_runs_jobs_artifacts_and_dispatch(fake: FakeGitHub, tmp_path: Path) -> None:
    run = fake.add_run("a" * 40, status="completed", conclusion="success")
    fake.add_run("b" * 40)
    fake.jobs[run["id"]] = [
        {"id": 1, "name": "exp-one", "status": "completed", "conclusion": "success",
         "started_at": "2026-11-26T10:00:00Z", "completed_at": "2026-11-26T10:01:00Z"},
        {"id": 2, "name": "collect", "status": "in_progress", "conclusion": None,
         "started_at": "2026-11-26T10:01:00Z", "completed_at": None},
    ]  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("result.json", '{"id": "exp-one", "status": "succeeded"}')
        archive.writestr("stdout.log", "hello\n")
    fake.artifacts[run["id"]] = [("wild-0001-exp-one", buffer.getvalue()), ("other", b"not a zip")]
    github = client(fake)

    runs = github.runs_for_commit("a" * 40)
    assert [(r.id, r.status, r.conclusion) for r in runs] == [(run["id"], "completed", "success")]
    jobs = github.jobs(run["id"])
    assert [(j.name, j.status, j.conclusion) for j in jobs] == [
        ("exp-one", "completed", "success"), ("collect", "in_progress", None),
    ]  # fmt: skip
    names = github.download_artifacts(run["id"], "wild-0001-*", tmp_path)
    assert names == ["wild-0001-exp-one"]
    assert (tmp_path / "wild-0001-exp-one" / "stdout.log").read_text() == "hello\n"
    blob = [r for r in fake.requests if r.path.startswith("/blob/")]
    assert blob and "Authorization" not in blob[0].headers  # the signed URL gets no token

    github.dispatch("wild-experiments.yml", "wild/main")
    assert fake.dispatches == [{"workflow": "wild-experiments.yml", "ref": "wild/main", "inputs": {}}]
