"""Benchmark: what checking out the repository costs each matrix leg locally (issue #7, item 3).

act's own local checkout copies the folder it runs on into every leg's workspace; wild-ci's checkout
stand-in (templates/actions/checkout; `wild-ci run` uses it only for a checkout of another ref, and
here with `--no-skip-checkout`) clones the commit with shared objects instead. For packed
repositories of 100, 2,000 and 20,000 files (1 KB each, in folders of 100), in the same run, act runs
a hand-written workflow of LEGS legs one at a time (max-parallel 1) three ways: no checkout at all
(the baseline), act's copy, and the stand-in. Cost per leg = (wall time - baseline wall time) / LEGS.
`cp -a` of the repository and `git clone --shared` + checkout, timed directly, are shown for
reference: both write the same files, which on a slow disk is most of the cost. Issue 23 adds two,
timed directly: a standalone clone + checkout (`--no-local`: its own copy of the objects, nothing
shared with the source — the alternative to shared objects for a leg), and the staging repository
a local run makes once for its collect job (`--bare --shared`, no remote; engines/act/staging.py).
Run: python bench/checkout_bench.py [FILES ...]   (default: 100 2000 20000)
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

from wild_ci.engines.github.workflow import PINNED_ACTIONS
from wild_ci.templating import render

LEGS = 6
REPEATS = 3
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
CHECKOUT = PINNED_ACTIONS["checkout"]


def make_repo(folder: Path, files: int, checkout: bool) -> Path:
    """A repository of `files` files and a workflow of LEGS legs, with or without a checkout step."""
    folder.mkdir()
    for i in range(files):
        sub = folder / f"pkg{i // 100:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"m{i:05d}.py").write_text(f"# module {i}\n" + "x = 1\n" * 170)
    workflow = folder / ".github" / "workflows" / "legs.yml"
    workflow.parent.mkdir(parents=True)
    legs = ", ".join(str(i) for i in range(LEGS))
    step = f"      - uses: {CHECKOUT.uses}\n        with:\n          persist-credentials: false\n"
    workflow.write_text(
        "on: push\njobs:\n  leg:\n    runs-on: ubuntu-latest\n    strategy:\n      max-parallel: 1\n"
        f"      matrix:\n        n: [{legs}]\n    steps:\n{step if checkout else ''}"
        f"      - run: {'test -f pkg000/m00000.py' if checkout else 'true'}\n"  # the checkout delivered
    )
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "--quiet"], cwd=folder, check=True)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    # packed, as a real repository is, and before act reads it: left alone, a commit of thousands of
    # files starts `git gc --auto` in the background, which deletes loose objects while act copies
    subprocess.run(
        ["git", "-c", "gc.auto=0", "commit", "--quiet", "-m", "init"], cwd=folder, check=True, env=env
    )
    subprocess.run(["git", "gc", "--quiet"], cwd=folder, check=True)
    return folder


def act_wall(repo: Path, tmp: Path, standin: Path | None) -> float:
    act = str(Path(sys.executable).parent / "act")
    cache = tmp / "act-cache"
    shutil.rmtree(cache, ignore_errors=True)
    command = [act, "push", "-C", str(repo), "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
               "--action-cache-path", str(cache), "--env-file", os.devnull, "--secret-file", os.devnull,
               "--var-file", os.devnull, "--input-file", os.devnull]  # fmt: skip
    if standin is not None:
        command += ["--no-skip-checkout", "--local-repository", f"{CHECKOUT.uses}={standin}"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tmp, capture_output=True, env={**os.environ, "HOME": str(tmp)})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"act failed: {done.stdout.decode()[-3000:]}")
    return wall


def direct(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(files: int, tmp: Path) -> dict[str, float]:
    plain = make_repo(tmp / "plain", files, checkout=False)
    repo = make_repo(tmp / "repo", files, checkout=True)
    standin = tmp / "standin"
    standin.mkdir()
    (standin / "action.yml").write_text(
        render("actions/checkout/action.yml.j2", action=CHECKOUT, source=str(repo))
    )
    names = ("baseline", "act copy", "stand-in", "cp -a", "clone", "standalone", "staging")
    walls: dict[str, list[float]] = {name: [] for name in names}
    for attempt in range(REPEATS):  # interleaved, so drift in the machine's load hits all alike
        walls["baseline"].append(act_wall(plain, tmp, None))
        walls["act copy"].append(act_wall(repo, tmp, None))
        walls["stand-in"].append(act_wall(repo, tmp, standin))
        walls["cp -a"].append(direct(["cp", "-a", str(repo), str(tmp / f"copy{attempt}")], tmp))
        clone = tmp / f"clone{attempt}"
        walls["clone"].append(
            direct(["git", "clone", "--quiet", "--shared", "--no-checkout", str(repo), str(clone)], tmp)
            + direct(["git", "-C", str(clone), "checkout", "--quiet", "--detach", "HEAD"], tmp)
        )
        alone = tmp / f"standalone{attempt}"
        walls["standalone"].append(
            direct(["git", "clone", "--quiet", "--no-local", "--no-checkout", str(repo), str(alone)], tmp)
            + direct(["git", "-C", str(alone), "checkout", "--quiet", "--detach", "HEAD"], tmp)
        )
        staging = tmp / f"staging{attempt}.git"
        walls["staging"].append(
            direct(
                ["git", "clone", "--quiet", "--bare", "--shared", "--single-branch", str(repo), str(staging)],
                tmp,
            )
            + direct(["git", "--git-dir", str(staging), "remote", "remove", "origin"], tmp)
        )
    median = {name: statistics.median(values) for name, values in walls.items()}
    return {
        "act copy": (median["act copy"] - median["baseline"]) / LEGS,
        "stand-in": (median["stand-in"] - median["baseline"]) / LEGS,
        "cp -a": median["cp -a"],
        "clone": median["clone"],
        "standalone": median["standalone"],
        "staging": median["staging"],
        "baseline": median["baseline"] / LEGS,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 2000, 20000]
    print(f"checkout cost per leg, ms (act host mode, {LEGS} legs one at a time, median of {REPEATS}; "
          f"{os.cpu_count()} cores)")  # fmt: skip
    columns = ("files", 7), ("act copy", 10), ("stand-in", 10), ("ratio", 7), ("cp -a", 8), ("clone+co", 9)
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'leg w/o':>8}", f"{'alone+co':>9}",
          f"{'staging':>8}")  # fmt: skip
    for files in sizes:
        with tempfile.TemporaryDirectory(prefix="wild-ci-bench-") as tmp:
            m = measure(files, Path(tmp))
        ratio = m["act copy"] / m["stand-in"] if m["stand-in"] > 0 else float("inf")
        print(
            f"{files:>7} {m['act copy'] * 1000:>10.0f} {m['stand-in'] * 1000:>10.0f} {ratio:>6.1f}x "
            f"{m['cp -a'] * 1000:>8.0f} {m['clone'] * 1000:>9.0f} {m['baseline'] * 1000:>8.0f} "
            f"{m['standalone'] * 1000:>9.0f} {m['staging'] * 1000:>8.0f}"
        )
    print("act copy / stand-in: extra wall time per leg over a leg without checkout; cp -a, clone+co: "
          "the same repository copied / cloned directly; leg w/o: a whole leg without checkout; "
          "alone+co: a standalone clone + checkout; "
          "staging: the collect job's repository, once a run.")  # fmt: skip


if __name__ == "__main__":
    main()
