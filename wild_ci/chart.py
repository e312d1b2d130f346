"""A picture where it helps: the iteration's metrics as a PNG, committed beside results.md.

One row per metric. Left: this iteration, one dot per experiment on an axis fitted to the values
(0.94 and 0.97 must look different, so no bars from zero), each value written beside its row, the
best one marked. Right: the session's best so far — a step line of the best value reached by each
iteration (succeeded experiments only), every iteration's values as faint dots behind it, on
whole-number iterations (one iteration is one labelled column, not a range of 0.96…1.04). Below
them, for each swept numeric parameter, a metric against it: one line per configuration of the other
parameters, mean ± 95% interval over the replicates.

Nothing is hidden silently: every run is drawn, or the panel names those it leaves out (the same
runs in every panel); only a single diverged run is left off a scale, named; a group far from the
rest (a slow family among fast ones) stays on it; what the picture leaves out is said under it.

Only measurements are plotted: a metrics.json key that echoes a parameter with its value (`lr`
echoed by the script) is not a metric (`metrics.measured`); which way a metric improves is the
declared one (config `metrics:`), else guessed from the name and marked "(guessed)".

What is plotted is computed apart from the drawing (`chart_data`), so it is tested without pixels.
Drawing uses matplotlib's Figure and Agg canvas (`lazy.matplotlib`), never pyplot; positions are
computed here rather than by a layout engine (which measures every text once more), and a panel's
ids and values are one multi-line text each: the collect job has a second to spend, and matplotlib
is most of it (bench/collect_bench.py). Text from experiments is shown escaped: a `$` in a metric's
name is a dollar, never mathtext; the look does not depend on any matplotlibrc.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import statistics
import sys
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any  # matplotlib is loaded lazily: its types are not importable here

from . import lazy, leaderboard
from .configurations import DEFAULT_REPLICATE_KEYS, configuration_of, mapping_text, replicate_keys_of
from .leaderboard import runs_of
from .metrics import Direction, MetricKind, format_value, is_number, kind_of, measured, parameter_names
from .specs import ExperimentResult, IterationResults, Status
from .stats import summarize
from .text import visible

MAX_METRICS = 6
MAX_POINTS = 40  # experiments in this iteration's panels: the same ones in each, the rest named
MAX_NAMED = 6  # experiments left out, named in a panel (then "+N more")
REPLICATE_KEYS = frozenset(DEFAULT_REPLICATE_KEYS)  # parameters that repeat a configuration
MAX_SWEEPS = 4  # panels of a metric against a swept parameter
MAX_LINES = 8  # configurations drawn in one such panel (the rest named)
MIN_SWEPT = 3  # distinct values that make a numeric parameter swept
MAX_LABEL = 30  # characters of an experiment id beside its dot
MAX_NUMBER = 10  # characters of a value beside its dot
MISSING = "no chart: matplotlib is not installed or could not be loaded (pip install matplotlib)"

GOOD = "#2e7d32"
PLAIN = "#546e7a"
FAINT = "#90a4ae"


@dataclass(frozen=True)
class Point:
    """One experiment's value of a metric in this iteration."""

    id: str
    value: float
    succeeded: bool
    best: bool


@dataclass(frozen=True)
class Progress:
    """A metric over the session: per iteration that measured it (succeeded experiments), its
    values and the best reached by then."""

    iterations: list[int]
    values: list[list[float]]  # each iteration's values, best first
    best: list[float]  # best so far at each of `iterations`
    best_at: tuple[int, str] | None  # (iteration, experiment id) where the session's best was reached
    label: str = ""  # what the best is: its configuration and "mean of n", or "a single run"


@dataclass(frozen=True)
class MetricChart:
    kind: MetricKind
    points: list[Point]  # in the brain's order
    total: int  # experiments with the metric; `points` holds those shown (`left_out`: the others)
    progress: Progress
    left_out: list[str] = dataclasses.field(default_factory=list)  # ids not drawn, said in the panel
    chosen_by: str = ""  # the metric that chose the experiments shown, when not all are


@dataclass(frozen=True)
class Line:
    """One configuration (the parameters other than the swept one and the replicate keys) across
    the swept values: mean and 95% confidence half-width over its replicates at each value."""

    label: str
    xs: list[float]
    means: list[float]
    halves: list[float | None]  # None: one run at that value, no interval
    counts: list[int]


@dataclass(frozen=True)
class SweepChart:
    """A metric against a swept numeric parameter, one line per other configuration."""

    kind: MetricKind
    parameter: str
    lines: list[Line]
    left_out: list[str]  # configurations not drawn (beyond MAX_LINES), named
    without: int  # succeeded runs that measured the metric but have no such parameter

    @property
    def log_x(self) -> bool:
        xs = [x for line in self.lines for x in line.xs]
        return bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 100


def available() -> bool:
    """Whether a chart can be drawn (matplotlib is installed); does not load it."""
    return lazy.matplotlib_available()


def metric_kinds(
    results: IterationResults, declared: Mapping[str, Direction] | None = None
) -> list[MetricKind]:
    """The metrics this iteration measured (parameters excluded), declared ones first in the
    config's order, then in the order the experiments reported them; at most MAX_METRICS."""
    seen = dict.fromkeys(name for r in results.experiments for name in measured(r))
    first = [name for name in declared or {} if name in seen]
    names = [*first, *(name for name in seen if name not in first)][:MAX_METRICS]
    return [kind_of(name, declared) for name in names]


def iteration_points(
    results: IterationResults, kind: MetricKind, limit: int = MAX_POINTS, keep: Collection[str] | None = None
) -> list[Point]:
    """Each experiment's value of the metric, in the brain's order: all of them, or those in `keep`
    (the same experiments in every panel), else the best `limit` (a chart of a thousand dots is
    neither readable nor quick to draw). The best is the best of the succeeded experiments; a
    failed run's number is shown, never crowned."""
    points = _values(results, kind.name)
    kept = set(keep) if keep is not None else _best_ids([(i, v) for i, v, _ in points], kind, limit)
    good = [v for i, v, ok in points if ok and i in kept]
    best = kind.best(good) if len(set(good)) > 1 or len(good) == 1 else None  # all equal: no best
    replicated = _best_configuration_ids(results, kind) if best is not None else None
    if replicated is not None:
        return [Point(i, v, ok, ok and i in replicated) for i, v, ok in points if i in kept]
    return [Point(i, v, ok, ok and v == best) for i, v, ok in points if i in kept]


def _best_configuration_ids(results: IterationResults, kind: MetricKind) -> set[str] | None:
    """The runs of the iteration's best configuration by mean, as results.md stars them — None when
    no configuration has replicates (then the best single run is the best)"""
    runs = [run for name, run in runs_of(results) if name == kind.name]
    ranked = leaderboard.rank_configurations(runs, kind)
    if not ranked or not ranked[0].summary.replicated:
        return None
    return {run.id for run in ranked[0].runs}


def best_so_far(
    iterations: Sequence[IterationResults],
    kind: MetricKind,
    ranked: Sequence[list[tuple[str, leaderboard.Run]]] | None = None,
) -> Progress:
    """The session's best of the metric by each iteration that measured it, with that iteration's
    own values: the runs the leaderboard ranks (`leaderboard.runs_of`: succeeded, measured, a number;
    ids may differ from one iteration to the next). The best is the leaderboard's best
    configuration (`leaderboard.rank_configurations`: its mean over replicates, as the results
    state it; a single run only while no configuration has two), so a lucky seed is a dot, never
    the line or the title. Kept up as iterations come (only the configurations an iteration ran
    are summarized again). `ranked`: each iteration's `session_runs`, read once for every metric."""
    ranked = ranked if ranked is not None else session_runs(iterations)
    numbers: list[int] = []
    values: list[list[float]] = []
    best: list[float] = []
    groups: dict[str, list[leaderboard.Run]] = {}
    ranks: dict[str, tuple[bool, float, int]] = {}  # rank_configurations' order, first ran first
    top: leaderboard.Run | None = None  # the best single run (the earliest of equals)
    sign = 1.0 if kind.lower_is_better else -1.0
    for results, runs in zip(iterations, ranked, strict=True):
        found = [run for name, run in runs if name == kind.name]
        if not found:
            continue
        for run in found:
            groups.setdefault(run.configuration_key, []).append(run)
            if top is None or kind.better(run.value, top.value):
                top = run
        for key in {run.configuration_key for run in found}:
            summary = summarize([run.value for run in groups[key]])
            order = ranks[key][2] if key in ranks else len(ranks)
            ranks[key] = (not summary.replicated, sign * float(f"{summary.mean:.12g}"), order)
        leader = min(ranks, key=ranks.__getitem__)
        numbers.append(results.iteration)
        values.append(sorted((run.value for run in found), reverse=not kind.lower_is_better))
        best.append(_best_value(groups[leader], top))
    if top is None:
        return Progress([], [], [], None)
    return Progress(numbers, values, best, *_best_of(groups[min(ranks, key=ranks.__getitem__)], top))


def session_runs(iterations: Sequence[IterationResults]) -> list[list[tuple[str, leaderboard.Run]]]:
    """Each iteration's ranked runs with their configurations (`leaderboard.runs_of`)."""
    keys = replicate_keys_of(iterations)
    return [runs_of(results, replicate_keys=keys) for results in iterations]


def _best_value(runs: list[leaderboard.Run], top: leaderboard.Run | None) -> float:
    """The best configuration's mean when it is replicated, else the best single run's value."""
    if len(runs) >= 2:
        return summarize([run.value for run in runs]).mean
    return top.value if top is not None else runs[0].value


def _best_of(runs: list[leaderboard.Run], top: leaderboard.Run) -> tuple[tuple[int, str], str]:
    """Where the best was first reached (iteration, experiment) and what it is, for the title."""
    if len(runs) < 2:
        return (top.iteration, top.id), f"{_plain(top.id, 40)} · a single run"
    first = runs[0]
    name = first.configuration.label(40) if first.configuration else first.id
    return (first.iteration, first.id), f"{_plain(name, 40)} · mean of {len(runs)}"


def chart_data(
    results: IterationResults,
    history: Sequence[IterationResults],
    declared: Mapping[str, Direction] | None = None,
) -> list[MetricChart]:
    """What the chart shows, metric by metric: this iteration's points and the session's progress
    (`history`: the earlier iterations with results, oldest first). A parameter that any of their
    experiments echoes is not a metric anywhere in the chart (`metrics.parameter_names`)."""
    names = parameter_names([*history, results])
    results, history = _measured_only(results, names), [_measured_only(h, names) for h in history]
    kinds = [k for k in metric_kinds(results, declared) if _values(results, k.name)]
    keep, chosen_by = shown_experiments(results, kinds)
    charts = []
    session = [*history, results]
    ranked = session_runs(session) if kinds else []
    for kind in kinds:
        every = [i for i, _, _ in _values(results, kind.name)]
        progress = best_so_far(session, kind, ranked)
        left_out = [i for i in every if keep is not None and i not in keep]
        points = iteration_points(results, kind, keep=keep)
        charts.append(
            MetricChart(kind, points, len(every), progress, left_out, chosen_by if left_out else "")
        )
    return charts


def shown_experiments(
    results: IterationResults, kinds: Sequence[MetricKind], limit: int = MAX_POINTS
) -> tuple[set[str] | None, str]:
    """Which experiments the iteration's panels show: all (None) when they fit, else the best
    `limit` by the first metric, the same in every panel (a different best 25 in each panel hid a
    different five each time), and the name of that metric."""
    ids = {i for kind in kinds for i, _, _ in _values(results, kind.name)}
    if len(ids) <= limit or not kinds:
        return None, ""
    first = kinds[0]
    ranked = _best_ids([(i, v) for i, v, _ in _values(results, first.name)], first, limit)
    return ranked, first.name


def named(ids: Sequence[str], shown: int = MAX_NAMED) -> str:
    """`a, b, c +4 more`: experiments left out of a panel, by name."""
    head = ", ".join(_id_label(i, 24) for i in ids[:shown])
    return head + (f" +{len(ids) - shown} more" if len(ids) > shown else "")


# --- a metric against a swept parameter ---------------------------------------------------------


def swept_parameters(results: IterationResults, replicates: Collection[str] = REPLICATE_KEYS) -> list[str]:
    """Numeric parameters with at least MIN_SWEPT values among the succeeded runs (not replicate
    keys such as `seed`), the most varied first."""
    values: dict[str, set[float]] = {}
    for r in results.experiments:
        if r.status != Status.SUCCEEDED:
            continue
        for name, value in r.parameters.items():
            if name not in replicates and is_number(value):
                values.setdefault(name, set()).add(float(value))
    swept = [name for name, found in values.items() if len(found) >= MIN_SWEPT]
    return sorted(swept, key=lambda name: -len(values[name]))


def sweep_data(
    results: IterationResults,
    kinds: Sequence[MetricKind],
    replicates: Collection[str] = REPLICATE_KEYS,
) -> list[SweepChart]:
    """Each metric against each swept parameter (the chart draws MAX_SWEEPS of them and names the
    rest): per configuration of the other parameters, the mean and 95% interval over its
    replicates at each value."""
    charts = []
    varied = [k for k in kinds if len({v for _, v, ok in _values(results, k.name) if ok}) > 1]
    for parameter in swept_parameters(results, replicates):
        for kind in varied:  # a value the same in every run (a count of test items) says nothing here
            chart = _sweep(results, kind, parameter, replicates)
            if chart.lines:
                charts.append(chart)
    return charts


def left_out_note(
    results: IterationResults, charts: Sequence[MetricChart], sweeps: Sequence[SweepChart]
) -> str:
    """What the picture leaves out, said under it: metrics beyond MAX_METRICS, panels of a metric
    against a parameter beyond MAX_SWEEPS (results.md has every number)."""
    drawn = {c.kind.name for c in charts}
    metrics = [
        n for n in dict.fromkeys(n for r in results.experiments for n in measured(r)) if n not in drawn
    ]
    parts = []
    if metrics:
        parts.append(f"metrics not drawn: {named(metrics)}")
    if len(sweeps) > MAX_SWEEPS:
        parts.append(
            "not drawn: " + named([f"{s.kind.name} against {s.parameter}" for s in sweeps[MAX_SWEEPS:]])
        )
    return " · ".join(parts) + (" (results.md has every number)" if parts else "")


def _sweep(
    results: IterationResults, kind: MetricKind, parameter: str, replicates: Collection[str]
) -> SweepChart:
    groups: dict[str, dict[float, list[float]]] = {}
    labels: dict[str, str] = {}  # configuration → its label
    commands: dict[str, str] = {}  # configuration → a command's last line, when labels collide
    without = 0
    for r in results.experiments:
        value = measured(r).get(kind.name)
        if r.status != Status.SUCCEEDED or value is None or not is_number(value):
            continue
        x = r.parameters.get(parameter)
        if x is None or not is_number(x):
            without += 1
            continue
        key, label = _other_configuration(r, results.code, {*replicates, parameter})
        labels[key], commands[key] = label, r.command.rstrip().split("\n")[-1]
        groups.setdefault(key, {}).setdefault(float(x), []).append(float(value))
    lines = []
    for key, by_x in groups.items():
        label = labels[key]
        if list(labels.values()).count(label) > 1:  # same flags, another command: say which
            label = f"{label} ({_plain(commands[key], 40)})"
        xs = sorted(by_x)
        stats = [mean_ci(by_x[x]) for x in xs]
        lines.append(
            Line(label, xs, [m for m, _ in stats], [h for _, h in stats], [len(by_x[x]) for x in xs])
        )
    lines.sort(key=lambda line: -len(line.xs))  # the most complete sweeps first
    return SweepChart(kind, parameter, lines[:MAX_LINES], [line.label for line in lines[MAX_LINES:]], without)


def _other_configuration(
    result: ExperimentResult, code: str | None, left_out: Collection[str]
) -> tuple[str, str]:
    """A run's configuration without the swept parameter and the replicate keys, as the results
    compare it (`configurations.configuration_of`: the flags on the command's last line count like
    `parameters`, so `--model svm` written in the command tells a line apart): its identity and its
    label (those flags and the other parameters, else the command's last line)."""
    config = configuration_of(result, code, left_out)
    others = {k: v for k, v in result.parameters.items() if k not in left_out and k not in config.flags}
    identity = json.dumps([config.key, sorted((k, str(v)) for k, v in others.items())], ensure_ascii=False)
    parts = [mapping_text(config.flags)] if config.flags else []
    parts += [f"{k}={format_value(v, 20)}" for k, v in sorted(others.items())]
    parts += [f"env {k}={v}" for k, v in config.env.items()]
    return identity, " ".join(parts) or config.label()


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the half-width of its 95% confidence interval (`stats.summarize`, Student's t);
    no interval for one value."""
    summary = summarize(values)
    if summary.ci95 is None:
        return summary.mean, None
    return summary.mean, summary.ci95[1] - summary.mean


def _measured_only(results: IterationResults, parameters: frozenset[str]) -> IterationResults:
    """A copy whose experiments' metrics are only their measurements."""
    experiments = [dataclasses.replace(r, metrics=measured(r, parameters)) for r in results.experiments]
    return dataclasses.replace(results, experiments=experiments)


def due(results: IterationResults, parameters: Collection[str] = ()) -> bool:
    """Whether the iteration has a chart to draw: some experiment measured a number that is not one
    of `parameters` (the echoed parameters of the session, `metrics.parameter_names`), as
    `chart_data` plots them. Without `parameters` (the session not read yet) it may say yes to an
    iteration whose only numbers are parameters echoed in an earlier one."""
    return any(is_number(v) for r in results.experiments for v in measured(r, parameters).values())


def preload(results: IterationResults) -> None:
    """Start loading matplotlib when this iteration will have a chart (see `lazy.preload_matplotlib`).
    Not asked first whether it is installed: on a GitHub collect job that waits for the chart's
    background install (`lazy.CHART_LIB_ENV`), which the thread does while git works."""
    if due(results):
        lazy.preload_matplotlib()


@dataclass(frozen=True)
class Drawing:
    """What drawing came to: the PNG, or why there is none when drawing itself failed (`failure`;
    None with no PNG: nothing to draw, or no matplotlib)."""

    png: bytes | None
    failure: str | None = None


def metrics_png(
    results: IterationResults,
    history: Sequence[IterationResults],
    declared: Mapping[str, Direction] | None = None,
) -> bytes | None:
    """The chart as PNG bytes; None when the iteration measured nothing, or it could not be drawn."""
    return draw(results, history, declared).png


def draw(
    results: IterationResults,
    history: Sequence[IterationResults],
    declared: Mapping[str, Direction] | None = None,
) -> Drawing:
    """The chart, or why not (`missing_note` words it). A chart is never worth the results it
    illustrates: matplotlib failing to load or to draw (not only a missing install) is a warning on
    stderr and no chart — and the note says that failure, not "not installed"."""
    charts = chart_data(results, history, declared)
    if not charts:
        return Drawing(None)
    measured_only = _measured_only(results, parameter_names([*history, results]))
    sweeps = sweep_data(measured_only, [c.kind for c in charts])
    note = left_out_note(measured_only, charts, sweeps)
    title = f"wild/{results.session} · iteration {results.label}"
    try:
        return Drawing(_drawn(charts, title, sweeps[:MAX_SWEEPS], note))
    except Exception as exc:  # any failure of a third-party library while loading or drawing
        failure = f"{type(exc).__name__}: {visible(str(exc)[:200], multiline=False)}"
        print(f"wild-ci: warning: the chart could not be drawn ({failure})", file=sys.stderr)
        return Drawing(None, failure)


def _drawn(
    charts: list[MetricChart], title: str, sweeps: Sequence[SweepChart] = (), note: str = ""
) -> bytes | None:
    mpl = lazy.matplotlib()
    if mpl is None:
        return None
    with mpl.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph DejaVu lacks: drawn as a box, not a warning per run
        mpl.rcdefaults()  # a matplotlibrc in the checkout or the user's folder changes nothing here
        mpl.rcParams["text.hinting"] = "no_hinting"  # a fifth less drawing time, text as readable
        return _draw(mpl, charts, _plain(title, 80), sweeps, _plain(note, 160))


def missing_note(
    results: IterationResults, png: bytes | None, parameters: Collection[str] = (), failure: str | None = None
) -> str | None:
    """Why an iteration with a chart `due` has none (`png` None: drawing failed with `failure`, or
    matplotlib is not installed or could not be loaded), else None."""
    if png is not None or not due(results, parameters):
        return None
    return f"no chart: it could not be drawn ({failure})" if failure else MISSING


def warn_missing(
    results: IterationResults, png: bytes | None, parameters: Collection[str] = (), failure: str | None = None
) -> str | None:
    """`missing_note`, also said on stderr: a missing chart is never silent."""
    note = missing_note(results, png, parameters, failure)
    if note:
        print(f"wild-ci: warning: {note}", file=sys.stderr)
    return note


# --- the data ---------------------------------------------------------------------------------------


def _values(results: IterationResults, name: str) -> list[tuple[str, float, bool]]:
    """(id, value, succeeded) of every experiment that measured `name`, in the brain's order."""
    found = []
    for r in results.experiments:
        value = measured(r).get(name)
        if value is not None and is_number(value):
            found.append((r.id, float(value), r.status == Status.SUCCEEDED))
    return found


def _best_ids(points: list[tuple[str, float]], kind: MetricKind, limit: int) -> set[str]:
    if len(points) <= limit:
        return {i for i, _ in points}
    ranked = sorted(points, key=lambda p: p[1], reverse=not kind.lower_is_better)
    return {i for i, _ in ranked[:limit]}


def value_range(values: Sequence[float], room: float = 0.12) -> tuple[float, float]:
    """An axis range around the values with a margin of `room` of their spread on each side — never
    from zero unless the values are near it. Equal values get a small range of their own."""
    low, high = min(values), max(values)
    spread = high - low
    if spread == 0:
        spread = abs(high) * 0.02 or 1.0
        return low - spread, high + spread
    return low - spread * room, high + spread * room


def focus(values: Sequence[float], kind: MetricKind, keep: Sequence[float] = ()) -> tuple[float, float]:
    """The axis range that shows the differences that matter: around every value, unless one alone
    is far worse than the rest (a diverged run: accuracy 0.70 beside 0.95…0.97) — that one is left
    off the scale (drawn at its edge, its number still written, the panel says which), so the close
    ones stay apart. The values in `keep` (the best-so-far line) are always inside."""
    far = diverged(values, kind)
    inside = [v for v in values if v != far]
    return value_range([*inside, *keep] or list(values))


MIN_FOR_DIVERGED = 5  # values before one of them may be called diverged
FAR = 8  # median absolute deviations from the median


def diverged(values: Sequence[float], kind: MetricKind) -> float | None:
    """The value of a single diverged run, else None: more than FAR median absolute deviations from
    the median on the bad side, among at least MIN_FOR_DIVERGED values, and alone so far away. Two
    or more far values are a group (a slow family among fast ones), never drawn as outliers."""
    if len(values) < MIN_FOR_DIVERGED:
        return None
    middle = statistics.median(values)
    spread = statistics.median(abs(v - middle) for v in values)
    if spread == 0:
        return None
    worse = (lambda v: v > middle) if kind.lower_is_better else (lambda v: v < middle)
    far = [v for v in values if worse(v) and abs(v - middle) > FAR * spread]
    return far[0] if len(far) == 1 else None


def decimals(values: Sequence[float]) -> int:
    """Decimals that tell the values apart: two digits of the smallest gap between two of them
    (0.951 vs 0.952 beside a 0.70: 4), at most 6."""
    distinct = sorted(set(values))
    gaps = [b - a for a, b in itertools.pairwise(distinct)]
    scale = min(gaps) if gaps else max(abs(v) for v in values)
    if scale == 0:
        return 1
    return max(0, min(6, 1 - math.floor(math.log10(scale))))


def format_values(values: Sequence[float]) -> list[str]:
    """The values as text with the same decimals (`decimals`); values that span orders of magnitude
    (1e-06 … 1), or are huge, with four significant digits each instead."""
    biggest = max(abs(v) for v in values)
    smallest = min((abs(v) for v in values if v), default=biggest)
    if biggest >= 1e7 or (biggest > 0 and smallest < biggest / 1e3) or 0 < biggest < 1e-4:
        return [f"{v:.4g}" for v in values]
    places = decimals(values)
    widest = len(f"{-biggest if min(values) < 0 else biggest:.0f}")  # the integer part and its sign
    places = min(places, max(0, MAX_NUMBER - widest - 1))  # fits beside the panel
    return [f"{v:.{places}f}" for v in values]


def best_text(value: float, values: Sequence[float]) -> str:
    """The best so far as one number: with the decimals that tell `values` apart, no trailing
    zeros (0.952, not 0.95200)."""
    text = format_values([value, *values])[0]
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def tick_chars(low: float, high: float) -> int:
    """About how many characters the tick labels of an axis from `low` to `high` take (matplotlib
    picks about four ticks, with the decimals of their step): to leave them room without a draw."""
    step = (high - low) / 4
    places = max(0, 1 - math.floor(math.log10(step))) if step > 0 else 1
    return max(len(f"{low:.{places}f}"), len(f"{high:.{places}f}"))


def _plain(text: str, limit: int) -> str:
    """Experiment text as matplotlib shows it literally: control characters escaped, shortened,
    every `$` escaped so that `$x^2$` is shown as typed instead of as mathtext."""
    shown = visible(text, multiline=False)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown.replace("$", r"\$")


def _id_label(experiment_id: str, limit: int = MAX_LABEL) -> str:
    """An id shortened in its middle, keeping its end: the ids of a sweep share their start (the
    goal) and differ at the end (`…-lr-0-05-epochs-50-seed-1`), where a cut at the end loses
    exactly what tells them apart."""
    if len(experiment_id) <= limit:
        return _plain(experiment_id, limit)
    head = min(4, (limit - 1) // 4)
    return _plain(experiment_id[:head] + "…" + experiment_id[-(limit - 1 - head) :], limit)


def _direction(kind: MetricKind) -> str:
    return f"{kind.direction.arrow} {kind.way}" + (" (guessed)" if kind.guessed else "")


# --- the drawing ------------------------------------------------------------------------------------

WIDTH = 9.0  # inches at DPI: 900 px, about a pull-request comment's width, so nothing is scaled down
DPI = 100
FONT = 9.0  # 8 pt labels: ~9 px once GitHub scales the 900 px image into a comment (~760 px)
CHAR = 0.0075 * FONT  # inches per character of DejaVu Sans, on average (for margins without a draw)
HEADER = 0.45
ROW_TOP = 0.42  # the row's titles
ROW_BOTTOM = 0.42  # tick labels and the axis' label
LEFT_END = 4.35  # where this iteration's panel ends (inches from the left)
RIGHT_START = 5.55
RIGHT_END = WIDTH - 0.15
JITTER = (0.0, -0.08, 0.08, -0.16, 0.16)


def _row_height(chart: MetricChart) -> float:
    return ROW_TOP + ROW_BOTTOM + _extra_bottom(chart) + max(1.2, 0.19 * len(chart.points))


def _extra_bottom(chart: MetricChart) -> float:
    """Room under a panel for the line that names the experiments it leaves out."""
    return 0.18 if chart.left_out else 0.0


SWEEP_HEIGHT = 2.3  # inches of a metric-against-parameter panel


def _sweep_height(sweep: SweepChart) -> float:
    return ROW_TOP + ROW_BOTTOM + 0.18 + SWEEP_HEIGHT


def _draw(
    mpl: Any, charts: list[MetricChart], title: str, sweeps: Sequence[SweepChart] = (), note: str = ""
) -> bytes:
    heights = [_row_height(c) for c in charts]
    sweep_heights = [_sweep_height(s) for s in sweeps]
    footer = 0.3 if note else 0.0
    height = HEADER + sum(heights) + sum(sweep_heights) + footer
    figure = mpl.figure.Figure(figsize=(WIDTH, height), dpi=DPI)
    mpl.backends.backend_agg.FigureCanvasAgg(figure)
    figure.text(0.5, 1 - 0.22 / height, title, ha="center", va="center", fontsize=FONT + 2)
    label_chars = max((len(_id_label(p.id)) for c in charts for p in c.points), default=8)
    left_start = 0.2 + CHAR * label_chars
    top = height - HEADER
    for chart, row in zip(charts, heights, strict=True):
        bottom = top - row + ROW_BOTTOM + _extra_bottom(chart)
        box = (bottom / height, (row - ROW_TOP - ROW_BOTTOM - _extra_bottom(chart)) / height)
        left = figure.add_axes((left_start / WIDTH, box[0], (LEFT_END - left_start) / WIDTH, box[1]))
        start = _right_start(chart)
        right = figure.add_axes((start / WIDTH, box[0], (RIGHT_END - start) / WIDTH, box[1]))
        _this_iteration(mpl, left, chart)
        _progress(mpl, right, chart)
        top -= row
    for sweep, row in zip(sweeps, sweep_heights, strict=True):
        bottom = top - row + ROW_BOTTOM + 0.18
        start = 0.75
        axis = figure.add_axes(
            (start / WIDTH, bottom / height, (RIGHT_END - start) / WIDTH, SWEEP_HEIGHT / height)
        )
        _sweep_panel(mpl, axis, sweep)
        top -= row
    if note:
        figure.text(0.5, 0.12 / height, note, ha="center", va="bottom", fontsize=FONT - 1, color="#b71c1c")
    return _png(figure)


SWEEP_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#4e342e", "#ad1457")


def _sweep_panel(mpl: Any, axis: Any, sweep: SweepChart) -> None:
    """The metric against the swept parameter: a line per configuration of the other parameters,
    each point the mean over its replicates with its 95% interval as an error bar (none for n = 1)."""
    _style(axis)
    for colour, line in zip(SWEEP_COLOURS, sweep.lines, strict=False):
        errors = [h if h is not None else 0.0 for h in line.halves]
        axis.errorbar(line.xs, line.means, yerr=errors, color=colour, marker="o", markersize=4, linewidth=1.3,
                      capsize=3, elinewidth=1, label=_plain(line.label, 48))  # fmt: skip
    if sweep.log_x:
        axis.set_xscale("log")
    xs = sorted({x for line in sweep.lines for x in line.xs})
    if len(xs) <= 12:  # the swept values themselves, as the brain wrote them
        axis.set_xticks(xs, [format_value(x, 12) for x in xs])
        axis.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    else:
        _plain_numbers(mpl, axis.xaxis)
    _plain_numbers(mpl, axis.yaxis, (-7, 7))
    axis.legend(fontsize=FONT - 2, frameon=False, loc="best")
    counts = sorted({n for line in sweep.lines for n in line.counts})
    n_text = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}–{counts[-1]}"
    replicates = ", ".join(sorted(REPLICATE_KEYS))
    name, parameter = _plain(sweep.kind.name, 40), _plain(sweep.parameter, 30)
    _title(
        mpl, axis, f"{name} against {parameter} · {_direction(sweep.kind)}",
        f"this iteration, succeeded runs: mean ± 95% CI over replicates ({replicates}), {n_text} per point; "
        "one line per configuration of the other parameters",
    )  # fmt: skip
    notes = [parameter + (" (log scale)" if sweep.log_x else "")]
    if sweep.without:
        notes.append(
            f"{sweep.without} run{'s' * (sweep.without != 1)} without {parameter}: not in this panel"
        )
    if sweep.left_out:
        notes.append(
            f"not drawn: {len(sweep.left_out)} more configurations ({_plain(sweep.left_out[0], 30)}, …)"
        )
    _axis_note(mpl, axis, " · ".join(notes))


def _png(figure: Any) -> bytes:
    """The drawn figure as a PNG of 64 colours: a fifth of the bytes of matplotlib's own RGBA PNG
    (the chart is committed every iteration), written in less time, and the same bytes every time."""
    figure.canvas.draw()
    width, height = figure.canvas.get_width_height()
    image = lazy.pil_image()
    pixels = image.frombuffer("RGBA", (width, height), figure.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    pixels.convert("RGB").quantize(colors=64, method=image.Quantize.FASTOCTREE).save(buffer, format="png")
    return buffer.getvalue()


def _right_start(chart: MetricChart) -> float:
    """Where the best-so-far panel starts: after this iteration's values and before its own tick
    labels, moved right when long numbers need the room (estimated from their characters)."""
    values = format_values([p.value for p in chart.points])
    progress = chart.progress
    dots = [v for found in progress.values for v in found]
    low, high = focus(dots, chart.kind, keep=progress.best) if dots else (0.0, 1.0)
    needed = LEFT_END + 0.25 + CHAR * (max(len(v) for v in values) + tick_chars(low, high))
    return min(max(RIGHT_START, needed), RIGHT_END - 2.0)


def _style(axis: Any) -> None:
    axis.tick_params(labelsize=FONT - 1, length=2, pad=2)
    for side in ("top", "right"):
        axis.spines[side].set_visible(False)
    axis.grid(True, color="#eceff1", linewidth=0.6)
    axis.set_axisbelow(True)


def _label(
    mpl: Any, axis: Any, x: float, y: float, text: str, points: tuple[float, float], **style: Any
) -> None:
    """Text at (x, y) in the axes' own coordinates, moved by `points`: titles and axis labels
    placed without the layout pass matplotlib's own titles and labels cost (a sixth of the draw)."""
    place = mpl.transforms.offset_copy(
        axis.transAxes, fig=axis.figure, x=points[0], y=points[1], units="points"
    )
    axis.text(x, y, text, transform=place, **style)


def _title(mpl: Any, axis: Any, text: str, below: str, colour: str = "black") -> None:
    """A panel's title, and under it a smaller line that says what the panel holds."""
    _label(mpl, axis, 0, 1, text, (0, 15), fontsize=FONT + 0.5, color=colour, va="bottom")
    _label(mpl, axis, 0, 1, below, (0, 4), fontsize=FONT - 1.5, color="#607d8b", va="bottom")


def _axis_note(mpl: Any, axis: Any, text: str) -> None:
    _label(mpl, axis, 0.5, 0, text, (0, -14), fontsize=FONT - 1.5, color="#607d8b", ha="center", va="top")


def _plain_numbers(mpl: Any, axis: Any, powers: tuple[int, int] = (-4, 6)) -> None:
    """Tick labels as the numbers themselves: no `+9.4e-1` offset above a zoomed axis. `powers`:
    outside 10**low…10**high the ticks are scaled, with a `1e-4` at the axis's end."""
    formatter = mpl.ticker.ScalarFormatter(useOffset=False)
    formatter.set_powerlimits(powers)
    axis.set_major_formatter(formatter)
    axis.set_major_locator(mpl.ticker.MaxNLocator(nbins=4))


def clipped(value: float, low: float, high: float) -> tuple[float, int]:
    """Where a value is drawn on an axis from `low` to `high`: itself (side 0), or at the edge it is
    beyond (-1 below, 1 above), drawn there as a triangle: off the scale, never hidden."""
    pad = (high - low) * 0.04
    if value < low:
        return low + pad, -1
    if value > high:
        return high - pad, 1
    return value, 0


def _beside_rows(mpl: Any, axis: Any, x: float, lines: list[str], ha: str = "left") -> None:
    """One text per row beside the axes (x in the axes' width), drawn as one multi-line text (a
    text per row made the drawing a third slower). Its lines are spaced to the rows' pitch and the
    block is centred on the middle row, which centres every line on its row."""
    pitch = axis.bbox.height / len(lines)  # pixels per row: the y range is one unit per row
    on_rows = mpl.transforms.blended_transform_factory(axis.transAxes, axis.transData)
    axis.text(x, (len(lines) - 1) / 2, "\n".join(lines), transform=on_rows, va="center", ha=ha,
              fontsize=FONT - 1, color="#263238", linespacing=pitch / _line_pitch(axis.figure))  # fmt: skip


def _line_pitch(figure: Any) -> float:
    """Pixels from one line of a text to the next at `linespacing` 1 (proportional to it). Measured:
    how matplotlib spaces lines changed between releases (the height of "lp", then the font's own
    ascent and descent)."""
    renderer = figure.canvas.get_renderer()  # the one the draw then uses
    probe = figure.text(0, 0, "lp", fontsize=FONT - 1, linespacing=1.0)
    one = probe.get_window_extent(renderer).height
    probe.set_text("lp\nlp")
    two = probe.get_window_extent(renderer).height
    probe.remove()
    return float(two - one)


def _this_iteration(mpl: Any, axis: Any, chart: MetricChart) -> None:
    points = chart.points
    values = [p.value for p in points]
    low, high = focus(values, chart.kind)
    _style(axis)
    axis.grid(False, axis="y")
    rows = list(range(len(points)))
    axis.hlines(rows, low, high, color="#eceff1", linewidth=0.6, zorder=1)
    groups: dict[tuple[str, str, str], tuple[list[float], list[int]]] = {}
    for row, point in enumerate(points):  # one artist per kind of dot: quicker than one per dot
        x, side = clipped(point.value, low, high)
        shape = {-1: "<", 1: ">"}.get(side, "*" if point.best else "o")
        colour = GOOD if point.best else PLAIN
        face = colour if point.succeeded else "white"
        xs, ys = groups.setdefault((shape, colour, face), ([], []))
        xs.append(x)
        ys.append(row)
    for (shape, colour, face), (xs, ys) in groups.items():
        axis.plot(xs, ys, linestyle="none", marker=shape, markersize=11 if shape == "*" else 5.5,
                  color=colour, markerfacecolor=face, zorder=3)  # fmt: skip
    axis.set_yticks([])  # the ids are plain texts beside the rows: ticks cost more to draw
    axis.set_ylim(len(points) - 0.5, -0.5)
    axis.set_xlim(low, high)
    _plain_numbers(mpl, axis.xaxis)
    texts = format_values(values)
    _beside_rows(mpl, axis, -0.015, [_id_label(p.id) for p in points], ha="right")
    _beside_rows(mpl, axis, 1.02, ["" if p.best else t for p, t in zip(points, texts, strict=True)])
    on_rows = mpl.transforms.blended_transform_factory(axis.transAxes, axis.transData)
    for row, point, text in zip(rows, points, texts, strict=True):
        if point.best:
            axis.text(1.02, row, text, transform=on_rows, va="center", fontsize=FONT - 1, weight="bold",
                      color=GOOD)  # fmt: skip
    if chart.left_out:
        shown = f"{len(points)} of {chart.total} experiments, the best by {_plain(chart.chosen_by, 30)}"
    else:
        shown = f"{chart.total} experiment{'s' if chart.total > 1 else ''}"
    _title(mpl, axis, f"{_plain(chart.kind.name, 40)} · {_direction(chart.kind)}", f"this iteration: {shown}")
    notes = ["axis fitted to the values"]
    far = [p for p in points if not low <= p.value <= high]
    if far:
        notes.append(f"◂▸ off the scale, diverged: {_id_label(far[0].id, 24)}")
    if any(not p.succeeded for p in points):
        notes.append("hollow: did not succeed")
    _axis_note(mpl, axis, " · ".join(notes))
    if chart.left_out:
        _label(mpl, axis, 0.5, 0, f"not shown: {named(chart.left_out)}", (0, -25), fontsize=FONT - 1.5,
               color="#b71c1c", ha="center", va="top")  # fmt: skip


def _progress(mpl: Any, axis: Any, chart: MetricChart) -> None:
    progress = chart.progress
    _style(axis)
    off = diverged([v for found in progress.values for v in found], chart.kind) is not None
    _axis_note(mpl, axis, "iteration · grey: each succeeded run" + (" · ▾▴ one off the scale" if off else ""))
    if not progress.iterations or progress.best_at is None:
        _title(mpl, axis, "best so far", "by iteration")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.text(0.5, 0.5, "no succeeded experiment measured it", ha="center", va="center",
                  transform=axis.transAxes, fontsize=FONT - 1, color="#607d8b")  # fmt: skip
        return
    # each iteration's dots spread a little sideways (the same way every time), so equal or close
    # values stay countable
    xs = [n + JITTER[k % len(JITTER)] for n, found in zip(progress.iterations, progress.values, strict=True)
          for k, _ in enumerate(found)]  # fmt: skip
    ys = [v for found in progress.values for v in found]
    low, high = focus(ys, chart.kind, keep=progress.best)
    for side, shape in ((0, "o"), (-1, "v"), (1, "^")):
        placed = [(x, clipped(y, low, high)) for x, y in zip(xs, ys, strict=True)]
        chosen = [(x, y) for x, (y, s) in placed if s == side]
        if chosen:
            axis.scatter([x for x, _ in chosen], [y for _, y in chosen], s=14, marker=shape,
                         color=FAINT, alpha=0.7, linewidths=0, zorder=2)  # fmt: skip
    best = [clipped(v, low, high)[0] for v in progress.best]
    axis.step(progress.iterations, best, where="post", color=GOOD, linewidth=1.6, zorder=3)
    axis.plot(progress.iterations, best, "o", color=GOOD, markersize=4.5, zorder=4)
    first, last = progress.iterations[0], progress.iterations[-1]
    axis.set_xlim(first - 0.6, last + 0.6)
    if len(progress.iterations) <= 12:
        axis.set_xticks(progress.iterations, [str(n) for n in progress.iterations])
    else:
        axis.xaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=8, integer=True))
    axis.set_ylim(low, high)
    # on a y axis a `1e-4` would sit over the panel's title; its long labels stack without harm
    _plain_numbers(mpl, axis.yaxis, (-7, 7))
    iteration, _ = progress.best_at
    text = best_text(progress.best[-1], ys)
    where = f"{progress.label} · iteration {iteration}"
    _title(mpl, axis, f"best so far: {text}", where, GOOD)
