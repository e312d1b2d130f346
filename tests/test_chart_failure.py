"""Issue #26, item 13: a chart that cannot be drawn says why, not "matplotlib is not installed"."""

from __future__ import annotations

import pytest

from wild_ci import chart
from wild_ci.specs import ExperimentResult, IterationResults


def _iteration(values: dict[str, float]) -> IterationResults:
    results = [ExperimentResult(i, i, "c", "succeeded", metrics={"score": v}) for i, v in values.items()]
    return IterationResults("main", 1, None, results)


def test_a_chart_that_fails_to_draw_says_the_real_reason(capsys) -> None:
    pytest.importorskip("matplotlib")
    results = _iteration({"a": 1e308, "b": -1e308, "c": 0.5})
    outcome = chart.draw(results, [])
    note = chart.warn_missing(results, outcome.png, (), outcome.failure)
    if outcome.png is not None:  # drawn after all: then nothing may be said to be missing
        assert note is None
        return
    assert note is not None and "matplotlib is not installed" not in note
    assert "could not be drawn" in note


def test_a_failure_while_drawing_is_named_in_the_note(monkeypatch) -> None:
    pytest.importorskip("matplotlib")

    def broken(*_args: object) -> bytes:
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(chart, "_draw", broken)
    results = _iteration({"a": 1.0, "b": 2.0})
    outcome = chart.draw(results, [])
    assert outcome.png is None
    note = chart.missing_note(results, outcome.png, (), outcome.failure)
    assert note == "no chart: it could not be drawn (OverflowError: cannot convert float infinity to integer)"
