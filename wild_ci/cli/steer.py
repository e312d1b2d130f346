"""`wild-ci steer`: guidance for the next prompt of a session's loop, or a pause request."""

from __future__ import annotations

import argparse
import sys

from .. import ledger, steering
from ..errors import EXIT_OK, UsageError
from .common import read_input


def steer(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    running = steering.loop_running(repo, args.session)
    if args.pause:
        if running is None:
            print(f"wild-ci steer: no loop is driving session {args.session!r}; nothing to pause",
                  file=sys.stderr)  # fmt: skip
            return EXIT_OK
        steering.request_pause(repo, args.session, running)
        print(f"wild-ci steer: the loop of session {args.session!r} ({running}) stops after its current "
              "turn; `wild-ci loop` again resumes it", file=sys.stderr)  # fmt: skip
        return EXIT_OK
    if (args.text is None) == (args.file is None):
        raise UsageError("give the guidance as TEXT or with --file (one of them), or use --pause")
    if args.text is not None:
        steering.queue(repo, args.session, args.text)
    else:
        data = read_input(args.file, limit=steering.MAX_GUIDANCE_BYTES)
        if len(data) > steering.MAX_GUIDANCE_BYTES:  # only the start was read: refused whole, never cut
            raise UsageError(
                f"{args.file} has more than {steering.MAX_GUIDANCE_BYTES:,} bytes; at most "
                f"{steering.MAX_GUIDANCE_BYTES:,} are queued",
                hint="say it in fewer words, or point the brain to a file in the repository",
            )
        steering.queue(repo, args.session, data.decode("utf-8", errors="replace"))
    whom = f"the loop of session {args.session!r} ({running})" if running else (
        f"the next `wild-ci loop` of session {args.session!r}"
    )  # fmt: skip
    print(f"wild-ci steer: queued for the next prompt of {whom}", file=sys.stderr)
    return EXIT_OK
