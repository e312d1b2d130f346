"""Benchmark: how long wild-ci takes to start, this tree against an earlier revision, in one run.

Every matrix leg starts `wild-ci execute` and every collect job `wild-ci collect`, so their start-up
is paid once per experiment and once per iteration. For each command, the two trees run
alternately (same machine state), REPEAT times each; the table shows the best and the median wall
milliseconds and the ratio of medians (this tree / baseline).
Run: python bench/startup_bench.py [BASELINE_REV] [REPEAT]   (default: 46ff7aa, before #12; 21)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(rev: str, target: Path) -> Path:
    """The revision's files (no checkout of the working tree)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def commands(scratch: Path) -> dict[str, list[str]]:
    empty = scratch / "empty"
    empty.mkdir(exist_ok=True)
    leg = [
        "execute",
        "--iteration",
        "1",
        "--experiment",
        "x",
        "--out",
        str(scratch / "o"),
        "--workspace",
        str(empty),
    ]
    return {
        "import wild_ci.execute": [],
        "wild-ci execute (a leg; no spec)": leg,
        "wild-ci collect (no repository)": ["collect", "--artifacts", str(empty), "--repo", str(empty)],
        "wild-ci parse examples/demo/brain.md": ["parse", str(ROOT / "examples/demo/brain.md")],
    }


def run_once(tree: Path, argv: list[str]) -> float:
    code = (
        "import wild_ci.execute"
        if not argv
        else f"import sys; from wild_ci.entry import main; sys.exit(main({argv!r}))"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                   capture_output=True, check=False)  # fmt: skip
    return (time.perf_counter() - start) * 1000


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "46ff7aa"
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    with tempfile.TemporaryDirectory(prefix="wild-ci-startup-") as tmp:
        baseline = export(rev, Path(tmp) / "baseline")
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        print(f"start-up, ms (best / median of {repeat}); baseline {rev}, this tree {ROOT}")
        print(f"{'command':40} {'baseline':>16} {'this tree':>16} {'ratio':>7}")
        for name, argv in commands(scratch).items():
            times: dict[str, list[float]] = {"baseline": [], "this": []}
            for _ in range(repeat):
                times["baseline"].append(run_once(baseline, argv))
                times["this"].append(run_once(ROOT, argv))
            cells = {k: (min(v), statistics.median(v)) for k, v in times.items()}
            ratio = cells["this"][1] / cells["baseline"][1]
            base, this = cells["baseline"], cells["this"]
            print(f"{name:40} {base[0]:7.0f} / {base[1]:6.0f} {this[0]:7.0f} / {this[1]:6.0f} {ratio:7.2f}")


if __name__ == "__main__":
    main()
