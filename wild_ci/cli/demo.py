"""`wild-ci demo`: the bundled example, end to end on this machine."""

from __future__ import annotations

import argparse

from ..demo import run_demo


def demo(args: argparse.Namespace) -> int:
    return run_demo(args.dir or args.dir_option)
