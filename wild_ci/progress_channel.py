"""The live view's channel: the lines by which a leg's executor tells `wild-ci run` how its
experiment is doing (waiting for GPUs, retrying, ended with a status), kept apart from the job log.

The job log carries the experiment's own output, so a line there proves nothing: an experiment
that prints `wild-ci: experiment x succeeded exit=0` must not end its row in the live view. The
channel is a file that `wild-ci run` makes in the run's temporary folder and names in
`WILD_CI_PROGRESS` (act's environment, which the legs inherit); each executor appends whole lines
to it and the experiment is never given that variable. What an experiment can do to the file is
the sandbox's to decide (docs/local-runs.md, "The live view"): bubblewrap and Landlock leave it out
of reach; without a sandbox a same-user experiment can find it and write it.

Every leg loads this module: it imports only the standard library.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .layout import PROGRESS_DIR, PROGRESS_ENV, PROGRESS_FILE

MAX_LINE_BYTES = 2048  # one write below PIPE_BUF's worth: appended whole, never interleaved


def create(tmp: Path) -> Path:
    """The run's channel, empty, in a folder of its own under `tmp` (none of a leg's granted paths
    holds it)."""
    folder = tmp / PROGRESS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / PROGRESS_FILE
    path.write_bytes(b"")
    path.chmod(0o600)
    return path


def send(line: str, environ: Mapping[str, str] | None = None) -> None:
    """Append one line to the run's channel, if this leg has one. Never created here (a stale name
    makes no file), and a channel that is gone costs the line, never the leg."""
    path = (os.environ if environ is None else environ).get(PROGRESS_ENV)
    if not path:
        return
    text = " ".join(line.split("\n")).replace("\r", " ")
    data = text.encode("utf-8", errors="backslashreplace")[: MAX_LINE_BYTES - 1] + b"\n"
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


@dataclass
class Tail:
    """Reads the channel's new whole lines as they are appended (a line half-written is kept back
    until its end arrives)."""

    path: Path
    offset: int = 0
    partial: bytes = b""

    def read(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]
