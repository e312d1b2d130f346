"""A SIGKILL between the iteration commit and the run marker (#26 item 18): the next command of the
session records the iteration, every experiment missing, instead of leaving it waiting for results
that no run will bring."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import IDENTITY, git

BRAIN = (
    "<experiments>\n- goal: Never ran\n  command: echo hi\n- goal: Nor this\n  command: echo ho\n"
    "</experiments>\n"
)
# `wild-ci run` killed at the first instant after its iteration commit: where the run (and with it
# the run marker, running.json) would begin
KILLED_AFTER_COMMIT = (
    "import os, signal, sys\n"
    "from wild_ci.engines.act import runs\n"
    "runs.run_submission = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
    "from wild_ci.cli import app\n"
    "sys.exit(app.main(sys.argv[1:]))\n"
)


def killed_run(repo: Path, tmp_path: Path) -> None:
    brain = tmp_path / "brain.md"
    brain.write_text(BRAIN)
    env = {**os.environ, **IDENTITY}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, "run", str(brain), "--repo", str(repo)],
        env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "wild: main iteration 0001" in git(repo, "log", "-1", "--format=%s", "wild/main")


def status(repo: Path) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "status", "--json", "--repo", str(repo)],
        env={**os.environ, **IDENTITY}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["sessions"][0]["iterations"][0], done.stderr


def test_the_next_command_records_an_iteration_killed_before_its_run(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    killed_run(repo, tmp_path)
    iteration, said = status(repo)
    assert iteration["state"] != "waiting for results", iteration
    assert iteration["counts"] == {"missing": 2}
    assert "killed before its legs started" in said and "wild-ci rerun --session main" in said
    results = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert [e["status"] for e in results["experiments"]] == ["missing", "missing"]
    assert all(e["note"] for e in results["experiments"])
    assert not list((repo / ".git" / "wild-ci" / "runs" / "main").glob("*.json"))  # the marker is gone
    again, said = status(repo)  # recorded once
    assert again == iteration and "killed" not in said
    assert git(repo, "log", "-1", "--format=%s", "wild/main").startswith(
        "wild: results of main iteration 0001"
    )


def test_a_run_marker_that_could_not_be_recovered_yet_is_not_overridden_as_missing(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """A SIGKILL while act ran leaves both markers: the run's own (running.json, with what act kept)
    and submitting.json. When the run marker's recovery failed (here: once), the submitting marker
    recorded the iteration with every experiment missing, and the next recovery kept that record
    over the legs' artifacts. The run marker is the one that knows: while it is there, the
    submitting marker waits."""
    import git as gitpython

    from wild_ci.engines.act import runs

    repo = make_repo()
    killed_run(repo, tmp_path)
    run_dir = repo / ".git" / "wild-ci" / "runs" / "main" / "0001"
    run_dir.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {
        "pid": dead.pid,
        "started": "1",
        "iteration": 1,
        "tmp": str(tmp_path / "gone"),
        "tip_before": None,
    }
    (run_dir / "running.json").write_text(json.dumps(record))
    tip = git(repo, "rev-parse", "wild/main")
    real = runs.collect_on_host
    calls: list[Path] = []

    def failing_once(repo_, submission, run_dir_, legs):
        calls.append(legs)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(repo_, submission, run_dir_, legs)

    monkeypatch.setattr(runs, "collect_on_host", failing_once)
    with runs.session_lock(gitpython.Repo(repo), "main"):
        runs.recover_dead_runs(gitpython.Repo(repo), "main")
    assert git(repo, "rev-parse", "wild/main") == tip  # nothing recorded yet: the run marker waits
    assert (run_dir / "running.json").exists() and (run_dir.parent / "submitting.json").exists()
    with runs.session_lock(gitpython.Repo(repo), "main"):
        runs.recover_dead_runs(gitpython.Repo(repo), "main")
    assert git(repo, "rev-parse", "wild/main") != tip
    assert not list(run_dir.parent.glob("*.json")) and not (run_dir / "running.json").exists()
    assert calls[1] == tmp_path / "gone" / "act-cache"  # recorded from the run marker's legs


def test_a_killed_runs_marker_that_could_not_be_recorded_is_not_overwritten(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """Recovery of submitting.json failed (here: once); the next `wild-ci run` wrote its own
    submitting.json over it and committed iteration 0002: 0001 was left waiting for results for
    good. Now the run stops and says so; once recovery works, 0001 is recorded."""
    import git as gitpython
    import pytest

    from wild_ci.engines.act import runs
    from wild_ci.engines.act.runs import LocalRunError
    from wild_ci.errors import PipelineError

    repo = make_repo()
    killed_run(repo, tmp_path)
    real = runs._committed_since

    def failing(*args, **kwargs):
        raise PipelineError("the branch could not be read")

    monkeypatch.setattr(runs, "_committed_since", failing)
    handle = gitpython.Repo(repo)
    with runs.session_lock(handle, "main"):
        runs.recover_dead_runs(handle, "main")
        with (
            pytest.raises(LocalRunError, match="could not be recorded yet"),
            runs._submitting(handle, "main"),
        ):
            pass
    monkeypatch.setattr(runs, "_committed_since", real)
    iteration, said = status(repo)
    assert iteration["counts"] == {"missing": 2} and "killed before its legs started" in said


def test_a_marker_without_its_start_time_or_of_a_reused_pid_is_a_dead_runs(make_repo, tmp_path: Path) -> None:
    """submitting.json with garbage in place of its start time, of a dead pid: it matched the dead
    pid's unreadable start (None == None), read as a live run, and the iteration was never recorded.
    Then a pid reused by a live process (this test's own) with another start time: recorded too."""
    marker = None
    for pid, started in ((_dead_pid(), None), (os.getpid(), "1")):
        repo = make_repo(name=f"project-{started}")
        killed_run(repo, tmp_path)
        marker = repo / ".git" / "wild-ci" / "runs" / "main" / "submitting.json"
        record = json.loads(marker.read_text())
        marker.write_text(json.dumps({**record, "pid": pid, "started": started}))
        iteration, said = status(repo)
        assert iteration["counts"] == {"missing": 2} and "killed before its legs started" in said
        assert not marker.exists()


def _dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


GARBAGE = ['{"pid": 1e400, "iteration": 1}', '{"pid": 5, "iteration": 1e999, "tmp": "/x"}', "[]", "nul", ""]


def test_a_marker_of_garbage_is_set_aside_not_a_crash_of_every_command(make_repo, tmp_path: Path) -> None:
    """`{"pid": 1e400}` in a marker: int(inf) raised OverflowError, which the marker readers did not
    expect, and every `run`, `rerun` and `status` of the session ended with a traceback (exit 3). A
    marker that is not what wild-ci writes is set aside as unreadable; the run marker's iteration is
    then recorded by the submitting marker, or stays as it was."""
    repo = make_repo()
    killed_run(repo, tmp_path)
    runs_dir = repo / ".git" / "wild-ci" / "runs" / "main"
    (runs_dir / "0001").mkdir(exist_ok=True)
    for text in GARBAGE:
        (runs_dir / "0001" / "running.json").write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "wild_ci", "status", "--repo", str(repo)],
            env={**os.environ, **IDENTITY}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert not (runs_dir / "0001" / "running.json").exists()
    marker = runs_dir / "submitting.json"
    record = json.loads(marker.read_text()) if marker.exists() else {}
    marker.write_text(json.dumps({**record, "pid": float("inf")}))
    iteration, _ = status(repo)
    assert iteration["counts"] == {"missing": 2} and not marker.exists()
