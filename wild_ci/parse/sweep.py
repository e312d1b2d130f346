"""Sweeps: an item's `sweep: {lr: [0.001, 0.01], seed: [1, 2, 3]}` is one experiment per combination
of values (the cartesian product, first key slowest, as `itertools.product`).

Each combination — a *leg* of the sweep — is appended to the item's parameters, so its values reach
the command as `--key=value` flags after the parameters and stay in `Experiment.parameters`, where
results and reports look for them; `Experiment.sweep` keeps which of them were swept. A brain can
write 50 keys of 50 values: everything here that a limit needs (how many legs, the longest command,
all the commands together) is computed from the lists, never by enumerating the product.
"""

from __future__ import annotations

import itertools
import json
import math
import shlex
from collections.abc import Iterator
from typing import Any

from .commands import flag_value

Grid = dict[str, list[Any]]  # key → the values to sweep, as validated (`fields._sweep`)

LABEL_VALUE_CHARS = 32  # of one value in a leg's goal; the whole value is in its parameters
WARNING_FLAG_CHARS = 60  # of the flag quoted in the warning about a list in `parameters`
EXACT_COUNT_UP_TO = 10**15  # larger products are said as "more than 10^15"


def size(grid: Grid) -> int:
    """How many experiments the sweep makes (an int of any size: 50^50 is fine, and instant)."""
    return math.prod(len(values) for values in grid.values())


def describe_size(grid: Grid) -> str:
    """How many experiments, and the lengths that multiply to it (`3 x 3 x 2`, with a times sign);
    past 10^15 the count is said as "more than 10^15", and after eight lengths the rest is elided."""
    count = size(grid)
    lengths = [str(len(values)) for values in grid.values()]
    factors = " × ".join(lengths) if len(lengths) <= 8 else " × ".join(lengths[:8]) + " × …"
    amount = f"{count}" if count <= EXACT_COUNT_UP_TO else "more than 10^15"
    return f"{amount} experiments ({factors})"


def longest_flags(grid: Grid) -> int:
    """Characters the longest leg adds to the command: per key, its longest quoted flag and a space.
    Flags are joined by single spaces, so the longest leg takes the longest flag of every key."""
    return sum(max(len(_flag(key, value)) for value in values) + 1 for key, values in grid.items())


def total_chars(grid: Grid, base: int) -> int:
    """Characters of all the sweep's commands together, each `base` long before its flags: every
    value of a key is in size/len(values) of the legs."""
    count = size(grid)
    flags = sum(
        count // len(values) * sum(len(_flag(key, value)) + 1 for value in values)
        for key, values in grid.items()
    )
    return count * base + flags


def legs(grid: Grid) -> Iterator[dict[str, Any]]:
    """Each combination of values as {key: value}, first key slowest."""
    keys = list(grid)
    for combination in itertools.product(*grid.values()):
        yield dict(zip(keys, combination, strict=True))


def label(values: dict[str, Any]) -> str:
    """What a leg's goal ends with, `lr=0.001 seed=1`: the flags' values as the program gets them,
    quoted when blank or holding spaces so the goal stays one readable line."""
    return " ".join(f"{key}={_label_value(value)}" for key, value in values.items())


def values_label(values: dict[str, Any]) -> str:
    """`0.001 1`: a leg's values without their keys, for an id with no room for the keys."""
    return " ".join(_label_value(value) for value in values.values())


def repeated_values(grid: Grid) -> list[str]:
    """Keys whose list gives the same flag twice (`[1, "1"]`): legs that would run the same command."""
    return [key for key, values in grid.items() if len({flag_value(v) for v in values}) < len(values)]


def list_parameter_warning(name: str, value: list[Any]) -> str:
    """A list in `parameters` is one flag value; the brain most likely meant a sweep (#17)."""
    flag = f"--{name}={flag_value(value)}"
    if len(flag) > WARNING_FLAG_CHARS:
        flag = flag[: WARNING_FLAG_CHARS - 1] + "…"
    return (
        f"parameters.{name} is a list; it is passed as one flag value {flag!r}; "
        "to run one experiment per value use `sweep:`"
    )


def _flag(key: str, value: Any) -> str:
    return shlex.quote(f"--{key}={flag_value(value)}")


def _label_value(value: Any) -> str:
    text = flag_value(value)
    if len(text) > LABEL_VALUE_CHARS:
        text = text[: LABEL_VALUE_CHARS - 1] + "…"
    if not text or any(char.isspace() or not char.isprintable() for char in text):
        return json.dumps(text, ensure_ascii=False)  # a newline becomes \n, a blank value ""
    return text
