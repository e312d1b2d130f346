"""Signals and kills of `wild-ci run` (issue 15, observation 3), end to end through the real act:
no process is left, the iteration is recorded, the next command recovers a run that died."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from helpers import IDENTITY, alive_anywhere, git, read_pty, run_cli, writable_for_tests

pytestmark = pytest.mark.e2e

STOPPING = "wild-ci: stopping… (Ctrl-C again to stop at once)"


def brain(started: Path, pids: Path, trap: str = "") -> str:
    """One experiment that ends at once; one that writes its shell's and its sleep's pids, then waits."""
    slow = f"{trap}sleep 120 & echo $! >> {pids}; echo $$ >> {pids}; echo begun; touch {started}; wait"
    return (
        "<experiments>\n- goal: quick\n  command: echo quick\n"
        f"- goal: slow\n  command: {json.dumps(slow)}\n</experiments>\n"
    )


def start(repo: Path, tmp_path: Path, text: str, started: Path) -> tuple[subprocess.Popen, list[int]]:
    """`wild-ci run` in the background, once the slow experiment runs; with its children's pids."""
    (tmp_path / "brain.md").write_text(text)
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "run", str(tmp_path / "brain.md"), "--repo", str(repo)],
        cwd=tmp_path, env={**os.environ, **IDENTITY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not started.exists():
        assert time.monotonic() < deadline and process.poll() is None, "the experiment never started"
        time.sleep(0.1)
    time.sleep(1.0)  # the quick one uploads its artifact
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    acts = [
        int(p) for p in children if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].endswith(b"act")
    ]
    assert len(acts) == 1, children
    return process, acts


def left_running(pids: list[int], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive_anywhere(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive_anywhere(p)]


def tmp_folder_of(act: int) -> Path:
    arguments = Path(f"/proc/{act}/cmdline").read_bytes().decode().split("\0")
    return Path(arguments[arguments.index("--action-cache-path") + 1]).parent


def recorded(repo: Path) -> dict[str, dict]:
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    return {e["id"]: e for e in results["experiments"]}


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_ends_act_and_every_leg_and_records_the_iteration(make_repo, tmp_path: Path, sig) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    started, pids = tmp_path / "started", tmp_path / "pids"
    process, acts = start(repo, tmp_path, brain(started, pids), started)
    tmp = tmp_folder_of(acts[0])
    process.send_signal(sig)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert STOPPING in err.decode()
    assert left_running([*acts, *map(int, pids.read_text().split())], within=2) == []
    by_id = recorded(repo)
    assert by_id["quick"]["status"] == "succeeded"
    assert by_id["slow"]["status"] == "cancelled" and by_id["slow"]["stdout_tail"] == "begun"
    assert not tmp.exists()
    status = json.loads(run_cli("status", "--repo", str(repo), "--json").stdout)
    assert status["sessions"][0]["iterations"][0]["state"] == "collected"


def test_the_first_signal_lets_the_leg_stop_its_experiment_and_record_it(make_repo, tmp_path: Path) -> None:
    """act kills its steps at once when it is signalled: signalled together with act, the leg never
    forwarded SIGTERM (an experiment's checkpoint-on-SIGTERM never ran) nor recorded its experiment
    (the collector's "the leg stopped before the experiment finished" stood in for it)."""
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    started, pids, trapped = tmp_path / "started", tmp_path / "pids", tmp_path / "trapped"
    trap = f"trap 'echo checkpoint > {trapped}; exit 1' TERM; "
    process, _acts = start(repo, tmp_path, brain(started, pids, trap), started)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert trapped.read_text() == "checkpoint\n"
    slow = recorded(repo)["slow"]
    assert slow["status"] == "cancelled" and slow["note"] == "the leg was cancelled"


def test_a_second_signal_stops_at_once(make_repo, tmp_path: Path) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    started, pids = tmp_path / "started", tmp_path / "pids"
    process, acts = start(repo, tmp_path, brain(started, pids, trap="trap '' TERM; "), started)
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert STOPPING in err.decode() and "wild-ci: stopping at once" in err.decode()
    assert left_running([*acts, *map(int, pids.read_text().split())], within=3) == []
    by_id = recorded(repo)
    assert by_id["quick"]["status"] == "succeeded"
    assert by_id["slow"]["status"] in ("cancelled", "missing")


def sigkilled_run(repo: Path, tmp_path: Path) -> Path:
    """A run whose wild-ci was SIGKILLed mid-experiment, once its watchdog has ended everything it
    started; the run's /tmp folder (the next command's to clean up)."""
    started, pids = tmp_path / "started", tmp_path / "pids"
    process, acts = start(repo, tmp_path, brain(started, pids), started)
    tmp = tmp_folder_of(acts[0])
    process.kill()
    process.communicate(timeout=10)
    assert left_running([*acts, *map(int, pids.read_text().split())], within=10) == []
    return tmp


def test_sigkill_of_wild_ci_ends_act_and_the_next_status_recovers_the_run(make_repo, tmp_path: Path) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    tmp = sigkilled_run(repo, tmp_path)
    done = run_cli("status", "--repo", str(repo), "--json")
    assert done.returncode == 0, done.stderr.decode()
    assert b"had died; recorded from what act kept" in done.stderr
    iteration = json.loads(done.stdout)["sessions"][0]["iterations"][0]
    assert iteration["state"] == "collected"
    by_id = recorded(repo)
    assert by_id["quick"]["status"] == "succeeded"
    assert by_id["slow"]["status"] in ("cancelled", "missing") and by_id["slow"]["stdout_tail"] == "begun"
    assert not tmp.exists()
    assert not list((repo / ".git" / "wild-ci" / "runs").glob("*/*/running.json"))


def test_sigkill_of_wild_ci_is_recovered_by_the_next_run(make_repo, tmp_path: Path) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    tmp = sigkilled_run(repo, tmp_path)
    (tmp_path / "next.md").write_text("<experiments>\n- goal: next\n  command: echo next\n</experiments>\n")
    done = run_cli("run", str(tmp_path / "next.md"), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"iteration 0001 (pid" in done.stderr
    assert recorded(repo)["quick"]["status"] == "succeeded"
    assert not tmp.exists()
    states = json.loads(run_cli("status", "--repo", str(repo), "--json").stdout)["sessions"][0]["iterations"]
    assert [s["state"] for s in states] == ["collected", "collected"]


def test_the_first_ctrl_c_stops_the_live_table_and_says_so(make_repo, tmp_path: Path) -> None:
    """Under a pseudo-terminal (the live table): after the signal the table is drawn once more,
    then the message; nothing ticks after it, and the run ends without waiting out a grace."""
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    started, pids = tmp_path / "started", tmp_path / "pids"
    (tmp_path / "brain.md").write_text(brain(started, pids))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "run", str(tmp_path / "brain.md"), "--repo", str(repo)],
        cwd=tmp_path, env={**os.environ, **IDENTITY, "TERM": "xterm-256color", "COLUMNS": "120"},
        stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    stopped_at: list[float] = []

    def interrupt_once_started() -> None:
        if not stopped_at and started.exists():
            time.sleep(1.0)
            process.send_signal(signal.SIGINT)
            stopped_at.append(time.monotonic())

    read_pty(master, process, chunks.append, timeout=120, each_round=interrupt_once_started)
    output = b"".join(chunks)
    assert process.wait(timeout=30) == 130
    os.close(master)
    assert stopped_at and time.monotonic() - stopped_at[0] < 10
    text = output.decode(errors="replace")
    assert STOPPING in text
    assert "wild-ci run" not in text.split(STOPPING, 1)[1]  # the table stopped before the message
    assert recorded(repo)["slow"]["status"] == "cancelled"


def test_the_terminal_closing_ends_the_run_and_records_it(make_repo, tmp_path: Path) -> None:
    """A closed terminal: the live table's writes fail (EIO), then SIGHUP comes."""
    repo = make_repo(writable_for_tests(tmp_path))  # its marker and pid files
    started, pids = tmp_path / "started", tmp_path / "pids"
    (tmp_path / "brain.md").write_text(brain(started, pids))
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "run", str(tmp_path / "brain.md"), "--repo", str(repo)],
        cwd=tmp_path, env={**os.environ, **IDENTITY, "TERM": "xterm-256color"},
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    deadline = time.monotonic() + 90
    while not started.exists():
        assert time.monotonic() < deadline and process.poll() is None, "the experiment never started"
        if select.select([master], [], [], 0.1)[0]:
            os.read(master, 65536)
    time.sleep(1.0)
    acts = [
        int(p)
        for p in subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
        ).stdout.split()
    ]
    os.close(master)
    time.sleep(0.5)
    process.send_signal(signal.SIGHUP)
    process.wait(timeout=60)
    assert left_running([*acts, *map(int, pids.read_text().split())], within=3) == []
    by_id = recorded(repo)
    assert by_id["quick"]["status"] == "succeeded"
    assert by_id["slow"]["status"] == "cancelled"
