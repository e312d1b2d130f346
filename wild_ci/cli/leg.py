"""`wild-ci execute` through the full CLI (`--help`); a leg itself starts `execute.main` directly."""

from __future__ import annotations

import argparse

from ..errors import EXIT_OK
from ..execute import execute as run_experiment


def execute(args: argparse.Namespace) -> int:
    run_experiment(args.workspace, args.iteration, args.experiment, args.out)
    return EXIT_OK  # the experiment's outcome is data in result.json, not a failure of the leg
