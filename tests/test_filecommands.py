"""The step's file commands are put back as they were after the experiment (filecommands.py)."""

from __future__ import annotations

from pathlib import Path

from wild_ci import filecommands
from wild_ci.execute import _withheld


def test_appended_lines_are_undone(tmp_path: Path) -> None:
    env_file, summary = tmp_path / "set_env_1", tmp_path / "step_summary_1"
    env_file.write_text("KEPT=1\n")
    summary.write_text("")
    environ = {"GITHUB_ENV": str(env_file), "GITHUB_STEP_SUMMARY": str(summary)}
    with filecommands.kept_as_they_were(environ) as changed, env_file.open("a") as handle:
        handle.write("LD_PRELOAD=/evil.so\n")
    assert env_file.read_text() == "KEPT=1\n"
    assert summary.read_text() == ""
    assert changed == ["set_env_1"]


def test_a_file_replaced_by_a_symlink_is_a_file_again(tmp_path: Path) -> None:
    path, evil = tmp_path / "add_path_1", tmp_path / "evil"
    path.write_text("")
    evil.write_text("/evil/bin\n")
    with filecommands.kept_as_they_were({"GITHUB_PATH": str(path)}):
        path.unlink()
        path.symlink_to(evil)
    assert not path.is_symlink() and path.read_text() == ""
    assert evil.read_text() == "/evil/bin\n"


def test_a_file_that_did_not_exist_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "set_output_1"
    with filecommands.kept_as_they_were({"GITHUB_OUTPUT": str(path)}) as changed:
        path.write_text("steered=1\n")
    assert not path.exists() and changed == ["set_output_1"]


def test_unchanged_files_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "set_env_1"
    path.write_text("A=1\n")
    inode = path.stat().st_ino
    with filecommands.kept_as_they_were({"GITHUB_ENV": str(path)}) as changed:
        pass
    assert changed == [] and path.stat().st_ino == inode


def test_the_experiment_inherits_no_runner_plumbing() -> None:
    for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY",
                 "RUNNER_TEMP", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
                 "ACTIONS_CACHE_SERVICE_V2", "GITHUB_TOKEN"):  # fmt: skip
        assert _withheld(name), name
    for name in ("PATH", "HOME", "GITHUB_SHA", "RUNNER_OS", "CUDA_VISIBLE_DEVICES"):
        assert not _withheld(name), name
