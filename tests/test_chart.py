"""The metrics chart stays readable (and quick to draw) for iterations of many experiments."""

from __future__ import annotations

import pytest

from wild_ci import chart
from wild_ci.specs import ExperimentResult, IterationResults


def iteration(number: int, metrics: dict[str, dict[str, float]]) -> IterationResults:
    results = [ExperimentResult(i, i, "c", "succeeded", metrics=m) for i, m in metrics.items()]
    return IterationResults("main", number, None, results)


def test_all_experiments_are_shown_when_they_fit() -> None:
    results = iteration(1, {"a": {"loss": 3.0}, "b": {"loss": 1.0}, "c": {}})
    assert chart.best_ids(results, "loss", 25) == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "expected"), [("loss", ["e01", "e02", "e03"]), ("acc", ["e97", "e98", "e99"])]
)
def test_the_best_are_kept_in_the_brains_order(name: str, expected: list[str]) -> None:
    results = iteration(1, {f"e{n:02d}": {name: float(n)} for n in range(1, 100)})
    assert chart.best_ids(results, name, 3) == expected  # loss: lower is better; acc: higher


def test_a_chart_of_a_thousand_experiments_is_drawn(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    earlier = iteration(1, {f"e{n}": {"loss": n / 7} for n in range(1000)})
    latest = iteration(2, {f"e{n}": {"loss": n / 9, "acc": 1 - n / 1000} for n in range(1000)})
    png = chart.metrics_png(latest, [earlier])
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
