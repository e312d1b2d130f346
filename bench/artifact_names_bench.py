"""Benchmark: what renaming outputs GitHub's artifacts refuse costs a leg, and restoring them collect
(#25 finding 1).

For N output files whose names hold `:` (an ISO time stamp each, half of them in time-stamped
folders, one in ten colliding with a file the experiment already named with `_`), it times, each the
median of RUNS:

  names      `artifact_paths.upload_names` over the N paths (pure: the leg's planning)
  restore    `artifact_paths.restore_names` of N files on this disk (collect, a local run's legs
             folder), from a fresh copy each run (the copy is not timed)

Run: python bench/artifact_names_bench.py [RUNS]   (default: 5)
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wild_ci.engines.github.artifact_paths import restore_names, upload_names


def paths(count: int) -> list[str]:
    made = []
    for n in range(count):
        stamp = f"2026-01-{1 + n % 28:02d}T12:{n % 60:02d}:{n // 60 % 60:02d}.{n}"
        made.append(f"outputs/{stamp[:13]}:00/run-{stamp}.json" if n % 2 else f"outputs/run-{stamp}.json")
        if n % 10 == 0:
            made.append(made[-1].replace(":", "_"))
    return made


def time_names(all_paths: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        upload_names(all_paths)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_restore(all_paths: list[str], runs: int) -> float:
    names = upload_names(all_paths)
    mapping = {names.renamed[p]: p for p in names.renamed}
    times = []
    with tempfile.TemporaryDirectory(prefix="wild-ci-bench-names-") as tmp:
        source = Path(tmp) / "source"
        for uploaded in [names.uploaded(p) for p in all_paths]:
            (source / uploaded).parent.mkdir(parents=True, exist_ok=True)
            (source / uploaded).write_text("x")
        for run in range(runs):
            copy = Path(tmp) / f"run-{run}"
            shutil.copytree(source, copy)
            start = time.perf_counter()
            problems = restore_names(copy, mapping)
            times.append(time.perf_counter() - start)
            assert not problems, problems
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"{'files':>7} {'renamed':>8} {'names ms':>9} {'restore ms':>11}")
    for count in (100, 1_000, 10_000):
        all_paths = paths(count)
        renamed = len(upload_names(all_paths).renamed)
        names_ms = time_names(all_paths, runs) * 1000
        restore_ms = time_restore(all_paths, runs) * 1000
        print(f"{len(all_paths):>7} {renamed:>8} {names_ms:>9.1f} {restore_ms:>11.1f}")


if __name__ == "__main__":
    main()
