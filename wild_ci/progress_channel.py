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
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .layout import PROGRESS_DIR, PROGRESS_ENV, PROGRESS_FILE

MAX_LINE_BYTES = 2048  # one write below PIPE_BUF's worth: appended whole, never interleaved
READ_MAX_BYTES = 1024 * 1024  # what one read of the channel takes in: a flood is read in steps
# Opened never blocking (a fifo put in its place has no reader, or no writer) and never through a
# symlink at its own name: the channel is a regular file `create` made, or it is not used.
OPEN_FLAGS = os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW


def create(tmp: Path) -> Path:
    """The run's channel, empty, in a folder of its own under `tmp` (none of a leg's granted paths
    holds it)."""
    folder = tmp / PROGRESS_DIR
    folder.mkdir(mode=0o700)  # new: a folder (or a symlink) already there is not the run's own
    path = folder / PROGRESS_FILE
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, 0o600))
    return path


def send(line: str, environ: Mapping[str, str] | None = None) -> None:
    """Append one line to the run's channel, if this leg has one. Never created here (a stale name
    makes no file), and a channel that is gone, full or no regular file costs the line, never the
    leg (a fifo in its place would block the open). The line starts with a newline: whatever was
    written before it without an end (a write cut by a full disk, or one made to glue the next line
    to it) ends there, and this line is read whole."""
    path = (os.environ if environ is None else environ).get(PROGRESS_ENV)
    if not path:
        return
    text = " ".join(line.split("\n")).replace("\r", " ")
    data = b"\n" + text.encode("utf-8", errors="backslashreplace")[: MAX_LINE_BYTES - 2] + b"\n"
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | OPEN_FLAGS)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.write(fd, data)
        finally:
            os.close(fd)


@dataclass
class Tail:
    """Reads the channel's new whole lines as they are appended (a line half-written is kept back
    until its end arrives). Bounded whatever is written there: at most READ_MAX_BYTES a read, a
    line longer than MAX_LINE_BYTES dropped (no executor writes one), empty lines skipped; a
    channel made shorter (emptied, replaced) is read again from its start."""

    path: Path
    offset: int = 0
    partial: bytes = b""
    dropping: bool = False  # within a line too long to keep, until its end

    def read(self) -> list[str]:
        """The whole lines appended since the last read (up to READ_MAX_BYTES of them)."""
        return self._lines(self._new_bytes())

    def read_all(self) -> list[str]:
        """Every line appended so far: the last read, once the writers are gone."""
        lines: list[str] = []
        while data := self._new_bytes():
            lines += self._lines(data)
        return lines

    def _lines(self, data: bytes) -> list[str]:
        *lines, rest = data.split(b"\n")
        if lines:
            lines[0] = b"" if self.dropping else self.partial + lines[0]
            self.partial, self.dropping = rest, False
        elif not self.dropping:
            self.partial += rest
        if len(self.partial) >= MAX_LINE_BYTES:
            self.partial, self.dropping = b"", True
        kept = (line for line in lines if line and len(line) < MAX_LINE_BYTES)
        return [line.decode("utf-8", errors="replace") for line in kept]

    def _new_bytes(self) -> bytes:
        """Up to READ_MAX_BYTES from where the last read stopped; nothing when the channel is gone
        or no regular file."""
        try:
            fd = os.open(self.path, os.O_RDONLY | OPEN_FLAGS)
        except OSError:
            return b""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return b""
            if info.st_size < self.offset:  # emptied or replaced: what is there now is new
                self.offset, self.partial, self.dropping = 0, b"", False
            data = os.pread(fd, READ_MAX_BYTES, self.offset)
        except OSError:
            return b""
        finally:
            os.close(fd)
        self.offset += len(data)
        return data
