"""Benchmark: adversarial brain outputs, each family at growing sizes (issue #15 asks ≤ 2 s and
≤ 300 MB each at 1 MiB and 5 MiB).

Every case runs in a fresh process (`read_brain_output` on the bytes, as `wild-ci run` does) and
reports its wall time and peak RSS (the interpreter's own ~30 MB included). A case that passes its
time cap is killed and shown as `>cap`. `--baseline DIR` also runs every case against another
checkout of wild-ci (for example today's main) in the same run, for a before/after table.

Run: python bench/parse_adversarial_bench.py [--sizes 0.1,1,5] [--baseline /work/main] [--cap 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent

RUNNER = r"""
import resource, sys, time
from wild_ci.generate import read_brain_output
data = open(sys.argv[1], "rb").read()
start = time.perf_counter()
out = read_brain_output(data)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{elapsed:.3f} {peak:.0f} {len(out.experiments)} {len(out.errors)} {len(out.warnings)}")
"""

BLOCK = '<experiments>\n- goal: "real"\n  command: "python train.py"\n</experiments>\n'


def _repeat(unit: str, size: int, tail: str = BLOCK) -> str:
    return unit * max(1, (size - len(tail)) // len(unit)) + tail


def alias_bomb_in_parameters(size: int) -> str:
    """A billion-laughs bomb in a string-valued `parameters` (re-read as YAML), padded with prose."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    bomb = "{" + ", ".join(levels) + "}"
    block = (
        f"<experiments>\n- goal: bomb\n  command: python train.py\n  parameters: {bomb!r}\n</experiments>\n"
    )
    return _repeat("Some prose about the plan.\n", size, block)


def backtick_runs(size: int) -> str:
    """Runs of 1, 2, 3, … backticks, each followed by `a`, in one paragraph (no run ever closes)."""
    parts, total, n = [], 0, 1
    while total < size - len(BLOCK):
        parts.append("`" * n + "a")
        total += n + 1
        n += 1
    return "".join(parts) + "\n\n" + BLOCK


def quoted_tags(size: int) -> str:
    """ "`<experiments>`" quoted many times before one real block."""
    return _repeat("`<experiments>` ", size)


def quoted_tags_never_closed(size: int) -> str:
    """Quoted opening tags and no closing tag anywhere."""
    return _repeat("`<experiments>` ", size, "")


def unclosed_open_tags(size: int) -> str:
    """`<experiments ` with no `>` after it, many times."""
    return _repeat("<experiments ", size)


def many_promises(size: int) -> str:
    return _repeat("<promise>WAITING</promise>\n<summary>s</summary><plan>p</plan>\n", size)


def deep_nesting(size: int) -> str:
    """`parameters: [[[[…]]]]` nested as deep as the size allows."""
    depth = size // 2 - 100
    value = "[" * depth + "]" * depth
    return f"<experiments>\n- goal: deep\n  command: run\n  parameters: {value}\n</experiments>\n"


def deep_nesting_in_string(size: int) -> str:
    depth = size // 2 - 100
    value = "{a: " * (depth // 4) + "1" + "}" * (depth // 4)
    return f"<experiments>\n- goal: deep\n  command: run\n  parameters: {value!r}\n</experiments>\n"


def one_long_line(size: int) -> str:
    """A single line of prose with a backtick every few characters and no newline."""
    return _repeat("word `x` word ``y ", size, " " + BLOCK.replace("\n", " "))


def long_command(size: int) -> str:
    """A single-line command of the whole size."""
    return f'<experiments>\n- goal: long\n  command: "echo {"x" * (size - 80)}"\n</experiments>\n'


def many_items(size: int) -> str:
    item = '- goal: "Sweep point"\n  command: "python train.py --seed 1"\n'
    return "<experiments>\n" + item * (size // len(item)) + "</experiments>\n"


def many_items_yaml(size: int) -> str:
    """Items in a shape only PyYAML reads (block scalars, durations)."""
    item = "- goal: Sweep point\n  command: |\n    python train.py --seed 1\n  timeout: 30m\n"
    return "<experiments>\n" + item * (size // len(item)) + "</experiments>\n"


def many_items_tolerant(size: int) -> str:
    """Items YAML refuses (an unquoted `: `), read by the tolerant reader."""
    item = "- goal: Sweep: point\n  command: python train.py --seed 1\n"
    return "<experiments>\n" + item * (size // len(item)) + "</experiments>\n"


def many_fences(size: int) -> str:
    return _repeat("```\n<experiments>\n```\n~~~~\n", size)


def many_quotes_in_command(size: int) -> str:
    """A block-scalar command of many lines of quotes and here-documents."""
    unit = "    echo \"it's\" 'a \"b\"' # don't\n    cat <<EOF\n    it's\n    EOF\n"
    body = unit * (size // len(unit))
    return f"<experiments>\n- goal: quotes\n  command: |\n{body}    python train.py\n</experiments>\n"


def latin1(size: int) -> bytes:
    return ("caf\u00e9 " * (size // 5)).encode("latin-1")


def utf16(size: int) -> bytes:
    return _repeat("Some prose.\n", size // 2).encode("utf-16")


FAMILIES: dict[str, Callable[[int], str | bytes]] = {
    "alias bomb in string parameters": alias_bomb_in_parameters,
    "backtick runs 1, 2, 3, …": backtick_runs,
    "`<experiments>` quoted": quoted_tags,
    "`<experiments>` quoted, never closed": quoted_tags_never_closed,
    "`<experiments ` without `>`": unclosed_open_tags,
    "many <promise>/<summary>/<plan>": many_promises,
    "[[[[…]]]] parameters": deep_nesting,
    "{a: {a: …}} in string parameters": deep_nesting_in_string,
    "one long line of code spans": one_long_line,
    "one single-line command": long_command,
    "many items (canonical)": many_items,
    "many items (PyYAML shape)": many_items_yaml,
    "many items (tolerant)": many_items_tolerant,
    "many fences": many_fences,
    "quotes and here-docs in a command": many_quotes_in_command,
    "Latin-1 bytes": latin1,
    "UTF-16": utf16,
}


def run_case(path: Path, tree: Path, cap: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, str(path)],
            env=env,
            cwd=tree,  # `python -c` puts the working directory first on sys.path
            capture_output=True,
            text=True,
            timeout=cap,
        )
    except subprocess.TimeoutExpired:
        return f">{cap:g} s"
    if done.returncode != 0:
        return "crash: " + (done.stderr.strip().splitlines() or ["?"])[-1][:40]
    seconds, peak, *_ = done.stdout.split()
    return f"{float(seconds):.2f} s / {peak} MB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0.1,1,5", help="sizes in MiB, comma-separated")
    parser.add_argument("--baseline", type=Path, help="another wild-ci checkout to run first")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds before a case is stopped")
    parser.add_argument("--only", default="", help="run the families whose name contains this")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    trees = ([("before", args.baseline)] if args.baseline else []) + [("after", ROOT)]
    header = ["family", *(f"{label} {s:g} MiB" for s in sizes for label, _ in trees)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in FAMILIES.items():
            if args.only and args.only not in name:
                continue
            cells = []
            for size in sizes:
                data = build(int(size * MiB) - 4096)  # under the 5 MiB limit
                path = Path(tmp) / "brain.md"
                path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
                cells.extend(run_case(path, tree, args.cap) for _, tree in trees)
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
