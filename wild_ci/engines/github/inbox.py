"""The inbox: brain outputs committed to `.wild/inbox/` on a session branch run as its next
iteration, one per workflow run, oldest first. One that cannot run is moved to `.wild/rejected/`
with its errors, so it never blocks the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ... import layout, ledger
from ...config import committed_config
from ...generate import InvalidBrainOutput, Submission, submit
from . import runs


@dataclass(frozen=True)
class InboxOutcome:
    """What happened to the oldest inbox file; `file` is None when the inbox was empty."""

    file: str | None
    submission: Submission | None = None
    rejected_because: str | None = None


def submit_oldest(
    repo_path: Path, push: bool, remote: str, dispatch: bool, config_ref: str | None = None
) -> InboxOutcome:
    """Submit the oldest inbox file with the settings of the default branch (`config_ref`, else the
    remote's default branch): the pushed commit that brought the file may have changed the
    config too, and its settings (install_spec, runner labels) reach the workflow."""
    repo = ledger.open_repo(repo_path)
    workspace = ledger.work_tree(repo)
    session = runs.session_of_checkout(repo)
    files = runs.inbox_files(workspace)
    if not files:
        return InboxOutcome(None)
    config = committed_config(repo, runs.config_commit(repo, remote, config_ref))
    oldest = files[0]
    data = oldest.read_bytes()
    oldest.unlink()  # the iteration commit removes it from the inbox
    reason = None
    try:
        submission = submit(repo_path, data, session, config)
        if submission is None:
            reason = "the brain output asks for no experiments"
    except InvalidBrainOutput as exc:
        submission, reason = None, "\n".join(str(d) for d in exc.diagnostics)
    if submission is None:
        runs.reject_inbox_file(repo, session, oldest.relative_to(workspace).as_posix(), data, reason or "")
    if push:
        runs.push_branch(repo, session, remote)
    if dispatch and submission is not None:
        runs.client_from_env().dispatch(layout.WORKFLOW_FILE, submission.branch)
    return InboxOutcome(oldest.name, submission, reason)
