"""Issue 27: a CLI that says what it does — defaults shown, options explained for each command, the
workflow's own commands apart, the exit codes once, `status --session`, `demo [DIR]`."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from wild_ci import demo
from wild_ci.cli import app
from wild_ci.errors import EXIT_CODES


def help_of(*command: str) -> str:
    parser = app.build_parser()
    for name in command:
        parser = next(a.choices[name] for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser.format_help()


def test_the_exit_codes_are_given_once_in_the_main_help_only() -> None:
    assert "exit codes: 0 done" in help_of()
    for command in ("run", "submit", "leaderboard", "status"):
        assert "exit codes: 0 done" not in help_of(command), command
    assert EXIT_CODES.startswith("exit codes")


def test_the_workflow_s_own_commands_are_named_apart_and_still_callable() -> None:
    text = help_of()
    listing = text.split("positional arguments:")[1].split("options:")[0]
    assert "execute" not in listing and "    inbox" not in listing and "collect" in listing
    words = " ".join(text.split())
    assert "commands the workflow runs" in words and "execute (one matrix leg)" in words
    assert "--iteration" in help_of("execute") and "--dispatch" in help_of("inbox")


@pytest.mark.parametrize(
    "command", ["submit", "run", "loop", "rerun", "context", "show", "leaderboard", "logs"]
)
def test_session_states_its_default(command: str) -> None:
    options = help_of(command).split("options:")[1]
    assert "(default: main)" in " ".join(options.split("--session SESSION")[1].split()[:12])


@pytest.mark.parametrize("command", ["run", "loop"])
def test_run_and_loop_say_what_install_spec_and_runs_on_mean_for_a_local_run(command: str) -> None:
    text = " ".join(help_of(command).split())
    assert "committed workflow (a local run uses this machine's wild-ci)" in text
    assert "a local run runs every label on this machine" in text


def test_init_describes_each_option() -> None:
    text = " ".join(help_of("init").split())
    assert "what the inbox job pip-installs" in text and "the runner label of the inbox job" in text


def test_status_shows_one_session_and_refuses_an_unknown_one(make_repo, capsys) -> None:
    from wild_ci.generate import submit

    repo = make_repo()
    brain = b"<experiments>\n- goal: a\n  command: echo a\n</experiments>\n"
    submit(repo, brain, session="one")
    submit(repo, brain, session="two")
    assert app.main(["status", "--repo", str(repo), "--session", "two"]) == 0
    out = capsys.readouterr().out
    assert "wild/two" in out and "wild/one" not in out
    assert app.main(["status", "--repo", str(repo), "--session", "three"]) == 2
    assert "no session 'three'" in capsys.readouterr().err


def test_demo_takes_its_folder_as_an_argument() -> None:
    args = app.build_parser().parse_args(["demo", "/tmp/somewhere"])
    assert args.dir == Path("/tmp/somewhere")
    assert app.build_parser().parse_args(["demo", "--dir", "/tmp/x"]).dir_option == Path("/tmp/x")


def test_the_demo_repository_commits_no_bytecode(tmp_path: Path, monkeypatch) -> None:
    """An installed wheel's example holds the __pycache__ pip compiled: it stays out of the commit."""
    examples = tmp_path / "examples"
    shutil.copytree(Path(demo.__file__).resolve().parents[1] / "examples", examples)
    cache = examples / "demo" / "project" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "train.cpython-311.pyc").write_bytes(b"\x00bytecode")
    monkeypatch.setattr(demo, "resource_dir", lambda name: tmp_path / name)
    target = demo.create_demo_repo(tmp_path / "repo")
    files = subprocess.run(["git", "ls-files"], cwd=target, capture_output=True, text=True, check=True).stdout
    assert "pycache" not in files and ".pyc" not in files and "brain.md" in files
