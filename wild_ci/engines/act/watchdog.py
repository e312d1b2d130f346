"""Ending what act started, from wild-ci or from its watchdog — standard library only: the watchdog
runs this file as a script (`python -I -S watchdog.py GRACE`), without the package.

act runs each step as a process of a session of its own (its own `setsid`), so neither act's
process group nor its session holds the legs: the tree below act, walked in /proc, does. The gentle
signal (SIGTERM) goes to act's direct children, the steps, first — each leg's executor then ends
its experiment (it is a child subreaper) and records it `cancelled` with its partial logs — and to
act once they have ended (act kills its steps at once when it is signalled); what is left of the
tree after the grace, or once act and the steps are gone (nothing would end it then), is killed.

The watchdog: wild-ci starts it before act, in a session of its own (a terminal's Ctrl-C or hang-up
does not reach it), with a pipe on its stdin whose write end only wild-ci holds, and writes act's pid
into it. End of file without "done" means wild-ci died without ending act (SIGKILL, a crash): the
watchdog ends act's tree as wild-ci would have. A pipe's end of file reaches it whatever killed
wild-ci; PR_SET_PDEATHSIG would reach act only (not the legs under it) and needs a preexec_fn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable

KILL_WAIT_S = 5.0  # after SIGKILL: how long to keep killing what the tree still starts


def _processes() -> dict[int, tuple[int, str]]:
    """Every live (not zombie) process: pid → (parent pid, start time)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                found[int(entry)] = (int(fields[1]), fields[19])
    return found


def _tree(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    """root and its descendants that are alive: pid → start time."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _start) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in found:
            found[pid] = table[pid][1]
            todo += children.get(pid, [])
    return found


def _signal_all(pids: dict[int, str], table: dict[int, tuple[int, str]], sig: int) -> None:
    for pid, start in pids.items():
        if table.get(pid, (0, ""))[1] == start:  # the same process, not a reused pid
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


def end_tree(
    root: int,
    grace: float,
    at_once: Callable[[], bool] = lambda: False,
    reap: Callable[[], object] = lambda: None,
) -> None:
    """SIGTERM to act and its steps, up to `grace` seconds for the legs to record themselves (less
    if `at_once()` turns true), then SIGKILL to every process of the tree still alive."""
    table = _processes()
    seen = _tree(root, table)
    deadline = time.monotonic() + grace
    # The steps first, act only once they have ended (or the grace is half spent): act answers
    # SIGTERM by killing its steps at once, so a leg signalled together with act never recorded its
    # experiment, and the experiment never got its SIGTERM (a checkpoint on SIGTERM never ran).
    steps = {pid: start for pid, start in seen.items() if pid != root and table[pid][0] == root}
    _signal_all(steps, table, signal.SIGTERM)
    halfway = time.monotonic() + grace / 2
    while time.monotonic() < halfway and not at_once():
        reap()
        table = _processes()
        if not any(table.get(pid, (0, ""))[1] == start for pid, start in steps.items()):
            break
        time.sleep(0.1)
    table = _processes()
    seen.update(_tree(root, table))
    gentle = {pid: start for pid, start in seen.items() if pid == root or table.get(pid, (0, ""))[0] == root}
    _signal_all(gentle, table, signal.SIGTERM)
    while True:
        reap()
        table = _processes()
        seen.update(_tree(root, table))
        left = {pid: start for pid, start in seen.items() if table.get(pid, (0, ""))[1] == start}
        if not left:
            return
        if time.monotonic() >= deadline or at_once() or not gentle.keys() & left.keys():
            break  # act and its steps are gone: nothing is left to end the rest gently
        time.sleep(0.1)
    deadline = time.monotonic() + KILL_WAIT_S
    while left and time.monotonic() < deadline:
        _signal_all(left, table, signal.SIGKILL)
        time.sleep(0.05)
        reap()
        table = _processes()
        seen.update(_tree(root, table))
        left = {pid: start for pid, start in seen.items() if table.get(pid, (0, ""))[1] == start}


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    line = sys.stdin.buffer.readline().strip()
    if line.isdigit() and not sys.stdin.buffer.read().startswith(b"done"):
        end_tree(int(line), float(sys.argv[1]))


if __name__ == "__main__":
    main()
