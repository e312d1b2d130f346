"""Issue #26, item 16: a metrics.json with one integer too long for Python's int parsing keeps
its other metrics and notes that one; an empty metric name is not kept, and said so."""

from __future__ import annotations

from pathlib import Path

from wild_ci.execute import read_metrics_noted


def test_a_huge_integer_loses_only_itself(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"acc": 0.9, "big": ' + "9" * 5000 + ', "loss": 2}')
    metrics, note = read_metrics_noted(tmp_path)
    assert metrics == {"acc": 0.9, "loss": 2}
    assert note is not None and "'big'" in note and "5000 digits" in note


def test_an_empty_metric_name_is_not_kept_and_said(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"": 1.5, " ": 2, "acc": 0.5}')
    metrics, note = read_metrics_noted(tmp_path)
    assert metrics == {"acc": 0.5}
    assert note is not None and "empty name" in note
