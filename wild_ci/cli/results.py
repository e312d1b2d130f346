"""Reading the ledger: `context` (for the brain), `status`, `show` and `logs` (for people)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import git
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import collect, layout, ledger, report, steering
from ..compare import Cell, Standing
from ..config import committed_config
from ..engines.act.runs import local_leg_folder, recover_all_sessions
from ..engines.github import pushes
from ..engines.github import runs as github
from ..errors import EXIT_OK, PipelineError, UsageError
from ..specs import Conclusion, ExperimentResult, IterationResults, Status
from ..text import json_text, visible


def context(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    config = committed_config(repo)
    budget = args.budget or config.context_budget
    context_format = args.format or config.context_format
    empty = collect.latest_empty_spec(repo, args.session, args.iteration)
    said = ""
    if empty is not None:  # it asked for nothing: say so, then the latest results there are
        said = report.nothing_ran_block(
            args.session, empty.warnings, empty.promise, empty.label, context_format
        )
        print(said, end="")
        if args.iteration is not None or not collect.any_results(repo, args.session):
            return EXIT_OK
    results = collect.committed_results(repo, args.session, args.iteration)
    standing = collect.session_standing(repo, results, config.metrics)
    fitted = report.fit_context(results, budget - len(said), context_format, standing)
    if not fitted.fits:
        print(f"wild-ci: warning: {report.too_small(fitted)}", file=sys.stderr)
    print(report.answer(fitted, results, context_format), end="")
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    recover_all_sessions(repo)  # a local run that died (SIGKILL) is recorded before it is shown
    sessions = collect.session_states(repo)
    if args.session is not None:
        sessions = [s for s in sessions if s.session == args.session]
        if not sessions:
            raise UsageError(f"no session {args.session!r} (no branch {ledger.branch_name(args.session)})",
                             hint="`wild-ci status` lists the sessions")  # fmt: skip
    steered = _steered(repo, sessions, args.session)
    if args.json:
        listed = [{**s.to_json(), "guidance": steered.pop(s.session, [])} for s in sessions]
        listed += [{"session": name, "guidance": texts} for name, texts in steered.items()]
        print(json_text({"sessions": listed}))
        return EXIT_OK
    if not sessions and not steered:
        print("no sessions yet: `wild-ci run brain.md` starts one (branch wild/main)")
    for line in status_lines(sessions, steered):
        print(line)
    for line in buried_lines(repo, sessions):
        print(line)
    return EXIT_OK


def _steered(repo: git.Repo, sessions: list[collect.SessionState], only: str | None) -> dict[str, list[str]]:
    """The guidance queued with `wild-ci steer` for each session (also one with no branch yet)."""
    names = [s.session for s in sessions] + ([only] if only else steering.sessions_steered(repo))
    queued = {name: [g.text for g in steering.queued(repo, name)] for name in dict.fromkeys(names)}
    return {name: texts for name, texts in queued.items() if texts}


GUIDANCE_LINE = 200  # characters of each queued message `status` shows


def buried_lines(repo: git.Repo, sessions: list[collect.SessionState]) -> list[str]:
    """Iterations that GitHub will not run from the pushes this clone saw (engines/github/pushes.py)."""
    lines = []
    for session in sessions:
        waiting = [i.iteration for i in session.iterations if not i.collected and i.experiments]
        for buried in pushes.buried_iterations(repo, session.session, waiting) if waiting else []:
            lines.append(
                f"{session.branch} {buried.iteration:04d} ({buried.commit[:12]}) will not run on GitHub: "
                f"{buried.remote} has it beneath a later commit and it was the head of no push from "
                f"this clone (GitHub runs a push's newest commit only); {buried.hint}"
            )
    return [visible(line, multiline=False) for line in lines]


def status_lines(
    sessions: list[collect.SessionState], steered: dict[str, list[str]] | None = None
) -> list[str]:
    """`status` as text, one line per session and per iteration, each of visible characters (a
    promise is the brain's words); then the session's conclusion and the guidance queued for it."""
    steered = dict(steered or {})
    lines = []
    for session in sessions:
        lines.append(visible(f"{session.branch}: {len(session.iterations)} iteration(s)", multiline=False))
        for item in session.iterations:
            counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in item.counts.items())
            promise = f" · promise {item.promise}" if item.promise else ""
            lines.append(visible(f"  {item.iteration:04d}  {item.experiments} experiment(s)  {item.state}"
                                 f"{': ' + counts if counts else ''}{promise}", multiline=False))  # fmt: skip
        lines += [f"  {line}" for line in conclusion_lines(session.conclusion)]
        lines += _guidance_lines(steered.pop(session.session, []))
    for name, texts in steered.items():  # guidance for a session that has no branch yet
        lines.append(visible(f"{ledger.branch_name(name)}: no iterations yet", multiline=False))
        lines += _guidance_lines(texts)
    return lines


def conclusion_lines(found: Conclusion | None, limit: int = 300) -> list[str]:
    """The session's conclusion in a few visible lines: the DONE summary, the reflection's."""
    if found is None:
        return []
    summary = report.one_line(found.summary, limit) if found.summary else "(no summary)"
    what = "DONE, resumed by its reflection: not the conclusion" if found.continues else "DONE"
    lines = [f"conclusion (iteration {found.iteration:04d}, {what}): {summary}"]
    if found.reflection is not None:
        go_on = {True: "continue", False: "stop", None: "stop (no <continue>)"}[found.continues]
        lines.append(f"reflection ({go_on}): {report.one_line(found.reflection, limit) or '(empty)'}")
    return lines


def _guidance_lines(texts: list[str]) -> list[str]:
    if not texts:
        return []
    lines = [f"  guidance queued with `wild-ci steer` for the next prompt ({len(texts)}):"]
    return lines + [f"    - {report.one_line(text, GUIDANCE_LINE)}" for text in texts]


def show(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    concluded = _concluded(repo, args.session, args.iteration)
    if concluded is not None and (args.iteration is not None or not collect.any_results(repo, args.session)):
        _print_conclusion(concluded, args.json)  # a DONE iteration without experiments: its conclusion
        return EXIT_OK
    results = collect.committed_results(repo, args.session, args.iteration)
    if args.json:
        print(json_text(results.to_json()))
        return EXIT_OK
    repo = ledger.open_repo(args.repo)
    standing = collect.session_standing(repo, results, committed_config(repo).metrics)
    console = Console(highlight=False)
    console.print(results_view(results, console.width, standing))
    if concluded is not None:  # the latest iteration concluded the session after these results
        print()
        _print_conclusion(concluded, False)
    return EXIT_OK


def _concluded(repo: git.Repo, session: str, iteration: int | None) -> Conclusion | None:
    """The conclusion of a DONE iteration without results (the latest, or the one asked for)."""
    spec = collect.latest_empty_spec(repo, session, iteration)
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    return collect.conclusion(repo, tip, spec) if spec is not None and tip is not None else None


def _print_conclusion(concluded: Conclusion, as_json: bool) -> None:
    if as_json:
        print(json_text({"conclusion": concluded.to_json()}))
        return
    said = "its reflection resumed the loop" if concluded.continues else "it concluded the session"
    print(visible(f"iteration {concluded.iteration:04d} asked for no experiments: {said}", multiline=False))
    for line in conclusion_lines(concluded, limit=2000):
        print(visible(line, multiline=False))


WIDE_ENOUGH_FOR_A_TABLE = 100  # below it, a table folds 48-character ids in the middle


def results_view(results: IterationResults, width: int, standing: Standing | None = None) -> RenderableType:
    """The table on a wide terminal; on a narrow one, one short block per experiment, so that an id
    (what `wild-ci logs` takes) is never split across lines. Parameters and metrics apart: a
    metrics.json key that echoes a parameter with its value shows as the parameter; metrics
    carry their direction (`↑?` guessed), ★ a run of the iteration's best configuration (its best
    run when none is replicated), 🏆 best so far in the session."""
    standing = standing or Standing.of(results, complete=False)
    cells = standing.cells(results)
    if width >= WIDE_ENOUGH_FOR_A_TABLE:
        return _results_table(results, standing, cells, width)
    lines = [
        Text(visible(f"wild/{results.session} · iteration {results.label}", multiline=False), style="bold")
    ]
    for r in results.experiments:
        status = f"{report.STATUS_SYMBOLS.get(r.status, '?')} {r.status}"
        facts = " · ".join(
            part for part in (report.duration(r.duration_s), f"exit {report.exit_text(r)}",
                              report.one_line(report.attempts_text(r), 200), report.gpus_text(r))
            if part
        )  # fmt: skip
        parameters = report.parameters_text(r.parameters)
        metrics = report.marked_metrics(cells[r.id], standing)
        lines += [
            Text(""),
            Text(visible(f"{status}  {r.id}", multiline=False), no_wrap=True, overflow="ignore"),
            Text("   " + visible(report.one_line(r.goal, 200), multiline=False)),
            Text("   " + visible(facts, multiline=False)),
            *([Text("   parameters: " + visible(parameters, multiline=False))] if parameters else []),
            *([Text("   metrics: " + visible(metrics, multiline=False))] if metrics else []),
        ]
    lines += [Text(""), Text(visible(report.counts_line(results), multiline=False))]
    return Group(*lines)


@dataclass(frozen=True)
class _Column:
    """A column of `show`'s table: its header, its cells (one per experiment) and its rank when
    the terminal cannot hold every column (lower: kept first)."""

    header: str
    cells: list[str]
    rank: int
    no_wrap: bool = True

    @property
    def width(self) -> int:
        return max(cell_len(text) for text in [self.header, *self.cells]) + 3  # padding and rule


def _results_table(
    results: IterationResults,
    standing: Standing | None = None,
    cells: dict[str, dict[str, Cell]] | None = None,
    width: int = 200,
) -> Table:
    """One row per experiment; parameters and metrics in columns of their own, as in results.md,
    as many as `width` holds (metrics first, then parameters, then the goal); the caption names
    the columns left out. Every cell is `Text` of visible characters: goals and metrics come from a
    brain and its experiments, and rich would read `[/data]` in them as markup, a terminal
    `\x1b[2J` as a command."""
    standing = standing or Standing.of(results, complete=False)
    cells = cells if cells is not None else standing.cells(results)
    columns = _columns(results, standing, cells)
    kept, left = _fitted_columns(columns, width)
    caption = report.counts_line(results)
    if left:
        names = ", ".join(report.one_line(c.header, 30) for c in left[:8]) + (" …" if len(left) > 8 else "")
        caption += f" · {len(left)} column(s) not shown for the width ({names}): wild-ci show --json"
    table = Table(
        title=Text(visible(f"wild/{results.session} · iteration {results.label}", multiline=False)),
        caption=Text(visible(caption, multiline=False)),
        caption_justify="left",  # centred, a wrapped caption left `--json` alone on a line
    )
    for column in kept:
        table.add_column(
            Text(visible(column.header, multiline=False)), no_wrap=column.no_wrap, overflow="fold"
        )
    for row in range(len(results.experiments)):
        table.add_row(*(Text(visible(column.cells[row], multiline=False)) for column in kept))
    return table


def _columns(
    results: IterationResults, standing: Standing, cells: dict[str, dict[str, Cell]]
) -> list[_Column]:
    """Every column `show` could print, in the order it prints them."""
    experiments = results.experiments
    names = list(dict.fromkeys(n for r in experiments for n in cells[r.id]))
    names = [n for n in standing.declared if n in names] + [n for n in names if n not in standing.declared]
    parameters = list(dict.fromkeys(p for r in experiments for p in r.parameters))
    with_gpus = any(r.gpus for r in experiments)  # a column only when some experiment had one
    return [
        _Column("", [f"{report.STATUS_SYMBOLS.get(r.status, '?')} {r.status}{_attempt_suffix(r)}"
                     for r in experiments], 0),
        _Column("experiment", [r.id for r in experiments], 0),
        _Column("time", [_times(r) for r in experiments], 4),  # the result (metrics, parameters) first
        _Column("exit", [report.exit_text(r) for r in experiments], 4),
        *(_Column(report.one_line(p, 30), [report.value_text(r.parameters[p]) if p in r.parameters else ""
                                           for r in experiments], 2) for p in parameters),
        *(_Column(f"{report.one_line(n, 30)} {standing.kind(n).label}",
                  [report.cell_text(cells[r.id].get(n)) for r in experiments], 1) for n in names),
        *((_Column("gpus", [report.gpu_ids_text(r) for r in experiments], 4),) * with_gpus),
        _Column("goal", [report.one_line(r.goal, 60) for r in experiments], 5, no_wrap=False),
    ]  # fmt: skip


def _fitted_columns(columns: list[_Column], width: int) -> tuple[list[_Column], list[_Column]]:
    """The columns that fit `width`, taken by rank (then in order) up to the first that does not
    fit (so no parameter is shown without the ones before it), shown in their order; and the ones
    left out. The goal wraps: a little room is enough for it."""
    chosen: set[int] = set()
    used = 1
    for index in sorted(range(len(columns)), key=lambda i: (columns[i].rank, i)):
        column = columns[index]
        need = column.width if column.no_wrap else min(column.width, 16)
        if column.rank and used + need > width:
            break
        chosen.add(index)
        used += need
    kept = [c for i, c in enumerate(columns) if i in chosen]
    return kept, [c for i, c in enumerate(columns) if i not in chosen]


def _times(result: ExperimentResult) -> str:
    """`12.3 s (CPU 11.8 s)`: wall time, and CPU time beside it when it was recorded."""
    wall = report.duration(result.duration_s)
    return wall + (f" (CPU {report.duration(result.cpu_s)})" if result.cpu_s is not None else "")


def _attempt_suffix(result: ExperimentResult) -> str:
    """` (attempt 2)` after the status of a retried experiment: the whole story is in results.md."""
    return f" (attempt {len(result.attempts)})" if len(result.attempts) > 1 else ""


def logs(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    results = collect.committed_results(repo, args.session, args.iteration)
    result = next((r for r in results.experiments if r.id == args.experiment), None)
    if result is None:
        known = ", ".join(r.id for r in results.experiments)
        raise UsageError(f"no experiment {args.experiment!r} in iteration {results.label} (known: {known})")
    if args.attempt is not None and not 1 <= args.attempt <= len(result.attempts):
        made = f"{len(result.attempts)} attempts" if result.attempts else "no retries"
        raise UsageError(f"{result.id} has no attempt {args.attempt} (it had {made})")
    leg = top = _leg_folder(repo, results, result)
    if args.attempt is not None:
        leg = top / layout.attempt_dir(args.attempt)
    if args.json:
        sys.stdout.write(_result_json(top / layout.RESULT_FILE))
    elif args.stderr:
        sys.stdout.buffer.write(_log_bytes(leg / layout.STDERR_LOG))
    else:
        stdout = _log_bytes(leg / layout.STDOUT_LOG)
        stderr_path = leg / layout.STDERR_LOG
        stderr = stderr_path.read_bytes() if stderr_path.is_file() else b""
        if args.both:
            for label, data in (("stdout", stdout), ("stderr", stderr)):
                sys.stdout.buffer.write(f"==> {label} <==\n".encode() + data)
                if data and not data.endswith(b"\n"):
                    sys.stdout.buffer.write(b"\n")
        elif stdout or not stderr:
            sys.stdout.buffer.write(stdout)
            if not stdout:
                print(f"wild-ci: {result.id} wrote nothing on stdout or stderr", file=sys.stderr)
        else:  # the experiment spoke only on stderr: show that rather than nothing
            print(f"wild-ci: {result.id}'s stdout is empty; its stderr follows", file=sys.stderr)
            sys.stdout.buffer.write(stderr)
    sys.stdout.flush()
    return EXIT_OK


def _result_json(path: Path) -> str:
    """The leg's result.json for `logs --json`, re-written by `json_text` (the experiment's text in it
    holds no raw control character); a file that is not JSON is shown made visible."""
    data = _log_bytes(path)
    try:
        return json_text(json.loads(data)) + "\n"
    except (ValueError, RecursionError):
        return visible(data.decode("utf-8", errors="replace"))


def _log_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise PipelineError(f"{path} does not exist (the leg left no such file)")
    return path.read_bytes()


def _leg_folder(repo: git.Repo, results: IterationResults, result: ExperimentResult) -> Path:
    """The folder of the leg that produced `result`: a local run's, or else the leg's artifact
    downloaded from its GitHub run. A local folder of another run (an earlier run of the same
    iteration number, on a session branch since deleted, or a run whose result was not kept) is
    never shown in its place."""
    if result.status == Status.MISSING:
        raise PipelineError(
            f"{result.id} has no logs: it was recorded {result.status} without its leg's files"
            + (f" ({result.note})" if result.note else "")
        )

    def produced_it(leg: Path) -> bool:
        return _leg_produced(leg, result)

    leg = local_leg_folder(repo, results.session, results.label, result.id, produced_it)
    if leg is not None:
        return leg
    destination = layout.runs_root(repo, results.session, results.label) / layout.RUN_LEGS_DIR / result.id
    if destination.exists():  # a local run's folder of another run: the download goes elsewhere
        destination = destination.with_name(f"{result.id}.download")
        shutil.rmtree(destination, ignore_errors=True)
    try:
        downloaded = github.download_leg(repo, results, result.id, destination)
    except PipelineError as exc:
        raise PipelineError(
            f"no logs of the run that produced {result.id}'s result in iteration {results.label} "
            f"(commit {(result.commit or results.commit or '?')[:12]}, started {result.started_at}): {exc}"
        ) from exc
    if not produced_it(downloaded):
        raise PipelineError(
            f"the logs found for {result.id} are of another run than its committed result "
            f"(started {result.started_at}), so they are not shown"
        )
    return downloaded


def _leg_produced(leg: Path, result: ExperimentResult) -> bool:
    """Whether the leg folder's own result.json is the run the committed `result` came from: the
    same experiment, commit and start (collect takes both from that file)."""
    try:
        data = json.loads((leg / layout.RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return (
        isinstance(data, dict)
        and data.get("id") == result.id
        and data.get("started_at") == result.started_at
        and data.get("commit") == result.commit
    )
