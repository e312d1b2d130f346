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

from .configurations import Configuration, configuration_of, replicate_keys_of
from .metrics import Direction, MetricKind, is_number, kind_of, measured, parameter_names, recorded
from .specs import IterationResults, Status
from .stats import Summary, summarize

DEFAULT_TOP = 5


@dataclass(frozen=True)
class Run:
    """One experiment's value of one metric, and where it came from."""

    value: float
    iteration: int
    id: str
    goal: str
    parameters: dict[str, Any]
    configuration: Configuration | None = None  # None: a run built by hand (tests)
    baseline: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "iteration": self.iteration,
            "id": self.id,
            "goal": self.goal,
            "parameters": self.parameters,
        }

    @property
    def configuration_key(self) -> str:
        return self.configuration.key if self.configuration else f"{self.iteration}/{self.id}"

    def same_run(self, other: Run | None) -> bool:
        return other is not None and (self.iteration, self.id) == (other.iteration, other.id)


@dataclass(frozen=True)
class ConfigurationRuns:
    """One configuration's runs of one metric and their summary (n, mean, spread, 95% CI)."""

    configuration: Configuration | None
    summary: Summary
    runs: list[Run]  # in the order they ran

    @property
    def key(self) -> str:
        return self.runs[0].configuration_key

    @property
    def baseline(self) -> bool:
        return any(run.baseline for run in self.runs)

    def label(self, limit: int = 80) -> str:
        if self.configuration is None:
            return self.runs[0].id
        return self.configuration.label(limit)

    def to_json(self) -> dict[str, Any]:
        summary = self.summary
        return {
            "configuration": self.label(200),
            "parameters": dict(self.configuration.flags) if self.configuration else {},
            "env": dict(self.configuration.env) if self.configuration else {},
            "code": self.configuration.code if self.configuration else None,
            "baseline": self.baseline,
            "n": summary.n,
            "mean": summary.mean,
            "std": summary.std,
            "ci95": list(summary.ci95) if summary.ci95 else None,
            "runs": [run.to_json() for run in self.runs],
        }


@dataclass(frozen=True)
class MetricBoard:
    """A metric's direction, its best run in the session and the top runs (best first), and its
    configurations ranked by their mean: replicated ones (n ≥ 2) first, then single runs."""

    kind: MetricKind
    top: list[Run]
    runs: int  # how many runs measured it in all
    configurations: list[ConfigurationRuns] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def best(self) -> Run:
        return self.top[0]

    @property
    def best_configuration(self) -> ConfigurationRuns | None:
        """The best mean among replicated configurations; when none is replicated, the best single
        run's configuration (then `summary.replicated` is False and nothing is claimed of it)."""
        return self.configurations[0] if self.configurations else None

    @property
    def replicated(self) -> bool:
        return any(c.summary.replicated for c in self.configurations)

    def configuration(self, key: str) -> ConfigurationRuns | None:
        return next((c for c in self.configurations if c.key == key), None)

    def baseline(self) -> ConfigurationRuns | None:
        """The latest configuration the brain marked `baseline: true`."""
        marked = [c for c in self.configurations if c.baseline]
        return max(marked, key=lambda c: (c.runs[-1].iteration, -self.configurations.index(c)), default=None)

    def to_json(self) -> dict[str, Any]:
        best = self.best_configuration
        return {
            "name": self.name,
            "direction": self.kind.direction.value,
            "guessed": self.kind.guessed,
            "best": self.best.to_json(),
            "top": [run.to_json() for run in self.top],
            "runs": self.runs,
            "configurations": [c.to_json() for c in self.configurations],
            "best_configuration": best.to_json() if best else None,
        }


@dataclass(frozen=True)
class Leaderboard:
    """Every metric of a session, ranked; `iterations` are the ones that had results; `unranked`:
    metrics shown but never ranked (declared `ignore`, no direction guessed, or the same value in
    every run)."""

    session: str
    iterations: list[int] = field(default_factory=list)
    metrics: list[MetricBoard] = field(default_factory=list)
    unranked: list[str] = field(default_factory=list)

    def metric(self, name: str) -> MetricBoard | None:
        """By name, through an index built once (a session with thousands of metrics asks often)."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {board.name: board for board in reversed(self.metrics)}  # the first of a name wins
            object.__setattr__(self, "_index", index)
        return index.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "iterations": self.iterations,
            "metrics": [board.to_json() for board in self.metrics],
            "unranked": self.unranked,
        }


def runs_of(
    results: IterationResults, parameters: Collection[str] = (), replicate_keys: Collection[str] = ("seed",)
) -> list[tuple[str, Run]]:
    """Each (metric name, run) of an iteration that can be ranked: succeeded, measured (not one of
    `parameters`), a number; with its configuration (configurations.py)."""
    found = []
    keys = (*replicate_keys, *results.replicate_keys)
    for r in results.experiments:
        if r.status != Status.SUCCEEDED:
            continue
        configuration = configuration_of(r, results.code or f"iteration-{results.iteration}", keys)
        for name, value in measured(r, parameters).items():
            if is_number(value):
                run = Run(
                    float(value),
                    results.iteration,
                    r.id,
                    r.goal,
                    dict(r.parameters),
                    configuration,
                    r.baseline,
                )
                found.append((name, run))
    return found


def rank_configurations(runs: Sequence[Run], kind: MetricKind) -> list[ConfigurationRuns]:
    """Group runs by configuration; replicated configurations first, by mean (best first), then
    single runs by value. A tie keeps the configuration that ran first ahead."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.configuration_key, []).append(run)
    ranked = [
        ConfigurationRuns(g[0].configuration, summarize([r.value for r in g]), g) for g in groups.values()
    ]
    sign = 1.0 if kind.lower_is_better else -1.0
    # means equal to 12 digits are a tie (0.045 of two runs and of three differ in the last bit)
    return sorted(ranked, key=lambda c: (not c.summary.replicated, sign * float(f"{c.summary.mean:.12g}")))


def constant(runs: Sequence[Run]) -> bool:
    """Three runs or more, of two configurations or more, all with one value: a count or a setting
    (`n_test`), nothing to rank. (One configuration's runs that agree are a deterministic
    experiment; two runs that agree may be a coincidence.)"""
    configurations = {run.configuration_key for run in runs}
    return len(runs) >= 3 and len(configurations) >= 2 and len({run.value for run in runs}) == 1


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
    replicate_keys = replicate_keys_of(iterations)
    by_name: dict[str, list[Run]] = {}
    for results in iterations:
        for name, run in runs_of(results, never_ranked, replicate_keys):
            by_name.setdefault(name, []).append(run)
    names = [n for n in directions if n in by_name] + [n for n in by_name if n not in directions]
    boards, unranked = [], []
    for name in names:
        kind = kind_of(name, directions)
        runs = by_name[name]
        if not kind.ranked or constant(runs):
            unranked.append(name)
            continue
        # sorted() is stable: on a tie the earlier run stays ahead
        ranked = sorted(runs, key=lambda run: run.value, reverse=not kind.lower_is_better)
        boards.append(MetricBoard(kind, ranked[: max(1, top)], len(runs), rank_configurations(runs, kind)))
    return Leaderboard(
        session=session if session is not None else (iterations[-1].session if iterations else ""),
        iterations=[results.iteration for results in iterations],
        metrics=boards,
        unranked=unranked,
    )


def declared_for(
    iterations: Sequence[IterationResults], config_metrics: Mapping[str, Direction]
) -> dict[str, Direction]:
    """What a command reading the ledger ranks with: the directions the iterations recorded, and
    over them the config as committed now (a direction declared since still counts)."""
    return {**recorded(iterations), **config_metrics}
