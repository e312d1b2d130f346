"""Benchmark: what the chart's best-so-far panels cost as a session grows (research finding 3).

The step line follows the best configuration's mean over replicates (as results.md does), so each
iteration's runs are grouped by configuration (`leaderboard.runs_of`, which parses each command's
flags) — once per session for every metric, and each iteration summarizes again only the
configurations it ran. This times `chart.chart_data` (no drawing) for sessions of N iterations of
12 experiments (4 configurations of 3 seeds) with two metrics.
Run: python bench/chart_progress_bench.py [N ...]   (default: 10 100 300)
"""

from __future__ import annotations

import sys
import time

from wild_ci import chart
from wild_ci.specs import ExperimentResult, IterationResults


def iteration(number: int) -> IterationResults:
    runs = [
        ExperimentResult(
            f"lr-{k}-seed-{s}",
            "sweep",
            f"python train.py --lr={k} --seed={s}",
            "succeeded",
            metrics={"accuracy": 0.9 + k / 1000 + s / 10000, "loss": 0.3 - k / 1000},
            parameters={"lr": k, "seed": s},
        )
        for k in range(4)
        for s in range(3)
    ]
    return IterationResults("main", number, None, runs)


def main(sizes: list[int]) -> None:
    print(f"{'iterations':>10} | {'runs':>6} | {'chart_data (s)':>14}")
    print(f"{'-' * 10}-+-{'-' * 6}-+-{'-' * 14}")
    for n in sizes:
        session = [iteration(k) for k in range(1, n + 1)]
        start = time.perf_counter()
        chart.chart_data(session[-1], session[:-1])
        elapsed = time.perf_counter() - start
        print(f"{n:>10} | {n * 12:>6} | {elapsed:>14.3f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 300])
