"""A picture where it helps: the iteration's metrics as a PNG, committed beside results.md.

Left: each metric per experiment in this iteration (the best one marked). Right: each metric across
the session's iterations, one line per experiment. Rendered with matplotlib when it is installed
(`pip install 'wild-ci[charts]'`); without it, results simply have no chart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any  # matplotlib is loaded lazily: its Axes type is not importable here

from . import lazy
from .metrics import lower_is_better
from .specs import IterationResults

MAX_METRICS = 6
MAX_BARS = 25  # experiments per bar chart: the best ones when there are more
MAX_LINES = 8


def available() -> bool:
    return lazy.pyplot() is not None


def metrics_png(results: IterationResults, history: Sequence[IterationResults]) -> bytes | None:
    """The chart as PNG bytes, or None when there are no metrics (or no matplotlib)."""
    names = list(dict.fromkeys(n for r in results.experiments for n in r.metrics))[:MAX_METRICS]
    plt = lazy.pyplot() if names else None
    if plt is None:
        return None
    figure, axes = plt.subplots(len(names), 2, figsize=(11, 2.6 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        _bars(axes[row][0], results, name)
        _lines(axes[row][1], [*history, results], name)
    figure.suptitle(f"wild/{results.session} · iteration {results.label}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def best_ids(results: IterationResults, name: str, limit: int) -> list[str]:
    """The experiments a chart of `name` shows: all of them, or the best `limit` in the brain's order
    (a chart of a thousand bars is neither readable nor quick to draw)."""
    points = [(r.id, r.metrics[name]) for r in results.experiments if name in r.metrics]
    if len(points) <= limit:
        return [i for i, _ in points]
    ranked = sorted(points, key=lambda p: p[1], reverse=not lower_is_better(name))[:limit]
    kept = {i for i, _ in ranked}
    return [i for i, _ in points if i in kept]


def _bars(axis: Any, results: IterationResults, name: str) -> None:
    shown = best_ids(results, name, MAX_BARS)
    by_id = {r.id: r.metrics[name] for r in results.experiments if name in r.metrics}
    values = [by_id[i] for i in shown]
    best = (min if lower_is_better(name) else max)(values)
    colours = ["#2e7d32" if v == best and len(values) > 1 else "#607d8b" for v in values]
    axis.barh([_short(i) for i in shown], values, color=colours)
    direction = "lower is better" if lower_is_better(name) else "higher is better"
    of = f", best {len(shown)} of {len(by_id)}" if len(shown) < len(by_id) else ""
    axis.set_title(f"{name} ({direction}{of})", fontsize=9)
    axis.invert_yaxis()
    axis.tick_params(labelsize=7)


def _lines(axis: Any, iterations: Sequence[IterationResults], name: str) -> None:
    """One line per experiment of the latest iteration that the bars show, at most MAX_LINES."""
    experiments = best_ids(iterations[-1], name, MAX_LINES)
    values = [{r.id: r.metrics[name] for r in it.experiments if name in r.metrics} for it in iterations]
    for experiment_id in experiments:
        xs = [it.iteration for it, known in zip(iterations, values, strict=True) if experiment_id in known]
        ys = [known[experiment_id] for known in values if experiment_id in known]
        axis.plot(xs, ys, marker="o", label=_short(experiment_id))
    axis.set_title(f"{name} across iterations", fontsize=9)
    axis.set_xlabel("iteration", fontsize=8)
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.tick_params(labelsize=7)
    if experiments:
        axis.legend(fontsize=6)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
