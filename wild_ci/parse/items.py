"""One `<experiments>` item → one validated `Experiment` (or an `InvalidItem` that says why), and
the ids of an iteration's experiments. What each field accepts is declared in `fields.FIELDS`."""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from ..config import Limits
from ..specs import BrainOutput, Diagnostic, Experiment, InvalidItem
from . import sweep
from .commands import final_command, flag_position_problem, open_quote
from .fields import FIELDS, KNOWN_KEYS, ErrorFn

MAX_ID_LENGTH = 48
SWEEP_GOAL_CHARS = 12  # a swept id keeps at least this much of its goal
_REQUIRED = tuple(f for f in FIELDS if f.required)  # checked first: the command's length needs it
_OPTIONAL = tuple(f for f in FIELDS if not f.required)
_KNOWN = frozenset(KNOWN_KEYS)
_KNOWN_LIST = ", ".join(KNOWN_KEYS)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def add_item(item: Any, item_line: int, key_lines: dict[str, int], out: BrainOutput, limits: Limits) -> None:
    """Validate one item and add it to `out`: as an experiment (one per leg of its sweep), or as an
    invalid item with its errors."""
    if not isinstance(item, dict):
        message = "an experiment must be a mapping with 'goal' and 'command'"
        reject(out, None, item_line, [Diagnostic(item_line, message)])
        return
    errors: list[Diagnostic] = []
    failed: set[str] = set()  # the keys with an error

    def error(key: str, message: str) -> None:
        errors.append(Diagnostic(key_lines.get(key, item_line), message))
        failed.add(key)

    def warn(key: str, message: str) -> None:
        out.warnings.append(Diagnostic(key_lines.get(key, item_line), message))

    for key in item:
        if str(key) not in _KNOWN:
            warn(str(key), f"unknown key {str(key)!r} was ignored (known: {_KNOWN_LIST})")
    for key, value in item.items():
        if (problem := value_problem(key)) or (problem := value_problem(value)):
            error(str(key), f"{str(key)!r} {problem}")  # repr: the key itself may be the problem
    if errors:  # a value no later stage can write (JSON, UTF-8) is refused before any reads it
        reject(out, writable_goal(item.get("goal")), item_line, errors)
        return
    values: dict[str, Any] = {}
    for spec in _REQUIRED:
        values[spec.attr] = spec.validate(item.get(spec.key), spec.key, error)
    goal: str | None = values["goal"]
    command: str | None = values["command"]
    if command is not None and len(command) > limits.max_command_chars:
        error(
            "command", f"the command has {len(command)} characters; the limit is {limits.max_command_chars}"
        )
    for spec in _OPTIONAL:
        value = item.get(spec.key)
        values[spec.attr] = spec.default() if value is None else spec.validate(value, spec.key, error)
    parameters: dict[str, Any] = values["parameters"]
    grid: sweep.Grid = values.pop("sweep")
    for name, value in parameters.items():
        if isinstance(value, list):
            warn("parameters", sweep.list_parameter_warning(name, value))
    if item.get("sweep") is not None and "sweep" not in failed:
        _check_sweep(grid, parameters, len(out.experiments), limits, error, warn)
    quote = open_quote(command) if command is not None and len(command) <= limits.max_command_chars else None
    if quote is not None:
        where = f" (opened on its line {quote[1]})" if "\n" in (command or "") else ""
        error("command", f"the command has an unmatched {quote[0]} quote{where}: bash would refuse it; "
              "close the quote or escape it")  # fmt: skip
    elif command is not None and (parameters or grid):
        problem = flag_position_problem(command)
        if problem:
            what = "parameters" if not grid else "sweep values" if not parameters else "parameters and sweep"
            error("command", f"the {what} cannot be appended: {problem}")
    run = final_command(command, parameters) if command is not None else ""
    if not errors:
        _check_lengths(run, grid, limits, error)
    if errors or goal is None or command is None:
        reject(out, goal, item_line, errors)
        return
    if grid:
        out.experiments.extend(_expand(values, grid, item_line))
    else:
        out.experiments.append(Experiment(id="", run=run, line=item_line, **values))


def writable_goal(goal: Any) -> str | None:
    """An invalid item's goal for its record, when it is text that can be written (JSON, UTF-8)."""
    return goal if isinstance(goal, str) and value_problem(goal) is None else None


def value_problem(value: Any) -> str | None:
    """Why a value the brain wrote cannot be written as JSON and UTF-8 (as experiments.json, the
    context and every report are), or None. Walked without recursion: values nest deep."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return ("holds a lone surrogate escape (\\ud800–\\udfff): half of a character, which "
                        "no file can hold; write the character itself")  # fmt: skip
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, (bool, int, float)):
            kind = type(item).__name__
            return f"holds a {kind} (from a YAML tag); write numbers, text, true/false or lists"
    return None


def _expand(values: dict[str, Any], grid: sweep.Grid, line: int) -> Iterator[Experiment]:
    """One experiment per leg of the sweep, after the checks: the item's values (each leg its own
    copy), with the leg's values appended to the parameters and to the goal."""
    for leg in sweep.legs(grid):
        leg_values = {**copy.deepcopy(values), "goal": f"{values['goal']} {sweep.label(leg)}"}
        leg_values["parameters"].update(leg)
        run = final_command(leg_values["command"], leg_values["parameters"])
        yield Experiment(id="", run=run, line=line, sweep=leg, **leg_values)


def _check_sweep(
    grid: sweep.Grid,
    parameters: dict[str, Any],
    before: int,
    limits: Limits,
    error: ErrorFn,
    warn: ErrorFn,
) -> None:
    """What a sweep may not do beside its own values (`fields._sweep`): name a parameter again, or
    make more experiments than the output may have (`before`: the experiments before this item).
    Counted from the lists' lengths, so a sweep of 50^50 is refused at once."""
    if not grid:
        warn("sweep", "'sweep' is empty; the experiment runs once")
    for name in grid:
        if name in parameters:
            error("sweep", f"{name!r} is both in parameters and in sweep; keep it in one of them")
    for name in sweep.repeated_values(grid):
        warn("sweep", f"sweep.{name} lists the same value more than once; those experiments run the "
             "same command")  # fmt: skip
    count = sweep.size(grid)
    if before + count > limits.max_experiments:
        already = f"; with the {before} before it, {before + count} in all" if before else ""
        error("sweep", f"the sweep makes {sweep.describe_size(grid)}{already}; the limit is "
              f"{limits.max_experiments} experiments in one output, so nothing was expanded")  # fmt: skip


def _check_lengths(run: str, grid: sweep.Grid, limits: Limits, error: ErrorFn) -> None:
    """The command with its flags must fit the command limit, for a sweep its longest leg. And a
    sweep may not write more than a brain output may hold: 1,000 legs of a 60 KB command would be a
    120 MB experiments.json that every leg reads, from a 60 KB brain output."""
    longest = len(run) + sweep.longest_flags(grid)
    if longest > limits.max_command_chars:
        what = "the longest command of the sweep" if grid else "the command with its parameters"
        error("sweep" if grid else "parameters", f"{what} has {longest} characters; "
              f"the limit is {limits.max_command_chars}")  # fmt: skip
    elif grid and (total := sweep.total_chars(grid, len(run))) > limits.max_brain_bytes:
        error("sweep", f"the sweep's {sweep.size(grid)} commands have {total} characters together; "
              f"the limit is {limits.max_brain_bytes}, what a brain output may hold "
              "(limits.max_brain_bytes)")  # fmt: skip


def reject(out: BrainOutput, goal: str | None, line: int | None, errors: list[Diagnostic]) -> None:
    out.errors.extend(errors)
    out.invalid.append(InvalidItem(line=line, goal=goal, errors=errors))


def slugify(goal: str, length: int = MAX_ID_LENGTH) -> str:
    """A deterministic, artifact-name-safe id from a goal: lowercase ASCII words joined by '-',
    at most `length` characters, cut at a word boundary when there is one."""
    return _slug(goal, length) or "experiment"


def _slug(text: str, length: int) -> str:
    """`slugify` without its fallback: empty when the text has no ASCII letter or digit."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > length:
        cut = slug[:length]
        ends_at_word = slug[length] == "-"
        slug = cut if ends_at_word or "-" not in cut else cut.rsplit("-", 1)[0]
    return slug


def id_base(experiment: Experiment) -> str:
    """The id an experiment would have alone (a sweep's leg: as if its item had only this leg)."""
    return id_bases([experiment])[0]


def id_bases(experiments: list[Experiment]) -> list[str]:
    """The ids before they are made unique. A sweep's leg keeps its values whole and shortens its
    goal instead, so 48 characters still tell the legs apart: `train-lr-0-001-seed-1`, or, when
    the keys leave the goal under SWEEP_GOAL_CHARS, the values alone (`measure-how-the-0-001-1`).
    The legs of one item decide that together — one form, one goal prefix cut for the longest
    tail — so their ids sort and read as one family."""
    bases: list[str] = []
    tails = {id(e): _sweep_tail(e, keys=True) for e in experiments if e.sweep}
    families: dict[tuple[int, str], list[Experiment]] = {}
    for e in experiments:
        if e.sweep:
            families.setdefault((e.line or 0, _sweep_goal(e)), []).append(e)
    room = MAX_ID_LENGTH - 1 - SWEEP_GOAL_CHARS
    width: dict[int, int] = {}
    for family in families.values():
        if any(len(tails[id(e)]) > room for e in family):
            tails.update({id(e): _sweep_tail(e, keys=False) for e in family})
        widest = max(len(tails[id(e)]) for e in family)
        width.update({id(e): widest for e in family})
    for e in experiments:
        if not e.sweep:
            bases.append(slugify(e.goal))
            continue
        tail = tails[id(e)]
        head = (
            _slug(_sweep_goal(e), MAX_ID_LENGTH - 1 - width[id(e)])
            if tail
            else _slug(_sweep_goal(e), MAX_ID_LENGTH)
        )
        bases.append("-".join(part for part in (head, tail) if part) or "experiment")
    return bases


def _sweep_goal(experiment: Experiment) -> str:
    return experiment.goal.removesuffix(" " + sweep.label(experiment.sweep))


def _sweep_tail(experiment: Experiment, keys: bool) -> str:
    """A leg's values as an id's tail: with their keys (`lr-0-001`), or the values alone, cut to
    leave the goal SWEEP_GOAL_CHARS."""
    if keys:
        return _slug(sweep.label(experiment.sweep)[: 4 * MAX_ID_LENGTH], 4 * MAX_ID_LENGTH)
    room = MAX_ID_LENGTH - 1 - SWEEP_GOAL_CHARS
    return _slug(sweep.values_label(experiment.sweep)[: 4 * MAX_ID_LENGTH], room)


def assign_ids(experiments: list[Experiment]) -> None:
    """Ids are slugs of goals (`id_bases`), made unique inside the iteration by a numeric suffix;
    with its suffix an id still has at most MAX_ID_LENGTH characters (the base is cut shorter)."""
    seen: set[str] = set()
    next_suffix: dict[str, int] = {}  # per base: every smaller suffix is taken (linear, not quadratic)
    for experiment, base in zip(experiments, id_bases(experiments), strict=True):
        candidate, n = base, next_suffix.get(base, 2)
        while candidate in seen:
            suffix = f"-{n}"
            candidate = slugify(base, MAX_ID_LENGTH - len(suffix)) + suffix
            n += 1
        next_suffix[base] = n
        seen.add(candidate)
        experiment.id = candidate
