"""The inbox: brain outputs committed to `.wild/inbox/` on a session branch run as its next
iterations, oldest first, all in one run of the inbox job. One that cannot run is moved to
`.wild/rejected/` with its errors, and the next file is taken in the same run: the queue never
depends on a later push starting another run (a reject commit carries `[skip ci]`, and GitHub may
drop a pending run of a busy concurrency group).

Each file is handled on the remote branch as it is now: with `push`, the branch is fetched and the
checkout moved to it before the file is read, and a push that the remote refuses because the branch
moved meanwhile (a results commit, another push) is rebuilt on the new tip and pushed again. Each
iteration is pushed on its own, so each push starts its own experiments run."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git

from ... import collect, layout, ledger
from ...config import Config, committed_config
from ...generate import InvalidBrainOutput, Submission, submit
from . import runs
from .client import GitHubClient, WorkflowUnknown, seconds_from_env

PUSH_ATTEMPTS = 5  # per file: the remote branch moved under us this often, give up with an error
# After a push, how long GitHub may take to create the push's run (seconds): a workflow that exists
# only on wild/* is unknown to a dispatch until it has run once. WILD_CI_PUSH_RUN_WAIT changes it.
PUSH_RUN_WAIT_S = 30.0
PUSH_RUN_WAIT_ENV = "WILD_CI_PUSH_RUN_WAIT"
PUSH_RUN_POLL_S = 3.0


@dataclass(frozen=True)
class InboxOutcome:
    """What happened to one inbox file; `file` is None when the inbox was empty."""

    file: str | None
    submission: Submission | None = None
    rejected_because: str | None = None
    push_run: int | None = None  # --dispatch: the run the push had started instead (`start_run`)


def drain(
    repo_path: Path,
    push: bool,
    remote: str,
    dispatch: bool,
    config_ref: str | None = None,
    limit: int | None = None,
) -> Iterator[InboxOutcome]:
    """Submit every inbox file, oldest first, with the settings of the default branch (`config_ref`,
    else the remote's default branch): the pushed commit that brought a file may have changed the
    config too, and its settings (install_spec, runner labels) reach the workflow.

    The checkout is the runner's: it must be clean, and it is moved (detached) to the branch's tip
    before each file, so the snapshot of each iteration is the branch as it is, never a stale copy
    that would drop what landed meanwhile (results, inbox files, a rejected file)."""
    repo = ledger.open_repo(repo_path)
    workspace = ledger.work_tree(repo)
    session = runs.session_of_checkout(repo)
    branch = ledger.branch_name(session)
    if repo.is_dirty(untracked_files=True):
        raise ledger.LedgerError(
            "the inbox is read in a clean checkout of the session branch (the inbox job's); this one "
            "has uncommitted changes, which wild-ci would overwrite"
        )
    if ledger.branch_tip(repo, branch) is None:  # the runner's checkout: a detached HEAD
        ledger.update_branch(repo, branch, _head(repo), None, "wild-ci: inbox checkout")
    config: Config | None = None
    handled = 0
    while limit is None or handled < limit:
        outcome = None
        for _attempt in range(PUSH_ATTEMPTS):
            tip = _sync(repo, branch, remote) if push else ledger.branch_tip(repo, branch)
            assert tip is not None
            repo.git.checkout("--quiet", "--detach", tip)
            files = runs.inbox_files(workspace)
            if not files:
                return
            config = config or committed_config(repo, runs.config_commit(repo, remote, config_ref))
            outcome = _take(repo, repo_path, workspace, session, files[0], config)
            if not push or _pushed(repo, session, remote):
                break
            ledger.update_branch(repo, branch, tip, ledger.branch_tip(repo, branch), "wild-ci: retry")
        else:
            raise ledger.LedgerError(
                f"pushing {branch} to {remote} failed {PUSH_ATTEMPTS} times: the branch kept moving"
            )
        assert outcome is not None
        if dispatch and outcome.submission is not None and outcome.submission.spec.experiments:
            started = start_run(runs.client_from_env(), outcome.submission, pushed=push)
            outcome = dataclasses.replace(outcome, push_run=started)
        handled += 1
        yield outcome
    if not push:  # leave the checkout at what was committed
        tip = ledger.branch_tip(repo, branch)
        assert tip is not None
        repo.git.checkout("--quiet", "--detach", tip)


def start_run(client: GitHubClient, submission: Submission, pushed: bool) -> int | None:
    """Dispatch the experiments workflow on the session branch. GitHub runs a push with the pushed
    commit's workflow, but dispatches only a workflow it knows (on the default branch, or run once):
    a workflow that exists only on wild/* answers 404 until the push's own run registers it. So
    after our push a 404 is answered by the run that push started (its id is returned), waited for
    up to PUSH_RUN_WAIT_S; without one, the 404's error says what to do."""
    try:
        client.dispatch(layout.WORKFLOW_FILE, submission.branch)
        return None
    except WorkflowUnknown:
        if not pushed:
            raise
        started = _push_run(client, submission.commit)
        if started is None:
            raise
        return started


def _push_run(client: GitHubClient, commit: str) -> int | None:
    """The experiments run of `commit` (what its push started), waited for; None if none came."""
    deadline = time.monotonic() + _push_run_wait()
    while True:
        found = [r.id for r in client.runs_for_commit(commit) if r.name == layout.WORKFLOW_NAME]
        if found or time.monotonic() >= deadline:
            return found[0] if found else None
        time.sleep(PUSH_RUN_POLL_S)


def _push_run_wait() -> float:
    return seconds_from_env(PUSH_RUN_WAIT_ENV, PUSH_RUN_WAIT_S)


def _head(repo: git.Repo) -> str:
    head = ledger.resolve(repo, "HEAD")
    if head is None:
        raise ledger.LedgerError("the inbox checkout has no commit")
    return head


def _sync(repo: git.Repo, branch: str, remote: str) -> str:
    """The remote branch's tip, fetched, with the local branch moved to it (whatever it was: the
    runner's checkout is disposable, and what the remote has is the truth)."""
    try:
        repo.git.fetch(
            "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:refs/wild-ci/fetched/{branch}",
            env=collect.push_auth_env(repo, remote),
        )  # fmt: skip
    except git.GitCommandError as exc:
        raise ledger.LedgerError(f"fetching {branch} from {remote} failed: {exc.stderr.strip()}") from exc
    fetched = ledger.resolve(repo, f"refs/wild-ci/fetched/{branch}")
    if fetched is None:
        raise ledger.LedgerError(f"{remote} has no branch {branch}")
    local = ledger.branch_tip(repo, branch)
    if local != fetched:
        ledger.update_branch(repo, branch, fetched, local, "wild-ci: inbox synced with the remote")
    return fetched


def _take(
    repo: git.Repo, repo_path: Path, workspace: Path, session: str, file: Path, config: Config
) -> InboxOutcome:
    """Commit `file` as the next iteration, or as rejected; on the local branch only."""
    data = file.read_bytes()
    file.unlink()  # the iteration commit removes it from the inbox
    reason = None
    try:
        submission = submit(repo_path, data, session, config)
        if submission is None:
            reason = "the brain output is empty"
    except InvalidBrainOutput as exc:
        submission, reason = None, "\n".join(str(d) for d in exc.diagnostics)
    if submission is None:
        runs.reject_inbox_file(repo, session, file.relative_to(workspace).as_posix(), data, reason or "")
    repo.git.checkout("--quiet", "--force", "--detach", "HEAD")  # the file back, for a retry
    return InboxOutcome(file.name, submission, reason)


def _pushed(repo: git.Repo, session: str, remote: str) -> bool:
    """Push the branch; False when the remote refused because its branch moved (the caller rebuilds
    on the new tip), an error for any other refusal."""
    try:
        runs.push_branch(repo, session, remote)
        return True
    except ledger.LedgerError:
        branch = ledger.branch_name(session)
        before = ledger.resolve(repo, f"refs/wild-ci/fetched/{branch}")
        repo.git.fetch("--quiet", "--no-tags", remote, f"refs/heads/{branch}",
                       env=collect.push_auth_env(repo, remote))  # fmt: skip
        now = ledger.resolve(repo, "FETCH_HEAD")
        if now == before:
            raise  # not a race: the push itself was refused
        return False
