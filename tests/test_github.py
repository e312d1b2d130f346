"""The GitHub client against a local stand-in for GitHub's REST API (tests/fake_github.py)."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_github import FakeGitHub

from wild_ci.engines.github.client import GitHubClient, GitHubError, GitHubSettings


def client(fake: FakeGitHub, token: str | None = None) -> GitHubClient:
    settings = GitHubSettings(fake.repository, token or fake.token, api_url=fake.url)
    return GitHubClient(settings, polite=False)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The waits urllib3's retries ask for, recorded instead of slept."""
    import urllib3.util.retry

    waits: list[float] = []
    monkeypatch.setattr(urllib3.util.retry, "time", SimpleNamespace(sleep=waits.append, time=time.time))
    return waits


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

    dispatchable(fake)
    github.dispatch("wild-experiments.yml", "wild/main")
    assert fake.dispatches == [{"workflow": "wild-experiments.yml", "ref": "wild/main", "inputs": {}}]


def dispatchable(fake: FakeGitHub) -> None:
    """GitHub knows the workflow (it has run) and wild/main has it with `workflow_dispatch`."""
    fake.known_workflows.add("wild-experiments.yml")
    fake.refs["wild/main"] = {"wild-experiments.yml": "on: {push: {}, workflow_dispatch: {}}\n"}


COMMENTS = r"/repos/octo/lab/issues/3/comments"


def test_a_comment_post_that_got_a_5xx_is_not_sent_again(fake: FakeGitHub) -> None:
    fake.fail("POST", COMMENTS, 502, applied=True)  # GitHub posted it, then the gateway gave up
    github = client(fake)
    with pytest.raises(GitHubError, match=r"commenting on #3 failed: HTTP 502: Server Error.*not retried"):
        github.upsert_comment(3, "<!-- m -->", "<!-- m --> body")
    assert len(fake.calls("POST", COMMENTS)) == 1
    assert [c["body"] for c in fake.comments[3]] == ["<!-- m --> body"]
    again = github.upsert_comment(3, "<!-- m -->", "<!-- m --> body")  # what rerunning the command does
    assert (again.created, again.updated) == (False, False) and len(fake.calls("POST", COMMENTS)) == 1


@pytest.mark.parametrize("what", ["pull", "dispatch"])
def test_other_posts_that_got_a_5xx_are_not_sent_again(fake: FakeGitHub, what: str) -> None:
    github = client(fake)
    if what == "pull":
        fake.fail("POST", r"/repos/octo/lab/pulls", 504, message="We couldn't respond in time", applied=True)
        with pytest.raises(GitHubError, match=r"HTTP 504: We couldn't respond in time.*not retried"):
            github.create_pull("wild/main", "main", "wild: session main", "body")
        assert len(fake.calls("POST", r"/repos/octo/lab/pulls")) == len(fake.pulls) == 1
        assert github.find_open_pull("wild/main") == 1
    else:
        dispatches = r"/repos/octo/lab/actions/workflows/wild-experiments.yml/dispatches"
        dispatchable(fake)
        fake.fail("POST", dispatches, 502, applied=True)
        with pytest.raises(GitHubError, match=r"dispatching it \(not retried"):
            github.dispatch("wild-experiments.yml", "wild/main")
        assert len(fake.calls("POST", dispatches)) == len(fake.dispatches) == 1


def test_idempotent_requests_are_retried_after_a_5xx(fake: FakeGitHub) -> None:
    fake.comments[3] = [{"id": 5, "body": "<!-- m --> old"}]
    fake.fail("GET", COMMENTS, 502)
    fake.fail("PATCH", r"/repos/octo/lab/issues/comments/5", 502, applied=True)
    outcome = client(fake).upsert_comment(3, "<!-- m -->", "<!-- m --> new")
    assert (outcome.id, outcome.created, outcome.updated) == (5, False, True)
    assert len(fake.calls("GET", COMMENTS)) == 2
    assert len(fake.calls("PATCH", r"/repos/octo/lab/issues/comments/5")) == 2  # the same edit, twice
    assert fake.comments[3] == [{"id": 5, "body": "<!-- m --> new"}]


def test_a_request_that_keeps_failing_ends_in_a_clear_error(fake: FakeGitHub, sleeps: list[float]) -> None:
    fake.fail("GET", COMMENTS, 503, message="Service Unavailable", times=100)
    with pytest.raises(GitHubError, match=r"commenting on #3 failed: HTTP 503: Service Unavailable$"):
        client(fake).upsert_comment(3, "<!-- m -->", "<!-- m --> body")
    assert len(fake.calls("GET", COMMENTS)) == 7  # the first try and 6 retries, backing off
    assert sleeps == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert not fake.calls("POST", COMMENTS)


PRIMARY = "API rate limit exceeded for installation ID 1."
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@pytest.mark.parametrize(
    ("status", "message", "headers", "wait"),
    [
        (403, PRIMARY, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "+30"}, 31),
        (429, PRIMARY, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "+30"}, 31),
        (403, SECONDARY, {"Retry-After": "7"}, 7),
        (429, SECONDARY, {"Retry-After": "7"}, 7),
        (403, SECONDARY, {}, 60),  # "Otherwise, wait for at least one minute before retrying."
        (429, SECONDARY, {"X-RateLimit-Remaining": "12"}, 60),
    ],
)
def test_a_rate_limited_post_is_sent_again_after_the_wait_github_asks_for(
    fake: FakeGitHub, sleeps: list[float], status: int, message: str, headers: dict, wait: float
) -> None:
    if "X-RateLimit-Reset" in headers:  # in epoch seconds, 30 s from now
        headers = {**headers, "X-RateLimit-Reset": str(int(time.time()) + 30)}
    fake.fail("POST", COMMENTS, status, message=message, headers=headers)  # refused, not carried out
    outcome = client(fake).upsert_comment(3, "<!-- m -->", "<!-- m --> body")
    assert outcome.created and [c["body"] for c in fake.comments[3]] == ["<!-- m --> body"]
    assert len(fake.calls("POST", COMMENTS)) == 2
    assert sleeps == [pytest.approx(wait, abs=1.5)]


def test_a_refusal_that_is_no_rate_limit_is_not_retried(fake: FakeGitHub, sleeps: list[float]) -> None:
    fake.fail("POST", COMMENTS, 403, message="Resource not accessible by integration")
    with pytest.raises(GitHubError, match="HTTP 403: Resource not accessible by integration"):
        client(fake).upsert_comment(3, "<!-- m -->", "<!-- m --> body")
    assert len(fake.calls("POST", COMMENTS)) == 1 and sleeps == []


# --- pagination of the Actions listings -------------------------------------------------------------


def test_the_actions_listings_are_paginated_as_github_documents(fake: FakeGitHub) -> None:
    for _ in range(5):
        fake.add_run("a" * 40)
    fake.add_run("b" * 40)
    url = f"{fake.url}/repos/octo/lab/actions/runs?head_sha={'a' * 40}&per_page=2&page=2"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {fake.token}"})
    with urllib.request.urlopen(request) as response:
        body, link = json.load(response), response.headers["Link"]
    assert body["total_count"] == 5 and [r["id"] for r in body["workflow_runs"]] == [1003, 1004]
    base = f"{fake.url}/repos/octo/lab/actions/runs?per_page=2&page="
    sha = f"&head_sha={'a' * 40}"
    assert link == (
        f'<{base}1{sha}>; rel="prev", <{base}3{sha}>; rel="next", '
        f'<{base}3{sha}>; rel="last", <{base}1{sha}>; rel="first"'
    )


def pages(fake: FakeGitHub, path: str) -> list[tuple[str, str]]:
    return [(r.query["per_page"][0], r.query.get("page", ["1"])[0]) for r in fake.calls("GET", path)]


def test_a_run_on_the_second_page_is_found(fake: FakeGitHub) -> None:
    for _ in range(100):  # other workflows of the same commit, listed first
        fake.add_run("a" * 40)["name"] = "lint"
    run = fake.add_run("a" * 40, status="in_progress", conclusion=None)
    fake.add_run("b" * 40)
    runs = client(fake).runs_for_commit("a" * 40)
    assert len(runs) == 101
    assert [(r.id, r.name, r.status) for r in runs if r.name != "lint"] == [
        (run["id"], "wild-experiments", "in_progress")
    ]
    assert pages(fake, r"/repos/octo/lab/actions/runs") == [("100", "1"), ("100", "2")]


def test_a_job_on_the_second_page_is_found(fake: FakeGitHub) -> None:
    run = fake.add_run("a" * 40)
    fake.jobs[run["id"]] = [
        {"id": n, "name": f"exp-{n}", "status": "completed", "conclusion": "success",
         "started_at": "2026-11-26T10:00:00Z", "completed_at": "2026-11-26T10:01:00Z"}
        for n in range(150)
    ]  # fmt: skip
    fake.jobs[run["id"]][140].update(name="collect", status="queued", conclusion=None, completed_at=None)
    jobs = client(fake).jobs(run["id"])
    assert [j.name for j in jobs] == [f"exp-{n}" if n != 140 else "collect" for n in range(150)]
    assert (jobs[140].status, jobs[140].conclusion, jobs[140].completed_at) == ("queued", None, None)
    assert pages(fake, rf"/repos/octo/lab/actions/runs/{run['id']}/jobs") == [("100", "1"), ("100", "2")]


def test_an_artifact_on_the_second_page_is_downloaded(fake: FakeGitHub, tmp_path: Path) -> None:
    run = fake.add_run("a" * 40)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stdout.log", "page two\n")
    fake.artifacts[run["id"]] = [(f"wild-0002-exp-{n}", b"not a zip") for n in range(120)]
    fake.artifacts[run["id"]].insert(110, ("wild-0001-exp-one", buffer.getvalue()))
    names = client(fake).download_artifacts(run["id"], "wild-0001-*", tmp_path)
    assert names == ["wild-0001-exp-one"]
    assert (tmp_path / "wild-0001-exp-one" / "stdout.log").read_text() == "page two\n"
    assert pages(fake, rf"/repos/octo/lab/actions/runs/{run['id']}/artifacts") == [
        ("100", "1"), ("100", "2"),
    ]  # fmt: skip


# --- rate limits and run states as GitHub documents them (#14 finding 6) ----------------------------


def test_every_answer_carries_the_rate_limit_headers(fake: FakeGitHub) -> None:
    """ "You can use the headers that are returned with each response to determine your current
    primary rate limit" (Rate limits for the REST API): a success too, not only a refusal."""
    import requests

    answer = requests.get(
        f"{fake.url}/repos/{fake.repository}/pulls", headers={"Authorization": f"Bearer {fake.token}"}
    )
    assert answer.status_code == 200
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset",
            "x-ratelimit-resource"} <= {k.lower() for k in answer.headers}  # fmt: skip
    assert int(answer.headers["x-ratelimit-reset"]) > time.time()


def test_a_primary_rate_limit_an_hour_away_fails_clearly_instead_of_sleeping(
    fake: FakeGitHub, sleeps: list[float]
) -> None:
    """A primary limit answers without Retry-After and resets up to an hour away; today's main
    sleeps until then (inside the collect job). wild-ci waits at most a few minutes in all."""
    from wild_ci.engines.github.client import RateLimited

    fake.primary_limited_requests = 1
    with pytest.raises(
        RateLimited, match=r"asks to wait 36\d\d s .*more than wild-ci waits \(300 s"
    ) as caught:
        client(fake).upsert_comment(5, "<!-- m -->", "<!-- m --> hi")
    assert caught.value.hint and "later" in caught.value.hint
    assert sleeps == []
    assert fake.comments == {}


def test_a_primary_rate_limit_within_the_bound_is_waited_out(fake: FakeGitHub, sleeps: list[float]) -> None:
    fake.primary_limited_requests, fake.primary_reset_in = 1, 30
    assert client(fake).upsert_comment(5, "<!-- m -->", "<!-- m --> hi").created
    assert sleeps == [pytest.approx(31, abs=1.5)]  # until x-ratelimit-reset, +1 s


def test_the_most_wild_ci_waits_is_configurable(fake: FakeGitHub, sleeps: list[float], monkeypatch) -> None:
    monkeypatch.setenv("WILD_CI_GITHUB_MAX_WAIT", "4000")
    fake.primary_limited_requests = 1
    assert client(fake).upsert_comment(5, "<!-- m -->", "<!-- m --> hi").created
    assert sleeps == [pytest.approx(3601, abs=1.5)]
    monkeypatch.setenv("WILD_CI_GITHUB_MAX_WAIT", "5")
    fake.rate_limited_requests = 1  # a secondary limit with Retry-After: 1 is within 5 s
    assert client(fake).find_open_pull("wild/x") is None
    fake.fail("GET", r"/repos/octo/lab/pulls", 403, message="You have exceeded a secondary rate limit")
    from wild_ci.engines.github.client import RateLimited

    with pytest.raises(RateLimited, match="asks to wait 60 s"):  # no Retry-After: a minute, over 5 s
        client(fake).find_open_pull("wild/x")


def test_the_fake_knows_only_the_run_states_github_documents(fake: FakeGitHub) -> None:
    from wild_ci.engines.github.client import RUN_CONCLUSIONS, RUN_STATES, describe_run

    for status in ("requested", "queued", "pending", "waiting", "in_progress", "completed"):
        fake.add_run("a" * 40, status=status, conclusion=None)
        assert status in RUN_STATES
    for conclusion in ("success", "failure", "cancelled", "skipped", "timed_out", "action_required",
                       "neutral", "stale", "startup_failure"):  # fmt: skip
        fake.add_run("a" * 40, conclusion=conclusion)
        assert describe_run("completed", conclusion) == RUN_CONCLUSIONS[conclusion]
    with pytest.raises(AssertionError):
        fake.add_run("a" * 40, status="running", conclusion=None)


def test_an_artifact_that_expires_after_the_listing_is_reported_expired(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    """ "Download an artifact" answers 410 Gone for an expired one; today's main raises on it."""
    run = fake.add_run("b" * 40)
    fake.artifacts[run["id"]] = [("wild-0001-a", _zip({"x": "1"})), ("wild-0001-b", _zip({"x": "2"}))]
    fake.gone_artifacts.add("wild-0001-a")
    expired: list[str] = []
    names = client(fake).download_artifacts(run["id"], "wild-0001-*", tmp_path, expired)
    assert names == ["wild-0001-b"] and expired == ["wild-0001-a"]
    assert (tmp_path / "wild-0001-b" / "x").read_text() == "2"


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_an_artifact_download_is_retried_after_a_5xx_a_429_and_on_the_signed_url(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    """Issue 25 finding 4: the zip is fetched beside PyGithub, so it needs retries of its own."""
    run = fake.add_run("a" * 40)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stdout.log", "kept\n")
    fake.artifacts[run["id"]] = [("wild-0001-exp-one", buffer.getvalue())]
    fake.fail("GET", r"/repos/octo/lab/actions/artifacts/\d+/zip", status=502)
    fake.fail("GET", r"/repos/octo/lab/actions/artifacts/\d+/zip", status=429, headers={"Retry-After": "0"})
    fake.fail("GET", r"/blob/\d+", status=503)
    names = client(fake).download_artifacts(run["id"], "wild-0001-*", tmp_path)
    assert names == ["wild-0001-exp-one"]
    assert (tmp_path / "wild-0001-exp-one" / "stdout.log").read_text() == "kept\n"
    assert len(fake.calls("GET", r"/repos/octo/lab/actions/artifacts/\d+/zip")) == 3
    assert len(fake.calls("GET", r"/blob/\d+")) == 2


def test_an_artifact_download_that_keeps_failing_says_so(fake: FakeGitHub, tmp_path: Path) -> None:
    from wild_ci.engines.github.client import DOWNLOAD_RETRIES, GitHubError

    run = fake.add_run("a" * 40)
    fake.artifacts[run["id"]] = [("wild-0001-exp-one", b"zip")]
    fake.fail("GET", r"/blob/\d+", status=500, times=DOWNLOAD_RETRIES + 1)
    with pytest.raises(GitHubError, match="500"):
        client(fake).download_artifacts(run["id"], "wild-0001-*", tmp_path)


@pytest.mark.parametrize("value", ["soon", "nan", "inf", "-5"])
def test_a_wait_set_in_the_environment_is_a_finite_number_of_seconds(monkeypatch, value: str) -> None:
    """Both waits a person may set (the client's and the inbox's) read through one helper: `nan`
    or `inf` made a wait that never ends and `-5` one that never starts; all are bad input now."""
    from wild_ci.engines.github.client import max_wait_from_env, seconds_from_env
    from wild_ci.errors import UsageError

    monkeypatch.setenv("WILD_CI_GITHUB_MAX_WAIT", value)
    with pytest.raises(UsageError, match=f"WILD_CI_GITHUB_MAX_WAIT='{value}' is not a number of seconds"):
        max_wait_from_env()
    monkeypatch.setenv("SOME_WAIT", "2.5")
    assert seconds_from_env("SOME_WAIT", 9.0) == 2.5 and seconds_from_env("UNSET_WAIT", 9.0) == 9.0
