"""Where a local run's files are found again, after re-runs of the same iteration; the lock, the
recovery of a run that died and the watchdog that ends what it left."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wild_ci import collect, generate, ledger
from wild_ci.config import Config
from wild_ci.engines.act import runs, watchdog
from wild_ci.engines.act.runs import local_leg_folder
from wild_ci.layout import RUN_MARKER, runs_root


def test_a_leg_is_found_in_the_latest_run_that_has_it(make_repo) -> None:
    repo = ledger.open_repo(make_repo())
    latest = runs_root(repo, "main", "0001")
    runs = {"0001": ["a"], "0001.run-1": ["a", "b"], "0001.run-2": ["b"], "0001.run-10": ["c"]}
    for name, legs in runs.items():
        run_dir = latest.with_name(name)
        for leg in legs:
            (run_dir / "legs" / leg).mkdir(parents=True)
    assert local_leg_folder(repo, "main", "0001", "a") == latest / "legs" / "a"
    assert local_leg_folder(repo, "main", "0001", "b") == latest.with_name("0001.run-2") / "legs" / "b"
    assert local_leg_folder(repo, "main", "0001", "c") == latest.with_name("0001.run-10") / "legs" / "c"
    assert local_leg_folder(repo, "main", "0001", "d") is None


def test_a_lock_held_for_a_dead_run_says_what_holds_it(make_repo) -> None:
    """The flock dies with its holder, except where a dead run's watchdog still holds it."""
    repo = ledger.open_repo(make_repo())
    with runs.session_lock(repo, "main"):
        pass  # the lock file exists
    path = Path(repo.common_dir) / "wild-ci" / "locks" / "main.lock"
    dead = subprocess.Popen(["true"])
    dead.wait()
    path.write_text(f"pid {dead.pid}")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)", str(path)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        expected = pytest.raises(runs.LocalRunError, match="has died, and its watchdog is still ending")
        with expected as caught, runs.session_lock(repo, "main"):
            pass
        assert f"fuser -v {path}" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_run_is_recorded_and_its_temporary_folder_removed(make_repo, tmp_path: Path) -> None:
    repo_path = make_repo()
    submission = generate.submit(repo_path, b"<experiments>\n- goal: a\n  command: echo a\n</experiments>\n")
    assert submission is not None
    repo = ledger.open_repo(repo_path)
    run_dir = runs.run_dir_for(repo, submission)
    run_dir.mkdir(parents=True)
    leftover = Path(tempfile.mkdtemp(prefix=runs.TMP_PREFIX))
    (leftover / "act-cache").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    marker = {"pid": dead.pid, "started": "0", "iteration": 1, "tmp": str(leftover), "tip_before": None}
    (run_dir / RUN_MARKER).write_text(json.dumps(marker))
    live = run_dir.with_name("0002")  # a run that is alive is left alone
    live.mkdir()
    alive = {**marker, "pid": os.getpid(), "started": runs._process_start(os.getpid()), "iteration": 2}
    (live / RUN_MARKER).write_text(json.dumps(alive))
    said = io.StringIO()
    recovered = runs.recover_dead_runs(repo, "main", said)
    assert [r.iteration for r in recovered] == [1]
    assert [e.status for e in recovered[0].experiments] == ["missing"]
    assert "(pid" in said.getvalue() and "had died; recorded from what act kept: " in said.getvalue()
    assert not leftover.exists() and not (run_dir / RUN_MARKER).exists() and (live / RUN_MARKER).exists()
    assert [s.iterations[0].collected for s in collect.session_states(repo)] == [True]


def test_the_watchdog_ends_the_tree_when_its_parent_dies_and_only_then(tmp_path: Path) -> None:
    script = watchdog.__file__
    for farewell in (b"done", b""):
        tree = subprocess.Popen(["bash", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
        guard = subprocess.Popen([sys.executable, "-I", "-S", script, "5"], stdin=subprocess.PIPE)
        assert guard.stdin is not None
        guard.stdin.write(f"{tree.pid}\n".encode() + farewell)
        guard.stdin.close()  # as the kernel closes it when wild-ci dies
        assert guard.wait(timeout=10) == 0
        ended = tree.poll() is not None or _wait(tree)
        assert ended == (farewell == b""), farewell
        if not ended:
            watchdog.end_tree(tree.pid, 0.5, reap=tree.poll)
            assert tree.wait(timeout=5) is not None


def _wait(process: subprocess.Popen) -> bool:
    try:
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_stop_before_act_starts_still_records_the_iteration(make_repo, monkeypatch) -> None:
    """Ctrl-C while the iteration is being cloned for act: every experiment `missing`, no marker."""
    repo_path = make_repo()
    submission = generate.submit(repo_path, b"<experiments>\n- goal: a\n  command: echo a\n</experiments>\n")
    assert submission is not None

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "_clone_iteration", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.run_submission(repo_path, submission, Config())
    repo = ledger.open_repo(repo_path)
    results = collect.read_results(repo, ledger.branch_tip(repo, "wild/main"), 1)
    assert results is not None and [e.status for e in results.experiments] == ["missing"]
    assert not (runs.run_dir_for(repo, submission) / RUN_MARKER).exists()
