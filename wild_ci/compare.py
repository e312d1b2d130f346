"""What an iteration's numbers are compared with: the same run in the previous iteration, the best of
this iteration, and the session's best so far. Pure data, shared by results.md, the PR comment, the
context and `wild-ci show`, so they all say the same thing.

**Which earlier run is "the same run".** A change (±) is only meaningful between two runs of the
same command: an experiment is matched with the previous iteration's run of the same whole command
(its flags, seed included) and the same `env` (`configurations.run_key`), whatever its goal or id
says — the brain rewords goals every time. The code may differ: that difference is what the change
shows. Only a previous run that succeeded is compared with: a failed run's half-written metrics are
no baseline.

**The best so far is a configuration, not a run** (`BestLine`): the best mean among configurations
with two or more runs, compared with the configuration that was best before this iteration and with
the brain's baseline by Welch's t-test (`stats.py`); a single run is shown as unreplicated and is
never declared better than the noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import leaderboard
from .configurations import run_key
from .layout import CONFIG_PATH
from .leaderboard import ConfigurationRuns, Leaderboard, MetricBoard, Run
from .metrics import Direction, MetricKind, is_number, kind_of, measured, parameter_names, recorded
from .specs import ExperimentResult, IterationResults, Status
from .stats import Difference, Summary, welch

MAX_METRIC_COLUMNS = 8
MAX_PARAMETER_COLUMNS = 6
MAX_ROWS = 50  # experiments in the wide table; results.json has them all
BEST_SHOWN = 8  # metrics in results.md's best-so-far section
CONFIG_HINT = f"declare it in {CONFIG_PATH}, e.g. `metrics: {{accuracy: max, loss: min}}`"


def counterparts(results: IterationResults, previous: IterationResults | None) -> dict[str, ExperimentResult]:
    """Each experiment id of `results` → the previous iteration's successful run of the same
    command and env (see the module's docstring), when there is one. Runs of one command (asked for
    twice) are paired in the order they were asked for."""
    if previous is None:
        return {}
    earlier: dict[str, list[ExperimentResult]] = {}
    for p in previous.experiments:
        if p.status == Status.SUCCEEDED:
            earlier.setdefault(run_key(p), []).append(p)
    found = {}
    for r in results.experiments:
        waiting = earlier.get(run_key(r))
        if waiting:
            found[r.id] = waiting.pop(0)
    return found


@dataclass(frozen=True)
class BestLine:
    """One metric's best so far in the session, and what this iteration did to it."""

    board: MetricBoard  # the session up to and including this iteration
    before: Run | None  # the best before this iteration (None: first measured now)
    here: Run | None  # this iteration's best (None: not measured by a success this time)
    before_key: str | None = None  # the configuration that was best before this iteration

    @property
    def configuration(self) -> ConfigurationRuns | None:
        """The best configuration so far (see `MetricBoard.best_configuration`)."""
        return self.board.best_configuration

    @property
    def previous_best(self) -> ConfigurationRuns | None:
        """The configuration that was best before this iteration, with all its runs so far; None
        when it is still the best (or there was none)."""
        best = self.configuration
        if self.before_key is None or best is None or best.key == self.before_key:
            return None
        return self.board.configuration(self.before_key)

    @property
    def baseline(self) -> ConfigurationRuns | None:
        """The brain's baseline (`baseline: true`), unless it is the best itself."""
        marked, best = self.board.baseline(), self.configuration
        return marked if marked is not None and best is not None and marked.key != best.key else None

    def against(self, other: ConfigurationRuns | None) -> Difference | None:
        """The best configuration against `other`, by Welch's test (None unless both replicated)."""
        best = self.configuration
        return welch(best.summary, other.summary) if best is not None and other is not None else None

    @property
    def new_configuration(self) -> bool:
        """The best configuration changed in this iteration."""
        best = self.configuration
        return best is not None and self.before_key is not None and best.key != self.before_key

    @property
    def kind(self) -> MetricKind:
        return self.board.kind

    @property
    def best(self) -> Run:
        return self.board.best

    @property
    def improved(self) -> bool:
        """This iteration set the best (a tie with an earlier run does not)."""
        return self.here is not None and self.best.same_run(self.here)


@dataclass(frozen=True)
class Cell:
    """One metric value of one experiment, with its marks."""

    value: float
    change: float | None  # against the same run in the previous iteration
    best_here: bool  # ★ a run of this iteration's best configuration (the best run when none has replicates)
    best_so_far: bool  # 🏆 a run of the best configuration so far (of the best single run, unreplicated)
    sets_best: bool = False  # ... and that configuration became the best in this iteration
    ranked: bool = True  # False: the run did not succeed; its value is shown, never ranked or compared
    replicated: bool = True  # the best configuration has two runs or more (else: the best single run)
    here: Summary | None = None  # ★'s configuration over its replicates; None: ★ marks a single run


@dataclass(frozen=True)
class Standing:
    """Everything an iteration's report compares with: directions, the previous iteration (for
    changes), the session's best so far (this iteration included)."""

    declared: dict[str, Direction]
    previous: IterationResults | None
    board: Leaderboard
    best: list[BestLine]  # empty when the session's history is not known
    matched: dict[str, ExperimentResult] = field(default_factory=dict)
    parameter_names: frozenset[str] = frozenset()  # echoed by an experiment compared: never ranked

    @classmethod
    def of(
        cls,
        results: IterationResults,
        history: Sequence[IterationResults] = (),
        declared: Mapping[str, Direction] | None = None,
        complete: bool = True,
    ) -> Standing:
        """`history`: the session's earlier iterations with results, oldest first (collect's
        `earlier_results`); `declared`: the directions, by default those the iteration recorded;
        `complete`: whether `history` is the whole session — when it is not (a caller that knows
        only the previous iteration), nothing claims to be the best so far."""
        directions = dict(declared) if declared is not None else recorded([*history, results])
        earlier = [h for h in history if h.iteration < results.iteration]
        names = parameter_names([*earlier, results])
        board = leaderboard.build([*earlier, results], directions, parameters=names)
        before = leaderboard.build(earlier, directions, parameters=names)
        here = leaderboard.build([results], directions, parameters=names)
        lines = []
        for metric in board.metrics:
            held, mine = before.metric(metric.name), here.metric(metric.name)
            held_best = held.best_configuration if held else None
            lines.append(
                BestLine(
                    metric,
                    held.best if held else None,
                    mine.best if mine else None,
                    held_best.key if held_best else None,
                )
            )
        previous = earlier[-1] if earlier else None
        matched = counterparts(results, previous)
        return cls(directions, previous, board, lines if complete else [], matched, names)

    def ranked(self, name: str) -> bool:
        """Ranked in this session: a direction declared or guessed, and not one value in every run."""
        return self.board.metric(name) is not None

    def kind(self, name: str) -> MetricKind:
        return kind_of(name, self.declared)

    def line(self, name: str) -> BestLine | None:
        return next((line for line in self.best if line.kind.name == name), None)

    def cells(self, results: IterationResults) -> dict[str, dict[str, Cell]]:
        """Each experiment id → its measured metrics (its parameters left out), with their marks."""
        here = _bests_here(results, self)
        table: dict[str, dict[str, Cell]] = {}
        for result in results.experiments:
            previous = self.matched.get(result.id)
            before = measured(previous, self.parameter_names) if previous else {}
            success = result.status == Status.SUCCEEDED
            cells = {}
            for name, value in measured(result, self.parameter_names).items():
                if not is_number(value):
                    continue
                line = self.line(name)
                if line is not None and line.board.runs < 2:
                    line = None  # the only run of it so far: "best" says nothing
                earlier = before.get(name)
                in_best = success and line is not None and _in_best(line, results.iteration, result.id)
                cells[name] = Cell(
                    value,
                    # a run that did not succeed is shown, not compared: its value is no result
                    value - earlier if success and earlier is not None and is_number(earlier) else None,
                    success and name in here and here[name].marks(results.iteration, result.id, value),
                    in_best,
                    in_best and line is not None and (line.new_configuration or line.before_key is None),
                    success,
                    line is not None and line.board.replicated,
                    here[name].summary if success and name in here else None,
                )
            table[result.id] = cells
        return table


def _in_best(line: BestLine, iteration: int, experiment_id: str) -> bool:
    """A run of the best configuration so far — or, while no configuration is replicated, the best
    single run itself."""
    best = line.configuration
    if best is None:
        return False
    if not best.summary.replicated:
        return (line.best.iteration, line.best.id) == (iteration, experiment_id)
    return any((run.iteration, run.id) == (iteration, experiment_id) for run in best.runs)


@dataclass(frozen=True)
class BestHere:
    """A metric's best of one iteration: its best configuration by mean when one has replicates
    (every run of it is marked: a lucky seed is not crowned alone), else its best single run."""

    configuration: ConfigurationRuns
    value: float  # the best single value, for an unreplicated iteration (ties all marked)

    @property
    def summary(self) -> Summary | None:
        return self.configuration.summary if self.configuration.summary.replicated else None

    def marks(self, iteration: int, experiment_id: str, value: float) -> bool:
        if self.summary is None:
            return value == self.value
        return any((run.iteration, run.id) == (iteration, experiment_id) for run in self.configuration.runs)


def _bests_here(results: IterationResults, standing: Standing) -> dict[str, BestHere]:
    """Each metric's best of this iteration's successes, when more than one measured it: ranked like
    the session's best (leaderboard.rank_configurations), within this iteration alone."""
    board = leaderboard.build([results], standing.declared, parameters=standing.parameter_names)
    found = {}
    for metric in board.metrics:
        best = metric.best_configuration
        if metric.runs > 1 and best is not None and standing.ranked(metric.name):
            found[metric.name] = BestHere(best, metric.best.value)
    return found


def _rows(
    results: IterationResults, shown: list[str], cells: dict[str, dict[str, Cell]]
) -> list[ExperimentResult]:
    if len(results.experiments) <= MAX_ROWS:
        return list(results.experiments)

    def marked(r: ExperimentResult) -> bool:
        return any(c.best_here or c.best_so_far for n, c in cells[r.id].items() if n in shown)

    first = [r.id for r in results.experiments if marked(r)][:MAX_ROWS]
    rest = [r.id for r in results.experiments if r.id not in set(first)]
    kept = set(first + rest[: MAX_ROWS - len(first)])
    return [r for r in results.experiments if r.id in kept]


@dataclass(frozen=True)
class WideTable:
    """results.md's metrics table: one row per experiment; parameters, then metrics, as columns."""

    parameters: list[str]
    metrics: list[MetricKind]
    rows: list[ExperimentResult]
    more_parameters: int
    more_metrics: int
    more_rows: int

    @property
    def guessed(self) -> bool:
        return any(kind.guessed for kind in self.metrics)


def wide_table(
    results: IterationResults, standing: Standing, cells: dict[str, dict[str, Cell]] | None = None
) -> WideTable | None:
    """The table, capped (MAX_*); None when no experiment reported a metric. Over MAX_ROWS, the rows
    that hold a ★ or 🏆 of a shown metric are kept first, the rest in the brain's order after them
    until the cap, and every kept row stays in the brain's order."""
    names = list(dict.fromkeys(n for r in results.experiments for n in measured(r, standing.parameter_names)))
    if not names:
        return None
    names = [n for n in standing.declared if n in names] + [n for n in names if n not in standing.declared]
    parameters = list(dict.fromkeys(p for r in results.experiments for p in r.parameters))
    return WideTable(
        parameters=parameters[:MAX_PARAMETER_COLUMNS],
        metrics=[standing.kind(n) for n in names[:MAX_METRIC_COLUMNS]],
        rows=_rows(
            results, names[:MAX_METRIC_COLUMNS], cells if cells is not None else standing.cells(results)
        ),
        more_parameters=max(0, len(parameters) - MAX_PARAMETER_COLUMNS),
        more_metrics=max(0, len(names) - MAX_METRIC_COLUMNS),
        more_rows=max(0, len(results.experiments) - MAX_ROWS),
    )
