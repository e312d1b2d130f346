"""`wild-ci leaderboard`: the best so far of each metric in a session, and the runs that came closest."""

from __future__ import annotations

import argparse
import json

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import collect, ledger, report
from ..compare import CONFIG_HINT
from ..config import committed_config
from ..errors import EXIT_OK, UsageError
from ..layout import iteration_label
from ..leaderboard import Leaderboard, MetricBoard, build, declared_for
from ..text import visible


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
        print(json.dumps(board.to_json(), indent=2, ensure_ascii=False))
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
    title = f"{kind.name} {kind.label} ({kind.way}, {how}; {metric.runs} runs)"
    return Text(visible(report.one_line(title, 200), multiline=False), style="bold")


def _metric_table(metric: MetricBoard, goals: bool) -> Table:
    table = Table(title=_title(metric), title_justify="left")
    columns = ("#", "value", "iteration", "experiment", "parameters", *(("goal",) if goals else ()))
    for column in columns:
        table.add_column(column, overflow="fold", justify="right" if column in ("#", "value") else "left")
    for rank, run in enumerate(metric.top, start=1):
        cells = (
            f"{rank}{' ★' if rank == 1 else ''}", f"{run.value:.6g}", iteration_label(run.iteration), run.id,
            report.parameters_text(run.parameters, 10, 300), report.one_line(run.goal, 60),
        )[: len(columns)]  # fmt: skip
        table.add_row(*(Text(visible(cell, multiline=False)) for cell in cells))
    return table


def _metric_lines(metric: MetricBoard) -> list[RenderableType]:
    """A narrow terminal's view of a metric: per run, its rank, value, iteration and parameters on
    one line, its id alone on the next (never split)."""
    lines: list[RenderableType] = [Text(""), _title(metric)]
    for rank, run in enumerate(metric.top, start=1):
        mark = " ★" if rank == 1 else "  "
        facts = f"{rank:>2}{mark} {run.value:<10.6g} iteration {iteration_label(run.iteration)}"
        if run.parameters:
            facts += "  " + report.parameters_text(run.parameters, 10, 300)
        lines.append(Text(visible(facts, multiline=False)))
        lines.append(Text("      " + visible(run.id, multiline=False), no_wrap=True, overflow="ignore"))
    return lines
