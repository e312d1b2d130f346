"""Benchmark: what the best-so-far section costs collect as a session grows (issue #17).

results.md, the PR comment and the context compare an iteration with every earlier one (the best so
far), so collect reads each earlier iteration's results.json from the session branch — what it
already read for the chart's history. For sessions of N iterations of 10 experiments each (metrics
echoing a parameter, 5 KB of log tails per experiment, as collect keeps them), this times: reading
the N-1 earlier results.json (`collect.earlier_results`), ranking them (`compare.Standing.of`), and
rendering results.md and the context with the section.
Run: python bench/history_bench.py [N ...]   (default: 10 50 500)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wild_ci import collect, ledger, report
from wild_ci.compare import Standing

EXPERIMENTS = 10
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=b@b"]


def make_session(root: Path, iterations: int) -> Path:
    """A repository whose wild/main holds `iterations` iterations' results.json (one commit)."""
    repo = root / f"repo-{iterations}"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "--initial-branch=wild/main"], cwd=repo, check=True)
    for n in range(1, iterations + 1):
        folder = repo / ".wild" / "iterations" / f"{n:04d}"
        folder.mkdir(parents=True)
        experiments = [
            {"id": f"e{i}", "goal": f"Train lr={i}", "command": "python t.py", "status": "succeeded",
             "metrics": {"accuracy": (n * 7 + i) % 100 / 100, "loss": (n * 3 + i) % 100 / 100, "lr": i},
             "parameters": {"lr": i}, "stdout_tail": "x" * 4000, "stderr_tail": "y" * 1000}
            for i in range(EXPERIMENTS)
        ]  # fmt: skip
        data = {"format": 1, "session": "main", "iteration": n, "commit": None, "experiments": experiments}
        (folder / "results.json").write_text(json.dumps(data, indent=2))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-qm", "session"], cwd=repo, check=True)
    return repo


def main(sizes: list[int]) -> None:
    print("| iterations | read earlier results.json | rank (best so far) | render results.md + context |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            repo = ledger.open_repo(make_session(Path(tmp), size))
            start = time.perf_counter()
            earlier = collect.earlier_results(repo, "wild/main", size)
            read = time.perf_counter()
            latest = collect.read_results(repo, "wild/main", size)
            assert latest is not None
            standing = Standing.of(latest, earlier)
            ranked = time.perf_counter()
            report.results_markdown(latest, standing=standing)
            report.context_block(latest, standing=standing)
            rendered = time.perf_counter()
            print(f"| {size} | {read - start:.2f} s | {ranked - read:.2f} s | {rendered - ranked:.2f} s |")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10, 50, 500])
