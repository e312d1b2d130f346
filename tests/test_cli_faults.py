"""The user's or the machine's faults found by the old-vs-new CLI diff: a message and exit 1/2,
never the "bug in wild-ci" traceback (exit 3)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git
import pytest

from wild_ci import errors, ledger
from wild_ci.cli import app
from wild_ci.engines.act import artifacts
from wild_ci.execute import main as leg_main

BRAIN = b'<experiments>\n- goal: "Say hello"\n  command: "echo hello"\n</experiments>\n'


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = app.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_git_failing_to_write_objects_is_a_pipeline_failure(capsys, make_repo, monkeypatch, tmp_path) -> None:
    repo = make_repo()
    (tmp_path / "brain.md").write_bytes(BRAIN)

    def full(*_args: object, **_kwargs: object) -> object:
        raise git.GitCommandError(
            ["git", "hash-object"], 128, b"fatal: unable to write loose object file: No space left on device"
        )

    monkeypatch.setattr(ledger, "IStream", full)
    code, _out, err = cli(capsys, "submit", str(tmp_path / "brain.md"), "--repo", str(repo))
    assert code == errors.EXIT_FAILED and "Traceback" not in err
    assert "git could not write to" in err and "No space left on device" in err


def test_demo_into_a_file_is_bad_input(capsys, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, _out, err = cli(capsys, "demo", "--dir", str(tmp_path / "f"))
    assert code == errors.EXIT_BAD_INPUT and "is a file" in err and "Traceback" not in err


def test_a_file_in_the_way_of_a_folder_is_not_a_bug(capsys, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code = leg_main(["--iteration", "1", "--experiment", "x", "--out", str(tmp_path / "o"),
                     "--workspace", str(tmp_path / "file")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == errors.EXIT_FAILED and "Not a directory" in err and "Traceback" not in err


def test_a_damaged_results_file_is_reported_not_a_bug(capsys, make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    (tmp_path / "brain.md").write_bytes(BRAIN)
    assert cli(capsys, "submit", str(tmp_path / "brain.md"), "--repo", str(repo))[0] == 0
    worktree = tmp_path / "wt"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(worktree), "wild/main"], check=True)
    (worktree / ".wild/iterations/0001/results.json").write_text("[]")
    subprocess.run(["git", "-C", str(worktree), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(worktree), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "tamper"], check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(worktree)], check=True)
    code, _out, err = cli(capsys, "context", "--repo", str(repo))
    assert code == errors.EXIT_FAILED and "results.json is damaged" in err and "Traceback" not in err


def test_the_artifact_standin_outside_act_says_so(capsys, monkeypatch) -> None:
    monkeypatch.delenv("ACTIONS_RESULTS_URL", raising=False)
    monkeypatch.delenv("ACTIONS_RUNTIME_TOKEN", raising=False)
    assert artifacts.main(["upload"]) == errors.EXIT_FAILED
    assert "ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN not set" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["parse", "submit", "run"])
def test_a_brain_output_without_end_is_read_only_past_the_limit(make_repo, command: str) -> None:
    """`run`, `submit` and `parse` of /dev/zero (or a fifo kept written to) read the whole endless
    input: a MemoryError traceback under a memory limit, the machine's memory without one. They read
    just past `limits.max_brain_bytes` and refuse, as for any output over it."""
    import sys

    repo = make_repo({"README.md": "x\n"})
    where = "" if command == "parse" else f"--repo {repo}"
    line = f"ulimit -v 1000000; exec {sys.executable} -m wild_ci {command} {where} /dev/zero"
    refused = subprocess.run(line, shell=True, capture_output=True, timeout=120, check=False)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert b"has more than 5,242,880 bytes" in refused.stderr and b"Traceback" not in refused.stderr
    assert git.Repo(repo).git.branch("--list", "wild/*") == ""  # nothing committed
