"""`wild-ci loop`: the research loop driven with a brain command. Progress on stderr; the last
experiment_results block on stdout."""

from __future__ import annotations

import argparse

from ..config import refuse_unsupported_server
from ..engines.act.runs import stop_on_signals
from ..engines.github import runs as github
from ..errors import EXIT_OK, UsageError
from ..loop import LoopOptions, drive
from ..values import parse_duration
from .common import config_with_flags


def loop(args: argparse.Namespace) -> int:
    stop_on_signals()
    config = config_with_flags(args)
    wait_s = parse_duration(args.wait_timeout)
    if wait_s is None:
        raise UsageError(f"--wait-timeout {args.wait_timeout!r} is not a duration like 90s, 30m, 2h")
    brain_timeout_s = parse_duration(args.brain_timeout)
    if brain_timeout_s is None:
        raise UsageError(f"--brain-timeout {args.brain_timeout!r} is not a duration like 90s, 30m, 2h")
    if not args.wait_interval > 0:
        raise UsageError("--wait-interval must be a positive number of seconds")
    if args.push:
        refuse_unsupported_server(config)
    options = LoopOptions(
        brain=args.brain,
        max_turns=args.max_iterations,
        session=args.session,
        skip_invalid=args.skip_invalid,
        goal=args.goal,
        prompt=args.prompt,
        push=args.push,
        remote=args.remote,
        wait=github.WaitOptions(remote=args.remote, timeout_s=wait_s, interval_s=args.wait_interval),
        brain_timeout_s=brain_timeout_s,
        reflection=args.reflection,
    )
    end = drive(args.repo, options, config)
    if end.last is not None:
        print(end.last.block, end="")
    return EXIT_OK
