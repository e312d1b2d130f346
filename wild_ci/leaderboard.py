"""Best so far: for each metric, the best value in the whole session and the runs that came closest.

A researcher (and the brain) wants to know which configuration is winning across iterations, not
only within the latest one. The session's ledger already holds every iteration's results.json on
`wild/<session>`; this module ranks them. What counts:

* only experiments that **succeeded**: a failed or timed-out run may have written a metrics.json
  half-way (an accuracy after one epoch), which is no result to beat;
* only **measurements** (`metrics.measured`): a metrics.json key that echoes a parameter with its
  value (`lr`), in any experiment of the session, is a parameter, never ranked;
* only finite numbers; on a tie the run found first (earlier iteration, then the brain's order) is
  the best, so the best does not move without an improvement.

Directions come from the config's `metrics:` (as recorded in each iteration's results, or the
current config when a command reads the ledger), else they are guessed from the name and flagged
as guessed (`MetricKind.guessed`).

Reading a session costs one blob read per iteration through GitPython's object database (one
long-lived `git cat-file` process, not a process per file) plus parsing each results.json: a few
milliseconds per iteration, so tens of iterations are free and 500 take well under a few seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .metrics import Direction, MetricKind, is_number, kind_of, measured, parameter_names, recorded
from .specs import IterationResults, Status

DEFAULT_TOP = 5


@dataclass(frozen=True)
class Run:
    """One experiment's value of one metric, and where it came from."""

    value: float
    iteration: int
    id: str
    goal: str
    parameters: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "iteration": self.iteration,
            "id": self.id,
            "goal": self.goal,
            "parameters": self.parameters,
        }

    def same_run(self, other: Run | None) -> bool:
        return other is not None and (self.iteration, self.id) == (other.iteration, other.id)


@dataclass(frozen=True)
class MetricBoard:
    """A metric's direction, its best run in the session and the top runs (best first)."""

    kind: MetricKind
    top: list[Run]
    runs: int  # how many runs measured it in all

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def best(self) -> Run:
        return self.top[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "direction": self.kind.direction.value,
            "guessed": self.kind.guessed,
            "best": self.best.to_json(),
            "top": [run.to_json() for run in self.top],
            "runs": self.runs,
        }


@dataclass(frozen=True)
class Leaderboard:
    """Every metric of a session, ranked; `iterations` are the ones that had results."""

    session: str
    iterations: list[int] = field(default_factory=list)
    metrics: list[MetricBoard] = field(default_factory=list)

    def metric(self, name: str) -> MetricBoard | None:
        return next((board for board in self.metrics if board.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "iterations": self.iterations,
            "metrics": [board.to_json() for board in self.metrics],
        }


def runs_of(results: IterationResults, parameters: Collection[str] = ()) -> list[tuple[str, Run]]:
    """Each (metric name, run) of an iteration that can be ranked: succeeded, measured (not one of
    `parameters`), a number."""
    found = []
    for r in results.experiments:
        if r.status != Status.SUCCEEDED:
            continue
        for name, value in measured(r, parameters).items():
            if is_number(value):
                found.append((name, Run(float(value), results.iteration, r.id, r.goal, dict(r.parameters))))
    return found


def build(
    iterations: Sequence[IterationResults],
    declared: Mapping[str, Direction] | None = None,
    top: int = DEFAULT_TOP,
    session: str | None = None,
    parameters: Collection[str] | None = None,
) -> Leaderboard:
    """The leaderboard of `iterations` (oldest first). Metrics are listed declared ones first (in
    the config's order), then in the order they first appeared; `declared` defaults to the
    directions the iterations recorded; `parameters` (never ranked) to the parameters some
    experiment of `iterations` echoes (`metrics.parameter_names`)."""
    directions = recorded(iterations) if declared is None else dict(declared)
    never_ranked = parameter_names(iterations) if parameters is None else parameters
    by_name: dict[str, list[Run]] = {}
    for results in iterations:
        for name, run in runs_of(results, never_ranked):
            by_name.setdefault(name, []).append(run)
    names = [n for n in directions if n in by_name] + [n for n in by_name if n not in directions]
    boards = []
    for name in names:
        kind = kind_of(name, directions)
        runs = by_name[name]
        # sorted() is stable: on a tie the earlier run stays ahead
        ranked = sorted(runs, key=lambda run: run.value, reverse=not kind.lower_is_better)
        boards.append(MetricBoard(kind, ranked[: max(1, top)], len(runs)))
    return Leaderboard(
        session=session if session is not None else (iterations[-1].session if iterations else ""),
        iterations=[results.iteration for results in iterations],
        metrics=boards,
    )


def declared_for(
    iterations: Sequence[IterationResults], config_metrics: Mapping[str, Direction]
) -> dict[str, Direction]:
    """What a command reading the ledger ranks with: the directions the iterations recorded, and
    over them the config as committed now (a direction declared since still counts)."""
    return {**recorded(iterations), **config_metrics}
