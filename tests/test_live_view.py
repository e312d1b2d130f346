"""The live view as a person sees it: `wild-ci run` under a pseudo-terminal, its output fed to a
terminal emulator (pyte), and the screen read back — during the run and at the end."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyte
import pytest
from helpers import IDENTITY, read_pty

pytestmark = pytest.mark.e2e
COLUMNS, ROWS = 120, 30


def test_the_live_table_shows_each_experiment_and_its_state(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = tmp_path / "brain.md"
    brain.write_text(
        "<experiments>\n- goal: Quick one\n  command: echo hello\n"
        "- goal: Slow one\n  command: echo working; sleep 3; echo finished\n"
        "- goal: Broken one\n  command: echo oops >&2; exit 4\n</experiments>\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, **IDENTITY, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)}
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
        cwd=tmp_path, env=env, stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    seen_running = []

    def feed(chunk: bytes) -> None:
        stream.feed(chunk)
        if any("slow-one" in line and "running" in line for line in screen.display):
            seen_running.append(True)

    read_pty(master, process, feed, timeout=180)
    assert process.wait(timeout=30) == 0
    os.close(master)
    final = "\n".join(line.rstrip() for line in screen.display)
    assert seen_running, "the slow experiment was never shown as running"
    assert "wild-ci run" in final
    rows = {
        name: next(row for row in screen.display if name in row)
        for name in ("quick-one", "slow-one", "broken-one")
    }
    assert "succeeded" in rows["quick-one"] and "succeeded" in rows["slow-one"]
    assert "failed" in rows["broken-one"]
    assert "finished" in rows["slow-one"]  # the last line of its output
    assert any("collect" in row and "succeeded" in row for row in screen.display)
