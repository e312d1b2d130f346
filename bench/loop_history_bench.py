"""Benchmark: what the history lines of `wild-ci loop`'s prompt cost when the brain changes many
files (issue #28: each line names the files changed since the iteration before, a diffstat of the
snapshots, computed for up to 30 iterations on every turn).

For a session of ITERATIONS iterations in which the brain rewrote F files before each one, this
times `loop.history` (what one prompt pays) and prints the length of one history line (at most
8 files are named, the rest counted).
Run: python bench/loop_history_bench.py [F ...]   (default: 10 1000 10000)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wild_ci import generate, ledger, loop

ITERATIONS = 3
OUTPUT = b"Edited.\n<summary>s</summary>\n<promise>WAITING</promise>\n"


def make_session(root: Path, files: int) -> Path:
    repo = root / f"repo-{files}"
    repo.mkdir()
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q", "--initial-branch=main"], cwd=repo, check=True)
    (repo / "README.md").write_text("# bench\n")
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], cwd=repo, check=True)
    for n in range(1, ITERATIONS + 1):
        for i in range(files):
            path = repo / "src" / f"d{i % 100}" / f"f{i}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"x = {n}\n" * (1 + i % 5))
        generate.submit(repo, OUTPUT)
    return repo


def main(counts: list[int]) -> None:
    print(f"{'files changed':>14} | {'history (s)':>11} | {'line chars':>10}")
    print(f"{'-' * 14}-|-{'-' * 11}-|-{'-' * 10}")
    with tempfile.TemporaryDirectory() as tmp:
        for files in counts:
            repo = ledger.open_repo(make_session(Path(tmp), files))
            start = time.perf_counter()
            lines = loop.history(repo, "main")
            seconds = time.perf_counter() - start
            print(f"{files:>14} | {seconds:>11.3f} | {len(lines[-1]):>10}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 1000, 10000])
