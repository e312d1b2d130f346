"""Benchmark: orchestration overhead of `wild-ci run` for N trivial experiments (issue #7, item 1).

In the same run, for each N: the same N commands under `xargs -P <cores>` (the floor), act alone on
a hand-written workflow with an N-leg matrix of `true` (host mode, no artifacts, no collect), and
`wild-ci run` (submit, act with artifacts and the collect job, results committed). Prints a table:
wall seconds of each, and wild-ci's cost per experiment beyond act's.
Run: python bench/overhead_bench.py [N ...] [--baseline DIR]   (default: 1 8 32 128)
With --baseline, an earlier wild_ci/ (a worktree of an earlier commit) runs beside this one, taking
turns, so a change's gain is measured in one run.
Then a least-squares line per column: fixed seconds per iteration and seconds per experiment;
then where the time goes (`phase_tables`): a leg and an iteration's fixed parts, phase by phase.

The phases come from two traced runs (1 and 8 experiments) whose act is a wrapper that stamps each
line of act's `--json` log as it arrives (act's own timestamps have whole seconds only), so nothing
in wild-ci is instrumented and the normal path costs nothing; a step's time runs from its "⭐ Run"
line to its result line. Inside the experiment step, the executor's start (Python and the modules
`wild-ci execute` loads) is timed apart as CPU time, from the same launcher act's jobs use
(`runs._write_shim`), and so is the upload stand-in's; the experiment itself is result.json's
`duration_s`. On a shared machine, trust the CPU fit and the rows timed apart; wall phases swell
with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip


def timed(command: list[str], cwd: Path, **kwargs: object) -> float:
    return timed_cpu(command, cwd, **kwargs)[0]


def timed_cpu(command: list[str], cwd: Path, **kwargs: object) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, of the command and every process below it that
    was waited for): this machine is shared, and CPU time moves less with the load than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, **kwargs)  # type: ignore[call-overload]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed: {done.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_repo(folder: Path) -> Path:
    folder.mkdir()
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "--quiet"], cwd=folder, check=True)
    (folder / "README.md").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "--quiet", "-m", "init"], cwd=folder, check=True, env=env)
    return folder


def act_alone(folder: Path, n: int) -> tuple[float, float]:
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
    return timed_cpu([act, "push", "-C", str(repo), "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
                  "--action-cache-path", str(folder / "cache"), "--env-file", os.devnull,
                  "--secret-file", os.devnull, "--var-file", os.devnull, "--input-file", os.devnull],
                 folder, env={**os.environ, "HOME": str(folder)})  # fmt: skip


def tree_env(tree: Path | None) -> dict[str, str]:
    """The environment that runs wild-ci from `tree` (a folder holding an earlier `wild_ci/`, the
    baseline), else from this installation; legs run the same tree (`runs._write_shim`)."""
    env = {**os.environ, **IDENTITY}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def wild_ci(folder: Path, n: int, tree: Path | None = None) -> float:
    return wild_ci_cpu(folder, n, tree)[0]


def wild_ci_cpu(folder: Path, n: int, tree: Path | None = None) -> tuple[float, float]:
    repo = make_repo(folder)
    brain = folder / "brain.md"
    brain.write_text("<experiments>\n" + "".join(f"- goal: e{i}\n  command: 'true'\n" for i in range(n))
                     + "</experiments>\n")  # fmt: skip
    return timed_cpu([sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)], folder,
                     env=tree_env(tree))  # fmt: skip


def xargs(folder: Path, n: int) -> tuple[float, float]:
    commands = "\n".join(["true"] * n) + "\n"
    return timed_cpu(["xargs", "-P", str(os.cpu_count() or 2), "-I{}", "bash", "-c", "{}"], folder,
                 input=commands.encode())  # fmt: skip


WRAPPER = """\
import os, subprocess, sys, time
trace = open(os.environ["BENCH_ACT_TRACE"], "a", encoding="utf-8")
trace.write(f"{time.time():.6f} START\\n")
process = subprocess.Popen([ACT, *sys.argv[1:]], stdout=subprocess.PIPE)
for raw in process.stdout:
    now = time.time()
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()
    trace.write(f"{now:.6f} " + raw.decode("utf-8", "replace").rstrip("\\n") + "\\n")
code = process.wait()
trace.write(f"{time.time():.6f} EXIT\\n")
sys.exit(code)
"""
DURATION = re.compile(r"\[[0-9.]+(?:ms|s|µs)\]$")


@dataclass
class Job:
    """One job of act's log, its lines' arrival times: start, end, and each Main step's span."""

    name: str
    start: float = 0.0
    end: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=dict)  # name -> [start, end]

    def step(self, name: str) -> float:
        span = self.steps.get(name)
        return span[1] - span[0] if span else 0.0


@dataclass
class Trace:
    """A traced `wild-ci run`: when it was started and ended, act's start and exit, its jobs."""

    spawned: float
    ended: float
    act_start: float = 0.0
    act_exit: float = 0.0
    jobs: dict[str, Job] = field(default_factory=dict)
    legs: list[Path] = field(default_factory=list)  # each leg's unpacked folder (result.json)


def wrap_act(folder: Path) -> Path:
    """act behind a wrapper that stamps each line on arrival: act's `--json` times are whole seconds."""
    script = folder / "timed-act"
    act = str(Path(sys.executable).parent / "act")
    script.write_text(f"#!{sys.executable} -S\nACT = {act!r}\n" + WRAPPER)
    script.chmod(0o755)
    return script


def traced_run(folder: Path, n: int, tree: Path | None = None) -> Trace:
    """`wild-ci run` of n trivial experiments through the stamping act wrapper."""
    folder.mkdir()
    repo = make_repo(folder / "repo")
    brain = folder / "brain.md"
    brain.write_text("<experiments>\n" + "".join(f"- goal: e{i}\n  command: 'true'\n" for i in range(n))
                     + "</experiments>\n")  # fmt: skip
    trace_file = folder / "trace"
    env = {**tree_env(tree), "WILD_CI_ACT": str(wrap_act(folder)), "BENCH_ACT_TRACE": str(trace_file)}
    spawned = time.time()
    done = subprocess.run([sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
                          cwd=folder, capture_output=True, env=env)  # fmt: skip
    ended = time.time()
    if done.returncode != 0:
        raise SystemExit(f"traced run failed: {done.stderr.decode()[-2000:]}")
    trace = read_trace(trace_file.read_text(encoding="utf-8"), Trace(spawned, ended))
    trace.legs = sorted((repo / ".git" / "wild-ci" / "runs" / "main" / "0001" / "legs").iterdir())
    return trace


def read_trace(text: str, trace: Trace) -> Trace:
    """Jobs and their Main steps from the stamped log: a step from its first "⭐ Run Main" line to its
    last result line (a composite action reports its inner step, then itself)."""
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        at = float(stamp)
        if rest in ("START", "EXIT"):
            setattr(trace, "act_start" if rest == "START" else "act_exit", at)
            continue
        try:
            entry = json.loads(rest)
        except ValueError:
            continue  # a panic's stack trace, and other lines that are not act's JSON
        if "job" not in entry:
            continue
        leg = (entry.get("matrix") or {}).get("experiment")  # act names legs `<name>-<index>`
        name = f"leg {leg}" if leg else entry["job"].strip().rpartition("/")[2]
        job = trace.jobs.setdefault(name, Job(name))
        message, step = str(entry.get("msg", "")), str(entry.get("step", ""))
        if message.endswith("Run Set up job") and not job.start:
            job.start = at
        if "jobResult" in entry:
            job.end = at
        if entry.get("stage") == "Main" and step:
            span = job.steps.setdefault(step, [at, at])
            if "stepResult" in entry and DURATION.search(message.rstrip()):
                span[1] = at
    return trace


def cpu_of(command: list[str]) -> float:
    """CPU seconds (user + system) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def launchers(folder: Path, tree: Path | None = None) -> dict[str, list[str]]:
    """Commands that only start (Python, imports, argument parsing): bare Python, and the executor
    and the upload stand-in through the launchers act's jobs use (`runs._write_shim` of `tree`)."""
    folder.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys; from pathlib import Path; from wild_ci.engines.act.runs import _write_shim as w; "
        "w(Path(sys.argv[1]), 'wild_ci.entry'); w(Path(sys.argv[2]), 'wild_ci.engines.act.artifacts')"
    )
    executor, artifact = folder / "wild-ci", folder / "wild-ci-artifact"
    # run in `folder`: `python -c` looks in its working folder first, before PYTHONPATH
    subprocess.run(
        [sys.executable, "-c", code, executor, artifact], check=True, env=tree_env(tree), cwd=folder
    )
    return {
        "python": [sys.executable, "-c", "pass"],
        "executor": [str(executor), "execute", "--help"],
        "artifact": [str(artifact), "--help"],
    }


def startups(folder: Path, trees: dict[str, Path | None], repeat: int = 30) -> dict[str, dict[str, float]]:
    """Each tree's start costs as CPU time, the mean of `repeat` runs, the trees taking turn by
    turn: on an idle machine a start's wall time, and unlike wall time it hardly moves with the
    machine's load. A mean, as the kernel may account CPU time by ticks: one run's figure is coarse,
    the least of several biased low."""
    commands = {name: launchers(folder / name, tree) for name, tree in trees.items()}
    totals = {name: dict.fromkeys(found, 0.0) for name, found in commands.items()}
    for _ in range(repeat):
        for name, found in commands.items():
            for what, command in found.items():
                totals[name][what] += cpu_of(command) / repeat
    return totals


LEG_STEPS = (
    "Check out the iteration commit",
    "Install wild-ci",
    "Run the experiment",
    "Upload logs and results",
)
COLLECT_STEPS = ("Check out the iteration commit", "Install wild-ci", "Download every leg's artifact",
                 "Write results, commit them to the session branch, comment on the pull request")  # fmt: skip


def leg_phases(trace: Trace, starts: dict[str, float]) -> dict[str, float]:
    """A leg's phases, the mean over the run's legs (s)."""
    jobs = [trace.jobs[f"leg {leg.name}"] for leg in trace.legs]
    experiment = statistics.mean(
        json.loads((leg / "result.json").read_text())["duration_s"] for leg in trace.legs
    )
    step = {name: statistics.mean(job.step(name) for job in jobs) for name in LEG_STEPS}
    wall = statistics.mean(job.end - job.start for job in jobs)
    set_up = statistics.mean(min(s[0] for s in job.steps.values()) - job.start for job in jobs)
    executor = starts["executor"]
    return {
        "act: job set-up (Pre steps)": set_up,
        "checkout (stand-in: clone, checkout)": step[LEG_STEPS[0]],
        "install step": step[LEG_STEPS[1]],
        "executor start: python (CPU, timed apart)": starts["python"],
        "executor start: module loads (CPU, timed apart)": executor - starts["python"],
        "the experiment (`true`)": experiment,
        "executor: the rest (spec, env, result)": step[LEG_STEPS[2]] - executor - experiment,
        "upload: stand-in's start (CPU, timed apart)": starts["artifact"],
        "upload: zip, HTTP": step[LEG_STEPS[3]] - starts["artifact"],
        "act: between steps, Post steps, teardown": wall - set_up - sum(step.values()),
        "leg wall": wall,
    }


def fixed_phases(trace: Trace, submit: float) -> dict[str, float]:
    """An iteration's fixed parts (s), from a run of one experiment: everything but the leg."""
    gate, collect = trace.jobs["gate"], trace.jobs["collect"]
    legs = [job for job in trace.jobs.values() if job not in (gate, collect)]
    first_job = min(job.start for job in trace.jobs.values())
    steps = [collect.step(name) for name in COLLECT_STEPS]
    between = (collect.start - first_job) - (gate.end - gate.start) - sum(j.end - j.start for j in legs)
    return {
        "host before act (start, submit, clone, stand-ins, workflow)": trace.act_start - trace.spawned,
        "  of which `wild-ci submit` alone (timed apart)": submit,
        "act: start, workflow parse, artifact server": first_job - trace.act_start,
        "gate job": gate.end - gate.start,
        "act: between jobs": between,
        "collect job: set-up": min(s[0] for s in collect.steps.values()) - collect.start,
        "collect job: checkout": steps[0],
        "collect job: install step": steps[1],
        "collect job: download": steps[2],
        "collect job: `wild-ci collect` (results, commit, push)": steps[3],
        "collect job: between steps, teardown": collect.end
        - collect.start
        - (min(s[0] for s in collect.steps.values()) - collect.start)
        - sum(steps),
        "act: exit": trace.act_exit - collect.end,
        "host: after act (unpack, read results, report)": trace.ended - trace.act_exit,
        "fixed (run wall minus the leg)": trace.ended - trace.spawned - sum(j.end - j.start for j in legs),
    }


def least_phases(samples: list[dict[str, float]]) -> dict[str, float]:
    """Each phase's least time over the runs: the run the shared machine disturbed least."""
    return {name: min(s[name] for s in samples) for name in samples[0]}


def phase_tables(trees: dict[str, Path | None], repeat: int = 3) -> dict[str, tuple[dict, dict]]:
    """For each tree: a leg's phases (8 legs, mean per leg) and the fixed parts (1 leg), each the
    least of `repeat` runs, the trees taking turns; the executor's and stand-ins' starts timed apart."""
    legs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    fixed: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
        base = Path(tmp)
        starts = startups(base / "bin", trees)
        for i in range(repeat):
            for name, tree in trees.items():
                folder = base / f"{name}-{i}"
                folder.mkdir()
                brain = folder / "brain.md"
                brain.write_text("<experiments>\n- goal: e0\n  command: 'true'\n</experiments>\n")
                submit = timed([sys.executable, "-m", "wild_ci", "submit", str(brain), "--repo",
                                str(make_repo(folder / "submit"))], folder, env=tree_env(tree))  # fmt: skip
                fixed[name].append(fixed_phases(traced_run(folder / "one", 1, tree), submit))
                legs[name].append(leg_phases(traced_run(folder / "eight", 8, tree), starts[name]))
    return {name: (least_phases(legs[name]), least_phases(fixed[name])) for name in trees}


def print_phases(title: str, columns: dict[str, dict[str, float]]) -> None:
    """A phase table in ms, one column per tree, with the last column's share of its last row (the
    whole), and the ratio of the last column to the first."""
    names = list(columns)
    last = columns[names[-1]]
    whole = list(last.values())[-1] or 1.0
    header = "".join(f" {name + ' ms':>12}" for name in names)
    print(f"\n{title}\n  {'phase':<62}{header} {'share':>6}" + (f" {'ratio':>6}" if len(names) > 1 else ""))
    for phase, value in last.items():
        cells = "".join(f" {columns[name][phase] * 1000:>12.1f}" for name in names)
        first = columns[names[0]][phase]
        ratio = f" {value / first:>5.2f}x" if len(names) > 1 and first > 0.0005 else ""
        print(f"  {phase:<62}{cells} {value / whole:>6.0%}{ratio}")


def fit(sizes: list[int], walls: list[float]) -> tuple[float, float]:
    """Least-squares line through (N, wall): the fixed cost per iteration and the cost per experiment."""
    mean_n, mean_w = sum(sizes) / len(sizes), sum(walls) / len(walls)
    spread = sum((n - mean_n) ** 2 for n in sizes) or 1.0
    slope = sum((n - mean_n) * (w - mean_w) for n, w in zip(sizes, walls, strict=True)) / spread
    return mean_w - slope * mean_n, slope


def print_fits(what: str, sizes: list[int], values: dict[str, list[float]], trees: list[str]) -> None:
    """The least-squares line of each column, and each tree's cost per experiment against act's."""
    print(f"\nleast-squares fit, {what} = fixed + N x per experiment:")
    fits = {name: fit(sizes, column) for name, column in values.items()}
    for name, (fixed, per) in fits.items():
        print(f"  {name:<9} fixed {fixed:7.3f} s   per experiment {per * 1000:8.1f} ms")
    for name in trees:
        ratio = fits[name][1] / fits["act"][1] if fits["act"][1] > 0 else float("inf")
        fixed = fits[name][0]
        print(f"  {name}: per experiment {ratio:.1f}x act's (goal: 3x); fixed {fixed:.2f} s (goal: 0.8 s)")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--baseline", type=Path, help="a folder holding an earlier wild_ci/ to compare with "
                        "in the same run (e.g. `git worktree add /tmp/base HEAD~1`)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=1, help="runs per N, fitted together (a shared machine)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase table (the least of them)")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    trees: dict[str, Path | None] = {"wild-ci": None}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), "wild-ci": None}
    cores = os.cpu_count() or 1
    print(f"cores: {cores}; legs at once: {cores} in both workflows (wild-ci's local default)\n")
    runs = "".join(f" {name + ' run s':>16}" for name in trees)
    print(f"{'N':>5} {'xargs s':>9} {'act alone s':>12}{runs} {'(wild-ci - act) / N':>20}")
    walls: dict[str, list[float]] = {"xargs": [], "act": [], **{name: [] for name in trees}}
    cpus: dict[str, list[float]] = {name: [] for name in walls}
    sizes = [n for n in args.sizes for _ in range(args.runs)]  # the trees take turns in each
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
            base = Path(tmp)
            row = {"xargs": xargs(base, n), "act": act_alone(base / "act", n)}
            for name, tree in trees.items():
                row[name] = wild_ci_cpu(base / name, n, tree)
        for name, (wall, cpu) in row.items():
            walls[name].append(wall)
            cpus[name].append(cpu)
        cells = "".join(f" {row[name][0]:>16.3f}" for name in trees)
        beyond = (row["wild-ci"][0] - row["act"][0]) / n
        print(f"{n:>5} {row['xargs'][0]:>9.3f} {row['act'][0]:>12.3f}{cells} {beyond:>20.3f}")
    if len(set(sizes)) > 1:
        print_fits("wall", sizes, walls, list(trees))
        print_fits("CPU (user + system)", sizes, cpus, list(trees))
    tables = phase_tables(trees, args.repeat)
    print_phases(f"a leg of a run of 8 trivial experiments (mean per leg, least of {args.repeat} runs):",
                 {name: legs for name, (legs, _) in tables.items()})  # fmt: skip
    print_phases(f"the fixed parts of a run of 1 trivial experiment (least of {args.repeat} runs):",
                 {name: fixed for name, (_, fixed) in tables.items()})  # fmt: skip


if __name__ == "__main__":
    main()
