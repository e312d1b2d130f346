"""Issue 15, observations 4-6: disk and permission faults, legs that lose what they had, `logs` of
the wrong run. Faults are injected; nothing here needs act."""

from __future__ import annotations

import errno
import json
import zipfile
from pathlib import Path

import pytest
from helpers import git

from wild_ci import collect, errors, ledger
from wild_ci.cli import app
from wild_ci.config import Config
from wild_ci.engines.act import runs
from wild_ci.generate import submit
from wild_ci.layout import runs_root

BRAIN = b"<experiments>\n- goal: Train\n  command: echo train\n</experiments>\n"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, bytes, str]:
    code = app.main(list(args))
    out, err = capsys.readouterr()
    return code, out.encode(), err


def leg(
    folder: Path, commit: str, started_at: str, stdout: str, status: str = "succeeded", stderr: str = ""
) -> None:
    folder.mkdir(parents=True)
    data = {"id": "train", "goal": "Train", "command": "echo train", "status": status, "exit_code": 0,
            "started_at": started_at, "commit": commit, "duration_s": 1.0}  # fmt: skip
    (folder / "result.json").write_text(json.dumps(data))
    (folder / "stdout.log").write_text(stdout)
    (folder / "stderr.log").write_text(stderr)


def local_run(repo: Path, started_at: str | None, stdout: str, stderr: str = "") -> str:
    """Submit the iteration, leave a local run's folder as `wild-ci run` does (the earlier run's
    kept beside it), and commit the results collected from it; no leg folder when `started_at` is
    None (the run was interrupted before the leg's files came back)."""
    submission = submit(repo, BRAIN, config=Config())
    assert submission is not None
    handle = ledger.open_repo(repo)
    run_dir = runs_root(handle, "main", submission.label)
    if run_dir.exists():
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.run-1"))
    artifacts = run_dir / "view"
    artifacts.mkdir(parents=True)
    if started_at is not None:
        leg(run_dir / "legs" / "train", submission.commit, started_at, stdout, stderr=stderr)
        (artifacts / "wild-0001-train").symlink_to(run_dir / "legs" / "train")
    collect.commit_locally(handle, collect.collect_results(submission.spec, artifacts, submission.commit))
    return submission.commit


def test_logs_never_show_an_older_runs_log(capsys, make_repo) -> None:
    """The branch deleted, a new run of iteration 0001 interrupted: the earlier run's log (with its
    secret) is not this result's log."""
    repo = make_repo()
    local_run(repo, "2026-01-01T00:00:00+00:00", "old run: SECRET\n")
    git(repo, "branch", "-D", "wild/main")
    local_run(repo, None, "")
    code, out, err = cli(capsys, "logs", "train", "--repo", str(repo))
    assert code == errors.EXIT_FAILED, err
    assert b"SECRET" not in out and "train has no logs" in err and "missing" in err


def test_logs_need_the_run_that_produced_the_result(capsys, make_repo, monkeypatch) -> None:
    repo = make_repo()
    local_run(repo, "2026-01-01T00:00:00+00:00", "old run: SECRET\n")
    git(repo, "branch", "-D", "wild/main")
    commit = local_run(repo, "2026-01-02T00:00:00+00:00", "new run\n")
    code, out, err = cli(capsys, "logs", "train", "--repo", str(repo))
    assert (code, out) == (0, b"new run\n"), err
    # the new run's folder gone (deleted by hand): the old one, of another commit, is not shown
    handle = ledger.open_repo(repo)
    latest = runs_root(handle, "main", "0001")
    for name in ("stdout.log", "stderr.log", "result.json"):
        (latest / "legs" / "train" / name).unlink()
    (latest / "legs" / "train").rmdir()
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    code, out, err = cli(capsys, "logs", "train", "--repo", str(repo))
    assert code == errors.EXIT_FAILED and b"SECRET" not in out, err
    assert "no logs of the run that produced train's result" in err and commit[:12] in err


def test_logs_show_stderr_when_stdout_is_empty_and_both_labelled(capsys, make_repo) -> None:
    """Issue 16: an experiment that wrote only on stderr printed nothing."""
    repo = make_repo()
    local_run(repo, "2026-01-01T00:00:00+00:00", "", stderr="Traceback: boom\n")
    code, out, err = cli(capsys, "logs", "train", "--repo", str(repo))
    assert (code, out) == (0, b"Traceback: boom\n") and "stdout is empty; its stderr follows" in err
    code, out, _ = cli(capsys, "logs", "train", "--repo", str(repo), "--both")
    assert (code, out) == (0, b"==> stdout <==\n==> stderr <==\nTraceback: boom\n")
    code, out, _ = cli(capsys, "logs", "train", "--repo", str(repo), "--stderr")
    assert (code, out) == (0, b"Traceback: boom\n")


def test_logs_show_stdout_and_label_both(capsys, make_repo) -> None:
    repo = make_repo()
    local_run(repo, "2026-01-01T00:00:00+00:00", "loss 0.1", stderr="warning: slow\n")
    code, out, err = cli(capsys, "logs", "train", "--repo", str(repo))
    assert (code, out, err) == (0, b"loss 0.1", "")
    code, out, _ = cli(capsys, "logs", "train", "--repo", str(repo), "--both")
    assert (code, out) == (0, b"==> stdout <==\nloss 0.1\n==> stderr <==\nwarning: slow\n")
    with pytest.raises(SystemExit) as refused:  # one of --stderr, --both, --json
        app.main(["logs", "train", "--repo", str(repo), "--both", "--stderr"])
    assert refused.value.code == 2


def test_a_stale_ref_lock_names_the_file_instead_of_run_again(capsys, make_repo, tmp_path: Path) -> None:
    """A git process killed while it moved the branch leaves `wild/main.lock`: running again
    cannot help, so the message names the file and what to do."""
    repo = make_repo()
    lock = repo / ".git/refs/heads/wild/main.lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    (tmp_path / "brain.md").write_bytes(BRAIN)
    code, _out, err = cli(capsys, "submit", str(tmp_path / "brain.md"), "--repo", str(repo))
    assert code == errors.EXIT_FAILED and "Traceback" not in err
    assert str(lock) in err and "delete that file" in err and "run again" not in err


def test_results_that_cannot_be_committed_stay_in_the_run_folder(make_repo, monkeypatch) -> None:
    """A read-only repository (or a full disk) when the results are committed: they are written
    whole to the run folder, and the error says where; nothing half-written."""
    repo = make_repo()
    submission = submit(repo, BRAIN, config=Config())
    assert submission is not None
    handle = ledger.open_repo(repo)
    run_dir = runs_root(handle, "main", submission.label)
    leg(run_dir / "legs" / "train", submission.commit, "2026-01-01T00:00:00+00:00", "trained\n")

    def read_only(*_args: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(repo / ".git/objects/ab"))

    monkeypatch.setattr(collect, "commit_locally", read_only)
    with pytest.raises(runs.LocalRunError) as caught:
        runs.collect_on_host(handle, submission, run_dir, run_dir / "no-act-cache")
    message = str(caught.value)
    assert "Read-only file system" in message and str(run_dir / "results") in message
    kept = json.loads((run_dir / "results/results.json").read_text())
    assert [(e["id"], e["status"]) for e in kept["experiments"]] == [("train", "succeeded")]
    assert (run_dir / "results/results.md").is_file()
    assert not list((run_dir / "results").glob(".*partial"))
    assert caught.value.exit_code == errors.EXIT_FAILED


def test_an_artifact_unpacked_on_a_full_disk_leaves_no_half_leg(tmp_path: Path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    archive = run_dir / "artifacts/1/wild-0001-train/wild-0001-train.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("result.json", "{}")
        zipped.writestr("stdout.log", "x" * 1000)
    real_write = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name == "stdout.log":
            real_write(self, data[:10])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    runs.unpack_artifacts(run_dir)
    assert list((run_dir / "legs").iterdir()) == []  # not a leg whose stdout.log is 10 bytes of 1000


def test_a_full_disk_after_the_iteration_commit_says_what_was_kept(
    capsys, make_repo, tmp_path, monkeypatch
) -> None:
    """The run folder cannot be made (a full disk) once the iteration is committed: the message
    names the path, says the iteration is there without results, and how to finish it."""
    repo = make_repo()
    (tmp_path / "brain.md").write_bytes(BRAIN)
    folder = str(repo / ".git/wild-ci/runs/main/0001/artifacts")

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", folder)

    monkeypatch.setattr(runs, "run_submission", full)
    code, _out, err = cli(capsys, "run", str(tmp_path / "brain.md"), "--repo", str(repo))
    assert code == errors.EXIT_FAILED and "Traceback" not in err
    assert folder in err and "iteration 0001 is committed on wild/main without results" in err
    assert "wild-ci rerun" in err
