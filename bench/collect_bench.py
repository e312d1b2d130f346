"""Benchmark: the collect job's fixed cost, with and without the metrics chart (#17 "Fixed cost").

The collect job runs once per iteration: `"$WILD_CI" collect --iteration N --artifacts DIR --push
--comment` (templates/wild-experiments.yml.j2), in a fresh checkout of the iteration commit, through
the launcher the install step writes (`python3 -IS`, wild-ci and its pinned dependencies in one
folder, compiled by pip). This script builds that situation and times the command, a fresh process
per run:

* a ledger: a git repository whose session branch `wild/main` holds ITERATIONS-1 collected
  iterations of 10 experiments (ids differ between iterations, as a brain's goals do) and the
  iteration to collect; `.wild/config.yml` declares `metrics: {accuracy: max, loss: min}`;
* 10 legs' artifacts as download-artifact lays them out, each result.json with metrics
  (accuracy 0.94…0.97, loss, f1, seconds, and the experiment's own `lr` echoed);
* a bare repository as `origin`, reset to the iteration commit before every run, so each run is
  the first collect of the iteration (a real push, not "already committed");
* the launcher's view of Python: `-I -S`, sys.path = [a compiled copy of the source tree (as pip
  --target leaves it), this virtualenv's site-packages]; `WILD_CI_LOCAL` set as act sets it, so
  `--comment` stops where it would call GitHub (the network is not what is measured here).

Rows (each the same command):
  no chart (baseline)    matplotlib hidden (`import matplotlib` fails): results.md/json + commit + push
  chart, warm            matplotlib there, its cache folder (MPLCONFIGDIR) filled by an earlier run
  chart, cold            a new empty MPLCONFIGDIR for every run: a fresh runner's first import
With `--before DIR` (a source tree, e.g. an export of main before this change), the same rows for it.
Columns: best and median wall seconds of RUNS runs; the machine's load average before and after.

A second table: what matplotlib's first import on a fresh runner pays for its font cache, in a fresh
cache folder each run, on this machine and on a stand-in for a machine with many fonts (FONTS copies
of matplotlib's own font files under XDG_DATA_HOME/fonts, a folder matplotlib scans), with the
system scan (matplotlib's default) and without it (`MPL_IGNORE_SYSTEM_FONTS`, what wild-ci sets).

Run: python bench/collect_bench.py [--runs 7] [--iterations 4] [--before DIR] [--fonts 400]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wild_ci.generate import submit  # noqa: E402

EXPERIMENTS = 10
LAUNCHER = """\
import sys
sys.path[:0] = {paths!r}
if {hide_matplotlib!r}:
    sys.modules["matplotlib"] = None  # `import matplotlib` raises ImportError: the run without chart
from wild_ci.entry import main
sys.exit(main())
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def brain(iteration: int) -> bytes:
    """10 experiments: a grid of learning rates and seeds whose goals (so ids) change every iteration."""
    items = []
    for n in range(EXPERIMENTS):
        lr, seed = [0.001, 0.003, 0.01, 0.03, 0.1][n % 5], 1 + n // 5
        items.append(
            f'- goal: "train v{iteration} lr {lr} seed {seed}"\n'
            f'  command: "python train.py"\n'
            f'  parameters: {{"lr": {lr}, "seed": {seed}}}\n'
        )
    return f"Next round.\n<experiments>\n{''.join(items)}</experiments>\n".encode()


def metrics(iteration: int, n: int, lr: float) -> dict[str, float]:
    """Plausible numbers: accuracy 0.94…0.97 improving a little each iteration, loss going down."""
    accuracy = 0.94 + 0.003 * n + 0.002 * iteration - (0.004 if n % 3 == 0 else 0.0)
    return {
        "accuracy": round(min(accuracy, 0.975), 4),
        "loss": round(0.31 - 0.012 * n - 0.01 * iteration + 0.005 * (n % 4), 4),
        "f1": round(accuracy - 0.02, 4),
        "seconds": round(12.0 + n * 0.7, 2),
        "lr": lr,  # the experiment's own parameter, echoed by the script
    }


def write_artifacts(spec_experiments: list, iteration: int, folder: Path) -> None:
    for n, experiment in enumerate(spec_experiments):
        leg = folder / f"wild-{iteration:04d}-{experiment.id}"
        leg.mkdir(parents=True)
        (leg / "stdout.log").write_text(f"epoch {n}\n" * 200)
        (leg / "stderr.log").write_text("")
        result = {
            "id": experiment.id,
            "goal": experiment.goal,
            "command": experiment.run,
            "status": "succeeded" if n != 7 else "failed",
            "exit_code": 0 if n != 7 else 1,
            "duration_s": 12.0 + n,
            "metrics": metrics(iteration, n, float(experiment.parameters["lr"])),
        }
        (leg / "result.json").write_text(json.dumps(result))


def build_ledger(scratch: Path, iterations: int, environ: dict[str, str]) -> tuple[Path, Path, str, int]:
    """(checkout, artifacts, iteration commit, iteration number): the collect job's starting point."""
    from wild_ci import collect
    from wild_ci.ledger import open_repo

    project = scratch / "project"
    project.mkdir()
    git(project, "init", "--quiet", "--initial-branch=main")
    (project / "train.py").write_text("print('train')\n")
    (project / ".wild").mkdir()
    (project / ".wild" / "config.yml").write_text("metrics: {accuracy: max, loss: min}\n")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "initial")
    os.environ.update(environ)  # the git identity, for the set-up's own commits
    for number in range(1, iterations):
        submission = submit(project, brain(number))
        assert submission is not None
        artifacts = scratch / f"artifacts-{number}"
        write_artifacts(submission.spec.experiments, number, artifacts)
        results = collect.collect_results(submission.spec, artifacts, submission.commit)
        collect.commit_locally(open_repo(project), results)
    last = submit(project, brain(iterations))
    assert last is not None
    artifacts = scratch / "artifacts"
    write_artifacts(last.spec.experiments, iterations, artifacts)
    origin = scratch / "origin.git"
    git(scratch, "clone", "--quiet", "--bare", str(project), str(origin))
    checkout = scratch / "checkout"
    git(scratch, "clone", "--quiet", "--no-checkout", str(origin), str(checkout))
    git(checkout, "checkout", "--quiet", "--detach", last.commit)
    return checkout, artifacts, last.commit, iterations


def compiled_copy(source: Path, target: Path) -> Path:
    """The package as pip --target leaves it: its modules compiled, the templates inside it."""
    shutil.copytree(source / "wild_ci", target / "wild_ci", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("templates", "examples"):
        if (source / name).is_dir():
            shutil.copytree(source / name, target / "wild_ci" / name)
    compileall.compile_dir(target, quiet=1, force=True)
    return target


def run_once(
    launcher: Path, checkout: Path, artifacts: Path, commit: str, iteration: int, env: dict[str, str]
) -> float:
    origin = checkout.parent / "origin.git"
    git(origin, "update-ref", "refs/heads/wild/main", commit)  # the iteration not collected yet
    command = [sys.executable, "-I", "-S", str(launcher), "collect", "--iteration", str(iteration)]
    command += ["--artifacts", str(artifacts), "--push", "--comment"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "committed as" not in done.stdout:
        raise SystemExit(f"collect failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    said = [line for line in done.stderr.splitlines() if "no chart: matplotlib is not installed" not in line]
    if said:  # the run without matplotlib says it has no chart: expected
        print(f"  (stderr: {' '.join(said)[:200]})")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--before", type=Path, help="another source tree to time the same way")
    parser.add_argument("--keep", type=Path, help="build the ledger in this folder and keep it (to profile)")
    parser.add_argument("--fonts", type=int, default=400, help="font files of the many-fonts stand-in")
    args = parser.parse_args()
    site_packages = sysconfig.get_paths()["purelib"]
    keep = contextlib.nullcontext(str(args.keep)) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="wild-collect-bench-") as name:
        scratch = Path(name)
        scratch.mkdir(parents=True, exist_ok=True)
        identity = {
            "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        }  # fmt: skip
        checkout, artifacts, commit, iteration = build_ledger(scratch, args.iterations, identity)
        trees = {"this tree": ROOT, **({"before": args.before} if args.before else {})}
        launchers: dict[tuple[str, bool], Path] = {}
        for label, source in trees.items():
            lib = compiled_copy(source, scratch / f"lib-{label.replace(' ', '-')}")
            for hide in (True, False):
                launcher = scratch / f"wild-ci-{label.replace(' ', '-')}-{'plain' if hide else 'chart'}.py"
                launcher.write_text(LAUNCHER.format(paths=[str(lib), site_packages], hide_matplotlib=hide))
                launchers[(label, hide)] = launcher
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MPL"))}
        base_env |= identity | {
            "WILD_CI_LOCAL": "1",  # as under act: --comment posts only to a named pull request
            "GITHUB_STEP_SUMMARY": str(scratch / "summary.md"),
        }
        warm = scratch / "mpl-warm"
        rows = {
            "no chart (baseline)": (True, None),
            "chart, warm MPLCONFIGDIR": (False, warm),
            "chart, cold MPLCONFIGDIR": (False, "cold"),
        }
        load_before = os.getloadavg()
        timings: dict[tuple[str, str], list[float]] = {}
        for label in trees:
            warm.mkdir(exist_ok=True)
            run_once(  # fills the warm cache, and warms the disk cache for every row alike
                launchers[(label, False)], checkout, artifacts, commit, iteration,
                base_env | {"MPLCONFIGDIR": str(warm), "XDG_CACHE_HOME": str(warm / "cache")},
            )  # fmt: skip
        for run in range(args.runs):  # rows interleaved: the machine's load moves, they share it
            for label in trees:
                for row, (hide, mpl) in rows.items():
                    env = dict(base_env)
                    if mpl == "cold":  # wild-ci keeps matplotlib's cache in its own cache folder
                        cold = scratch / f"cold-{label.replace(' ', '-')}-{run}"
                        env |= {"MPLCONFIGDIR": str(cold / "mpl"), "XDG_CACHE_HOME": str(cold / "cache")}
                    elif mpl is not None:
                        env |= {"MPLCONFIGDIR": str(mpl), "XDG_CACHE_HOME": str(mpl / "cache")}
                    else:
                        env["MPLCONFIGDIR"] = str(scratch / "mpl-unused")
                    seconds = run_once(launchers[(label, hide)], checkout, artifacts, commit, iteration, env)
                    timings.setdefault((label, row), []).append(seconds)
        load_after = os.getloadavg()
    print(
        f"collect job, {EXPERIMENTS} experiments with metrics, iteration {iteration} "
        f"({iteration - 1} earlier iterations with results), {args.runs} runs each, fresh process"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} cores)")
    print()
    print("| code | collect job | best | median |")
    print("|---|---|---|---|")
    for (label, row), values in timings.items():
        print(f"| {label} | {row} | {min(values):.2f} s | {statistics.median(values):.2f} s |")
    print()
    font_cache_table(args.runs, args.fonts)


FONT_CACHE = """\
import time
start = time.perf_counter()
import matplotlib.font_manager as fm
print(time.perf_counter() - start, len(fm.fontManager.ttflist))
"""


def font_cache_table(runs: int, copies: int) -> None:
    """matplotlib's first import in a fresh MPLCONFIGDIR: with and without the system font scan."""
    import matplotlib

    own = sorted(Path(matplotlib.get_data_path(), "fonts", "ttf").glob("*.ttf"))
    with tempfile.TemporaryDirectory(prefix="wild-font-bench-") as name:
        scratch = Path(name)
        many = scratch / "many" / "fonts"
        many.mkdir(parents=True)
        for n in range(copies):
            source = own[n % len(own)]
            shutil.copyfile(source, many / f"{n:04d}-{source.name}")
        fonts = {"XDG_DATA_HOME": str(many.parent)}
        cases = {
            "this machine, system fonts scanned (matplotlib's default)": ({}, False),
            "this machine, MPL_IGNORE_SYSTEM_FONTS (wild-ci)": ({}, True),
            f"+{copies} font files, system fonts scanned": (fonts, False),
            f"+{copies} font files, MPL_IGNORE_SYSTEM_FONTS (wild-ci)": (fonts, True),
        }
        found: dict[str, list[tuple[float, int]]] = {}
        for run in range(runs):
            for label, (extra, ignore) in cases.items():
                env = {k: v for k, v in os.environ.items() if not k.startswith("MPL")} | extra
                env["MPLCONFIGDIR"] = str(scratch / f"cache-{run}-{len(found.get(label, []))}-{hash(label)}")
                if ignore:
                    env["MPL_IGNORE_SYSTEM_FONTS"] = "1"
                command = [sys.executable, "-c", FONT_CACHE]
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                seconds, listed = done.stdout.split()
                found.setdefault(label, []).append((float(seconds), int(listed)))
    print(f"matplotlib's first import (`import matplotlib.font_manager`), a fresh cache folder, {runs} runs")
    print()
    print("| machine, font scan | fonts listed | best | median |")
    print("|---|---|---|---|")
    for label, values in found.items():
        times = [t for t, _ in values]
        print(f"| {label} | {values[0][1]} | {min(times):.2f} s | {statistics.median(times):.2f} s |")


if __name__ == "__main__":
    main()
