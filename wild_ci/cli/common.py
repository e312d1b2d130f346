"""What several commands share: reading the brain output, printing diagnostics, flags to config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from .. import ledger
from ..config import Config, Overrides, committed_config
from ..errors import UsageError
from ..generate import InvalidBrainOutput
from ..specs import Diagnostic, IterationSpec

SHOWN_LEFT_OUT = 50  # paths left out of the snapshot named on stderr; experiments.json has them all


def read_input(name: str, limit: int | None = None) -> bytes:
    """The brain output from a file, or from standard input for `-`. With `limit`, at most
    `limit` + 1 bytes are read: enough to tell the input is over it, and a file without end
    (/dev/zero, a fifo someone keeps writing to) cannot fill the memory."""
    size = -1 if limit is None else limit + 1
    if name == "-":
        return sys.stdin.buffer.read(size)
    try:
        with Path(name).open("rb") as stream:
            return stream.read(size)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from exc


def config_with_flags(args: argparse.Namespace) -> Config:
    """The config file as committed in the repository, overridden by the flags that were given."""
    config = committed_config(ledger.open_repo(args.repo))
    given = Overrides(
        project_root=args.project_root,
        timeout=args.timeout,
        runs_on=args.runs_on,
        install_spec=args.install_spec,
        max_parallel=args.max_parallel,
        setup=args.setup,
        context_format=getattr(args, "format", None),  # run and loop have it, submit not
    )
    return given.applied_to(config)


def print_diagnostics(source: str, diagnostics: Iterable[Diagnostic], kind: str) -> None:
    for diagnostic in diagnostics:
        print(diagnostic.located(source, kind), file=sys.stderr)


def report_submitted(source: str, warnings: list[Diagnostic], spec: IterationSpec | None) -> None:
    """After a submit: the warnings, and the invalid items that were skipped."""
    print_diagnostics(source, warnings, "warning")
    for item in spec.invalid if spec else []:
        print_diagnostics(source, item.errors, "skipped")
    left_out = spec.left_out if spec else []
    for left in left_out[:SHOWN_LEFT_OUT]:
        print(f"wild-ci: warning: left out of the snapshot: {left}", file=sys.stderr)
    if len(left_out) > SHOWN_LEFT_OUT:
        more = len(left_out) - SHOWN_LEFT_OUT
        print(f"wild-ci: warning: … and {more} more left out (experiments.json lists them)", file=sys.stderr)


def naming_source(source: str, error: InvalidBrainOutput) -> InvalidBrainOutput:
    """The same error, its diagnostics located in the file the user named."""
    error.source = source
    return error
