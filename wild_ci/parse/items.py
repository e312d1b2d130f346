"""One `<experiments>` item → one validated `Experiment` (or an `InvalidItem` that says why), and
the ids of an iteration's experiments. What each field accepts is declared in `fields.FIELDS`."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..config import Limits
from ..specs import BrainOutput, Diagnostic, Experiment, InvalidItem
from .commands import final_command, flag_position_problem, open_quote
from .fields import FIELDS, KNOWN_KEYS

MAX_ID_LENGTH = 48
_REQUIRED = tuple(f for f in FIELDS if f.required)  # checked first: the command's length needs it
_OPTIONAL = tuple(f for f in FIELDS if not f.required)
_KNOWN = frozenset(KNOWN_KEYS)
_KNOWN_LIST = ", ".join(KNOWN_KEYS)


def add_item(item: Any, item_line: int, key_lines: dict[str, int], out: BrainOutput, limits: Limits) -> None:
    """Validate one item and add it to `out`: as an experiment, or as an invalid item with its errors."""
    if not isinstance(item, dict):
        message = "an experiment must be a mapping with 'goal' and 'command'"
        reject(out, None, item_line, [Diagnostic(item_line, message)])
        return
    errors: list[Diagnostic] = []

    def error(key: str, message: str) -> None:
        errors.append(Diagnostic(key_lines.get(key, item_line), message))

    for key in item:
        if str(key) not in _KNOWN:
            out.warnings.append(
                Diagnostic(
                    key_lines.get(str(key), item_line),
                    f"unknown key {str(key)!r} was ignored (known: {_KNOWN_LIST})",
                )
            )
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
    quote = open_quote(command) if command is not None and len(command) <= limits.max_command_chars else None
    if quote is not None:
        where = f" (opened on its line {quote[1]})" if "\n" in (command or "") else ""
        error("command", f"the command has an unmatched {quote[0]} quote{where}: bash would refuse it; "
              "close the quote or escape it")  # fmt: skip
    elif command is not None and parameters:
        problem = flag_position_problem(command)
        if problem:
            error("command", f"the parameters cannot be appended: {problem}")
    run = final_command(command, parameters) if command is not None else ""
    if len(run) > limits.max_command_chars and not errors:
        error("parameters", f"the command with its parameters has {len(run)} characters; "
              f"the limit is {limits.max_command_chars}")  # fmt: skip
    if errors or goal is None or command is None:
        reject(out, goal, item_line, errors)
        return
    out.experiments.append(Experiment(id="", run=run, line=item_line, **values))


def reject(out: BrainOutput, goal: str | None, line: int | None, errors: list[Diagnostic]) -> None:
    out.errors.extend(errors)
    out.invalid.append(InvalidItem(line=line, goal=goal, errors=errors))


def slugify(goal: str, length: int = MAX_ID_LENGTH) -> str:
    """A deterministic, artifact-name-safe id from a goal: lowercase ASCII words joined by '-',
    at most `length` characters, cut at a word boundary when there is one."""
    ascii_text = unicodedata.normalize("NFKD", goal).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > length:
        cut = slug[:length]
        ends_at_word = slug[length] == "-"
        slug = cut if ends_at_word or "-" not in cut else cut.rsplit("-", 1)[0]
    return slug or "experiment"


def assign_ids(experiments: list[Experiment]) -> None:
    """Ids are slugs of goals, made unique inside the iteration by a numeric suffix; with its
    suffix an id still has at most MAX_ID_LENGTH characters (the base is cut shorter)."""
    seen: set[str] = set()
    next_suffix: dict[str, int] = {}  # per base: every smaller suffix is taken (linear, not quadratic)
    for experiment in experiments:
        base = slugify(experiment.goal)
        candidate, n = base, next_suffix.get(base, 2)
        while candidate in seen:
            suffix = f"-{n}"
            candidate = slugify(base, MAX_ID_LENGTH - len(suffix)) + suffix
            n += 1
        next_suffix[base] = n
        seen.add(candidate)
        experiment.id = candidate
