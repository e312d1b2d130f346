"""No survivors: every process an experiment started ends with its leg.

Ending the experiment's process group is not enough: a process that calls `setsid` (or `setpgid`)
leaves the group, and one that double-forks is re-parented away from the leg. So the executor
becomes a *child subreaper* (Linux's `prctl(PR_SET_CHILD_SUBREAPER)`): every orphan below it is
re-parented to it instead of to init, and stays findable as its descendant. When the experiment's
group has ended, `end_descendants` signals every remaining descendant (found by walking /proc),
SIGTERM with a grace, then SIGKILL, and reaps them, round after round until none is left.

Elsewhere (macOS, or a Linux without /proc) there is no subreaper: only the process group and the
descendants still linked to the executor are ended; an orphan that left the group escapes. Cgroups
(which would also catch a process that leaves the subtree entirely) are not used: a runner's user
rarely has a delegated cgroup, and the subreaper covers setsid and double forks. A process started
outside the leg's process tree on its behalf (systemd-run --user, at, a server the experiment asks
to fork) is out of reach of both.

Standard library only (every leg loads this module); ctypes costs about 3 ms of the leg's start-up,
which every leg on Linux needs for the prctl anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Collection
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
PR_GET_CHILD_SUBREAPER = 37
PROC = Path("/proc")
ROUND_PAUSE_S = 0.02
GIVE_UP_S = 30.0  # a fork bomb faster than SIGKILL: stop trying, and say so


def become_subreaper(on: bool = True) -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False where that is not
    possible, and then end_descendants finds only descendants still linked to this process.
    `on=False` stops adopting (the loop is a subreaper only while its brain runs)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def is_subreaper() -> bool:
    """Whether this process adopts its orphaned descendants now (Linux's PR_GET_CHILD_SUBREAPER)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flag = ctypes.c_int(0)
        return libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value != 0
    except (OSError, AttributeError):
        return False


def _processes() -> dict[int, tuple[int, bool]]:
    """Every visible process: its parent, and whether it is a zombie (empty without /proc)."""
    processes = {}
    try:
        entries = os.listdir(PROC)
    except OSError:
        return {}
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(PROC / name / "stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # it ended meanwhile
        # pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            processes[int(name)] = (int(fields[1]), fields[0] == b"Z")
    return processes


def descendants(root: int | None = None) -> set[int]:
    """The live (not zombie) processes below `root` (this process by default)."""
    return _below(_processes(), os.getpid() if root is None else root)


def _below(processes: dict[int, tuple[int, bool]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, zombie) in processes.items():
        if not zombie:
            children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def _signal(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _survey(spare: Collection[int]) -> set[int]:
    """The live descendants not spared; on the way, reap this process's ended children that are
    not spared (adopted orphans, killed survivors): by pid, so no other wait in this process loses
    its child's status."""
    me = os.getpid()
    processes = _processes()
    for pid, (parent, zombie) in processes.items():
        if zombie and parent == me and pid not in spare:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
    return _below(processes, me) - set(spare)


def end_descendants(spare: Collection[int] = (), grace_s: float = 2.0) -> list[int]:
    """End every descendant of this process except those in `spare` (pids that existed before the
    leg began): SIGTERM, up to `grace_s` for them to go, then SIGKILL round after round (each round
    finds what was re-parented or forked meanwhile) until none is left. Returns the pids it had to
    end (empty in the common case, which costs one scan of /proc)."""
    found = _survey(spare)
    if not found:
        return []
    ended = set(found)
    _signal(found, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while found and time.monotonic() < deadline:
        time.sleep(ROUND_PAUSE_S)
        found = _survey(spare)
        ended |= found
    give_up = time.monotonic() + GIVE_UP_S
    while found and time.monotonic() < give_up:
        _signal(found, signal.SIGSTOP)  # stopped, they cannot fork more while the round goes on
        _signal(found, signal.SIGKILL)
        time.sleep(ROUND_PAUSE_S)
        found = _survey(spare)
        ended |= found
    _survey(spare)  # reap the last ones
    return sorted(ended)
