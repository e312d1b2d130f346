"""Benchmark: how well a local run uses the machine for CPU-bound experiments (issue #7, item 6).

8 experiments, each burning about WORK seconds of one core (a Python loop), run by `wild-ci run` with
legs at once = 1, the default (the machine's cores), and 8. For each: wall time of the whole run,
the experiments' own CPU seconds (result.json's cpu_s), utilisation = CPU seconds of the experiments
/ (wall seconds x cores), and the ideal wall time (8 x WORK / min(legs at once, cores)).
Run: python bench/parallel_bench.py [WORK_SECONDS]   (default: 2)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENTS = 8
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
BURN = "import time\nend = time.process_time() + {work}\nwhile time.process_time() < end:\n    pass\n"


def make_repo(folder: Path, work: float) -> Path:
    folder.mkdir()
    (folder / "burn.py").write_text(BURN.format(work=work))
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "--quiet"], cwd=folder, check=True)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "--quiet", "-m", "init"], cwd=folder, check=True, env=env)
    return folder


def run(folder: Path, work: float, max_parallel: int | None) -> tuple[float, float]:
    repo = make_repo(folder, work)
    brain = folder.parent / f"{folder.name}.md"
    items = "".join(
        f"- goal: burn {i}\n  command: python3 burn.py\n  setup: none\n" for i in range(EXPERIMENTS)
    )
    brain.write_text(f"<experiments>\n{items}</experiments>\n")
    command = [sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)]
    if max_parallel is not None:
        command += ["--max-parallel", str(max_parallel)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env={**os.environ, **IDENTITY})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"wild-ci run failed: {done.stderr.decode()[-2000:]}")
    shown = subprocess.run(["git", "show", "wild/main:.wild/iterations/0001/results.json"], cwd=repo,
                           capture_output=True, check=True).stdout  # fmt: skip
    cpu = sum(e.get("cpu_s") or 0.0 for e in json.loads(shown)["experiments"])
    return wall, cpu


def main() -> None:
    work = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    cores = os.cpu_count() or 1
    print(
        f"{EXPERIMENTS} CPU-bound experiments of {work:g} s each · {cores} cores · wild-ci run, act host mode"
    )
    columns = ("legs at once", 14), ("wall s", 8), ("ideal s", 8), ("exp CPU s", 10), ("utilisation", 12)
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'vs ideal':>9}")
    for label, max_parallel in (("1", 1), (f"default ({cores})", None), ("8", 8)):
        with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
            wall, cpu = run(Path(tmp) / "repo", work, max_parallel)
        ideal = EXPERIMENTS * work / min(max_parallel or cores, cores)
        utilisation = cpu / (wall * cores)
        print(
            f"{label:>14} {wall:>8.1f} {ideal:>8.1f} {cpu:>10.1f} {utilisation:>11.0%} {ideal / wall:>8.0%}"
        )
    print("utilisation: the experiments' CPU seconds / (wall x cores); vs ideal: ideal wall / measured wall.")


if __name__ == "__main__":
    main()
