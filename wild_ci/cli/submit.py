"""`wild-ci submit`: commit a brain output as the session's next iteration (and push it)."""

from __future__ import annotations

import argparse

from .. import ledger
from ..config import refuse_unsupported_server
from ..engines.github import runs as github
from ..errors import EXIT_OK
from ..generate import InvalidBrainOutput, read_brain_output
from ..generate import submit as submit_iteration
from .common import config_with_flags, naming_source, read_input, report_submitted


def submit(args: argparse.Namespace) -> int:
    config = config_with_flags(args)
    data = read_input(args.file, limit=config.limits.max_brain_bytes)  # /dev/zero cannot fill the memory
    refuse_unsupported_server(config)
    remote_wanted = args.push or args.open_pr
    if remote_wanted:  # build on what the collect jobs pushed, not on a stale branch
        github.sync_branch(ledger.open_repo(args.repo), args.session, args.remote)
    parsed = read_brain_output(data, config.limits)
    try:
        submission = submit_iteration(args.repo, data, args.session, config, args.skip_invalid, parsed)
    except InvalidBrainOutput as exc:
        raise naming_source(args.file, exc) from None
    report_submitted(args.file, parsed.warnings, submission.spec if submission else None)
    if submission is None:
        print("wild-ci: the brain output is empty; nothing was committed")
        return EXIT_OK
    n = len(submission.spec.experiments)
    counted = f"{n} experiment{'s' * (n != 1)}" if n else "no experiments: nothing to run"
    promise = f" · promise {submission.spec.promise}" if submission.spec.promise else ""
    print(
        f"committed iteration {submission.label} ({counted}) as {submission.commit[:12]} "
        f"on {submission.branch}{promise}"
    )
    if remote_wanted:
        github.push_branch(ledger.open_repo(args.repo), args.session, args.remote)
        print(f"pushed {submission.branch} to {args.remote}")
    if args.open_pr:
        number, created = github.open_pull_request(github.client_from_env(), args.session, args.base)
        print(f"{'opened' if created else 'using'} pull request #{number}")
    return EXIT_OK
