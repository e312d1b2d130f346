"""Benchmark: DVC experiments as a real peer of `wild-ci run` for N trivial experiments (issue #7, item 2).

In the same run, for each N:
  DVC      a fresh git repository + `dvc init`, a dvc.yaml with one stage `echo ${param} > out.txt`
           (a params.yaml dependency, out.txt a DVC output), then
             queue: `dvc exp run --queue -S param=<i>` once per experiment (N sequential calls), and
             run:   `dvc exp run --run-all -j <cores>`, which starts <cores> queue workers and blocks
                    until every queued experiment has finished and been collected.
           Queue and run are timed separately; DVC total = queue + run (one contiguous wall span).
           `--run-all` is used rather than `dvc queue start` + polling `dvc queue status`: it waits
           in one process, where polling starts a new DVC process (~1 s of CPU on its own) each time.
           It exits 0 even when an experiment fails, so success is checked afterwards: N experiment
           refs under refs/exps and no refs/exps/celery/failed. Idle workers left behind are stopped
           (`dvc queue stop --kill`, untimed) before the next measurement starts.
  wild-ci  `wild-ci run` on a brain output with N experiments `true`, through make_repo and wild_ci
           of bench/overhead_bench.py (submit, act in host mode with max-parallel = cores by default,
           collect, results committed).

Prints a table: N, DVC queue / run / total wall seconds, DVC total/N, wild-ci wall seconds,
wild-ci total/N, and the ratio of the two per-experiment costs. Below it, the per-experiment cost as
the slope between the smallest and largest N, which removes fixed start-up costs:
    slope = (T(N_max) - T(N_min)) / (N_max - N_min)
for DVC total, queue and run, for wild-ci, and the ratio DVC slope / wild-ci slope.

Run:      python bench/dvc_peer_bench.py [N ...]          (default: 1 8 32)
          DVC=/tmp/dvc-venv/bin/dvc python bench/dvc_peer_bench.py 1 8 32
Install DVC in its own virtualenv, not in wild-ci's:
          python3 -m venv /tmp/dvc-venv && /tmp/dvc-venv/bin/pip install dvc
The dvc executable comes from $DVC, else `dvc` on PATH. Its folder is put first on PATH for DVC,
because DVC's queue workers start `dvc` by name. DVC runs with HOME, its global/system config and
site cache in a temporary folder, analytics and update checks off, so no user config leaks in and
nothing goes to the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead_bench import IDENTITY, make_repo, wild_ci

DVC_YAML = """\
stages:
  run:
    cmd: echo ${param} > out.txt
    params:
      - param
    outs:
      - out.txt
"""


def find_dvc() -> str:
    name = os.environ.get("DVC", "dvc")
    found = shutil.which(name)
    if found is None:
        raise SystemExit(
            f"dvc_peer_bench: DVC executable {name!r} not found. Install DVC in its own virtualenv:\n"
            "  python3 -m venv /tmp/dvc-venv && /tmp/dvc-venv/bin/pip install dvc\n"
            "then run: DVC=/tmp/dvc-venv/bin/dvc python bench/dvc_peer_bench.py [N ...]"
        )
    return str(Path(found).absolute())


def dvc_env(dvc: str, home: Path) -> dict[str, str]:
    """An environment with no user config and no network: everything DVC reads lives under `home`."""
    for sub in ("global", "system", "site-cache", "xdg-config", "xdg-cache", "xdg-data"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "global" / "config").write_text("[core]\n    analytics = false\n    check_update = false\n")
    return {
        **os.environ,
        **IDENTITY,
        "PATH": str(Path(dvc).parent) + os.pathsep + os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "DVC_GLOBAL_CONFIG_DIR": str(home / "global"),
        "DVC_SYSTEM_CONFIG_DIR": str(home / "system"),
        "DVC_SITE_CACHE_DIR": str(home / "site-cache"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stdout[-1000:]}{done.stderr[-2000:]}")
    return done.stdout


def stop_workers(dvc: str, repo: Path, env: dict[str, str]) -> None:
    """Stop the queue workers and wait (up to 60 s) until `dvc queue status` shows none."""
    subprocess.run([dvc, "queue", "stop", "--kill"], cwd=repo, env=env, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = subprocess.run([dvc, "queue", "status"], cwd=repo, env=env, capture_output=True, text=True)
        if "Worker status: 0 active, 0 idle" in status.stdout or status.returncode != 0:
            return
        time.sleep(1)
    print(f"warning: DVC queue workers in {repo} still alive after 60 s", file=sys.stderr)


def dvc_experiments(dvc: str, folder: Path, n: int, cores: int) -> tuple[float, float]:
    """Queue and run n experiments with DVC; returns (queue seconds, run seconds)."""
    env = dvc_env(dvc, folder / "home")
    repo = make_repo(folder / "repo")
    run([dvc, "init", "--quiet"], repo, env)
    (repo / "params.yaml").write_text("param: 0\n")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / ".gitignore").write_text("/out.txt\n")
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "--quiet", "-m", "dvc stage"], repo, env)
    try:
        start = time.perf_counter()
        for i in range(n):
            run([dvc, "exp", "run", "--queue", "--quiet", "-S", f"param={i + 1}"], repo, env)
        queued = time.perf_counter()
        run([dvc, "exp", "run", "--run-all", "-j", str(cores)], repo, env)
        done = time.perf_counter()
        refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo, env).split()
        finished = [r for r in refs if not r.startswith("refs/exps/celery/")]
        if len(finished) != n or "refs/exps/celery/failed" in refs:
            status = subprocess.run([dvc, "queue", "status"], cwd=repo, env=env, capture_output=True)
            raise SystemExit(f"DVC: {len(finished)} of {n} experiments succeeded\n{status.stdout.decode()}")
    finally:
        stop_workers(dvc, repo, env)
    return queued - start, done - queued


def slope(points: dict[int, float]) -> float | None:
    low, high = min(points), max(points)
    return None if low == high else (points[high] - points[low]) / (high - low)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1, 8, 32]
    if any(n < 1 for n in sizes):
        raise SystemExit("N must be positive")
    dvc = find_dvc()
    cores = os.cpu_count() or 2
    version = subprocess.run([dvc, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"cores: {cores}; DVC {version} (`dvc exp run --run-all -j {cores}`); "
          f"wild-ci run with act max-parallel = cores\n")  # fmt: skip
    header = (f"{'N':>4} {'DVC queue s':>11} {'DVC run s':>10} {'DVC total s':>11} {'DVC s/exp':>10} "
              f"{'wild-ci s':>10} {'wild-ci s/exp':>13} {'DVC/wild-ci':>11}")  # fmt: skip
    print(header)
    queue_s: dict[int, float] = {}
    run_s: dict[int, float] = {}
    total_s: dict[int, float] = {}
    wild_s: dict[int, float] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="wild-ci-dvc-bench-") as tmp:
            base = Path(tmp)
            (base / "dvc").mkdir()
            q, r = dvc_experiments(dvc, base / "dvc", n, cores)
            w = wild_ci(base / "wild", n)
        queue_s[n], run_s[n], total_s[n], wild_s[n] = q, r, q + r, w
        print(f"{n:>4} {q:>11.3f} {r:>10.3f} {q + r:>11.3f} {(q + r) / n:>10.3f} {w:>10.3f} {w / n:>13.3f} "
              f"{(q + r) / w:>11.2f}")  # fmt: skip
    low, high = min(sizes), max(sizes)
    series = {"DVC total": total_s, "DVC queue": queue_s, "DVC run": run_s, "wild-ci": wild_s}
    slopes = {name: slope(points) for name, points in series.items()}
    print(f"\nper experiment as slope (T(N={high}) - T(N={low})) / ({high} - {low}):")
    dvc_slope, wild_slope = slopes["DVC total"], slopes["wild-ci"]
    if dvc_slope is None or wild_slope is None:
        print("  n/a: give at least two different N")
        return
    for name, value in slopes.items():
        print(f"  {name:<10} {value:>7.3f} s/exp")
    print(f"  DVC/wild-ci {dvc_slope / wild_slope if wild_slope else float('nan'):>6.2f}")


if __name__ == "__main__":
    main()
