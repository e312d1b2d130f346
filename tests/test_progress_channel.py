"""The live view's channel (progress_channel.py, #26 item 14): lines appended whole by the legs'
executors, read back as they come; a leg without a channel, or with a stale one, writes nothing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from helpers import git, use_backend

from wild_ci import progress_channel
from wild_ci.config import Config
from wild_ci.execute import execute
from wild_ci.generate import submit
from wild_ci.layout import PROGRESS_ENV


def test_lines_sent_are_read_back_whole_and_in_order(tmp_path: Path) -> None:
    channel = progress_channel.create(tmp_path)
    assert channel.read_bytes() == b"" and oct(channel.stat().st_mode)[-3:] == "600"
    tail = progress_channel.Tail(channel)
    env = {PROGRESS_ENV: str(channel)}
    progress_channel.send("wild-ci: experiment a got GPU 0 after waiting 0s", env)
    progress_channel.send("wild-ci: experiment a attempt 1 failed (two\nlines\r); retrying", env)
    assert tail.read() == [
        "wild-ci: experiment a got GPU 0 after waiting 0s",
        "wild-ci: experiment a attempt 1 failed (two lines ); retrying",
    ]
    assert tail.read() == []
    with channel.open("ab") as handle:  # a line half-written is kept back until its end
        handle.write(b"wild-ci: experiment a succ")
    assert tail.read() == []
    with channel.open("ab") as handle:
        handle.write(b"eeded exit=0\n")
    assert tail.read() == ["wild-ci: experiment a succeeded exit=0"]


def test_many_writers_at_once_never_interleave_a_line(tmp_path: Path) -> None:
    channel = progress_channel.create(tmp_path)
    env = {PROGRESS_ENV: str(channel)}

    def writer(n: int) -> None:
        for i in range(200):
            progress_channel.send(f"wild-ci: experiment leg-{n} line {i} " + "x" * 500, env)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = progress_channel.Tail(channel).read()
    assert len(lines) == 800 and all(line.endswith("x" * 500) for line in lines)


def test_no_channel_or_a_stale_one_writes_nothing(tmp_path: Path) -> None:
    progress_channel.send("wild-ci: experiment a succeeded exit=0", {})
    stale = tmp_path / "gone" / "progress.log"
    progress_channel.send("wild-ci: experiment a succeeded exit=0", {PROGRESS_ENV: str(stale)})
    assert not stale.parent.exists()
    missing = tmp_path / "progress.log"
    progress_channel.send("x", {PROGRESS_ENV: str(missing)})
    assert not missing.exists()
    assert progress_channel.Tail(missing).read() == []
    assert os.listdir(tmp_path) == []


LIE = "wild-ci: experiment liar succeeded exit=0 duration=1s"


@pytest.mark.parametrize("backend", ["bubblewrap", "landlock", "none"])
def test_the_channel_is_out_of_a_sandboxed_experiments_reach(
    make_repo, tmp_path: Path, monkeypatch, backend: str
) -> None:
    """The executor writes its state to the channel, the experiment never learns its name, and a
    sandboxed experiment that knows it anyway (here: its command names it) cannot write it. Without
    a sandbox it can: docs/local-runs.md says so (the e2e tests in test_live_view.py go through
    act, /proc and the environment as a real one would)."""
    use_backend(monkeypatch, backend)
    (tmp_path / "run-tmp").mkdir()
    channel = progress_channel.create(tmp_path / "run-tmp")
    monkeypatch.setenv(PROGRESS_ENV, str(channel))
    attack = (
        f"echo \"${{{PROGRESS_ENV}:-unset}}\" > given.txt; echo '{LIE}' >> {channel}; "
        # its parent's stdout: the executor's without a sandbox, bwrap's own init inside its PID
        # namespace (the command's own output), refused by Landlock (ptrace rules, /proc read-only)
        "if true >> /proc/$PPID/fd/1; then echo written; else echo refused; fi > fd.txt; exit 1"
    )
    brain = f"<experiments>\n- goal: liar\n  command: {json.dumps(attack)}\n</experiments>\n"
    repo = make_repo({"README.md": "x\n"})
    submit(repo, brain.encode(), config=Config(project_root="/brain/root"))
    workspace = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    result = execute(workspace, 1, "liar", tmp_path / "out", mirror=False)
    assert result.status == "failed"
    assert (workspace / "given.txt").read_text() == "unset\n"  # withheld from the experiment
    lines = progress_channel.Tail(channel).read()
    final = f"wild-ci: experiment liar failed exit=1 duration={result.duration_s}s"
    if backend == "none":  # the same user, no boundary: the file is its to write
        assert lines == [LIE, final]
    else:
        assert lines == [final]
    if backend == "landlock":
        assert (workspace / "fd.txt").read_text() == "refused\n"


# --- attacks on the channel itself (#26 items 14/18, attack round): where an experiment can reach
# it (no sandbox, or a config that lets its folder in), it may leave the channel in any state; its
# executor's lines still arrive whole, and neither `wild-ci run` nor another leg is held up by it.

FINAL = "wild-ci: experiment liar failed exit=1 duration=2.0s"


def _statuses(lines: list[str]) -> str | None:
    from wild_ci.engines.act.progress import ProgressTracker

    tracker = ProgressTracker(["liar"])
    for line in lines:
        tracker.feed_progress(line)
    return tracker.legs["liar"].status


def test_a_line_left_without_its_end_cannot_swallow_the_executors_status(tmp_path: Path) -> None:
    """The liar appends its lie, then a few bytes with no newline: the executor's own last line was
    glued to them, matched nothing, and the lie stayed the row's last word. (A write cut by a full
    disk leaves the same half line.)"""
    channel = progress_channel.create(tmp_path)
    with channel.open("ab") as handle:
        handle.write(f"{LIE}\nx".encode())
    progress_channel.send(FINAL, {PROGRESS_ENV: str(channel)})
    assert _statuses(progress_channel.Tail(channel).read()) == "failed"


def test_a_flood_without_newlines_is_read_in_bounded_steps(tmp_path: Path) -> None:
    """5 MB without a newline: the reader kept it all as one growing half line (copied whole on
    every poll); now it drops a line no executor would write and keeps reading."""
    channel = progress_channel.create(tmp_path)
    with channel.open("ab") as handle:
        handle.write(b"\x1b[2J" * (5 * 1024 * 1024 // 4))
    progress_channel.send(FINAL, {PROGRESS_ENV: str(channel)})
    tail = progress_channel.Tail(channel)
    assert tail.read() == []
    assert len(tail.partial) < progress_channel.MAX_LINE_BYTES
    assert tail.read_all() == [FINAL]


def test_a_channel_emptied_under_the_reader_is_read_again_from_its_start(tmp_path: Path) -> None:
    channel = progress_channel.create(tmp_path)
    env = {PROGRESS_ENV: str(channel)}
    tail = progress_channel.Tail(channel)
    progress_channel.send("wild-ci: experiment liar got GPU 0 after waiting 0s " + "x" * 100, env)
    assert len(tail.read()) == 1
    channel.write_bytes(b"")
    progress_channel.send(FINAL, env)
    assert tail.read() == [FINAL]


def _returns_within(target, seconds: float = 20.0) -> bool:
    """Whether `target()` returned (not how fast: a hang never returns)."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_a_fifo_in_the_channels_place_blocks_neither_an_executor_nor_the_reader(tmp_path: Path) -> None:
    """A fifo with no reader: an executor's open for writing blocked (every leg's executor, for its
    step's whole timeout), and so did `wild-ci run`'s read, whose thread the run waits for at its end."""
    channel = progress_channel.create(tmp_path)
    channel.unlink()
    os.mkfifo(channel)
    assert _returns_within(lambda: progress_channel.send(FINAL, {PROGRESS_ENV: str(channel)}))
    assert _returns_within(lambda: progress_channel.Tail(channel).read())
    assert progress_channel.Tail(channel).read() == []


def test_a_symlink_in_the_channels_place_is_not_followed(tmp_path: Path) -> None:
    """Planted before the run makes its channel, or put there later: the run refuses to make its
    channel through it, and an executor does not write through it."""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"")
    planted = tmp_path / "planted"
    (planted / "progress").mkdir(parents=True)
    (planted / "progress" / "progress.log").symlink_to(elsewhere)
    (planted / "progress").rename(planted / "real")
    (planted / "progress").symlink_to(planted / "real")  # the folder, too
    with pytest.raises(FileExistsError):
        progress_channel.create(planted)
    (tmp_path / "run").mkdir()
    channel = progress_channel.create(tmp_path / "run")
    channel.unlink()
    channel.symlink_to(elsewhere)
    progress_channel.send(FINAL, {PROGRESS_ENV: str(channel)})
    assert elsewhere.read_bytes() == b""
    assert progress_channel.Tail(channel).read() == []


def test_a_granted_folder_that_holds_the_channel_does_not_let_bubblewrap_reach_it(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """A user's `sandbox_paths` that lets a folder holding the run's temporary folder in (a data
    folder under /tmp, /tmp itself) put the channel in a bubblewrap experiment's reach: it wrote its
    lie there. The channel's folder is hidden inside whatever is granted, as the leg's own artifact
    folder is. (Landlock cannot hide a path inside a granted one: docs/local-runs.md says so.)"""
    import dataclasses

    from wild_ci.config import parse_config

    use_backend(monkeypatch, "bubblewrap")
    (tmp_path / "run-tmp").mkdir()
    channel = progress_channel.create(tmp_path / "run-tmp")
    monkeypatch.setenv(PROGRESS_ENV, str(channel))
    granted = parse_config(f"sandbox_paths: [{{path: {json.dumps(str(tmp_path))}, writable: true}}]\n", "t")
    attack = f"ls {channel.parent} > seen.txt 2>&1; echo '{LIE}' >> {channel}; exit 1"
    brain = f"<experiments>\n- goal: liar\n  command: {json.dumps(attack)}\n</experiments>\n"
    repo = make_repo({"README.md": "x\n"})
    submit(repo, brain.encode(), config=dataclasses.replace(granted, project_root="/brain/root"))
    workspace = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    result = execute(workspace, 1, "liar", tmp_path / "out", mirror=False)
    assert result.status == "failed" and result.sandbox == "bubblewrap"
    final = f"wild-ci: experiment liar failed exit=1 duration={result.duration_s}s"
    assert progress_channel.Tail(channel).read() == [final]
    assert (workspace / "seen.txt").read_text() == ""  # an empty folder inside


CUT_WRITE = (
    "import resource, signal, sys\n"
    "from wild_ci import progress_channel\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (20, 20))  # the disk is full after 20 bytes\n"
    "line = 'wild-ci: experiment other got GPU 0 after waiting 0s'\n"
    "progress_channel.send(line, {'WILD_CI_PROGRESS': sys.argv[1]})\n"
)


def test_a_write_cut_by_a_full_disk_costs_only_its_own_line(tmp_path: Path) -> None:
    """One executor's line cut short (the file may not grow: RLIMIT_FSIZE stands in for a full
    disk), then room again: the next executor's line is read whole."""
    import subprocess
    import sys

    channel = progress_channel.create(tmp_path)
    subprocess.run([sys.executable, "-c", CUT_WRITE, str(channel)], check=True, timeout=60)
    assert 0 < channel.stat().st_size <= 20
    progress_channel.send(FINAL, {PROGRESS_ENV: str(channel)})
    assert progress_channel.Tail(channel).read()[-1:] == [FINAL]
