"""An experiment's output is data on a person's terminal: `wild-ci run` under a pseudo-terminal, its
live view fed to a terminal emulator (pyte) that records every control function it was asked to
perform. Output that looks like rich markup shows literally; escape sequences show as escapes and
are never performed (no title change, no cleared screen, no bell)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyte
import pytest
from helpers import IDENTITY, git, read_pty

pytestmark = pytest.mark.e2e
COLUMNS, ROWS = 160, 40
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MARKUP = {
    "reading": "reading [/tmp/data.csv]",
    "epoch": "Epoch [/10]",
    "done": "done [/]",
    "styled": "[bold red]x[/]",
}
ESCAPES = r"\033]0;pwned\007\033[2J\007\000!"  # printf: OSC title, clear screen, BEL, NUL
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x07\\x00!"


class RecordingScreen(pyte.Screen):
    """A screen that remembers the control functions it performed."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.performed: list[str] = []

    def set_title(self, param: str) -> None:
        self.performed.append(f"title {param!r}")
        super().set_title(param)

    def bell(self, *args: object) -> None:
        self.performed.append("bell")

    def erase_in_display(self, how: int = 0, *args: object, **kwargs: object) -> None:
        if how in (2, 3):
            self.performed.append(f"erase display {how}")
        super().erase_in_display(how, *args, **kwargs)


def test_markup_and_escape_sequences_in_output_are_shown_not_obeyed(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    items = "".join(f"- goal: \"{name} {text}\"\n  command: echo '{text}'\n" for name, text in MARKUP.items())
    items += f"- goal: escapes\n  command: |\n    printf '{ESCAPES}\\n'\n"
    brain = tmp_path / "brain.md"
    brain.write_text(f"<experiments>\n{items}</experiments>\n")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, **IDENTITY, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)}
    stdout = tmp_path / "stdout"
    with stdout.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
            cwd=tmp_path, env=env, stdin=slave, stdout=out, stderr=slave, close_fds=True,
        )  # fmt: skip
    os.close(slave)
    screen = RecordingScreen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    read_pty(master, process, stream.feed, timeout=240)
    code = process.wait(timeout=30)
    os.close(master)
    final = "\n".join(line.rstrip() for line in screen.display)
    assert code == 0, final
    assert screen.performed == [] and screen.title == "", screen.performed
    rows = {name: next(row for row in screen.display if f" {name}" in row) for name in [*MARKUP, "escapes"]}
    for name, text in MARKUP.items():
        assert text in rows[name] and "succeeded" in rows[name], rows[name]
    assert SHOWN in rows["escapes"], rows["escapes"]

    context = stdout.read_text()
    assert RAW.search(context.replace("\n", "").replace("\t", "")) is None, repr(context)
    assert SHOWN in context and all(text in context for text in MARKUP.values())
    results_md = git(repo, "show", "wild/main:.wild/iterations/0001/results.md")
    assert RAW.search(results_md.replace("\n", "").replace("\t", "")) is None
    assert SHOWN in results_md and "reading [/tmp/data.csv]" in results_md

    shown = subprocess.run(
        [sys.executable, "-m", "wild_ci", "show", "--repo", str(repo)],
        env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "styled [bold red]x[/]" in shown.stdout and "reading [/tmp/data.csv]" in shown.stdout
    assert RAW.search(shown.stdout.replace("\n", "")) is None
