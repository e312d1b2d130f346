"""End to end through act: faults of the machine and of experiments (issue 15, observations 4-6)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import IDENTITY, git

from wild_ci.cli import app

pytestmark = pytest.mark.e2e


def wild(repo: Path, tmp_path: Path, *args: str, brain: str | None = None) -> subprocess.CompletedProcess:
    if brain is not None:
        (tmp_path / "brain.md").write_text(brain)
        args = ("run", str(tmp_path / "brain.md"), *args)
    env = {**os.environ, **IDENTITY, "WILD_CI_ENV_CACHE": str(tmp_path / "envs"), "UV_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", *args, "--repo", str(repo)],
        cwd=tmp_path, env=env, capture_output=True, timeout=600,
    )  # fmt: skip


def results(repo: Path, label: str = "0001") -> dict[str, dict]:
    data = json.loads(git(repo, "show", f"wild/main:.wild/iterations/{label}/results.json"))
    return {e["id"]: e for e in data["experiments"]}


def test_an_experiment_that_deletes_its_checkout_keeps_its_result_and_logs(make_repo, tmp_path: Path) -> None:
    brain = (
        "<experiments>\n- goal: Vanish\n"
        # `; true`: in a sandbox the checkout's folder and its read-only .git stay (rm says so)
        "  command: 'echo still here; cd .. && rm -rf \"$OLDPWD\"; true'\n</experiments>\n"
    )
    repo = make_repo()
    done = wild(repo, tmp_path, brain=brain)
    assert done.returncode == 0, done.stderr.decode()
    vanish = results(repo)["vanish"]
    assert (vanish["status"], vanish["stdout_tail"]) == ("succeeded", "still here")
    logs = wild(repo, tmp_path, "logs", "vanish")
    assert (logs.returncode, logs.stdout) == (0, b"still here\n")


class _FullAfter:
    """A file that takes `room` bytes and then answers ENOSPC, as a disk that fills up does."""

    def __init__(self, real, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()


def test_act_log_on_a_full_disk_costs_the_log_not_the_results(
    make_repo, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Observation 4: act.log filled the disk and `wild-ci run` died with no results and no host
    fallback. Now the run goes on without the log and commits its results."""
    repo = make_repo()
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        return _FullAfter(handle, 200) if self.name == "act.log" and "w" in mode else handle

    monkeypatch.setattr(Path, "open", open_)
    monkeypatch.setenv("WILD_CI_ENV_CACHE", str(tmp_path / "envs"))
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "brain.md").write_text(
        "<experiments>\n- goal: Train\n  command: echo trained\n</experiments>\n"
    )
    code = app.main(["run", str(tmp_path / "brain.md"), "--repo", str(repo)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "act's log could not be written to" in err and "No space left on device" in err
    train = results(repo)["train"]
    assert (train["status"], train["stdout_tail"]) == ("succeeded", "trained")
    assert not (repo / ".git/wild-ci/runs/main/0001/act.log").exists()  # no half-written log


def test_a_nearly_full_disk_still_gets_its_results(make_repo, tmp_path: Path) -> None:
    """Observation 4 on a real 2 MB file system holding the repository, about 600 KB free, and an
    experiment that prints 3 MB."""
    fs = tmp_path / "fs"
    fs.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(fs)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        repo = fs / "repo"
        repo.mkdir()
        for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "init"]):
            git(repo, *args)
        (fs / "filler").write_bytes(b"\0" * 1300 * 1024)
        command = "python3 -c \"print('x' * 3000000)\"; echo done"
        done = wild(
            repo,
            tmp_path,
            brain=f"<experiments>\n- goal: Train\n  command: {json.dumps(command)}\n</experiments>\n",
        )
        err = done.stderr.decode()
        assert done.returncode == 0, err
        assert "Traceback" not in err and "act's log could not be written" in err
        assert results(repo)["train"]["status"] == "succeeded"
    finally:
        subprocess.run(["umount", str(fs)], check=False)


def test_deep_metrics_and_a_pathological_glob_keep_their_legs(make_repo, tmp_path: Path) -> None:
    """Observation 5: metrics.json nested 200,000 deep was `cancelled` (a RecursionError only in
    act.log); `**/**/**/**/**/**/f` over a deep tree held its leg 49 s past a 2 s timeout."""
    deep = "deep/" + "/".join(["d"] * 30)
    brain = (
        "<experiments>\n"
        "- goal: Deep metrics\n"
        "  command: python3 -c \"print('[' * 200000 + ']' * 200000)\" > metrics.json\n"
        "- goal: Deep glob\n"
        f"  command: mkdir -p {deep} && touch {deep}/f\n"
        "  artifacts: ['**/**/**/**/**/**/f']\n"
        "  timeout: 2s\n"
        "</experiments>\n"
    )
    repo = make_repo()
    started = time.monotonic()
    done = wild(repo, tmp_path, brain=brain)
    assert done.returncode == 0, done.stderr.decode()
    assert time.monotonic() - started < 60
    legs = results(repo)
    assert legs["deep-metrics"]["status"] == "succeeded" and "nested deeper" in legs["deep-metrics"]["note"]
    glob = legs["deep-glob"]
    assert (glob["status"], glob["outputs"]) == ("succeeded", [f"{deep}/f"])
    assert 0 < glob["duration_s"] < 2
