"""`wild-ci parse`: check a brain output and show its experiments, committing nothing."""

from __future__ import annotations

import argparse

from ..config import Limits
from ..errors import EXIT_BAD_INPUT, EXIT_OK
from ..generate import read_brain_output
from ..text import json_text, visible
from .common import print_diagnostics, read_input


def check(args: argparse.Namespace) -> int:
    limits = Limits()  # parse reads no project config: the defaults, as read_brain_output's
    parsed = read_brain_output(read_input(args.file, limit=limits.max_brain_bytes), limits)
    if args.json:
        print(json_text(parsed.to_json()))
    else:
        for e in parsed.experiments:
            # the brain's text, shown as it is written and never as a terminal sequence
            goal = visible(e.goal, multiline=False)
            print(f"{e.id}  (line {e.line})\n  goal: {goal}\n  run:  {visible(e.run)}")
        promise = visible(parsed.promise or "-", multiline=False)
        print(f"{len(parsed.experiments)} experiment(s); promise: {promise}")
    print_diagnostics(args.file, parsed.warnings, "warning")
    print_diagnostics(args.file, parsed.errors, "error")
    return EXIT_OK if parsed.ok else EXIT_BAD_INPUT
