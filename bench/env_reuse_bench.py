"""Benchmark: 16 legs with the same requirements build one environment (issue #7, item 4).

A repository whose requirements.txt names one small real package (default `six==1.16.0`, from the
package index; pass another requirement and the module it provides) and 16 experiments
that import it. `wild-ci run`, then from results.json: how many legs built the environment and how
many reused it, the build's time, the reuses' waiting times, and the run's wall time; then a second
run of the same 16 on the warm cache (all reuse); then the same 16 in a git clone of the repository
run from the clone's own .venv (`venv --copies`, first on PATH): the clone reuses the environment.
Run: python bench/env_reuse_bench.py [REQUIREMENT MODULE]   (default: six==1.16.0 six)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEGS = 16
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip


def make_repo(folder: Path, requirement: str) -> Path:
    folder.mkdir()
    (folder / "requirements.txt").write_text(requirement + "\n")
    (folder / ".gitignore").write_text(".venv/\n")  # a clone's own environment
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "--quiet"], cwd=folder, check=True)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "--quiet", "-m", "init"], cwd=folder, check=True, env=env)
    return folder


def run(repo: Path, brain: Path, cache: Path, venv: Path | None = None) -> tuple[float, list[dict]]:
    env = {**os.environ, **IDENTITY, "WILD_CI_ENV_CACHE": str(cache)}
    if venv is not None:  # the clone's own activated .venv
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
                          capture_output=True, env=env)  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"wild-ci run failed: {done.stderr.decode()[-2000:]}")
    listed = subprocess.run(["git", "ls-tree", "--name-only", "wild/main:.wild/iterations/"],
                            cwd=repo, capture_output=True, check=True, text=True).stdout.split()  # fmt: skip
    latest = max(listed)  # this run's iteration (a clone continues its origin's session branch)
    shown = subprocess.run(["git", "show", f"wild/main:.wild/iterations/{latest}/results.json"],
                           cwd=repo, capture_output=True, check=True).stdout  # fmt: skip
    legs = json.loads(shown)["experiments"]
    failed = [leg["id"] for leg in legs if leg["status"] != "succeeded"]
    if failed:
        raise SystemExit(f"legs failed: {failed}: {legs[0].get('stderr_tail', '')[-1000:]}")
    return wall, [leg["environment"] for leg in legs]


def report(name: str, wall: float, environments: list[dict]) -> None:
    built = [e for e in environments if not e["reused"]]
    reused = [e for e in environments if e["reused"]]
    paths = {e["path"] for e in environments}
    build_s = f"{built[0]['seconds']:.2f}" if built else "-"
    waits = [e["seconds"] for e in reused] or [0.0]
    print(
        f"{name:<10} {wall:>7.1f} {len(built):>6} {len(reused):>7} {len(paths):>5} {build_s:>8} "
        f"{statistics.median(waits):>13.3f} {max(waits):>10.3f}"
    )


def main() -> None:
    requirement = sys.argv[1] if len(sys.argv) > 1 else "six==1.16.0"
    module = sys.argv[2] if len(sys.argv) > 2 else "six"
    print(
        f"{LEGS} legs, requirements.txt: {requirement} · {os.cpu_count()} cores · wild-ci run, act host mode"
    )
    columns = ("wall s", 7), ("built", 6), ("reused", 7), ("envs", 5), ("build s", 8), ("median wait s", 13)
    columns += (("max wait s", 10),)
    print(f"{'run':<10}", " ".join(f"{name:>{width}}" for name, width in columns))
    with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
        repo = make_repo(Path(tmp) / "repo", requirement)
        items = "".join(
            f"- goal: Use the package {n}\n  command: python -c 'import {module}; print({module}.__name__)'\n"
            for n in range(LEGS)
        )
        brain = Path(tmp) / "brain.md"
        brain.write_text(f"<experiments>\n{items}</experiments>\n")
        cache = Path(tmp) / "envs"
        report("cold", *run(repo, brain, cache))
        report("warm", *run(repo, brain, cache))
        clone = Path(tmp) / "elsewhere" / "clone"
        subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
        venv = clone / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)], check=True)
        report("clone", *run(clone, brain, cache, venv))
    print("built/reused: legs that built the environment / found it built (waiting on its lock meanwhile);")
    print("envs: distinct environments; wait: a reusing leg's set-up time, lock included.")


if __name__ == "__main__":
    main()
