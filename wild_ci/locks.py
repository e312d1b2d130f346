"""A lock file that says who holds it: one `wild-ci run` or `wild-ci loop` per session at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class Held(Exception):
    """The lock is taken; `holder` is what its holder wrote (`pid N`), or "another process"."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


@contextlib.contextmanager
def pid_lock(path: Path) -> Iterator[int]:
    """An exclusive flock on `path`, with `pid N` written in it while held; raises `Held` at once
    when it is taken. An flock ends with its holder, however it ends; on exit it is also released
    explicitly, since a child that inherited the descriptor would otherwise keep it. Yields the
    descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise Held(handle.read().strip() or "another process") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield handle.fileno()
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
