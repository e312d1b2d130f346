"""`wild-ci leaderboard`: the best so far of each metric in a session, and the runs that came closest."""

from __future__ import annotations

import argparse

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import collect, ledger, report
from ..compare import CONFIG_HINT
from ..config import committed_config
from ..errors import EXIT_OK, UsageError
from ..layout import iteration_label
from ..leaderboard import ConfigurationRuns, Leaderboard, MetricBoard, build, declared_for
from ..text import json_text, visible


def leaderboard(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    iterations = collect.session_results(repo, args.session)
    declared = declared_for(iterations, committed_config(repo).metrics)
    board = build(iterations, declared, args.top, args.session)
    if args.metric is not None:
        chosen = board.metric(args.metric)
        if chosen is None:
            known = ", ".join(m.name for m in board.metrics) or "none yet"
            raise UsageError(f"no metric {args.metric!r} in wild/{args.session} (metrics: {known})")
        board = Leaderboard(board.session, board.iterations, [chosen])
    if args.json:
        print(json_text(board.to_json()))
        return EXIT_OK
    console = Console(highlight=False)
    console.print(leaderboard_view(board, args.session, console.width))
    return EXIT_OK


WIDE_ENOUGH_FOR_A_TABLE = 100  # below it, a table folds 48-character ids in the middle
WIDE_ENOUGH_FOR_GOALS = 140


def leaderboard_view(board: Leaderboard, session: str, width: int) -> RenderableType:
    """One table per metric, best first; on a narrow terminal a short block per run, so that an id
    is never split across lines. Every cell is `Text` of visible characters: metric names, ids,
    goals and parameters come from a brain and its experiments (no rich markup, no escapes)."""
    n = len(board.iterations)
    head = (
        f"wild/{session}: best so far over {n} iteration{'s' * (n != 1)} with results (succeeded experiments)"
    )
    parts: list[RenderableType] = [Text(visible(head, multiline=False), style="bold")]
    if not board.metrics:
        parts.append(
            Text("no metrics yet: an experiment reports them by writing metrics.json in its workdir")
        )
    for metric in board.metrics:
        if width >= WIDE_ENOUGH_FOR_A_TABLE:
            parts.append(_metric_table(metric, goals=width >= WIDE_ENOUGH_FOR_GOALS))
        else:
            parts += _metric_lines(metric)
    if any(metric.kind.guessed for metric in board.metrics):
        parts.append(
            Text(visible(f"↑? / ↓?: the direction was guessed from the metric's name; {CONFIG_HINT}."))
        )
    return Group(*parts)


def _title(metric: MetricBoard) -> Text:
    kind = metric.kind
    how = "guessed" if kind.guessed else "declared"
    count = len(metric.configurations)
    title = f"{kind.name} {kind.label} ({kind.way}, {how}; {metric.runs} runs, {count} configurations)"
    return Text(visible(report.one_line(title, 200), multiline=False), style="bold")


def _configuration_cells(rank: int, configuration: ConfigurationRuns) -> tuple[str, ...]:
    s = configuration.summary
    ci = f"{s.ci95[0]:.4g}–{s.ci95[1]:.4g}" if s.ci95 else "–"
    iterations = sorted({iteration_label(run.iteration) for run in configuration.runs})
    where = ", ".join(iterations[:3]) + (" …" if len(iterations) > 3 else "")
    mark = " ★" if rank == 1 else ""
    sd = f"{s.std:.3g}" if s.std is not None else "–"
    baseline = " (baseline)" if configuration.baseline else ""
    label = configuration.label(300) + baseline
    return f"{rank}{mark}", f"{s.mean:.6g}", sd, ci, str(s.n), label, where


def _best_run_line(metric: MetricBoard) -> Text:
    """The best single run, said apart: a lucky seed is a fact, not the ranking."""
    run = metric.best
    replicated = (
        "" if metric.replicated else "; no configuration has two runs yet: nothing is ranked beyond noise"
    )
    text = (
        f"best single run: {run.value:.6g} ({run.id}, iteration {iteration_label(run.iteration)}){replicated}"
    )
    return Text(visible(report.one_line(text, 300), multiline=False))


def _metric_table(metric: MetricBoard, goals: bool) -> Table:
    """The metric's configurations, best mean first (replicated ones before single runs)."""
    table = Table(
        title=_title(metric), title_justify="left", caption=_best_run_line(metric), caption_justify="left"
    )
    columns = ("#", "mean", "sd", "95% CI", "n", "configuration", "iterations")
    for column in columns:
        table.add_column(
            column, overflow="fold", justify="left" if column in ("configuration", "iterations") else "right"
        )
    for rank, configuration in enumerate(metric.configurations[: len(metric.top)], start=1):
        table.add_row(
            *(Text(visible(cell, multiline=False)) for cell in _configuration_cells(rank, configuration))
        )
    return table


def _metric_lines(metric: MetricBoard) -> list[RenderableType]:
    """A narrow terminal's view of a metric: per configuration, its rank, mean, sd, n and iterations
    on one line, its flags on the next."""
    lines: list[RenderableType] = [Text(""), _title(metric)]
    for rank, configuration in enumerate(metric.configurations[: len(metric.top)], start=1):
        number, mean, sd, ci, n, label, where = _configuration_cells(rank, configuration)
        facts = f"{number:>4} {mean:<10} sd {sd:<8} n {n:<3} 95% CI {ci}  iteration {where}"
        lines.append(Text(visible(facts, multiline=False)))
        lines.append(Text("      " + visible(label, multiline=False), overflow="fold"))
    lines.append(_best_run_line(metric))
    return lines
