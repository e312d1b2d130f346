"""Benchmark: what the kernel sandbox costs each leg (issue 23; goal: at most 20 ms per leg).

One iteration with one trivial experiment (`true`), checked out as a runner would; each leg is a
fresh `wild-ci execute` process, as on a runner, so the per-process probe (a sandbox is made once
to see that it can be) is counted. The backends are taken in turn, interleaved, in the same run:
`off` (no sandbox: WILD_CI_SANDBOX_BACKENDS=none), `landlock`, `bubblewrap`. Printed: the median
and best wall time of a leg, the cost over `off` and the ratio; then the parts of that cost —
the probe, and starting one command in the sandbox — measured in this process. The CPU columns
(user + system time of the leg and all it waited for) are steadier than wall time on a shared,
loaded machine.

Run: python bench/sandbox_bench.py [LEGS]   (default: 30 legs per backend)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wild_ci import sandbox  # noqa: E402
from wild_ci.config import Config  # noqa: E402
from wild_ci.generate import submit  # noqa: E402

BACKENDS = ("none", "landlock", "bubblewrap")
KNOWN = "bubblewrap, probed by the run"  # as `wild-ci run` starts its legs: the probe handed on
VARIANTS = (*BACKENDS, KNOWN)
IDENTITY = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@e",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@e",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **IDENTITY})


def checkout(base: Path) -> Path:
    repo = base / "project"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    brain = b"<experiments>\n- goal: trivial\n  command: true\n  setup: none\n</experiments>\n"
    submit(repo, brain, config=Config(project_root="/brain/root"))
    git(base, "clone", "-q", "--shared", "--branch", "wild/main", str(repo), str(base / "leg"))
    return base / "leg"


def one_leg(workspace: Path, out: Path, variant: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the leg and every process it waited for) of one leg."""
    backend = "bubblewrap" if variant == KNOWN else variant
    env = {**os.environ, sandbox.BACKENDS_ENV: backend}
    if variant == KNOWN:
        env.update(sandbox.known_bwrap())
    command = [sys.executable, "-m", "wild_ci", "execute", "--iteration", "1", "--experiment", "trivial",
               "--out", str(out), "--workspace", str(workspace)]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, "the leg failed"
    shutil.rmtree(out)
    return elapsed, usage.ru_utime + usage.ru_stime


def parts(workspace: Path) -> dict[str, tuple[float, float]]:
    """Per backend: the probe, and one `true` started in the sandbox, in ms (medians of 20)."""
    found: dict[str, tuple[float, float]] = {}
    for backend in BACKENDS[1:]:
        os.environ[sandbox.BACKENDS_ENV] = backend
        probes, starts = [], []
        for _ in range(20):
            sandbox._probe_all.cache_clear()
            t = time.perf_counter()
            choice = sandbox.choose("auto")
            probes.append(time.perf_counter() - t)
            with tempfile.TemporaryDirectory() as scratch:
                policy = sandbox.leg_policy(workspace, Path(scratch), os.environ)
                t = time.perf_counter()
                launch = sandbox.launch(choice, policy, ["true"], workspace, dict(os.environ))
                subprocess.run(launch.argv, env=launch.env, preexec_fn=launch.preexec_fn, check=True)
                launch.close()
                starts.append(time.perf_counter() - t)
        found[backend] = (statistics.median(probes) * 1000, statistics.median(starts) * 1000)
    del os.environ[sandbox.BACKENDS_ENV]
    base_starts = []
    for _ in range(20):
        t = time.perf_counter()
        subprocess.run(["true"], check=True)
        base_starts.append(time.perf_counter() - t)
    found["none"] = (0.0, statistics.median(base_starts) * 1000)
    return found


def main() -> None:
    legs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory(prefix="wild-sandbox-bench-") as scratch:
        base = Path(scratch)
        workspace = checkout(base)
        times: dict[str, list[float]] = {b: [] for b in VARIANTS}
        cpu: dict[str, list[float]] = {b: [] for b in VARIANTS}
        for _ in range(legs):
            for backend in VARIANTS:
                wall, used = one_leg(workspace, base / "out", backend)
                times[backend].append(wall)
                cpu[backend].append(used)
        breakdown = parts(workspace)
    off = statistics.median(times["none"])
    off_cpu = statistics.median(cpu["none"])
    print(f"{legs} legs per backend, interleaved; `true` as the experiment; wall time of `wild-ci execute`\n")
    print("| backend | median leg | best leg | cost over off | ratio | CPU per leg | CPU over off | probe "
          "| start one command |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    breakdown[KNOWN] = (0.0, breakdown["bubblewrap"][1])
    for backend in VARIANTS:
        median = statistics.median(times[backend])
        probe, start = breakdown[backend]
        name = "off" if backend == "none" else backend
        cells = [name, f"{median * 1000:.1f} ms", f"{min(times[backend]) * 1000:.1f} ms",
                 f"{(median - off) * 1000:+.1f} ms", f"{median / off:.3f}"]  # fmt: skip
        used = statistics.median(cpu[backend])
        cells += [
            f"{used * 1000:.1f} ms",
            f"{(used - off_cpu) * 1000:+.1f} ms",
            f"{probe:.1f} ms",
            f"{start:.1f} ms",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
