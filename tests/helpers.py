"""Helpers for tests: real git commands, the state of a user's repository, and the CLI as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **IDENTITY}
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@dataclass
class RepoState:
    """What must not change in a user's repository: status, HEAD, branch and the index file."""

    status: str
    head: str
    branch: str
    index_digest: str

    @classmethod
    def of(cls, repo: Path) -> RepoState:
        index = repo / ".git" / "index"
        return cls(
            status=git(repo, "status", "--porcelain", "--untracked-files=all"),
            head=git(repo, "rev-parse", "HEAD"),
            branch=git(repo, "symbolic-ref", "HEAD"),
            index_digest=hashlib.sha256(index.read_bytes()).hexdigest(),
        )


def run_cli(
    *args: str,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
):
    """`wild-ci ARGS` in a subprocess, exactly as a user or script calls it (`env`: added)."""
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **IDENTITY, **(env or {})},
    )


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a reaper that may never come."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def sleeping(pid: int) -> bool:
    """A `sleep` an experiment started and wrote down as `pid` still runs. Under bubblewrap that pid
    is its PID namespace's: the host's process is found by the last number of its NSpid line."""
    return sleeping_host_pid(pid) is not None


def _seen_as(pid: int) -> Iterator[tuple[int, Path, int]]:
    """Each process whose innermost PID namespace calls it `pid` (the last number of its NSpid
    line): its host pid, its /proc folder and how many namespaces deep it is."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
            ns = next((line.split()[1:] for line in lines if line.startswith("NSpid:")), [])
            if ns and int(ns[-1]) == pid:
                yield int(ns[0]), status.parent, len(ns)
        except (OSError, ValueError):
            continue


def _exe(folder: Path) -> str | None:
    try:
        return os.readlink(folder / "exe")
    except OSError:  # gone, or a kernel thread
        return None


def alive_anywhere(pid: int) -> bool:
    """`alive` for a pid an experiment wrote down (`$$`, `$!`): the host's without a sandbox, its PID
    namespace's under bubblewrap (kernel threads, which share the small numbers, are not counted)."""
    for host, folder, depth in _seen_as(pid):
        exe = _exe(folder)
        if depth == 1 and (exe is None or not os.path.exists(exe)):
            continue
        if alive(host):
            return True
    return False


def sleeping_host_pid(pid: int) -> int | None:
    """The host's pid of the `sleep` an experiment wrote down as `pid` (see `sleeping`), if it runs."""
    for host, folder, _depth in _seen_as(pid):
        exe = _exe(folder)
        if exe is not None and os.path.basename(exe) == "sleep" and alive(host):
            return host
    return None


def read_pty(
    master: int,
    process: subprocess.Popen,
    on_chunk: Callable[[bytes], None],
    timeout: float,
    each_round: Callable[[], None] | None = None,
) -> None:
    """Read what a process writes to its terminal, chunk by chunk, until the terminal closes, the
    process ends with nothing left to read, or `timeout` seconds pass. `each_round` runs before
    every read (a test's own step: a signal once something has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if each_round is not None:
            each_round()
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not chunk:
                return
            on_chunk(chunk)
        elif process.poll() is not None:
            return


@dataclass(frozen=True)
class Run:
    """One experiment of a recorded iteration (`record_iteration`): what the brain asked for and
    what its leg reported."""

    goal: str
    parameters: dict
    metrics: dict
    status: str = "succeeded"


def record_iteration(repo: Path, artifacts: Path, runs: list[Run], config=None):
    """Commit an iteration through the real path — submit (the brain's block), one artifact per leg
    as download-artifact lays them out, collect.commit_locally — and return its IterationResults."""
    import json

    from wild_ci import collect
    from wild_ci.generate import submit
    from wild_ci.ledger import open_repo

    items = "".join(
        f"- goal: {json.dumps(run.goal)}\n  command: python train.py\n"
        f"  parameters: {json.dumps(run.parameters)}\n"
        for run in runs
    )
    submission = submit(repo, f"<experiments>\n{items}</experiments>\n".encode(), config=config)
    for experiment, run in zip(submission.spec.experiments, runs, strict=True):
        folder = artifacts / f"wild-{submission.iteration:04d}-{experiment.id}"
        folder.mkdir(parents=True)
        (folder / "stdout.log").write_text(f"{run.goal} done\n")
        (folder / "stderr.log").write_text("")
        exit_code = 0 if run.status == "succeeded" else 1
        result = {"id": experiment.id, "status": run.status, "exit_code": exit_code, "duration_s": 1.0,
                  "metrics": run.metrics}  # fmt: skip
        (folder / "result.json").write_text(json.dumps(result))
    results = collect.collect_results(submission.spec, artifacts, submission.commit)
    collect.commit_locally(open_repo(repo), results)
    return results


def use_backend(monkeypatch, name: str) -> None:
    """Run this test's legs under one sandbox backend (`none`: without); skip where it cannot be made."""
    import pytest

    from wild_ci import sandbox

    monkeypatch.setenv(sandbox.BACKENDS_ENV, name)
    sandbox._probe_all.cache_clear()
    found = sandbox.choose("auto")
    if found.backend != name:
        pytest.skip(f"no {name} sandbox on this machine: {found.why}")


# A test of what a leg survives when its experiment reaches outside its checkout (its executor, its
# result.json): the sandbox would stop the experiment first (tests/test_e2e_sandbox.py), so the
# test turns it off to exercise the layers behind it.
UNSANDBOXED = {".wild/config.yml": "sandbox: off\n", "README.md": "x\n"}


def writable_for_tests(folder: Path) -> dict[str, str]:
    """Repository files whose config lets legs write `folder` (a test's marker files, pid lists),
    as a user lets a data folder in: through the config."""
    config = f"sandbox_paths: [{{path: {json.dumps(str(folder))}, writable: true}}]\n"
    return {".wild/config.yml": config, "README.md": "x\n"}


def play_workflow(
    repo: Path, workflow: Path, tmp_path: Path, timeout: int = 300, local: bool = True
) -> subprocess.CompletedProcess:
    """A hand-written workflow of `repo` played through act's push event with wild-ci's stand-in
    actions, as `wild-ci run` plays the rendered one. `local=False`: without WILD_CI_LOCAL, so the jobs
    install wild-ci themselves, as on GitHub."""
    from wild_ci.engines.act import runs

    tmp = tmp_path / "act"
    shim = runs._write_shim(tmp / "bin" / "wild-ci-artifact", "wild_ci.engines.act.artifacts")
    standins = runs._write_standins(tmp / "actions", shim, repo)
    run_dir = tmp_path / "run"
    (run_dir / "artifacts").mkdir(parents=True)
    labels = ["ubuntu-latest"]
    command = runs.act_command(runs.find_act(), repo, workflow, run_dir, tmp, standins, shim, labels)
    if not local:
        at = command.index(f"WILD_CI_LOCAL={shim}")
        del command[at - 1 : at + 1]
    return subprocess.run(
        [*command, "push"], cwd=tmp, env=runs._act_environment(tmp), capture_output=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def backend_or_skip(name: str) -> None:
    """Skip the test unless the sandbox backend `name` works on this machine."""
    import pytest

    from wild_ci import sandbox

    os.environ[sandbox.BACKENDS_ENV] = name
    try:
        sandbox._probe_all.cache_clear()
        found = sandbox.choose("auto")
    finally:
        del os.environ[sandbox.BACKENDS_ENV]
        sandbox._probe_all.cache_clear()
    if found.backend != name:
        pytest.skip(f"no {name} sandbox on this machine: {found.why}")
