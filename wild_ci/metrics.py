"""What a number in metrics.json is: a metric to rank (and which way it improves) or a parameter.

An experiment's `metrics.json` often echoes its hyperparameters beside what it measured
(`{"lr": 0.01, "accuracy": 0.97}`). Ranking `lr` as if higher were better misleads the researcher
and the brain, so a key that echoes one of the experiment's own parameters (its `parameters`, sweep
values included) with the value it was given is a parameter, never a metric (`echoes`), and so is
that name in every experiment compared with it (`parameter_names`); a metric merely named like a
parameter (`--loss=mse` beside a measured `loss`) stays a metric. Which way a metric improves comes from the
project's config (`metrics: {accuracy: max, loss: min}`) when it says so, else it is guessed from the
name (loss, error, time… go down; the rest up) and marked as guessed wherever it is shown.

Every report, the chart, the leaderboard and the loop's prompt ask this module, so they agree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .specs import ExperimentResult, IterationResults


class Direction(str, Enum):
    MAX = "max"
    MIN = "min"
    IGNORE = "ignore"  # shown, never ranked: a count, a size, a number with no better way

    @property
    def arrow(self) -> str:
        return {Direction.MAX: "↑", Direction.MIN: "↓"}.get(self, "·")


DIRECTIONS = tuple(d.value for d in Direction)

# The guess is conservative: a name reads as lower-is-better only for costs, time units and
# failures, as higher-is-better only for the usual scores and rates; anything else is shown but not
# ranked until declared. A wrong guess crowns the slowest run; no guess costs one line of config.
_RATE = re.compile(r"(_per_(s|sec|second|ms|min)|/s|_qps|throughput|per_second|samples_s)$|^(qps|rps|fps)$")
_LOWER_IS_BETTER = re.compile(
    r"loss|err|mse|mae|rmse|perplexity|ppl|latency|duration|cost|fail|miss|regret|"
    r"(^|_)(time|seconds|secs|sec|s|ms|us|ns|minutes|min|hours|wall|cpu)$|^(time|seconds|wall|runtime)|_time_"
)
_HIGHER_IS_BETTER = re.compile(
    r"(^|_)(acc|accuracy|f1|auc|roc_auc|auroc|precision|recall|r2|bleu|rouge\w*|ndcg|map|mrr|iou|"
    r"dice|top1|top5|top_1|top_5|speedup|reward|return|win_rate|pass_rate|pass@\d+)($|_)"
)


@dataclass(frozen=True)
class MetricKind:
    """A metric's name, the way it improves, and whether that way was guessed from the name."""

    name: str
    direction: Direction
    guessed: bool

    @property
    def lower_is_better(self) -> bool:
        return self.direction is Direction.MIN

    @property
    def ranked(self) -> bool:
        """False for a metric declared `ignore` or whose direction could not be guessed."""
        return self.direction is not Direction.IGNORE

    def better(self, value: float, than: float) -> bool:
        """Strictly better: a tie keeps the value found first."""
        return value < than if self.lower_is_better else value > than

    def best(self, values: list[float]) -> float:
        return min(values) if self.lower_is_better else max(values)

    @property
    def way(self) -> str:
        """`higher is better` / `lower is better` / `not ranked`, as every report words it."""
        if not self.ranked:
            return "not ranked"
        return f"{'lower' if self.lower_is_better else 'higher'} is better"

    @property
    def label(self) -> str:
        """`↑` / `↓`, with `?` when guessed from the name (the config can declare it)."""
        return self.direction.arrow + ("?" if self.guessed else "")


def guessed_direction(name: str) -> Direction:
    """Lower for costs, time units and failures, higher for scores and rates, else no guess."""
    lowered = name.lower()
    if _RATE.search(lowered):
        return Direction.MAX
    if _LOWER_IS_BETTER.search(lowered):
        return Direction.MIN
    return Direction.MAX if _HIGHER_IS_BETTER.search(lowered) else Direction.IGNORE


def kind_of(name: str, declared: Mapping[str, Direction] | None = None) -> MetricKind:
    """The declared direction of `name` (config `metrics:`), else the one guessed from its name."""
    if declared and name in declared:
        return MetricKind(name, declared[name], guessed=False)
    return MetricKind(name, guessed_direction(name), guessed=True)


def measured(result: ExperimentResult, parameter_names: Collection[str] = ()) -> dict[str, float]:
    """The experiment's metrics that are measurements: its metrics.json without the parameters it
    echoes (`echoes`) and without `parameter_names`, the echoed parameters of the experiments it is
    compared with (a baseline that leaves `lr` at its default and echoes it is not ranked on `lr`
    beside a sweep over it). A metric merely named like a parameter — `--loss=mse` beside a measured
    `loss` of 0.31 — stays a metric."""
    echoed = echoes(result)
    return {
        name: value
        for name, value in result.metrics.items()
        if name not in echoed and name not in parameter_names
    }


def echoes(result: ExperimentResult) -> set[str]:
    """The parameters the experiment wrote back into its metrics.json, with the value it was given."""
    return {
        name
        for name, value in result.metrics.items()
        if name in result.parameters and _same_value(result.parameters[name], value)
    }


def _same_value(given: Any, reported: Any) -> bool:
    """`20` given and `20.0` reported (or `"0.01"` and `0.01`) are the same value."""
    if given == reported:
        return True
    try:
        return float(given) == float(reported)
    except (TypeError, ValueError, OverflowError):
        return False


def parameter_names(iterations: Iterable[IterationResults]) -> frozenset[str]:
    """The parameter names some experiment of `iterations` echoes: never ranked there."""
    return frozenset(name for results in iterations for r in results.experiments for name in echoes(r))


def ran_with(result: ExperimentResult, name: str, echoed: Collection[str]) -> Any | None:
    """The value of parameter `name` the experiment ran with: the one it was given, else, when some
    experiment compared echoes `name` (`echoed`: `parameter_names`), the one its metrics.json gave
    (its default), else None. A measured metric merely named like another's parameter is no value
    of that parameter."""
    if name in result.parameters:
        return result.parameters[name]
    return result.metrics.get(name) if name in echoed else None


def declared(*sources: Mapping[str, str | Direction]) -> dict[str, Direction]:
    """Declared directions from several sources (a results record's `metric_directions`, the
    config's `metrics`), later ones winning; what is not `max` or `min` is left out (guessed)."""
    merged: dict[str, Direction] = {}
    for source in sources:
        for name, direction in source.items():
            if direction in DIRECTIONS:
                merged[name] = Direction(direction)
    return merged


def recorded(iterations: Iterable[IterationResults]) -> dict[str, Direction]:
    """The directions the iterations were submitted with (each results.json keeps the config's
    `metrics:` of its spec), the latest winning."""
    return declared(*(results.metric_directions for results in iterations))


def is_number(value: object) -> bool:
    """A metric value that can be ranked: a finite int or float (a bool is not a measurement)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def canonical_parameters(parameters: Mapping[str, Any]) -> str:
    """The parameters as one comparable text: JSON with sorted keys, so `{"lr": 0.01, "epochs": 20}`
    and `{"epochs": 20, "lr": 0.01}` are the same run configuration, and 20 and 50 epochs are not."""
    return json.dumps(parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def goal_key(goal: str, parameters: Mapping[str, Any]) -> str:
    """A goal as compared across iterations: words folded in case and spacing, without a sweep's
    suffix (`Train lr=0.01 seed=1`: trailing `key=value` words naming the experiment's own
    parameters), since the parameters are compared apart and exactly."""
    words = goal.split()
    while words and "=" in words[-1] and words[-1].split("=", 1)[0] in parameters:
        words.pop()
    return " ".join(words).casefold()


def format_value(value: Any, limit: int = 40) -> str:
    """A parameter's or metric's value, short: numbers with 6 significant digits, strings bare,
    the rest as compact JSON."""
    if is_number(value):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
