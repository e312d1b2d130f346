"""★ "best of this iteration" follows the iteration's best configuration (mean over its replicates),
not one lucky seed; a single run keeps the mark only as a single run, said so (DESIGN.md: "A single
run is never presented as a finding")."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from wild_ci import chart
from wild_ci.cli.results import results_view
from wild_ci.compare import Standing
from wild_ci.leaderboard import ConfigurationRuns
from wild_ci.metrics import Direction, kind_of
from wild_ci.report import comment_body, context_block, results_markdown, summary_text
from wild_ci.specs import ExperimentResult, IterationResults
from wild_ci.stats import summarize

STEADY = [0.975, 0.976, 0.974, 0.977, 0.975]  # C=1: mean 0.9754
LUCKY = [0.960, 0.962, 0.958, 0.985185, 0.960]  # C=10: mean 0.965037, seed 3 the best single run


def run(number: int, c: str, seed: int | None, accuracy: float) -> ExperimentResult:
    seeded = f" --seed={seed}" if seed is not None else ""
    return ExperimentResult(
        f"svm-c{c}" + (f"-s{seed}" if seed is not None else ""),
        "g",
        f"python digits.py --C={c}{seeded}",
        "succeeded",
        0,
        1.0,
        metrics={"accuracy": accuracy},
    )


def iteration(number: int, runs: list[ExperimentResult]) -> IterationResults:
    directions = {"accuracy": "max"}
    return IterationResults("main", number, "c" * 40, runs, code="code", metric_directions=directions)


def swept() -> tuple[IterationResults, IterationResults]:
    """Iteration 1 holds the session's best (C=100, mean 0.99); iteration 2 sweeps seeds of C=1 and
    C=10, so its ★ is its own best, not the best so far."""
    first = iteration(1, [run(1, "100", s, v) for s, v in enumerate([0.99, 0.991, 0.989])])
    second = iteration(
        2,
        [run(2, "1", s, v) for s, v in enumerate(STEADY)] + [run(2, "10", s, v) for s, v in enumerate(LUCKY)],
    )
    return first, second


def starred(results: IterationResults, standing: Standing) -> set[str]:
    cells = standing.cells(results)
    return {r.id for r in results.experiments if cells[r.id]["accuracy"].best_here}


def test_the_star_marks_every_replicate_of_the_best_configuration_not_the_lucky_seed() -> None:
    first, second = swept()
    standing = Standing.of(second, [first])
    assert starred(second, standing) == {f"svm-c1-s{s}" for s in range(5)}
    summary = standing.cells(second)["svm-c1-s0"]["accuracy"].here
    assert summary is not None and (summary.n, round(summary.mean, 4)) == (5, 0.9754)


@pytest.mark.parametrize("context_format", ["wild-ci", "wild-v2"])
def test_the_context_says_best_configuration_with_its_mean_and_n(context_format: str) -> None:
    first, second = swept()
    text = context_block(second, context_format=context_format, standing=Standing.of(second, [first]))
    note = "accuracy=0.975 (best configuration of this iteration: mean 0.9754, n 5)"
    assert note in text and text.count("best configuration of this iteration") == 5
    assert "accuracy=0.985185," not in text and "accuracy=0.985185 (" not in text  # the lucky seed: no mark
    assert "best of this iteration" not in text


def test_results_md_the_pr_comment_and_show_star_the_configuration() -> None:
    first, second = swept()
    standing = Standing.of(second, [first])
    for text in (results_markdown(second, standing=standing), comment_body(second, "u", standing=standing)):
        assert "| ✅ `svm-c1-s2` | 0.974 ★ |" in text
        assert "| ✅ `svm-c10-s3` | 0.985185 |" in text
        assert "★ a run of this iteration's best configuration (best mean" in text
    console = Console(width=160, file=io.StringIO(), highlight=False, color_system=None)
    console.print(results_view(second, console.width, standing))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    lines = {word: line for line in shown.splitlines() for word in line.split() if word.startswith("svm-c")}
    assert "★" in lines["svm-c1-s2"] and "★" not in lines["svm-c10-s3"]


def test_without_replicates_the_star_is_one_run_and_says_so() -> None:
    first = iteration(1, [run(1, "100", None, 0.99)])
    second = iteration(2, [run(2, c, None, v) for c, v in (("1", 0.97), ("10", 0.98), ("3", 0.95))])
    standing = Standing.of(second, [first])
    assert starred(second, standing) == {"svm-c10"}
    text = context_block(second, standing=standing)
    assert "accuracy=0.98 (best of this iteration, a single run (unreplicated))" in text


def test_the_chart_stars_the_best_configuration_s_runs_not_the_lucky_seed() -> None:
    _, second = swept()
    points = chart.iteration_points(second, kind_of("accuracy", {"accuracy": Direction.MAX}))
    assert {p.id for p in points if p.best} == {f"svm-c1-s{s}" for s in range(5)}
    single = iteration(2, [run(2, c, None, v) for c, v in (("1", 0.97), ("10", 0.98))])
    assert [p.best for p in chart.iteration_points(single, kind_of("accuracy"))] == [False, True]


def test_an_interval_past_a_bound_is_printed_as_computed_not_clipped() -> None:
    """The choice documented in docs/comparing.md: a t interval is not cut at a bound wild-ci does not
    know, nor at the values observed (a guard of that choice: the old main printed it so too)."""
    # mean 0.983333, sd 0.020817, t(0.975, 2) = 4.3027: half-width 4.3027 * 0.020817 / sqrt(3) = 0.05171
    text = summary_text(ConfigurationRuns(None, summarize([0.96, 0.99, 1.0]), []))
    assert "95% CI 0.9316–1.035, n 3" in text
