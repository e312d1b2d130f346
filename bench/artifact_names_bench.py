"""Benchmark: what renaming outputs GitHub's artifacts refuse costs a leg, and restoring them collect
(#25 finding 1).

For N output files whose names hold `:` (an ISO time stamp each, half of them in time-stamped
folders, one in ten colliding with a file the experiment already named with `_`), it times, each the
median of RUNS:

  names      `artifact_paths.upload_names` over the N paths (pure: the leg's planning)
  restore    `artifact_paths.restore_names` of N files on this disk (collect, a local run's legs
             folder), from a fresh copy each run (the copy is not timed)

A second table: a hostile result.json (the experiment writes it). One file at the bottom of a folder
DEPTH deep (`a/a/…`; the leg's disk takes about 2,000), and ENTRIES entries of `renamed_outputs`
whose uploaded names lie in that folder but name no file (a name with `:` as the original, as a
leg's would be), plus MOVED real files at that depth restored for real; one run each (not a median:
the old code took minutes).

Run: python bench/artifact_names_bench.py [RUNS]   (default: 5)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
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


def deep_folder(root: Path, depth: int) -> str:
    """`a/a/…/a` under `root`, one level at a time (longer than one system call may name)."""
    here = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("a", dir_fd=here)
        inner = os.open("a", os.O_RDONLY, dir_fd=here)
        os.close(here)
        here = inner
    os.close(here)
    return "/".join(["a"] * depth)


def time_hostile(depth: int, entries: int, moved: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="wild-ci-bench-hostile-") as tmp:
        root = Path(tmp)
        deep = deep_folder(root, depth)
        here = os.open(root / deep.split("/", 1)[0], os.O_RDONLY)  # write the files through a descriptor
        for _ in range(depth - 1):
            inner = os.open("a", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = inner
        for n in range(moved):
            os.close(os.open(f"m_{n}", os.O_WRONLY | os.O_CREAT, dir_fd=here))
        os.close(here)
        mapping = {f"{deep}/u_{n}": f"{deep}/o:{n}" for n in range(entries)}
        mapping.update({f"{deep}/m_{n}": f"{deep}/m:{n}" for n in range(moved)})
        start = time.perf_counter()
        problems = restore_names(root, mapping)
        took = time.perf_counter() - start
        subprocess.run(["rm", "-rf", str(root / "a")], check=True)  # shutil.rmtree recurses per level
    kept = int(problems[0].split()[0]) if problems else 0
    return took, kept


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"{'files':>7} {'renamed':>8} {'names ms':>9} {'restore ms':>11}")
    for count in (100, 1_000, 10_000):
        all_paths = paths(count)
        renamed = len(upload_names(all_paths).renamed)
        names_ms = time_names(all_paths, runs) * 1000
        restore_ms = time_restore(all_paths, runs) * 1000
        print(f"{len(all_paths):>7} {renamed:>8} {names_ms:>9.1f} {restore_ms:>11.1f}")
    print()
    print(f"{'depth':>6} {'entries':>8} {'moved':>6} {'restore s':>10} {'kept':>6}")
    for depth, entries, moved in ((1_000, 200, 0), (1_000, 10_000, 0), (1_900, 10_000, 0), (1_900, 0, 1_000)):
        took, kept = time_hostile(depth, entries, moved)
        print(f"{depth:>6} {entries:>8} {moved:>6} {took:>10.2f} {kept:>6}")


if __name__ == "__main__":
    main()
