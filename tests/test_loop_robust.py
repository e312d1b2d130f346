"""Issue #26, items 10-12: a brain that never answers ends at --brain-timeout with its whole
process tree; each turn keeps its prompt (and a refused output) in its own file; a session branch
moved under the loop is noticed and named."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from helpers import git

from wild_ci import ledger, loop
from wild_ci.config import Config


def _gone(pid: int, within_s: float = 10.0) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + within_s
    while True:
        try:
            if stat.read_text().split()[2] == "Z":
                return True
        except FileNotFoundError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _daemon(pid_file: Path) -> str:
    """A shell command starting a setsid daemon that writes its pid and outlives its parent."""
    return f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 300' </dev/null >/dev/null 2>&1 &"


def test_a_brain_that_never_answers_is_ended_at_the_timeout_with_its_daemon(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    start = time.monotonic()
    reply = loop.ask_brain(f"{_daemon(pid_file)} sleep 300", "", tmp_path, 1000, timeout_s=1.0)
    assert reply.timed_out and time.monotonic() - start < 30
    daemon = int(pid_file.read_text())
    try:
        assert _gone(daemon), "the setsid daemon outlived the brain"
    finally:
        if not _gone(daemon, 0):
            os.kill(daemon, 9)  # not left behind by a failing test


def test_a_daemon_left_by_a_brain_that_answered_is_ended_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    reply = loop.ask_brain(f"{_daemon(pid_file)} sleep 0.3; echo answered", "", tmp_path, 1000)
    assert reply.output == b"answered\n" and not reply.timed_out
    daemon = int(pid_file.read_text())
    try:
        assert _gone(daemon), "the setsid daemon outlived the brain's turn"
    finally:
        if not _gone(daemon, 0):
            os.kill(daemon, 9)  # not left behind by a failing test


def test_the_loop_fails_the_turn_like_a_failing_brain_at_the_timeout(make_repo) -> None:
    repo = make_repo()
    options = loop.LoopOptions(brain="sleep 300", max_turns=1, brain_timeout_s=1.0)
    with pytest.raises(loop.BrainFailed, match=r"did not answer within 1\.0 s .*its prompt: .*\.prompt\.md"):
        loop.drive(repo, options, Config(), io.StringIO())
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_each_turn_keeps_its_prompt_and_a_refused_output_beside_it(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    count = tmp_path / "count"
    brain = (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; "
        f"if [ $n = 0 ]; then printf '<experiments>\\n- goal: no command\\n</experiments>\\n'; "
        "else echo '<promise>DONE</promise>'; fi"
    )
    end = loop.drive(repo, loop.LoopOptions(brain=brain, max_turns=2), Config(), io.StringIO())
    assert end.done
    folder = Path(ledger.open_repo(repo).common_dir) / "wild-ci" / "loop" / "main"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [  # and the reflection prompt on the DONE of iteration 0001 (#28)
        "0001-2.prompt.md", "0001.prompt.md", "0001.reflection.prompt.md", "0001.refused.md"
    ], names  # fmt: skip
    assert "no command" in (folder / "0001.refused.md").read_text()
    assert "'command' is required" in (folder / "0001-2.prompt.md").read_text()


def test_a_session_branch_moved_under_the_loop_is_noticed(make_repo) -> None:
    repo = make_repo()
    git(repo, "branch", "wild/main", "HEAD")
    git(repo, "commit", "--allow-empty", "-qm", "second")
    ledger_repo = ledger.open_repo(repo)
    before = ledger.branch_tip(ledger_repo, "wild/main")
    brain = "git branch -f wild/main HEAD; echo '<promise>DONE</promise>'"
    with pytest.raises(loop.BranchMoved, match="wild/main moved while the brain ran"):
        loop.drive(repo, loop.LoopOptions(brain=brain, max_turns=1), Config(), io.StringIO())
    assert ledger.branch_tip(ledger_repo, "wild/main") != before  # as the brain left it: named, not undone


def test_the_progress_line_counts_every_item_of_the_block() -> None:
    """Item 17: a block of three items read "1 experiment, promise WAITING, 2 error(s)"."""
    from wild_ci.parse import parse_brain_output

    parsed = parse_brain_output(
        "<experiments>\n- goal: a\n  command: ls\n- goal: b\n- goal: c\n</experiments>\n"
        "<promise>WAITING</promise>\n"
    )
    assert loop.answered_counts(parsed) == "1 experiment and 2 invalid items, promise WAITING, 2 error(s)"
