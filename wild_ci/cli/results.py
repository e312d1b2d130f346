"""Reading the ledger: `context` (for the brain), `status`, `show` and `logs` (for people)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import git
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import collect, layout, ledger, report
from ..config import committed_config
from ..engines.act.runs import local_leg_folder
from ..engines.github import runs as github
from ..errors import EXIT_OK, PipelineError, UsageError
from ..specs import IterationResults


def context(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    budget = args.budget or committed_config(repo).context_budget
    empty = collect.latest_empty_spec(repo, args.session, args.iteration)
    if empty is not None:  # it asked for nothing: say so, then the latest results there are
        print(report.nothing_ran_block(args.session, empty.warnings, empty.promise, empty.label), end="")
        if args.iteration is not None or not collect.any_results(repo, args.session):
            return EXIT_OK
    results = collect.committed_results(repo, args.session, args.iteration)
    print(report.context_block(results, budget), end="")
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    sessions = collect.session_states(ledger.open_repo(args.repo))
    if args.json:
        print(json.dumps({"sessions": [s.to_json() for s in sessions]}, indent=2))
        return EXIT_OK
    if not sessions:
        print("no sessions yet: `wild-ci run brain.md` starts one (branch wild/main)")
    for session in sessions:
        print(f"{session.branch}: {len(session.iterations)} iteration(s)")
        for item in session.iterations:
            counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in item.counts.items())
            promise = f" · promise {item.promise}" if item.promise else ""
            print(f"  {item.iteration:04d}  {item.experiments} experiment(s)  {item.state}"
                  f"{': ' + counts if counts else ''}{promise}")  # fmt: skip
    return EXIT_OK


def show(args: argparse.Namespace) -> int:
    results = collect.committed_results(ledger.open_repo(args.repo), args.session, args.iteration)
    if args.json:
        print(json.dumps(results.to_json(), indent=2, ensure_ascii=False))
        return EXIT_OK
    Console(highlight=False).print(_results_table(results))
    return EXIT_OK


def _results_table(results: IterationResults) -> Table:
    """Every cell is `Text`: goals and metrics come from a brain and its experiments, and rich
    would read `[/data]` in them as markup."""
    table = Table(
        title=Text(f"wild/{results.session} · iteration {results.label}"),
        caption=Text(report.counts_line(results)),
    )
    for column in ("", "experiment", "goal", "duration", "exit", "metrics"):
        table.add_column(column, overflow="fold")
    for r in results.experiments:
        cells = (
            f"{report.STATUS_SYMBOLS.get(r.status, '?')} {r.status}", r.id, report.one_line(r.goal, 60),
            report.duration(r.duration_s), report.exit_text(r), report.metrics_cell(r.metrics),
        )  # fmt: skip
        table.add_row(*(Text(cell) for cell in cells))
    return table


def logs(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    results = collect.committed_results(repo, args.session, args.iteration)
    if args.experiment not in {r.id for r in results.experiments}:
        known = ", ".join(r.id for r in results.experiments)
        raise UsageError(f"no experiment {args.experiment!r} in iteration {results.label} (known: {known})")
    leg = _leg_folder(repo, results, args.experiment)
    path = leg / (
        layout.RESULT_FILE if args.json else layout.STDERR_LOG if args.stderr else layout.STDOUT_LOG
    )
    if not path.is_file():
        raise PipelineError(f"{path} does not exist (the leg left no such file)")
    sys.stdout.buffer.write(path.read_bytes())
    sys.stdout.flush()
    return EXIT_OK


def _leg_folder(repo: git.Repo, results: IterationResults, experiment_id: str) -> Path:
    """A local run's leg folder, or else the leg's artifact downloaded from its GitHub run."""
    leg = local_leg_folder(repo, results.session, results.label, experiment_id)
    if leg is not None:
        return leg
    destination = layout.runs_root(repo, results.session, results.label) / layout.RUN_LEGS_DIR / experiment_id
    return github.download_leg(repo, results, experiment_id, destination)
