"""The brain's context (`experiment_results`, or Wild V2's markdown) held within its budget.

A budget that is not a limit is worse than none: a session with one experiment that writes 5,000
metrics gave a 59 KB block for a 20,000-character budget, and the loop's prompt grew with it. So the
context is built from a `Detail` (how much of each experiment it shows) and fitted by walking down
a ladder of details until the text fits, cutting detail first:

1. the output tails, shared evenly (a tail keeps whole lines: its first ones and its last ones);
2. the metrics beyond each experiment's first ones ("4,990 more metrics in results.json");
3. long commands, and long lists (warnings, notes, the best so far), each to a few items;
4. whole sections: the experiments from the end become one line each;
5. the floor: every experiment one line (number, id, status, its main metric).

Every cut says what it left out. Below the floor nothing is dropped silently: the answer says it
does not fit and which budget would (`Fitted.fits`, `Fitted.floor`).

The views are built here (pure data, each text already one-lined or fenced by report's filters);
the templates only lay them out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .specs import ExperimentResult, IterationResults, Status

MIN_COMMAND = 60  # characters of a command kept once commands are cut
LIST_ITEMS = 5  # items of a list (warnings, notes, best-so-far lines) once lists are cut
FLOOR_ITEMS = 3  # … and at the floor
HEAD_SHARE = 4  # of a cut tail, a quarter of what is kept goes to its first lines
PARTIAL_LINE = 80  # room left over for the end of a long line before the last lines kept


@dataclass(frozen=True)
class Detail:
    """How much the context shows; None: everything."""

    tail_chars: int | None = None  # of stdout and stderr together, per experiment
    metrics: int | None = None  # metrics per experiment
    command_chars: int | None = None
    items: int | None = None  # per list in the header (warnings, notes, best so far, …)
    sections: int | None = None  # experiments, from the first, with a section; the rest one line each


@dataclass(frozen=True)
class Stage:
    """One rung of the ladder: `make(n)` for n from `high` (richest) down to `low` (poorest)."""

    low: int
    high: int
    make: Callable[[int], Detail]


@dataclass(frozen=True)
class Fitted:
    """A fitted context: `fits` False when even the floor is over the budget; then `text` is the
    floor and `floor` its length, the smallest budget that would hold these results."""

    text: str
    fits: bool
    floor: int
    budget: int
    detail: Detail = field(default_factory=Detail)


def ladder(results: IterationResults, metrics_of: Mapping[str, int]) -> list[Stage]:
    """The stages from the whole context down to the floor, each poorer than the one before."""
    tails = max((len(r.stdout_tail) + len(r.stderr_tail) for r in results.experiments), default=0)
    metrics = max(metrics_of.values(), default=1)
    commands = max((len(r.command) for r in results.experiments), default=MIN_COMMAND)
    n = len(results.experiments)
    return [
        Stage(0, tails, lambda t: Detail(tail_chars=t)),
        Stage(1, max(1, metrics), lambda k: Detail(tail_chars=0, metrics=k)),
        Stage(MIN_COMMAND, max(MIN_COMMAND, commands), lambda c: Detail(0, 1, c, LIST_ITEMS)),
        Stage(0, n, lambda s: Detail(0, 1, MIN_COMMAND, FLOOR_ITEMS, s)),
    ]


def fit(render: Callable[[Detail], str], budget: int, stages: Sequence[Stage]) -> Fitted:
    """The richest detail whose text fits `budget`: the whole text if it fits, else the first
    stage whose poorest rung fits, searched (binary) for its richest rung that does."""
    whole = render(Detail())
    if len(whole) <= budget:
        return Fitted(whole, True, len(whole), budget)
    poorest = whole
    for stage in stages:
        poorest = render(stage.make(stage.low))
        if len(poorest) > budget:
            continue
        low, high, text = stage.low, stage.high, poorest
        while low < high:
            middle = (low + high + 1) // 2
            tried = render(stage.make(middle))
            if len(tried) <= budget:
                low, text = middle, tried
            else:
                high = middle - 1
        return Fitted(text, True, len(poorest), budget, stage.make(low))
    floor = stages[-1].make(stages[-1].low) if stages else Detail()
    return Fitted(poorest, False, len(poorest), budget, floor)


# --- cutting text -----------------------------------------------------------------------------------


def keep_lines(text: str, keep: int) -> str:
    """`text` in at most about `keep` characters, cut at line boundaries: its first lines (a quarter
    of the room: where a traceback or a config echo starts) and its last lines (the rest: where the
    final metric or the error is), with a marker saying how many lines were cut. Room left over
    shows the end of the line before the last ones kept (a line longer than the room keeps its end,
    marked)."""
    if len(text) <= keep:
        return text
    lines = text.split("\n")
    if keep <= 0:
        return f"[{len(lines):,} lines not shown]"
    head_room = keep // HEAD_SHARE
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > head_room:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > keep:
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    between = len(lines) - len(head) - len(tail)
    room = keep - used
    if between and room >= PARTIAL_LINE:  # room left: the end of the line before the tail
        line = lines[len(lines) - len(tail) - 1]
        tail.insert(0, f"[… {len(line) - room:,} characters of this line cut]{line[len(line) - room :]}")
    cut = len(lines) - len(head) - len(tail)
    if not cut:
        return "\n".join([*head, *tail])
    marker = f"[… {cut:,} line{'s' * (cut != 1)} cut …]"
    return "\n".join([*head, marker, *tail])


def cut_text(text: str, keep: int | None) -> str:
    """One-line text (a command) cut to `keep` characters, saying how many more there were."""
    if keep is None or len(text) <= keep:
        return text
    return f"{text[:keep]} [… {len(text) - keep:,} more characters]"


def share_tails(result: ExperimentResult, allowance: int | None) -> tuple[str, str]:
    """(stdout, stderr) within `allowance` characters together: the stream that tells the story
    first (stderr for a failure), the other gets what is left."""
    if allowance is None:
        return result.stdout_tail, result.stderr_tail
    first, second = (
        (result.stdout_tail, result.stderr_tail)
        if result.status == Status.SUCCEEDED
        else (result.stderr_tail, result.stdout_tail)
    )
    keep_first = min(len(first), allowance)
    kept = keep_lines(first, keep_first), keep_lines(second, allowance - keep_first)
    return kept if result.status == Status.SUCCEEDED else (kept[1], kept[0])


# --- facts about the run ----------------------------------------------------------------------------


def brain_path(results: IterationResults, result: ExperimentResult) -> str:
    """The experiment's workdir as the brain names it: under its project root (repository-relative
    when the results predate recording the root)."""
    workdir = result.workdir or "."
    if not results.project_root:
        return "" if workdir == "." else workdir  # the repository's root, unnamed
    inside = posixpath.relpath(posixpath.normpath(workdir), posixpath.normpath(results.project_dir or "."))
    return posixpath.normpath(posixpath.join(results.project_root, inside))


def mapped(text: str, results: IterationResults, result: ExperimentResult) -> str:
    """Output with the leg's checkout paths (`/tmp/wild-ci-run-…/hostexecutor/train.py`) shown as
    the brain's own (`/home/me/project/train.py`): the files it can open and edit."""
    if not result.checkout or not results.project_root or result.checkout == "/":
        return text
    return text.replace(result.checkout, results.project_root.rstrip("/") or "/")


def at_most_at_once(results: Sequence[ExperimentResult]) -> int:
    """How many of these experiments ran at once at most, from their start and end times (to the
    second); 0 when none has both."""
    spans = []
    for r in results:
        start, end = _time(r.started_at), _time(r.finished_at)
        if start is not None and end is not None:
            spans.append((start, max(end, start)))
    most = 0
    for start, _ in spans:
        most = max(most, sum(1 for s, e in spans if s <= start <= e))
    return most


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def how_they_ran(results: IterationResults, shown: int = 3) -> str:
    """One line: on which runners, how many at once, on how many cores (the main source of noise in
    a timing study is experiments sharing a machine), and the GPUs when there were any."""
    by_runner: dict[str, list[ExperimentResult]] = {}
    for r in results.experiments:
        if r.status != Status.MISSING:
            by_runner.setdefault(r.runner or "?", []).append(r)
    if not by_runner:
        return ""
    parts = []
    for runner, legs in list(by_runner.items())[:shown]:
        cores = sorted({r.cpus for r in legs if r.cpus})
        gpus = {g for r in legs for g in r.gpus or []}
        most = at_most_at_once(legs)
        if not cores and not most:
            continue  # nothing known about how it ran (older results)
        machine = [
            f"{'/'.join(map(str, cores))} CPU cores" if cores else "",
            f"{len(gpus)} GPU{'s' * (len(gpus) != 1)}" if gpus else "",
        ]
        machine_text = f" ({', '.join(m for m in machine if m)})" if any(machine) else ""
        noun = "experiment" if len(legs) == 1 else "experiments"
        parts.append(
            f"{len(legs)} {noun} on runner {runner}{machine_text}"
            + (f", at most {most} at once" if most else "")
        )
    if not parts:
        return ""
    more = len(by_runner) - shown
    return "Ran " + "; ".join(parts) + (f"; {more} more runners" if more > 0 else "") + "."


def common(values: Sequence[str]) -> str | None:
    """The value every experiment shares (said once), else None (said per experiment)."""
    return values[0] if values and all(v == values[0] for v in values) else None


def env_text(env: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in env.items())
