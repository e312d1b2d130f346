"""The `wild-ci` command's entry point.

Every matrix leg starts `wild-ci execute`, so that command loads only what a leg needs (no git
library, no templates, no GitHub client); every other command loads the whole CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["execute"]:  # --help too: a leg's runner has only what a leg uses
        from .execute import main as run_leg

        return run_leg(args[1:])
    from .cli.app import main as run_cli

    return run_cli(args)
