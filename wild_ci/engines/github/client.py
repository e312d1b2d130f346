"""The GitHub client: pull requests, the sticky results comment, workflow runs, artifacts, dispatch.

Built on PyGithub (pagination through `Link` headers, back-off on rate limits with GithubRetry, here
narrowed so that a request which may have taken effect is never sent twice: see `_retry_policy`).
Settings come from the environment a runner provides: GITHUB_TOKEN, GITHUB_REPOSITORY,
GITHUB_API_URL (and GITHUB_SERVER_URL for links), so the same code talks to github.com, a GitHub
Enterprise server, or the local stand-in server the tests run on 127.0.0.1.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ... import lazy
from ...errors import PipelineError, UsageError
from ..act.artifacts import unzip

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"

# Requests that are retried after a 5xx or a connection lost mid-request: those that can be sent twice
# with the effect of sending them once. A POST that got a 502/504 may well have been carried out (the
# gateway gave up on a backend that went on to finish), so sending it again could post the results
# comment twice, open a second pull request or start a second run; its error surfaces instead, and
# the callers are safe to run again (the comment is found by its marker, the open pull request is
# looked up first). PATCH is here because every PATCH this client sends sets a comment's whole body.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "PATCH"})
# GitHub answers a rate-limited request with 403 or 429 and does not carry it out, so these are retried
# whatever the method, after the wait GitHub asks for (GithubRetry tells a rate-limit 403 from a plain
# refusal by its Retry-After header or message; a 429 is always one).
RATE_LIMIT_STATUSES = frozenset({403, 429})
# The most a client sleeps in all, over the retries of one request, before failing with an error that
# says when to try again: a primary rate limit resets up to an hour away, and a job must not sleep
# that long. WILD_CI_GITHUB_MAX_WAIT (seconds) changes it.
DEFAULT_MAX_WAIT_S = 300.0
MAX_WAIT_ENV = "WILD_CI_GITHUB_MAX_WAIT"

# The states GitHub documents for a workflow run ("List workflow runs for a repository", `status`),
# each with what it means for someone waiting on the run.
RUN_STATES = {
    "requested": "requested: GitHub is creating the run",
    "queued": "queued: waiting for a runner",
    "pending": "pending: waiting for a run of the same concurrency group to finish",
    "waiting": "waiting: a deployment protection rule (an environment's reviewers or timer) holds it",
    "in_progress": "in progress",
    "completed": "completed",
}
RUN_CONCLUSIONS = {
    "success": "succeeded",
    "failure": "failed",
    "cancelled": "was cancelled",
    "skipped": "was skipped",
    "timed_out": "timed out",
    "action_required": "needs someone to approve it (Actions: approve and run)",
    "neutral": "ended neutral",
    "stale": "was marked stale by GitHub (it stayed incomplete too long)",
    "startup_failure": "failed to start (GitHub could not start the workflow: check the workflow file)",
}


class GitHubError(PipelineError):
    """A GitHub request failed or GitHub is not configured; the message says which."""


class RateLimited(GitHubError):
    """GitHub asked us to wait longer than the client may sleep (`max_wait`)."""


class ArtifactExpired(GitHubError):
    """The artifact is past its retention: GitHub answers 410 Gone to its download."""


class PermissionRefused(GitHubError):
    """GitHub answered 403 "Resource not accessible by …": the token lacks a permission. The message
    names it (GitHub's `x-accepted-github-permissions` header, else what the request needs)."""


class DispatchRefused(GitHubError):
    """GitHub would not start the workflow (404: it does not know the workflow; 422: no such ref, or
    the ref's copy has no `workflow_dispatch`); the message says what to do."""


class WorkflowUnknown(DispatchRefused):
    """404 to a dispatch: GitHub knows no such workflow (not on the default branch, never run)."""


# What each request needs, as GitHub's "Permissions required for fine-grained personal access tokens"
# lists it, in the `x-accepted-github-permissions` form ("a=level; b=level": any one of them).
NEEDS_COMMENTS_WRITE = "issues=write; pull_requests=write"
NEEDS_PULLS_READ = "pull_requests=read"
NEEDS_PULLS_WRITE = "pull_requests=write"
NEEDS_ACTIONS_READ = "actions=read"
NEEDS_ACTIONS_WRITE = "actions=write"


def seconds_from_env(name: str, default: float) -> float:
    """A wait in seconds a person may set in the environment (`default` when unset): a finite number,
    not negative — `nan` or `-1` would make a wait that never ends or never starts."""
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"{name}={value!r} is not a number of seconds") from None
    return seconds


def max_wait_from_env() -> float:
    return seconds_from_env(MAX_WAIT_ENV, DEFAULT_MAX_WAIT_S)


def describe_run(status: str, conclusion: str | None) -> str:
    """A run's state in words, for each status and conclusion GitHub documents (else verbatim)."""
    if status == "completed" and conclusion:
        return RUN_CONCLUSIONS.get(conclusion, conclusion)
    return RUN_STATES.get(status, status)


@dataclass(frozen=True)
class GitHubSettings:
    repository: str  # owner/name
    token: str
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL

    @classmethod
    def from_env(cls, repository: str | None = None) -> GitHubSettings:
        """GITHUB_* as a runner sets them. `wild-ci run --pr` hands the user's settings to the local
        jobs as WILD_GITHUB_*, because act sets GITHUB_REPOSITORY and GITHUB_API_URL itself."""
        token = os.environ.get("GITHUB_TOKEN")
        repository = repository or _env("REPOSITORY")
        if not token or not repository:
            raise GitHubError("set GITHUB_TOKEN and GITHUB_REPOSITORY (owner/name) to talk to GitHub")
        return cls(
            repository=repository,
            token=token,
            api_url=_env("API_URL") or DEFAULT_API_URL,
            server_url=_env("SERVER_URL") or DEFAULT_SERVER_URL,
        )

    def as_job_environment(self) -> dict[str, str]:
        return {
            "WILD_GITHUB_REPOSITORY": self.repository,
            "WILD_GITHUB_API_URL": self.api_url,
            "WILD_GITHUB_SERVER_URL": self.server_url,
        }

    def blob_url(self, ref: str, path: str) -> str:
        return f"{self.server_url.rstrip('/')}/{self.repository}/blob/{ref}/{path}"


@dataclass(frozen=True)
class CommentOutcome:
    id: int
    created: bool
    updated: bool
    url: str


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    status: str  # queued | in_progress | completed | …
    conclusion: str | None  # success | failure | cancelled | timed_out | …
    html_url: str
    head_sha: str
    event: str = "push"  # push | workflow_dispatch | pull_request: what started it
    run_attempt: int = 1  # a re-run keeps the run's id and counts up; status is the latest attempt's

    def title(self) -> str:
        """`run 123 (push)`, `run 123 (workflow_dispatch, attempt 2)`: which run, which attempt."""
        attempt = f", attempt {self.run_attempt}" if self.run_attempt > 1 else ""
        return f"run {self.id} ({self.event}{attempt})"


@dataclass(frozen=True)
class Job:
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None


class GitHubClient:
    def __init__(
        self, settings: GitHubSettings, polite: bool = True, max_wait_s: float | None = None
    ) -> None:
        pygithub = lazy.pygithub()
        self._failure = pygithub.GithubException
        self.settings = settings
        self._github = pygithub.Github(
            auth=pygithub.Auth.Token(settings.token),
            base_url=settings.api_url.rstrip("/"),
            per_page=100,
            # raise_on_status=False: once the retries are spent, the last answer reaches PyGithub and
            # becomes a GithubException with its status, not a bare requests.RetryError
            retry=_retry_policy()(
                total=6,
                backoff_factor=1.0,
                raise_on_status=False,
                max_wait_s=max_wait_from_env() if max_wait_s is None else max_wait_s,
            ),
            seconds_between_requests=0.25 if polite else None,
            seconds_between_writes=1.0 if polite else None,
            lazy=True,
        )
        self._repo = self._github.get_repo(settings.repository)

    # --- pull requests and the sticky comment ---------------------------------------------------

    def upsert_comment(self, number: int, marker: str, body: str) -> CommentOutcome:
        """One comment per marker: found across all pages and edited, or created."""
        try:
            issue = self._repo.get_issue(number)
            for comment in issue.get_comments():
                if (comment.body or "").startswith(marker):  # not a quote of it further down
                    if comment.body == body:
                        return CommentOutcome(comment.id, False, False, comment.html_url)
                    comment.edit(body)
                    return CommentOutcome(comment.id, False, True, comment.html_url)
        except self._failure as exc:
            raise _failed(f"commenting on #{number}", exc, NEEDS_COMMENTS_WRITE) from exc
        try:
            created = issue.create_comment(body)
        except self._failure as exc:
            raise _failed(f"commenting on #{number}", exc, NEEDS_COMMENTS_WRITE, unsure=True) from exc
        return CommentOutcome(created.id, True, False, created.html_url)

    def find_open_pull(self, head_branch: str) -> int | None:
        owner = self.settings.repository.split("/")[0]
        try:
            for pull in self._repo.get_pulls(state="open", head=f"{owner}:{head_branch}"):
                return pull.number
        except self._failure as exc:
            raise _failed(f"looking up the pull request of {head_branch}", exc, NEEDS_PULLS_READ) from exc
        return None

    def create_pull(self, head_branch: str, base: str, title: str, body: str) -> int:
        try:
            return self._repo.create_pull(base=base, head=head_branch, title=title, body=body).number
        except self._failure as exc:
            what = f"opening a pull request for {head_branch}"
            raise _failed(what, exc, NEEDS_PULLS_WRITE, unsure=True) from exc

    # --- workflow runs ----------------------------------------------------------------------------

    def runs_for_commit(self, sha: str) -> list[Run]:
        try:
            return [_run(r) for r in self._repo.get_workflow_runs(head_sha=sha)]
        except self._failure as exc:
            raise _failed(f"listing the runs of {sha[:12]}", exc, NEEDS_ACTIONS_READ) from exc

    def jobs(self, run_id: int) -> list[Job]:
        try:
            run = self._repo.get_workflow_run(run_id)
            return [Job(j.name, j.status, j.conclusion, j.started_at, j.completed_at) for j in run.jobs()]
        except self._failure as exc:
            raise _failed(f"listing the jobs of run {run_id}", exc, NEEDS_ACTIONS_READ) from exc

    def download_artifacts(
        self, run_id: int, pattern: str, destination: Path, expired: list[str] | None = None
    ) -> list[str]:
        """Every artifact of the run whose name matches, unzipped to `destination/<name>/`. The zip
        sits behind a redirect to a short-lived signed URL, fetched without our token. The names of
        artifacts past their retention (listed `expired`, or answering 410 Gone) go to `expired`."""
        try:
            artifacts = list(self._repo.get_workflow_run(run_id).get_artifacts())
        except self._failure as exc:
            raise _failed(f"listing the artifacts of run {run_id}", exc, NEEDS_ACTIONS_READ) from exc
        names = []
        for artifact in artifacts:
            if not fnmatch.fnmatchcase(artifact.name, pattern):
                continue
            try:
                if artifact.expired:
                    raise ArtifactExpired(f"{artifact.name} has expired")
                unzip(self._download(artifact.archive_download_url), destination / artifact.name)
            except ArtifactExpired:
                if expired is not None:
                    expired.append(artifact.name)
                continue
            names.append(artifact.name)
        if expired is not None:
            expired.sort()
        return sorted(names)

    def run(self, run_id: int) -> Run:
        try:
            return _run(self._repo.get_workflow_run(run_id))
        except self._failure as exc:
            raise _failed(f"reading run {run_id}", exc, NEEDS_ACTIONS_READ) from exc

    def dispatch(self, workflow_file: str, ref: str, inputs: dict[str, str] | None = None) -> None:
        """Start `workflow_file` on branch `ref`. GitHub's refusals become a `DispatchRefused` that
        says what to do (`_dispatch_refused`), a missing permission a `PermissionRefused`."""
        try:
            workflow = self._repo.get_workflow(workflow_file)  # no request: the POST names the file
            workflow.create_dispatch(ref=ref, inputs=inputs or {}, throw=True)
        except self._failure as exc:
            refused = _dispatch_refused(workflow_file, ref, exc)
            if refused is not None:
                raise refused from exc
            status = getattr(exc, "status", None)
            if isinstance(status, int) and status >= 500:
                raise GitHubError(
                    f"GitHub refused to dispatch {workflow_file} on {ref}, or failed while dispatching it "
                    f"(not retried, as it may have started the run anyway): {_message(exc)}"
                ) from exc
            raise _failed(f"dispatching {workflow_file} on {ref}", exc, NEEDS_ACTIONS_WRITE) from exc

    def _download(self, url: str) -> bytes:
        """An artifact's zip: the API answers with a redirect to a signed storage URL, fetched without
        our token. Both requests are retried like the API's (`_download_session`): one 5xx, 429 or
        lost connection must not cost `collect --run-id` or `logs` the whole download."""
        requests = lazy.requests()
        headers = {
            "Authorization": f"Bearer {self.settings.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        session = _download_session()
        try:
            first = session.get(url, headers=headers, allow_redirects=False, timeout=60)
            if first.status_code == 410:  # "Download an artifact": 410 Gone once it has expired
                raise ArtifactExpired(f"{url} has expired (HTTP 410 Gone)")
            if first.status_code in (301, 302, 303, 307, 308):
                second = session.get(first.headers["Location"], timeout=300)  # signed: no token
                second.raise_for_status()
                return second.content
            first.raise_for_status()
            return first.content
        except (requests.RequestException, KeyError) as exc:
            raise GitHubError(f"downloading {url} failed: {exc}") from exc
        finally:
            session.close()


DOWNLOAD_RETRIES = 5
DOWNLOAD_RETRY_STATUSES = (429, 500, 502, 503, 504)


def _download_session() -> Any:
    """A requests session whose GETs are retried after a lost connection, a read timeout or a
    429/5xx answer, with exponential back-off (first retry at once, then 1, 2, 4 s) and any
    Retry-After the server sends; the last answer is returned, so its status is reported."""
    requests = lazy.requests()
    retry = lazy.urllib3_retry()(
        total=DOWNLOAD_RETRIES,
        backoff_factor=0.5,
        status_forcelist=DOWNLOAD_RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        redirect=False,
    )
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _env(name: str) -> str | None:
    return os.environ.get(f"WILD_GITHUB_{name}") or os.environ.get(f"GITHUB_{name}")


def _run(raw: Any) -> Run:  # a PyGithub WorkflowRun (PyGithub is loaded lazily)
    return Run(
        id=raw.id,
        name=raw.name or "",
        status=raw.status,
        conclusion=raw.conclusion,
        html_url=raw.html_url,
        head_sha=raw.head_sha,
        event=raw.event or "push",
        run_attempt=raw.run_attempt or 1,  # "Get a workflow run": the latest attempt's number
    )


def _failed(what: str, exc: Exception, needs: str, unsure: bool = False) -> GitHubError:
    """The error for a failed request: `PermissionRefused` naming the missing permission when GitHub
    says the token may not (403 "Resource not accessible by integration" / "by personal access
    token"), else a `GitHubError` with GitHub's status and message."""
    data = getattr(exc, "data", None)
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    if getattr(exc, "status", None) != 403 or not message.startswith("Resource not accessible"):
        return GitHubError(f"{what} failed: {_message(exc, unsure=unsure)}")
    headers = getattr(exc, "headers", None) or {}
    accepted = next((v for k, v in headers.items() if k.lower() == "x-accepted-github-permissions"), needs)
    return PermissionRefused(
        f"{what} failed: HTTP 403: {message}: the token was not granted {_permissions_in_words(accepted)}",
        hint="a workflow's GITHUB_TOKEN has only what the job's `permissions:` block grants: add it "
        "there; a fine-grained token needs it among its repository permissions (docs/github.md)",
    )


def _permissions_in_words(accepted: str) -> str:
    """`issues=write; pull_requests=write` as a workflow's `permissions:` writes it:
    `pull-requests: write (or issues: write)`, the pull-request form first."""
    sets = [s.strip() for s in accepted.split(";") if s.strip()]
    words = [", ".join(p.strip().replace("_", "-").replace("=", ": ") for p in s.split(",")) for s in sets]
    words.sort(key=lambda w: not w.startswith("pull-requests"))
    return words[0] + "".join(f" (or {w})" for w in words[1:]) if words else accepted


def _dispatch_refused(workflow_file: str, ref: str, exc: Exception) -> GitHubError | None:
    """GitHub's refusals of "Create a workflow dispatch event", each with what to do; None for others.
    404: GitHub does not know the workflow (it learns one from the default branch, or from a run of
    it on a branch); 422 "No ref found for": the branch is not on GitHub; 422 "Workflow does not have
    'workflow_dispatch' trigger": the branch's copy of the workflow cannot be dispatched."""
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    said = f"HTTP {status}: {message or exc}"
    if status == 404:
        return WorkflowUnknown(
            f"GitHub does not know the workflow {workflow_file} ({said}): GitHub dispatches a workflow "
            "only once it is on the default branch, or once it has run",
            hint=f"push {ref} (its push runs the iteration, and GitHub then knows the workflow), or "
            f"push the workflow to the default branch once: commit .github/workflows/{workflow_file} "
            "from a session branch to it",
        )
    if status == 422 and message.startswith("No ref found"):
        return DispatchRefused(
            f"GitHub has no branch {ref} to dispatch {workflow_file} on ({said})",
            hint=f"push the branch first (`wild-ci submit --push`, or `git push origin {ref}`), "
            "then dispatch",
        )
    if status == 422 and "workflow_dispatch" in message:
        return DispatchRefused(
            f"{ref} on GitHub has no {workflow_file} that can be dispatched ({said}): GitHub reads the "
            "workflow from the branch as pushed",
            hint=f"push the iteration first (`wild-ci submit --push`, or `git push origin {ref}`): "
            "its workflow has `workflow_dispatch`",
        )
    return None


def _message(exc: Exception, unsure: bool = False) -> str:
    """`unsure`: the request was not idempotent, and a 5xx leaves open whether GitHub carried it out."""
    data = getattr(exc, "data", None)
    data = data if isinstance(data, dict) else {}
    status = getattr(exc, "status", "?")
    message = f"HTTP {status}: {data.get('message') or exc}"
    if unsure and isinstance(status, int) and status >= 500:
        message += " (GitHub may have done it anyway; not retried, so as not to do it twice)"
    return message


@functools.cache
def _retry_policy() -> type:
    """GithubRetry retrying only IDEMPOTENT_METHODS after a 5xx or a lost connection, any method after a
    rate limit; and backing off a 429 as GitHub documents (PyGithub does it for 403s only). A class made
    on first use, so that PyGithub is loaded only by the commands that talk to GitHub."""

    class Retry(lazy.pygithub().GithubRetry):  # type: ignore[misc]  # PyGithub's class, loaded at run time
        def __init__(
            self, max_wait_s: float = DEFAULT_MAX_WAIT_S, waited_s: float = 0.0, **kwargs: Any
        ) -> None:
            kwargs.setdefault("allowed_methods", IDEMPOTENT_METHODS)
            super().__init__(**kwargs)
            self.max_wait_s = max_wait_s
            self.waited_s = waited_s  # slept so far for this request, over its retries

        def new(self, **kwargs: Any) -> Any:
            kwargs.setdefault("max_wait_s", self.max_wait_s)
            kwargs.setdefault("waited_s", self.waited_s)
            return super().new(**kwargs)

        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if status_code in RATE_LIMIT_STATUSES:
                return True  # for 403, GithubRetry.increment raises at once unless it is a rate limit
            return super().is_retry(method, status_code, has_retry_after)

        def increment(
            self,
            method: str | None = None,
            url: str | None = None,
            response: Any = None,
            error: Exception | None = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> Any:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
            return self._bounded(self._backoff_429(retry, response), response, method, url)

        def _bounded(self, retry: Any, response: Any, method: str | None, url: str | None) -> Any:
            """Sleep no more than `max_wait_s` in all: a longer wait fails now, saying when to retry."""
            after = self.get_retry_after(response) if response is not None else None
            wait = after if after is not None else retry.get_backoff_time()
            if self.waited_s + wait > self.max_wait_s:
                reset = response.headers.get("X-RateLimit-Reset", "") if response is not None else ""
                when = time.strftime(" (at %H:%M:%S UTC)", time.gmtime(int(reset))) if reset.isdigit() else ""
                status = getattr(response, "status", "?")
                raise RateLimited(
                    f"GitHub answered {method} {url} with HTTP {status} and asks to wait {wait:.0f} s"
                    f"{when}, more than wild-ci waits ({self.max_wait_s:.0f} s in all, {MAX_WAIT_ENV})",
                    hint="run the command again later (GitHub's rate limit resets at the time given)",
                )
            retry.waited_s = self.waited_s + wait
            return retry

        def _backoff_429(self, retry: Any, response: Any) -> Any:
            if response is None or response.status != 429 or response.headers.get("Retry-After"):
                return retry  # urllib3 sleeps for a Retry-After itself
            # "If the x-ratelimit-remaining header is 0, you should not retry your request until after
            # the time specified by the x-ratelimit-reset header. Otherwise, wait for at least one minute."
            reset = response.headers.get("X-RateLimit-Reset") or ""
            if response.headers.get("X-RateLimit-Remaining") == "0" and reset.isdigit():
                wait = max(0.0, int(reset) - time.time()) + 1  # +1: when in that second it resets is unknown
            else:
                wait = self.secondary_rate_wait
            wait = max(wait, retry.get_backoff_time())
            retry.get_backoff_time = lambda: wait  # what GithubRetry does for a 403
            return retry

    return Retry
