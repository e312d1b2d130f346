"""`wild-ci init` installs the inbox workflow; `wild-ci inbox` (run by it) submits the inbox, oldest first."""

from __future__ import annotations

import argparse

from .. import layout, ledger
from ..config import committed_config, refuse_unsupported_server
from ..engines.github import inbox as inbox_queue
from ..engines.github.workflow import render_inbox_workflow
from ..errors import EXIT_BAD_INPUT, EXIT_OK, UsageError
from ..text import visible
from ..values import RUNNER_LABEL, unsupported_runner


def init(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    target = ledger.work_tree(repo) / layout.INBOX_WORKFLOW_PATH
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    if not RUNNER_LABEL.match(args.runs_on):
        raise UsageError(f"--runs-on {args.runs_on!r} is not a runner label (letters, digits, '.', '_', '-')")
    if args.environment is not None and not RUNNER_LABEL.match(args.environment):
        raise UsageError(f"--environment {args.environment!r}: use letters, digits, '.', '_', '-'")
    if unsupported_runner([args.runs_on]):
        raise UsageError(f"--runs-on: {unsupported_runner([args.runs_on])}")
    config = committed_config(repo)
    refuse_unsupported_server(config)
    text = render_inbox_workflow(args.install_spec or config.install_spec, args.runs_on, args.environment)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target}")
    print(
        f"commit it to your default branch; then a brain output committed to {layout.INBOX_DIR}/ "
        "on a wild/<session> branch runs as that session's next iteration"
    )
    return EXIT_OK


def inbox(args: argparse.Namespace) -> int:
    """Every inbox file, oldest first; exit 2 when any was rejected (after all were handled)."""
    handled = rejected = 0
    for outcome in inbox_queue.drain(args.repo, args.push, args.remote, args.dispatch, args.config_ref):
        handled += 1
        if outcome.submission is None:
            rejected += 1
            where = f"{layout.REJECTED_DIR}/"
            because = visible(outcome.rejected_because or "")
            print(f"wild-ci: {outcome.file} was not run and is now in {where}:\n{because}")
            continue
        submission = outcome.submission
        print(f"wild-ci: {outcome.file} is iteration {submission.label} on {submission.branch}")
        if args.dispatch and outcome.push_run is not None:
            started = f"run {outcome.push_run} of {layout.WORKFLOW_FILE}"
            print(f"wild-ci: the push started {started}; not dispatched")
        elif args.dispatch:
            print(f"wild-ci: started {layout.WORKFLOW_FILE} on {submission.branch}")
    if not handled:
        print(f"wild-ci: nothing in {layout.INBOX_DIR}/")
    return EXIT_BAD_INPUT if rejected else EXIT_OK
