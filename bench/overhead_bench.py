"""Benchmark: orchestration overhead of `wild-ci run` for N trivial experiments (issue #7, item 1).

In the same run, for each N: the same N commands under `xargs -P <cores>` (the floor), act alone on
a hand-written workflow with an N-leg matrix of `true` (host mode, no artifacts, no collect), and
`wild-ci run` (submit, act with artifacts and the collect job, results committed). Prints a table:
wall seconds of each, and wild-ci's cost per experiment beyond act's.
Run: python bench/overhead_bench.py [N ...]   (default: 1 8 32 128)
Then a least-squares line per column: fixed seconds per iteration and seconds per experiment;
and a run of 10 experiments split into phases (fixed_costs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip


def timed(command: list[str], cwd: Path, **kwargs: object) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed: {done.stderr.decode()[-2000:]}")
    return time.perf_counter() - start


def make_repo(folder: Path) -> Path:
    folder.mkdir()
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "--quiet"], cwd=folder, check=True)
    (folder / "README.md").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "--quiet", "-m", "init"], cwd=folder, check=True, env=env)
    return folder


def act_alone(folder: Path, n: int) -> float:
    repo = make_repo(folder)
    workflow = repo / ".github" / "workflows" / "plain.yml"
    workflow.parent.mkdir(parents=True)
    legs = ", ".join(f'"e{i}"' for i in range(n))
    workflow.write_text(
        "on: push\njobs:\n  leg:\n    runs-on: ubuntu-latest\n    strategy:\n      fail-fast: false\n"
        f"      max-parallel: {os.cpu_count() or 1}\n      matrix:\n        experiment: [{legs}]\n"
        '    steps:\n      - run: "true"\n'
    )
    act = str(Path(sys.executable).parent / "act")
    return timed([act, "push", "-C", str(repo), "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
                  "--action-cache-path", str(folder / "cache"), "--env-file", os.devnull,
                  "--secret-file", os.devnull, "--var-file", os.devnull, "--input-file", os.devnull],
                 folder, env={**os.environ, "HOME": str(folder)})  # fmt: skip


def wild_ci(folder: Path, n: int) -> float:
    repo = make_repo(folder)
    brain = folder / "brain.md"
    brain.write_text("<experiments>\n" + "".join(f"- goal: e{i}\n  command: 'true'\n" for i in range(n))
                     + "</experiments>\n")  # fmt: skip
    return timed([sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)], folder,
                 env={**os.environ, **IDENTITY})  # fmt: skip


def xargs(folder: Path, n: int) -> float:
    commands = "\n".join(["true"] * n) + "\n"
    return timed(["xargs", "-P", str(os.cpu_count() or 2), "-I{}", "bash", "-c", "{}"], folder,
                 input=commands.encode())  # fmt: skip


def fixed_costs(folder: Path, n: int = 10) -> dict[str, float]:
    """Where an iteration's fixed cost goes, for n trivial experiments: `wild-ci submit` alone (parse,
    render, commit) on one repository; then `wild-ci run` on another, split by its progress lines
    (`[  t s] <leg>: ...`, timed from when act starts): the legs (first start to the collect job's
    start), the collect job (download, results, commit, push), and everything outside act's jobs
    (submit, the clone, act's start and exit, reading the results on the host)."""
    brain = folder / "brain.md"
    brain.write_text("<experiments>\n" + "".join(f"- goal: e{i}\n  command: 'true'\n" for i in range(n))
                     + "</experiments>\n")  # fmt: skip
    env = {**os.environ, **IDENTITY}
    wild = [sys.executable, "-m", "wild_ci"]
    submit = timed([*wild, "submit", str(brain), "--repo", str(make_repo(folder / "a"))], folder, env=env)
    start = time.perf_counter()
    done = subprocess.run([*wild, "run", str(brain), "--repo", str(make_repo(folder / "b"))],
                          cwd=folder, capture_output=True, env=env)  # fmt: skip
    wall = time.perf_counter() - start
    stamps = [
        (float(line[1:7]), line[10:]) for line in done.stderr.decode().splitlines() if line.startswith("[")
    ]
    first_leg = min(s for s, text in stamps if not text.startswith("collect:"))
    collect = [s for s, text in stamps if text.startswith("collect:")]
    return {
        "submit alone": submit,
        "legs": collect[0] - first_leg,
        "collect job": collect[-1] - collect[0],
        "outside act's jobs": wall - (collect[-1] - first_leg),
        "run wall": wall,
    }


def fit(sizes: list[int], walls: list[float]) -> tuple[float, float]:
    """Least-squares line through (N, wall): the fixed cost per iteration and the cost per experiment."""
    mean_n, mean_w = sum(sizes) / len(sizes), sum(walls) / len(walls)
    spread = sum((n - mean_n) ** 2 for n in sizes) or 1.0
    slope = sum((n - mean_n) * (w - mean_w) for n, w in zip(sizes, walls, strict=True)) / spread
    return mean_w - slope * mean_n, slope


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1, 8, 32, 128]
    cores = os.cpu_count() or 1
    print(f"cores: {cores}; legs at once: {cores} in both workflows (wild-ci's local default)\n")
    print(f"{'N':>5} {'xargs s':>9} {'act alone s':>12} {'wild-ci run s':>14} {'(wild-ci - act) / N':>20}")
    walls: dict[str, list[float]] = {"xargs": [], "act": [], "wild-ci": []}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
            base = Path(tmp)
            x = xargs(base, n)
            a = act_alone(base / "act", n)
            w = wild_ci(base / "wild", n)
            shutil.rmtree(base / "act", ignore_errors=True)
        for name, value in zip(walls, (x, a, w), strict=True):
            walls[name].append(value)
        print(f"{n:>5} {x:>9.3f} {a:>12.3f} {w:>14.3f} {(w - a) / n:>20.3f}")
    if len(sizes) > 1:
        print("\nleast-squares fit wall = fixed + N x per experiment:")
        fits = {name: fit(sizes, values) for name, values in walls.items()}
        for name, (fixed, per) in fits.items():
            print(f"  {name:<8} fixed {fixed:7.3f} s   per experiment {per * 1000:8.1f} ms")
        ratio = fits["wild-ci"][1] / fits["act"][1] if fits["act"][1] > 0 else float("inf")
        print(f"  wild-ci per experiment / act's: {ratio:.1f}x (goal: 1.5x)")
    with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
        parts = fixed_costs(Path(tmp))
    print("\nwild-ci run of 10 trivial experiments, by phase (s):")
    print("  " + "  ".join(f"{name} {value:.2f}" for name, value in parts.items()))


if __name__ == "__main__":
    main()
