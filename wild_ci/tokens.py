"""The user's GitHub token, out of every leg's reach (issue 23: in every mode, sandbox or not).

`wild-ci run --pr N` needs the token for one thing: the results comment, which this process posts
once act and every leg have ended. So the token goes into no file, no argument and no environment of
act or a job (engines/act/runs.py). One place is left that a same-user leg can read without a kernel
sandbox: this process's own /proc/<pid>/environ, which shows the environment block the process was
started with, whatever Python's `os.environ` says later. `hide_from_proc` blanks the values there.
The token lives on in this process's memory, which `seal_process` closes to other processes of the
same (non-root) user: a process that is not dumpable has its /proc/<pid>/ files owned by root, and
ptrace (so /proc/<pid>/mem, environ, fd) is refused to them (prctl(2) PR_SET_DUMPABLE; ptrace(2),
"Ptrace access mode checking"). Root reads everything; a PID namespace (the sandbox) hides it too.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable
from pathlib import Path

# the variables wild-ci reads a GitHub token from, and the GitHub CLI's, which a user may have set
TOKEN_VARIABLES = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT", "GH_ENTERPRISE_TOKEN"})
_ENV_START_FIELD, _ENV_END_FIELD = 50, 51  # /proc/<pid>/stat, 1-based (proc(5), Linux 3.5+)
PR_SET_DUMPABLE = 4  # linux/prctl.h


def seal_process() -> bool:
    """Make this process not dumpable (Linux): no other non-root process reads its memory or its
    /proc/<pid>/environ. Children that exec a program are dumpable again (execve resets it), so act
    and the legs are unaffected. False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def hide_from_proc(names: Iterable[str] = TOKEN_VARIABLES) -> list[str]:
    """Blank the values of `names` in this process's original environment block (what
    /proc/self/environ shows); returns the names that were there. Python's `os.environ` keeps them
    (a child started with it gets them unless its environment is built without them, as act's is).
    Where the block cannot be found (not Linux, an old kernel), nothing changes."""
    wanted = {name.encode() + b"=" for name in names}
    try:
        start, end = _environment_block()
        block = ctypes.string_at(start, end - start)
    except (OSError, ValueError, IndexError):
        return []
    hidden = []
    offset = 0
    for entry in block.split(b"\0"):
        prefix = next((w for w in wanted if entry.startswith(w)), None)
        if prefix is not None and len(entry) > len(prefix):
            ctypes.memset(start + offset + len(prefix), ord("*"), len(entry) - len(prefix))
            hidden.append(prefix[:-1].decode())
        offset += len(entry) + 1
    return hidden


def _environment_block() -> tuple[int, int]:
    """Where this process's original environment strings are: [start, end)."""
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (the state)
    start, end = int(fields[_ENV_START_FIELD - 3]), int(fields[_ENV_END_FIELD - 3])
    if not 0 < start < end:
        raise ValueError("no environment block")
    return start, end
