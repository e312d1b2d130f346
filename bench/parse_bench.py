"""Benchmark: parsing one brain output with 10,000 experiments (issue #3 asks for under 1 s).

Prints the time of the whole parse next to a baseline measured in the same process: PyYAML's
libyaml loader reading the same block with no validation, the floor any YAML-first parser pays.
Run: python bench/parse_bench.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time

import yaml

from wild_ci.config import Limits
from wild_ci.parse import parse_brain_output


def brain_output(n: int) -> tuple[str, str]:
    items = "".join(
        f'- goal: "Sweep point {i}: learning rate and seed"\n'
        f'  command: "cd /home/r/project && python train.py --config configs/base.yaml"\n'
        f'  workdir: "/home/r/project"\n'
        f'  parameters: {{"lr": {0.0001 * (i % 97 + 1):.5f}, "seed": {i}, "tag": "run {i}"}}\n'
        for i in range(n)
    )
    prose = "I will sweep the learning rate.\n" * 20
    return f"{prose}<experiments>\n{items}</experiments>\n<promise>WAITING</promise>\n", items


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text, block = brain_output(n)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    limits = Limits(max_experiments=n)  # the submit limit (256 matrix legs) is not what is measured
    out = parse_brain_output(text, limits)
    assert out.ok and len(out.experiments) == n, out.errors[:3]
    base_min, base_med = best_of(3, lambda: yaml.load(block, Loader=loader))
    parse_min, parse_med = best_of(3, lambda: parse_brain_output(text, limits))
    print(
        f"brain output: {n} experiments, {len(text) / 1e6:.2f} MB; libyaml: {loader is not yaml.SafeLoader}"
    )
    print(f"baseline yaml.load only : best {base_min:.3f} s, median {base_med:.3f} s")
    print(f"parse_brain_output      : best {parse_min:.3f} s, median {parse_med:.3f} s")
    print(f"ratio parse / baseline  : {parse_min / base_min:.2f}")


if __name__ == "__main__":
    main()
