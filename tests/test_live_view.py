"""The live view as a person sees it: `wild-ci run` under a pseudo-terminal, its output fed to a
terminal emulator (pyte), and the screen read back — during the run and at the end."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyte
import pytest
from helpers import IDENTITY, UNSANDBOXED, backend_or_skip, git, read_pty, run_cli

from wild_ci import sandbox

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


LIE = "wild-ci: experiment liar succeeded exit=0 duration=1s"
FAKE_GPU = "wild-ci: experiment liar got GPU 0 after waiting 0.0s"
# An experiment that prints wild-ci's own lines and tries every way it has to the live view's
# state: its output, its ancestors' stdout and stderr through /proc, and the progress channel,
# found in an ancestor's environment. Then it runs on, and fails. (Only its own ancestors up to
# `wild-ci run`: the machine's other processes and runs are not this test's to write to.)
LIAR = (
    f"echo '{LIE}'; echo '{FAKE_GPU}' >&2; "
    "p=$PPID; for _ in 1 2 3; do "
    f"echo '{LIE}' >> /proc/$p/fd/1; echo '{LIE}' >> /proc/$p/fd/2; "
    "for f in $(tr '\\0' '\\n' < /proc/$p/environ | sed -n 's/^WILD_CI_PROGRESS=//p'); "
    f"do echo '{LIE}' >> $f; echo '{FAKE_GPU}' >> $f; done; "
    "p=$(cut -d' ' -f4 /proc/$p/stat); done 2>/dev/null; "
    "sleep 4; exit 1"
)


def watch_the_liar(
    repo: Path, tmp_path: Path, before: str = "", backends: str | None = None
) -> tuple[list[str], list[str]]:
    """`wild-ci run` of the liar (and an honest experiment) under a terminal, `before` run first: the
    liar's rows seen during the run, and the screen at the end."""
    brain = tmp_path / "brain.md"
    brain.write_text(
        f"<experiments>\n- goal: Liar\n  command: {json.dumps(before + LIAR)}\n"
        "- goal: Honest\n  command: echo fine\n</experiments>\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, **IDENTITY, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)}
    if backends is not None:
        env[sandbox.BACKENDS_ENV] = backends
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
        cwd=tmp_path, env=env, stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    rows: list[str] = []

    def feed(chunk: bytes) -> None:
        stream.feed(chunk)
        rows.extend(row for row in screen.display if " liar " in f" {row} " and "│" in row)

    read_pty(master, process, feed, timeout=180)
    assert process.wait(timeout=30) == 0
    os.close(master)
    return rows, screen.display


def final_row(screen: list[str], name: str) -> str:
    """The table's row (not a line an experiment wrote on the terminal itself)."""
    return next(row for row in screen if f" {name} " in f" {row} " and "│" in row)


@pytest.mark.parametrize("backend", ["bubblewrap", "landlock"])
def test_an_experiment_cannot_move_the_live_view_in_the_sandbox(
    make_repo, tmp_path: Path, backend: str
) -> None:
    """#26 item 14: the liar printed `wild-ci: experiment liar succeeded exit=0` and its row said
    succeeded while it still ran (it ended failed); a GPU line showed it on GPU 0. In bubblewrap
    (its own PID namespace, the channel not in its file system) and in Landlock (the channel and
    /proc's file descriptors refused; its ancestors' environments, and so the channel's name, are
    readable there) nothing it tries moves its row."""
    backend_or_skip(backend)
    repo = make_repo()
    # the channel where it is on the host, too (bubblewrap: /tmp is the leg's own; Landlock: refused)
    by_name = f"for f in /tmp/wild-ci-run-*/progress/progress.log; do echo '{LIE}' >> $f; done 2>/dev/null; "
    rows, screen = watch_the_liar(repo, tmp_path, by_name, backend)
    assert any("running" in row for row in rows), "the liar was never seen running"
    assert not [row for row in rows if "succeeded" in row or "GPU" in row]
    assert "failed" in final_row(screen, "liar") and "succeeded" in final_row(screen, "honest")
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert {e["id"]: e["sandbox"] for e in results["experiments"]} == {"liar": backend, "honest": backend}


def on_the_channel(action: str) -> str:
    """A command that finds the progress channel as an unsandboxed experiment can (its name in an
    ancestor's environment, up to four generations up), runs `action` on it as "$f", and exits 3."""
    return (
        "p=$PPID; for _ in 1 2 3 4; do "
        "for f in $(tr '\\0' '\\n' < /proc/$p/environ | sed -n 's/^WILD_CI_PROGRESS=//p'); "
        f"do {action}; done; "
        "p=$(cut -d' ' -f4 /proc/$p/stat); done 2>/dev/null | sort -u; exit 3"
    )


def test_without_a_sandbox_the_liar_moves_its_row_until_its_executor_ends_it(
    make_repo, tmp_path: Path
) -> None:
    """What holds without a sandbox (docs/local-runs.md): the same user's experiment finds the
    channel and writes it, so its row may lie while it runs; its executor's own line, written once
    every process of the experiment has ended, is the last word. (This also shows the attack above
    is real: only the sandbox stops it.)"""
    repo = make_repo(UNSANDBOXED)
    rows, screen = watch_the_liar(repo, tmp_path)
    assert any("succeeded" in row for row in rows)
    assert "failed" in final_row(screen, "liar") and "succeeded" in final_row(screen, "honest")


def test_a_fifo_put_in_the_channels_place_holds_up_no_leg_and_not_the_run(make_repo, tmp_path: Path) -> None:
    """Without a sandbox an experiment found the channel (its ancestors' environments) and put a
    fifo in its place: every executor's next line blocked on opening it (no reader), and so did
    `wild-ci run`'s reader, which the run waits for at its end — the run never ended. Now both open
    it without blocking and skip what is not a regular file: the run ends, every result recorded."""
    repo = make_repo(UNSANDBOXED)
    swap = on_the_channel('rm -f "$f" && mkfifo "$f" && echo swapped')
    brain = tmp_path / "brain.md"
    brain.write_text(
        f"<experiments>\n- goal: Swapper\n  command: {json.dumps(swap)}\n"
        "- goal: Honest\n  command: sleep 3; echo fine\n</experiments>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(repo), timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert {e["id"]: e["status"] for e in results["experiments"]} == {
        "swapper": "failed",
        "honest": "succeeded",
    }
    logs = repo / ".git" / "wild-ci" / "runs" / "main" / "0001" / "legs" / "swapper"
    assert "swapped" in (logs / "stdout.log").read_text()  # the attack was made


def test_a_malformed_line_in_the_channel_ends_neither_the_live_view_nor_the_run(
    make_repo, tmp_path: Path
) -> None:
    """Without a sandbox an experiment wrote `… succeeded exit=0 duration=1.2.3s` to the channel:
    the reader's float() raised, and the thread that reads the channel died with a traceback on the
    terminal (the live view showed no leg's state after it). Now the line matches nothing."""
    repo = make_repo(UNSANDBOXED)
    bad = "wild-ci: experiment writer succeeded exit=0 duration=1.2.3s"
    write = on_the_channel(f"echo '{bad}' >> \"$f\" && echo written")
    brain = tmp_path / "brain.md"
    brain.write_text(
        f"<experiments>\n- goal: Writer\n  command: {json.dumps(write)}\n"
        "- goal: Honest\n  command: sleep 2; echo fine\n</experiments>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(repo), timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    assert b"Traceback" not in done.stderr
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert {e["id"]: e["status"] for e in results["experiments"]} == {
        "writer": "failed",
        "honest": "succeeded",
    }
    logs = repo / ".git" / "wild-ci" / "runs" / "main" / "0001" / "legs" / "writer"
    assert "written" in (logs / "stdout.log").read_text()
