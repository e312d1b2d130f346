"""Benchmark: an experiment's own time in wild-ci's environment against a plain venv (#22 part 2).

The experiment is `train.py`: it imports scikit-learn and fits a tiny model, timing itself with
time.perf_counter (imports, then imports + fit) and writing the figures to outputs/timing.json.
It runs, in the same run, interleaved:

  wild-ci leg        `wild-ci execute` on a checkout of a submitted iteration, `setup: auto` building
                     the environment from the project's requirements.txt (once; later legs reuse it)
  plain venv         `python3 -m venv` + `pip install` of the same versions (pip compiles bytecode)
  uv, no bytecode    `uv venv` + `uv pip install` without --compile-bytecode: how wild-ci built
                     environments before #22 (format 1), the script started directly

each with and without PYTHONDONTWRITEBYTECODE=1 (set: nothing is written at import time, so what
the install did not compile is compiled again by every run). The ratio is each row's median
against the plain venv's in the same mode: the goal is <= 1.1x both ways for the wild-ci leg.
`first s` is each row's first run: without PYTHONDONTWRITEBYTECODE, what a fresh GitHub runner
pays in every leg when the environment it restored has no bytecode (it compiles and writes on
that first import; later runs on the same machine find the files).

Then what compiling costs the environment's build: `uv pip install` of the same requirements into
a fresh venv, with and without --compile-bytecode, with uv's cache warm (a machine that built
before) and with none (UV_NO_CACHE=1, a fresh runner).

Run: python bench/bytecode_bench.py [RUNS] [REQUIREMENT]   (default: 5 runs, scikit-learn)
Packages come from the index (uv's default, and pip's configuration on this machine).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wild_ci import lazy  # noqa: E402

IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
TRAIN = """\
import time

started = time.perf_counter()
import json, pathlib
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

imported = time.perf_counter()
X, y = make_classification(n_samples=200, n_features=10, random_state=0)
LogisticRegression(max_iter=200).fit(X, y)
done = time.perf_counter()
pathlib.Path("outputs").mkdir(exist_ok=True)
timing = {"import_s": imported - started, "total_s": done - started}
pathlib.Path("outputs/timing.json").write_text(json.dumps(timing))
"""
BRAIN = '<experiments>\n- goal: train\n  command: "python train.py"\n</experiments>\n'
MODES = {"PYTHONDONTWRITEBYTECODE=1": "1", "unset": None}


@dataclass
class Row:
    """One way of running train.py: its timings (seconds) per mode."""

    name: str
    totals: dict[str, list[float]] = field(default_factory=dict)
    imports: dict[str, list[float]] = field(default_factory=dict)

    def add(self, mode: str, timing: dict[str, float]) -> None:
        self.totals.setdefault(mode, []).append(timing["total_s"])
        self.imports.setdefault(mode, []).append(timing["import_s"])


def run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)[:300]}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    run(command, cwd, env)
    return time.perf_counter() - started


def base_env(mode: str) -> dict[str, str]:
    """This machine's environment, with PYTHONDONTWRITEBYTECODE as the mode says."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if MODES[mode]:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def make_project(folder: Path, requirement: str) -> Path:
    """A repository with requirements.txt and train.py, and its first iteration submitted."""
    folder.mkdir()
    (folder / "requirements.txt").write_text(requirement + "\n")
    (folder / "train.py").write_text(TRAIN)
    (folder / "brain.md").write_text(BRAIN)
    env = {**os.environ, **IDENTITY}
    run(["git", "init", "--quiet"], folder, env)
    run(["git", "add", "-A"], folder, env)
    run(["git", "commit", "--quiet", "-m", "init"], folder, env)
    run([sys.executable, "-m", "wild_ci", "submit", "brain.md", "--repo", str(folder)], folder, env)
    return folder


def leg(project: Path, scratch: Path, cache: Path, mode: str, number: int) -> dict[str, float]:
    """One leg on a fresh checkout of the iteration, as a runner runs it; its outputs' timing."""
    workspace = scratch / f"workspace-{number}"
    clone = ["git", "clone", "--quiet", "--branch", "wild/main", str(project), str(workspace)]
    run(clone, scratch, dict(os.environ))
    out = scratch / f"leg-{number}"
    env = {**base_env(mode), "WILD_CI_ENV_CACHE": str(cache)}
    execute = [sys.executable, "-m", "wild_ci", "execute", "--iteration", "1", "--experiment", "train"]
    run([*execute, "--out", str(out)], workspace, env)
    result = json.loads((out / "result.json").read_text())
    if result["status"] != "succeeded":
        raise SystemExit(f"the leg {result['status']}: {(out / 'stderr.log').read_text()[-2000:]}")
    timing: dict[str, float] = json.loads(next(out.rglob("timing.json")).read_text())
    shutil.rmtree(workspace)
    return timing


def direct(venv: Path, project: Path, mode: str) -> dict[str, float]:
    """train.py started with the venv's Python, in a copy of the project."""
    outputs = project / "outputs" / "timing.json"
    outputs.unlink(missing_ok=True)
    run([str(venv / "bin" / "python"), "train.py"], project, base_env(mode))
    timing: dict[str, float] = json.loads(outputs.read_text())
    return timing


def frozen(venv: Path) -> str:
    """The exact versions of wild-ci's environment, for the other venvs."""
    freeze = [str(venv / "bin" / "python"), "-m", "pip", "freeze"]
    return subprocess.run(freeze, capture_output=True, text=True, check=True).stdout


def build_uv(target: Path, requirements: Path, compile_bytecode: bool, env: dict[str, str]) -> float:
    """A fresh venv and `uv pip install` into it; the install's seconds."""
    uv = lazy.uv_binary() or shutil.which("uv") or "uv"
    run([uv, "venv", "--quiet", "--python", sys.executable, str(target)], target.parent, env)
    command = [uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python")]
    command += ["--compile-bytecode"] if compile_bytecode else []
    return timed([*command, "-r", str(requirements)], target.parent, env)


def timing_table(rows: list[Row], runs: int) -> None:
    print(f"train.py's own time, median of {runs} runs each, interleaved (Python {sys.version.split()[0]})")
    print(f"{'mode':<27} {'environment':<20} {'total s':>8} {'import s':>9} {'ratio':>6} {'first s':>8}")
    plain = rows[1]
    for mode in MODES:
        for row in rows:
            total = statistics.median(row.totals[mode])
            ratio = total / statistics.median(plain.totals[mode])
            imports, first = statistics.median(row.imports[mode]), row.totals[mode][0]
            print(f"{mode:<27} {row.name:<20} {total:>8.2f} {imports:>9.2f} {ratio:>5.2f}x {first:>8.2f}")


def build_table(requirements: Path, scratch: Path, runs: int) -> None:
    print(f"\nuv pip install of the same requirements into a fresh venv, median of {runs}")
    print(f"{'uv cache':<22} {'no bytecode s':>14} {'--compile-bytecode s':>21} {'extra s':>8}")
    for label, extra in (("warm", {}), ("none (UV_NO_CACHE=1)", {"UV_NO_CACHE": "1"})):
        env = {**base_env("unset"), **extra}
        seconds: dict[bool, list[float]] = {False: [], True: []}
        for number in range(runs):
            for compile_bytecode in (False, True):
                target = scratch / f"build-{label[:4]}-{number}-{compile_bytecode}"
                seconds[compile_bytecode].append(build_uv(target, requirements, compile_bytecode, env))
                shutil.rmtree(target)
        plain, compiled = statistics.median(seconds[False]), statistics.median(seconds[True])
        print(f"{label:<22} {plain:>14.2f} {compiled:>21.2f} {compiled - plain:>8.2f}")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    requirement = sys.argv[2] if len(sys.argv) > 2 else "scikit-learn"
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        project = make_project(scratch / "project", requirement)
        cache = scratch / "envs"
        leg(project, scratch, cache, "unset", 0)  # builds the environment once
        [built] = [p for p in cache.iterdir() if (p / ".complete").is_file()]
        pinned = scratch / "pinned.txt"
        pinned.write_text(frozen(built))
        plain = scratch / "plain-venv"
        run([sys.executable, "-m", "venv", str(plain)], scratch, base_env("unset"))
        pip = [str(plain / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(pinned)]
        run(pip, scratch, base_env("unset"))
        # one per mode: a run without PYTHONDONTWRITEBYTECODE writes the .pyc files it compiles
        old = {mode: scratch / f"uv-no-bytecode-{number}" for number, mode in enumerate(MODES)}
        for venv in old.values():
            build_uv(venv, pinned, False, base_env("unset"))
        rows = [Row("wild-ci leg"), Row("plain venv (pip)"), Row("uv, no bytecode")]
        ways = [
            lambda mode, number: leg(project, scratch, cache, mode, number),
            lambda mode, number: direct(plain, project, mode),
            lambda mode, number: direct(old[mode], project, mode),
        ]
        for number in range(runs):  # the order turns every run: a loaded machine's drift hits all
            for step in range(len(MODES) * len(ways)):
                mode = list(MODES)[(number + step // len(ways)) % len(MODES)]
                way = (number + step) % len(ways)
                rows[way].add(mode, ways[way](mode, number * 100 + step))
        timing_table(rows, runs)
        build_table(pinned, scratch, max(1, runs // 2))


if __name__ == "__main__":
    main()
