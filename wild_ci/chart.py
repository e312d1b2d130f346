"""A picture where it helps: the iteration's metrics as a PNG, committed beside results.md.

Left: each metric per experiment in this iteration (the best one marked). Right: each metric across
the session's iterations, one line per experiment. Rendered with matplotlib when it is installed
(`pip install 'wild-ci[charts]'`); without it, results simply have no chart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from .report import lower_is_better
from .specs import IterationResults

MAX_METRICS = 6


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def metrics_png(results: IterationResults, history: Sequence[IterationResults]) -> bytes | None:
    """The chart as PNG bytes, or None when there are no metrics (or no matplotlib)."""
    names = list(dict.fromkeys(n for r in results.experiments for n in r.metrics))[:MAX_METRICS]
    if not names or not available():
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

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


def _bars(axis: object, results: IterationResults, name: str) -> None:
    points = [(r.id, r.metrics[name]) for r in results.experiments if name in r.metrics]
    values = [v for _, v in points]
    best = (min if lower_is_better(name) else max)(values)
    colours = ["#2e7d32" if v == best and len(values) > 1 else "#607d8b" for v in values]
    axis.barh([_short(i) for i, _ in points], values, color=colours)  # type: ignore[attr-defined]
    direction = "lower is better" if lower_is_better(name) else "higher is better"
    axis.set_title(f"{name} ({direction})", fontsize=9)  # type: ignore[attr-defined]
    axis.invert_yaxis()  # type: ignore[attr-defined]
    axis.tick_params(labelsize=7)  # type: ignore[attr-defined]


def _lines(axis: object, iterations: Sequence[IterationResults], name: str) -> None:
    experiments = dict.fromkeys(r.id for it in iterations for r in it.experiments if name in r.metrics)
    for experiment_id in experiments:
        xs, ys = [], []
        for iteration in iterations:
            for r in iteration.experiments:
                if r.id == experiment_id and name in r.metrics:
                    xs.append(iteration.iteration)
                    ys.append(r.metrics[name])
        axis.plot(xs, ys, marker="o", label=_short(experiment_id))  # type: ignore[attr-defined]
    axis.set_title(f"{name} across iterations", fontsize=9)  # type: ignore[attr-defined]
    axis.set_xlabel("iteration", fontsize=8)  # type: ignore[attr-defined]
    axis.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[attr-defined]
    axis.tick_params(labelsize=7)  # type: ignore[attr-defined]
    if len(experiments) <= 8:
        axis.legend(fontsize=6)  # type: ignore[attr-defined]


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
