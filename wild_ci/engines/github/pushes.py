"""One run per iteration commit (#25 finding 2). GitHub starts a push's workflow run for the head of
the push only (`GITHUB_SHA` is the push's `after`), so an iteration commit pushed beneath another
commit never runs. wild-ci's own pushes therefore push each new iteration commit on its own, oldest
first. For a person's plain `git push` of several, `wait` tells within a minute that the iteration
was the head of no push, and how to start it: push a branch made for that commit
(`layout.start_branch`), whose push has it at its head."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import git

from ... import collect, ledger
from ...layout import ITERATIONS_DIR, SPEC_FILE, WORKFLOW_FILE, WORKFLOW_PATH, start_branch
from .runner import RUNNER

# How long `wait` lets GitHub take to create a push's run before it says the iteration will not run:
# GitHub creates a run within seconds of the push; a minute is the most the issue allows.
START_GRACE_S = 45.0

_SPEC_PATH = re.compile(rf"^{re.escape(ITERATIONS_DIR)}/(\d+)/{re.escape(SPEC_FILE)}$")


@dataclass(frozen=True)
class Push:
    """One push of the session branch: its head commit, which is the commit GitHub runs."""

    head: str
    iteration: int | None  # the iteration whose commit is the head, if it is one


def push_each_iteration(repo: git.Repo, session: str, remote: str) -> list[Push]:
    """Push the session branch so that every iteration commit the remote does not have yet is the
    head of its own push, oldest first, then the tip (a hand commit on top, results). Returns the
    pushes made. A remote branch that is not an ancestor of the local one is pushed as before, in
    one push, which the remote refuses (no force)."""
    branch = ledger.branch_name(session)
    tip = ledger.branch_tip(repo, branch)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {branch}")
    auth = collect.push_auth_env(repo, remote)
    base = _remote_tip(repo, remote, branch, auth)
    found = new_iterations(repo, base, tip)
    pushes = [p for p in found if p.head != tip]
    pushes.append(next((p for p in found if p.head == tip), Push(tip, None)))
    for push in pushes:
        try:
            repo.git.push("--quiet", remote, f"{push.head}:refs/heads/{branch}", env=auth)
        except git.GitCommandError as exc:
            raise ledger.LedgerError(f"pushing {branch} to {remote} failed: {exc.stderr.strip()}") from exc
    return pushes


def new_iterations(repo: git.Repo, base: str | None, tip: str) -> list[Push]:
    """The commits between `base` (the remote's tip, or None) and `tip` on the branch's own line
    that add an iteration with experiments (those that start a run), oldest first."""
    if base is not None and (ledger.resolve(repo, base) is None or not ledger.is_ancestor(repo, base, tip)):
        return []  # the remote has what this clone lacks: the push is refused as it was
    span = f"{base}..{tip}" if base else tip
    log = repo.git.log(
        "--format=%x00%H", "--reverse", "--first-parent", "--diff-filter=A", "--name-only",
        span, "--", f":(glob){ITERATIONS_DIR}/*/{SPEC_FILE}",
    )  # fmt: skip
    found = []
    for entry in log.split("\0")[1:]:
        commit, *paths = entry.split()
        numbers = [int(m.group(1)) for m in map(_SPEC_PATH.match, paths) if m]
        if numbers and _has_experiments(repo, commit, numbers[-1]):
            found.append(Push(commit, numbers[-1]))
    return found


def _has_experiments(repo: git.Repo, commit: str, iteration: int) -> bool:
    spec = collect.read_spec(repo, commit, iteration)
    return spec is not None and bool(spec.experiments)


def _remote_tip(repo: git.Repo, remote: str, branch: str, auth: dict[str, str]) -> str | None:
    try:
        listed = str(repo.git.ls_remote(remote, f"refs/heads/{branch}", env=auth))
    except git.GitCommandError as exc:
        raise ledger.LedgerError(f"reading {branch} on {remote} failed: {exc.stderr.strip()}") from exc
    return listed.split()[0] if listed.strip() else None


def start_command(remote: str, session: str, iteration: int, commit: str) -> str:
    """The push that starts an iteration commit no push had at its head (docs/github.md)."""
    return f"git push {remote} {commit}:refs/heads/{start_branch(session, iteration)}"


@dataclass(frozen=True)
class NotStarted:
    """Why an iteration commit gets no run from a push, and what to do about it."""

    reason: str
    hint: str


def on_pull_request(repo: git.Repo, commit: str) -> bool:
    """Whether the iteration's workflow starts on pull-request events (`trigger: pull_request`),
    where a push of a branch starts no run: the start branch is then dispatched."""
    text = ledger.read_file(repo, commit, WORKFLOW_PATH) or b""
    return b"\n  pull_request:\n" in text  # the rendered `on:` (templates/wild-experiments.yml.j2)


def not_started(
    repo: git.Repo, fetched_tip: str | None, commit: str, remote: str, session: str, iteration: int
) -> NotStarted | None:
    """Why the iteration commit will get no run from a push, or None when it may still get one:
    the remote branch does not have it, or has it beneath a later commit. Asked once GitHub has had
    `START_GRACE_S` to create the run of a push whose head it was, and no run of it exists."""
    if fetched_tip is None or not ledger.is_ancestor(repo, commit, fetched_tip):
        return NotStarted(
            f"it is not on {remote}'s session branch",
            "push it: `wild-ci submit --push` pushes each iteration commit on its own",
        )
    tracking = f"refs/remotes/{remote}/{ledger.branch_name(session)}"
    if fetched_tip == commit or commit in _reflog_values(repo, tracking):
        return None  # the head of its push (one from this clone): GitHub is only slow to start it
    then = ""
    if on_pull_request(repo, commit):
        branch = start_branch(session, iteration)
        then = f", then dispatch the workflow on it: `gh workflow run {WORKFLOW_FILE} --ref {branch}`"
    return NotStarted(
        "it was the head of no push (GitHub runs the newest commit of a push only, and a later "
        "commit was pushed on top of it in the same push)",
        f"start it with `{start_command(remote, session, iteration, commit)}`{then} (a branch made "
        "for that commit; its run commits the results to the session branch and deletes the branch)",
    )


def drop_start_branch(
    repo: git.Repo, remote: str, session: str, iteration: int, environ: Mapping[str, str]
) -> str | None:
    """In the collect job of a run a start branch began (`wild/<session>+NNNN`), delete that branch
    once the results are on the session branch: it was made for this run alone. Returns what was
    deleted, None when this run is not on one; a failure is only reported (the results are in)."""
    name = start_branch(session, iteration)
    if not RUNNER.on_runner(environ) or RUNNER.ref_name(environ) != name:
        return None
    try:
        repo.git.push("--quiet", remote, f":refs/heads/{name}", env=collect.push_auth_env(repo, remote))
    except git.GitCommandError as exc:
        return f"{name} (not deleted: {exc.stderr.strip()})"
    return name


@dataclass(frozen=True)
class Buried:
    """An iteration commit a remote has beneath a later commit, never seen at the head of a push."""

    iteration: int
    commit: str
    remote: str
    hint: str


def buried_iterations(repo: git.Repo, session: str, waiting: list[int]) -> list[Buried]:
    """For `status`, from this clone alone (no GitHub): of the iterations `waiting` for results, those
    that a remote-tracking branch `<remote>/wild/<session>` holds beneath a later commit and whose
    commit was never its value: every push and fetch from this clone records the new tip in that
    ref's reflog, so a commit that is not there was the head of no push seen here (no reflog: none)."""
    branch = ledger.branch_name(session)
    tip = ledger.branch_tip(repo, branch)
    found: list[Buried] = []
    if tip is None:
        return found
    for remote in str(repo.git.remote()).split():
        tracking = f"refs/remotes/{remote}/{branch}"
        remote_tip = ledger.resolve(repo, tracking)
        heads = _reflog_values(repo, tracking)
        if remote_tip is None or not heads:
            continue
        for number in waiting:
            commit = ledger.iteration_commit(repo, tip, number)
            if commit not in heads and ledger.is_ancestor(repo, commit, remote_tip):
                hint = f"start it with `{start_command(remote, session, number, commit)}`"
                found.append(Buried(number, commit, remote, hint))
    return found


def _reflog_values(repo: git.Repo, ref: str) -> set[str]:
    try:
        return set(str(repo.git.log("-g", "--format=%H", ref)).split())
    except git.GitCommandError:
        return set()
