"""Remote mode — beyond one machine: push the session branch, open its pull request, post the
results comment, follow the workflow run on GitHub, and rebuild results from a run's artifacts.

Everything that talks to GitHub goes through `github.GitHubClient`; everything that touches git
goes through `ledger` and `collect`, so remote results land exactly as local ones do.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import git

from ... import chart, collect, ledger, report
from ...compare import Standing
from ...errors import PipelineError, UsageError
from ...layout import (
    CHART_FILE,
    CONFIG_PATH,
    INBOX_DIR,
    REJECTED_DIR,
    RESULTS_MD,
    WORKFLOW_NAME,
    artifact_name,
    artifact_pattern,
    iteration_file,
    iteration_label,
)
from ...metrics import parameter_names
from ...specs import IterationResults
from . import artifact_paths, pushes
from .client import CommentOutcome, GitHubClient, GitHubError, GitHubSettings, Job, Run, describe_run
from .runner import RUNNER


class WaitFailed(PipelineError):
    """The run failed, was cancelled, or did not finish in time; the message says which."""


# --- pull requests and comments ------------------------------------------------------------------


def pull_request_number(client: GitHubClient | None, branch: str, explicit: int | None = None) -> int | None:
    """The PR to comment on: given, handed over by `wild-ci run --pr`, in the event that started
    this workflow, or else the open PR of the session branch."""
    if explicit:
        return explicit
    handed = os.environ.get("WILD_PR_NUMBER")
    if handed and handed.isdigit():
        return int(handed)
    event_path = RUNNER.event_path(os.environ)
    if event_path and Path(event_path).is_file():
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            event = {}
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
        if isinstance(number, int):
            return number
    return client.find_open_pull(branch) if client else None


def post_results_comment(
    client: GitHubClient, results: IterationResults, number: int, standing: Standing | None = None
) -> CommentOutcome:
    """Create or update the iteration's one comment on the pull request."""
    branch = ledger.branch_name(results.session)
    url = client.settings.blob_url(branch, iteration_file(results.iteration, RESULTS_MD))
    echoed = standing.parameter_names if standing is not None else parameter_names([results])
    has_metrics = chart.due(results, echoed) and chart.available()  # as collect drew the chart
    chart_url = client.settings.blob_url(branch, iteration_file(results.iteration, CHART_FILE)) + "?raw=true"
    body = report.comment_body(results, url, chart_url=chart_url if has_metrics else None, standing=standing)
    return client.upsert_comment(number, report.comment_marker(results), body)


def comment_from_collect_job(
    results: IterationResults, pr: int | None, standing: Standing | None
) -> str | None:
    """The collect job's comment; returns what to print. A failure is a warning (the results are
    committed already). A local run's collect job never comments: the token stays with `wild-ci run
    --pr`, which posts the comment once the legs have ended (tokens.py)."""
    if os.environ.get("WILD_CI_LOCAL"):
        return None  # `wild-ci run --pr` posts it itself, after the legs: no job holds the token
    branch = ledger.branch_name(results.session)
    named = pull_request_number(None, branch, pr)  # given, handed over, or in the event
    try:
        client = client_from_env()
        number = named or pull_request_number(client, branch, pr)
        if number is None:
            return "wild-ci: the session branch has no open pull request; no comment posted"
        outcome = post_results_comment(client, results, number, standing)
    except GitHubError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""  # a missing permission: where to grant it
        return f"::warning::wild-ci could not comment on the pull request: {exc}{hint}"
    verb = "posted" if outcome.created else "updated" if outcome.updated else "unchanged:"
    return f"wild-ci: {verb} the results comment on #{number}: {outcome.url}"


def push_branch(repo: git.Repo, session: str, remote: str) -> None:
    """Push the session branch, each new iteration commit at the head of its own push, so that
    each gets its run (GitHub runs a push's head only; pushes.py)."""
    pushes.push_each_iteration(repo, session, remote)


def open_pull_request(client: GitHubClient, session: str, base: str) -> tuple[int, bool]:
    """The session's PR: the open one if it exists, else a new one. Returns (number, created)."""
    branch = ledger.branch_name(session)
    existing = client.find_open_pull(branch)
    if existing:
        return existing, False
    body = (
        f"Experiments of the wild-ci session `{session}`. Each iteration is a commit on `{branch}`; "
        "its results are committed back and posted here as a comment."
    )
    return client.create_pull(branch, base, f"wild: session {session}", body), True


# --- following a run ----------------------------------------------------------------------------


@dataclass
class WaitOptions:
    remote: str = "origin"
    timeout_s: float = 6 * 3600
    interval_s: float = 15.0


def wait_for_results(
    repo: git.Repo,
    session: str,
    iteration: int | None,
    client: GitHubClient,
    options: WaitOptions,
    out: TextIO = sys.stderr,
    clock: Callable[[], float] = time.monotonic,
) -> IterationResults:
    """Follow the workflow run of the iteration commit until its results commit lands on the
    remote branch; fetch it and return the results. Raises WaitFailed otherwise."""
    branch = ledger.branch_name(session)
    tip = sync_branch(repo, session, options.remote)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {branch}")
    iteration = iteration or ledger.latest_iteration(repo, tip)
    commit = ledger.iteration_commit(repo, tip, iteration)
    started = clock()
    deadline = started + options.timeout_s
    shown: dict[str, str] = {}
    out.write(f"wild-ci: waiting for iteration {iteration_label(iteration)} ({commit[:12]}) on GitHub\n")
    while True:
        runs = [r for r in client.runs_for_commit(commit) if r.name == WORKFLOW_NAME]
        for run in runs:
            _show_run(run, shown, out)
            _show_jobs(client.jobs(run.id), shown, out)
        results = _fetch_results(repo, options.remote, branch, iteration)
        if results is not None:
            return results
        finished = [r for r in runs if r.status == "completed"]
        if runs and len(finished) == len(runs):
            # the results were fetched after this status was read: none means none came
            failed = [r for r in finished if r.conclusion not in ("success", "skipped", "neutral")]
            run = (failed or finished)[0]
            what = f"the run {describe_run(run.status, run.conclusion)}" if failed else "the run finished"
            url = run.html_url
            raise WaitFailed(f"{what} without committing results for iteration {iteration}: {url}")
        if not runs and clock() - started >= pushes.START_GRACE_S:
            _refuse_never_started(repo, options.remote, session, iteration, commit)
        if clock() >= deadline:
            state = describe_run(runs[0].status, runs[0].conclusion) if runs else "not started"
            raise WaitFailed(f"gave up after {options.timeout_s:.0f}s: the run is {state}")
        time.sleep(options.interval_s)


def _refuse_never_started(repo: git.Repo, remote: str, session: str, iteration: int, commit: str) -> None:
    """No run appeared in `START_GRACE_S`: say so when none will (pushes.not_started)."""
    fetched = ledger.resolve(repo, f"refs/wild-ci/fetched/{ledger.branch_name(session)}")
    why = pushes.not_started(repo, fetched, commit, remote, session, iteration)
    if why is not None:
        label = iteration_label(iteration)
        raise WaitFailed(f"iteration {label} ({commit[:12]}) will not run: {why.reason}", hint=why.hint)


def _show_run(run: Run, shown: dict[str, str], out: TextIO) -> None:
    """The run's own state when it changes: GitHub's documented states, each in words."""
    state = describe_run(run.status, run.conclusion)
    key = run.title()  # a re-run is a new attempt of the same run: shown again
    if shown.get(key) != state:
        shown[key] = state
        out.write(f"  {key}: {state}\n")
        out.flush()


def _show_jobs(jobs: list[Job], shown: dict[str, str], out: TextIO) -> None:
    for job in jobs:
        state = job.conclusion or job.status
        if shown.get(job.name) != state:
            shown[job.name] = state
            took = ""
            if job.started_at and job.completed_at:
                took = f" in {report.duration((job.completed_at - job.started_at).total_seconds())}"
            out.write(f"  {job.name}: {state}{took}\n")
            out.flush()


def _fetch_results(repo: git.Repo, remote: str, branch: str, iteration: int) -> IterationResults | None:
    try:
        repo.git.fetch("--quiet", remote, f"+refs/heads/{branch}:refs/wild-ci/fetched/{branch}")
    except git.GitCommandError as exc:
        raise ledger.LedgerError(f"fetching {branch} from {remote} failed: {exc.stderr.strip()}") from exc
    fetched = ledger.resolve(repo, f"refs/wild-ci/fetched/{branch}")
    results = collect.read_results(repo, fetched, iteration) if fetched else None
    if results is not None and fetched is not None:
        _fast_forward(repo, branch, fetched)
    return results


def sync_branch(repo: git.Repo, session: str, remote: str) -> str | None:
    """Bring the local session branch up to the remote one (results the collect job pushed) before
    building on it; a branch that has diverged is an error, not a silent duplicate."""
    branch = ledger.branch_name(session)
    local = ledger.branch_tip(repo, branch)
    try:
        repo.git.fetch("--quiet", remote, f"+refs/heads/{branch}:refs/wild-ci/fetched/{branch}")
        fetched = ledger.resolve(repo, f"refs/wild-ci/fetched/{branch}")
    except git.GitCommandError:
        fetched = None  # not on the remote yet
    if fetched is None or fetched == local:
        return local  # None: the session has no branch anywhere yet
    if local is None or ledger.is_ancestor(repo, local, fetched):
        if ledger.checked_out_in(repo, branch):
            raise ledger.LedgerError(f"{branch} is checked out; switch away so wild-ci can update it")
        ledger.update_branch(repo, branch, fetched, local, "wild-ci: synced with the remote")
        return fetched
    if ledger.is_ancestor(repo, fetched, local):
        return local  # local commits not pushed yet
    raise ledger.LedgerError(
        f"{branch} and {remote}/{branch} have diverged; merge or reset one of them first"
    )


def _fast_forward(repo: git.Repo, branch: str, new: str) -> None:
    """Bring the local session branch up to the fetched one when that only adds commits."""
    old = ledger.branch_tip(repo, branch)
    if old == new or ledger.checked_out_in(repo, branch):
        return
    if old is None or ledger.is_ancestor(repo, old, new):
        ledger.update_branch(repo, branch, new, old, "wild-ci: results fetched")


# --- rebuilding results from a run --------------------------------------------------------------


def collect_from_run(repo: git.Repo, session: str, iteration: int | None, run_id: int,
                     client: GitHubClient, remote: str = "origin") -> IterationResults:  # fmt: skip
    """Download a finished run's artifacts and commit its results to the local session branch, for
    a collect job that failed or a results commit that was lost. The iteration is the one the run
    was for (its head commit), never a guess."""
    run = client.run(run_id)
    if run.status != "completed":  # the latest attempt's: a re-run's artifacts are still coming
        raise WaitFailed(f"{run.title()} is {run.status}; collect it when it has finished")
    tip = sync_branch(repo, session, remote)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {ledger.branch_name(session)}")
    for candidate in reversed(ledger.iterations_at(repo, tip)):
        if ledger.iteration_commit(repo, tip, candidate) == run.head_sha:
            break
    else:
        raise UsageError(
            f"run {run_id} is for commit {run.head_sha[:12]}, which is no iteration of {session}"
        )
    if iteration is not None and iteration != candidate:
        raise UsageError(f"run {run_id} is for iteration {candidate}, not {iteration}")
    spec = collect.committed_spec(repo, run.head_sha, candidate)
    with tempfile.TemporaryDirectory(prefix="wild-ci-run-artifacts-") as tmp:
        expired: list[str] = []
        names = client.download_artifacts(run_id, artifact_pattern(spec.iteration), Path(tmp), expired)
        if not names and not expired:
            raise WaitFailed(f"run {run_id} has no artifacts of iteration {spec.label}")
        results = collect.collect_results(spec, Path(tmp), run.head_sha)
    for result in results.experiments:  # missing, and now we know why
        if artifact_name(spec.iteration, result.id) in expired:
            result.note = (
                f"its artifact expired on GitHub (past the repository's artifact retention; "
                f"HTTP 410 Gone), so run {run_id}'s results for it are lost"
            )
    collect.commit_locally(repo, results)
    return results


def client_from_env() -> GitHubClient:
    return GitHubClient(GitHubSettings.from_env())


# --- the inbox: brain outputs committed directly ----------------------------------------------------


def inbox_files(workspace: Path) -> list[Path]:
    folder = workspace / INBOX_DIR
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def config_commit(repo: git.Repo, remote: str, ref: str | None) -> str:
    """The commit whose config file the inbox uses: branch `ref` as the remote has it now
    (fetched; the inbox job's checkout holds the pushed branch alone), else as this clone last saw
    it; without `ref`, the remote's default branch (`<remote>/HEAD`). Never the pushed commit."""
    if ref is None:
        commit = ledger.resolve(repo, f"refs/remotes/{remote}/HEAD")
        if commit is None:
            raise UsageError(
                f"wild-ci does not know {remote}'s default branch, whose {CONFIG_PATH} the inbox "
                "uses; name it with --config-ref BRANCH"
            )
        return commit
    source = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
    shallow = repo.git.rev_parse("--is-shallow-repository") == "true"
    try:
        repo.git.fetch(
            "--quiet", "--no-tags", *(["--depth=1"] if shallow else []), remote,
            f"+{source}:{CONFIG_REF}", env=collect.push_auth_env(repo, remote),
        )  # fmt: skip
        fetched = ledger.resolve(repo, CONFIG_REF)
    except git.GitCommandError:
        fetched = None
    for candidate in (fetched, f"refs/remotes/{remote}/{ref}", ref):
        commit = candidate and ledger.resolve(repo, candidate)
        if commit:
            return commit
    raise UsageError(f"--config-ref {ref}: neither {remote} nor this clone has it")


CONFIG_REF = "refs/wild-ci/config"  # where the inbox fetches the default branch


def session_of_checkout(repo: git.Repo) -> str:
    """The session whose branch this checkout is for (a runner's GITHUB_REF_NAME, else HEAD's)."""
    name = RUNNER.ref_name(os.environ) or ""
    if not name.startswith("wild/"):
        try:
            name = repo.git.symbolic_ref("--short", "HEAD")
        except git.GitCommandError:
            name = ""
    if not name.startswith("wild/"):
        raise ledger.LedgerError("the inbox is read on a wild/<session> branch (set GITHUB_REF_NAME)")
    return ledger.validate_session(name.removeprefix("wild/"))


def reject_inbox_file(repo: git.Repo, session: str, path: str, data: bytes, reason: str) -> str:
    """Move an inbox file that cannot run to `REJECTED_DIR`, next to a note of why."""
    branch = ledger.branch_name(session)
    tip = ledger.branch_tip(repo, branch)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {branch}")
    name = Path(path).name
    files = {f"{REJECTED_DIR}/{name}": data, f"{REJECTED_DIR}/{name}.errors.txt": (reason + "\n").encode()}
    commit = ledger.commit_files_on(
        repo, tip, files, f"wild: {name} rejected [skip ci]\n\n{reason}\n", [path]
    )
    ledger.update_branch(repo, branch, commit, tip, "wild-ci: inbox file rejected")
    return commit


def download_leg(repo: git.Repo, results: IterationResults, experiment_id: str, destination: Path) -> Path:
    """A leg's files from the GitHub run of its iteration, for `wild-ci logs` when the run was not
    local; kept where a local run keeps them."""
    if not results.commit:
        raise ledger.LedgerError("the results name no commit, so no run to download from")
    try:
        client = client_from_env()
    except GitHubError as exc:
        raise GitHubError(f"no local logs for {experiment_id}, and {exc}") from exc
    runs = [r for r in client.runs_for_commit(results.commit) if r.name == WORKFLOW_NAME]
    name = artifact_name(results.iteration, experiment_id)
    expired: list[str] = []
    for run in runs:
        with tempfile.TemporaryDirectory(prefix="wild-ci-logs-") as tmp:
            if client.download_artifacts(run.id, name, Path(tmp), expired):
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(Path(tmp) / name, destination, dirs_exist_ok=True)
                artifact_paths.restore_leg(destination)  # outputs under the names the experiment gave
                return destination
    gone = " (it expired: HTTP 410 Gone)" if expired else ""
    raise GitHubError(f"no local logs for {experiment_id}, and no GitHub run of "
                      f"{results.commit[:12]} still has the artifact {name}{gone}")  # fmt: skip
