"""The experiment fields a brain may write, declared once.

Each row of `FIELDS` names a key of an `<experiments>` item, the `Experiment` attribute it fills,
the validator that turns the brain's value into that attribute, and the configuration setting used
when the brain leaves it out. The attribute's type and default are the `Experiment` dataclass's
(specs.py), read from it here, so they are written once. The table drives the known keys (an
unknown key is a warning that lists them), the validation of every item (items.py), and, through
the dataclass, `experiments.json`.

A validator is `validate(value, key, error) -> attribute value`: `value` is what the brain wrote
(None when it wrote nothing), and `error(key, message)` records a problem on that key's line.
An optional field left out gets the dataclass default without calling its validator.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..gpus import MAX_GPUS
from ..metrics import DIRECTIONS
from ..retries import parse_retry_on, retries_problem
from ..specs import Experiment
from ..values import MAX_DURATION_TEXT, normalize_setup, parse_duration, runner_labels
from .commands import flag_value
from .safe_yaml import AliasesRefused, load_value

ErrorFn = Callable[[str, str], None]
Validator = Callable[[Any, str, ErrorFn], Any]

FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# --- validators ---------------------------------------------------------------------------------


def _required_text(value: Any, key: str, error: ErrorFn) -> str | None:
    if value is None:
        error(key, f"'{key}' is required")
        return None
    if isinstance(value, (dict, list)):
        error(key, f"'{key}' must be text, not a {type(value).__name__}")
        return None
    text = str(value) if not isinstance(value, str) else value
    if not text.strip():
        error(key, f"'{key}' is empty")
        return None
    if "\x00" in text:
        error(key, f"'{key}' contains a NUL byte")
        return None
    return text.strip() if key == "goal" else text.rstrip("\n")


def _optional_path(value: Any, key: str, error: ErrorFn) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value or "\n" in value:
        error(key, f"'{key}' must be a path on one line")
        return None
    return value.strip()


def _mapping(value: Any, key: str, error: ErrorFn, what: str) -> dict[Any, Any] | None:
    """The brain's mapping for `key` (a string is read as JSON or YAML, by the block's rules), or
    None after an error; `what` says what the mapping maps, for the message."""
    if isinstance(value, str):
        try:
            value = load_value(value)  # the block's own rules: libyaml, no aliases
        except yaml.YAMLError:
            error(key, f"'{key}' must be a mapping (JSON or YAML)")
            return None
        except AliasesRefused:
            error(key, f"'{key}' must not use YAML anchors and aliases (&name, *name)")
            return None
        if value is None:
            return {}
    if not isinstance(value, dict):
        error(key, f"'{key}' must be a mapping of {what}")
        return None
    if _contains_nul(value):
        error(key, f"'{key}' has a NUL byte")
        return None
    return value


def _flag_name(name: str, key: str, error: ErrorFn) -> bool:
    if FLAG_NAME.match(name):
        return True
    error(
        key,
        f"{'parameter name' if key == 'parameters' else f'{key} key'} {name!r} is not a safe flag name "
        "(letters, digits, '_', '-', '.'; starting with a letter or digit)",
    )
    return False


def _parameters(value: Any, key: str, error: ErrorFn) -> dict[str, Any]:
    mapping = _mapping(value, key, error, "flag names to values")
    if mapping is None:
        return {}
    return {str(name): item for name, item in mapping.items() if _flag_name(str(name), key, error)}


def _sweep(value: Any, key: str, error: ErrorFn) -> dict[str, list[Any]]:
    """The values to sweep, key by key: each a non-empty list of scalars (numbers, text, booleans,
    null), because each value becomes one flag of one experiment. `items.add_item` expands them
    (`sweep.legs`); until then the attribute holds this grid, afterwards one leg's values."""
    mapping = _mapping(value, key, error, "flag names to lists of values, e.g. sweep: {lr: [0.001, 0.01]}")
    if mapping is None:
        return {}
    grid: dict[str, list[Any]] = {}
    for name_key, values in mapping.items():
        name = str(name_key)
        if not _flag_name(name, key, error):
            continue
        if not isinstance(values, list):
            example = f"{name}: [{flag_value(values)[:20]}, …]"
            error(key, f"{key}.{name} is a single value; a sweep needs a list of values, e.g. {example}; "
                  "to pass one fixed value use `parameters`")  # fmt: skip
        elif not values:
            error(key, f"{key}.{name} is an empty list; give it at least one value")
        elif nested := [v for v in values if isinstance(v, (dict, list))]:
            kind = "mapping" if isinstance(nested[0], dict) else "list"
            error(key, f"{key}.{name} holds a {kind}; each swept value must be a number, text, "
                  "true/false or null (a list in `parameters` is passed whole, as one flag)")  # fmt: skip
        else:
            grid[name] = values
    return grid


def _timeout(value: Any, key: str, error: ErrorFn) -> int | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None:
        error(
            "timeout",
            f"'timeout' {value!r} is not a positive number of seconds or a duration like 90s, 30m, 2h "
            f"(at most {MAX_DURATION_TEXT})",
        )
    return seconds


def _env(value: Any, key: str, error: ErrorFn) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        error("env", "'env' must be a mapping of variable names to strings")
        return {}
    env: dict[str, str] = {}
    for name_key, item in value.items():
        name = str(name_key)
        if not ENV_NAME.match(name) or name.upper().startswith(("GITHUB_", "ACTIONS_", "RUNNER_")):
            error("env", f"environment variable name {name!r} is not allowed")
            continue
        if isinstance(item, (dict, list)):
            error("env", f"environment variable {name!r} must be a string")
            continue
        text = flag_value(item) if item is not None else ""
        if "\x00" in text:
            error("env", f"environment variable {name!r} contains a NUL byte")
            continue
        env[name] = text
    return env


def _setup(value: Any, key: str, error: ErrorFn) -> str | None:
    """`auto` (build the environment from the project's files), `none`, or a shell command."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        error("setup", "'setup' must be auto, none, or a command")
        return None
    return normalize_setup(value)


def _artifact_globs(value: Any, key: str, error: ErrorFn) -> list[str]:
    """Extra files to keep, as globs relative to the workdir (never absolute, never '..')."""
    if value is None:
        return []
    globs = [value] if isinstance(value, str) else value
    if not isinstance(globs, list) or not all(isinstance(g, str) and g.strip() for g in globs):
        error("artifacts", "'artifacts' must be a glob or a list of globs, relative to the workdir")
        return []
    for pattern in globs:
        if pattern.startswith("/") or ".." in pattern.split("/") or "\x00" in pattern:
            error("artifacts", f"artifact glob {pattern!r} must stay inside the workdir")
            return []
    return [g.strip() for g in globs]


def _runs_on(value: Any, key: str, error: ErrorFn) -> list[str]:
    return runner_labels(value, lambda message: error(key, message))


def _retries(value: Any, key: str, error: ErrorFn) -> int | None:
    problem = retries_problem(value)
    if problem:
        error(key, f"'{key}' {problem}")
        return None
    return int(value)


def _retry_on(value: Any, key: str, error: ErrorFn) -> list[int | str]:
    """Exit codes, signal names, `timeout` and regular expressions (retries.parse_retry_on)."""
    items, problems = parse_retry_on(value)
    for problem in problems:
        error(key, f"'{key}' {problem}")
    return items


def _gpus(value: Any, key: str, error: ErrorFn) -> int | None:
    """`gpus: N`, N a whole number from 0 (GPUs hidden from the experiment) to MAX_GPUS."""
    if value is None:
        return None
    number = value.strip() if isinstance(value, str) else value
    if isinstance(number, str) and number.isascii() and number.isdigit():
        number = int(number) if len(number) <= 6 else MAX_GPUS + 1  # int() refuses 4,301 digits
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
        error(key, f"'gpus' must be a whole number of GPUs (0, 1, 2, …), not {shown}")
        return None
    if number > MAX_GPUS:
        error(key, f"'gpus' asks for {number if number < 10**6 else 'millions of'} GPUs; at most {MAX_GPUS}")
        return None
    return number


def _boolean(value: Any, key: str, error: ErrorFn) -> bool:
    """`true`/`false` (YAML's booleans, or the words in any case)."""
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    if not isinstance(value, bool):
        error(key, f"'{key}' must be true or false")
        return False
    return value


def _metric_directions(value: Any, key: str, error: ErrorFn) -> dict[str, str]:
    """`metrics: {seconds: min, accuracy: max, n_test: ignore}`: which way each metric improves
    (the config's `metrics:` wins over it)."""
    mapping = _mapping(value, key, error, "metric names to max, min or ignore")
    if mapping is None:
        return {}
    directions: dict[str, str] = {}
    for name, direction in mapping.items():
        if direction not in DIRECTIONS:
            error(key, f"{key}.{name}: {flag_value(direction)[:20]!r} is not one of {', '.join(DIRECTIONS)}")
            continue
        directions[str(name)] = direction
    return directions


def _network(value: Any, key: str, error: ErrorFn) -> bool | None:
    """`network: false` cuts the experiment's network; `true` cannot give back what the config cut."""
    if value is None:
        return None
    words = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    if not isinstance(value, bool):
        error(key, "'network' must be true or false")
        return None
    return value


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


# --- the table ----------------------------------------------------------------------------------

_ATTRIBUTES = {f.name: f for f in dataclasses.fields(Experiment)}


@dataclass(frozen=True)
class Field:
    """One experiment field: `key` in the brain output, `attr` on `Experiment`."""

    key: str
    validate: Validator
    description: str  # what the field does, for the brain's-format reference (docs)
    attr: str = ""  # the Experiment attribute; empty: the same as `key`
    required: bool = False
    config: str | None = None  # the Config setting used when the brain leaves it out (dotted)
    default: Callable[[], Any] = field(init=False, repr=False, compare=False)  # a fresh default

    def __post_init__(self) -> None:
        if not self.description.strip():
            raise TypeError(f"experiment field {self.key!r} has no description (the docs are made from it)")
        if not self.attr:
            object.__setattr__(self, "attr", self.key)
        attribute = _ATTRIBUTES.get(self.attr)
        if attribute is None:
            raise TypeError(f"experiment field {self.key!r}: Experiment has no attribute {self.attr!r}")
        if attribute.default_factory is not dataclasses.MISSING:
            object.__setattr__(self, "default", attribute.default_factory)  # a new dict or list each time
        else:
            value = None if attribute.default is dataclasses.MISSING else attribute.default
            object.__setattr__(self, "default", lambda: value)

    @property
    def type(self) -> Any:
        """The attribute's annotation, as written in the dataclass."""
        return _ATTRIBUTES[self.attr].type


FIELDS: tuple[Field, ...] = (
    Field("goal", _required_text, "What the experiment is for, in a sentence.", required=True),
    Field(
        "command",
        _required_text,
        "The shell command, with the project root as the brain sees it.",
        required=True,
    ),
    Field("workdir", _optional_path, "The folder the command runs in (default: the project root)."),
    Field("parameters", _parameters, "A mapping appended to the command as `--key=value` flags."),
    Field(
        "timeout", _timeout, "How long it may run (`90s`, `30m`, `2h`).", attr="timeout_s", config="timeout_s"
    ),
    Field("env", _env, "Environment variables for the command (part of its configuration)."),
    Field("setup", _setup, "`auto`, `none`, or a command that prepares its environment.", config="leg.setup"),
    Field("artifacts", _artifact_globs, "Extra file globs to keep, relative to the workdir."),
    Field("runs_on", _runs_on, "Runner labels, among those the config allows.", config="runs_on"),
    Field("sweep", _sweep, "A grid of values: one experiment per combination, e.g. `{lr: [0.01, 0.1]}`."),
    Field(
        "retries", _retries, "How many times a failed attempt runs again (at most 5).", config="leg.retries"
    ),
    Field(
        "retry_on",
        _retry_on,
        "Exit codes, signals, `timeout` or output patterns that are retried.",
        config="leg.retry_on",
    ),
    Field(
        "gpus", _gpus, "How many GPUs the experiment takes (0 hides them).", config="leg.gpus_per_experiment"
    ),
    Field("baseline", _boolean, "`true`: the configuration the others are compared with."),
    Field("metrics", _metric_directions, "Which way its metrics improve: `{seconds: min, n_test: ignore}`."),
    Field("network", _network, "`false` cuts its network where the sandbox can.", config="leg.network"),
)

KNOWN_KEYS = tuple(f.key for f in FIELDS)
# the fields whose value is a mapping of names (a dict attribute of Experiment): the tolerant reader
# reads their nested lines, and their keys are checked for repeats
MAPPING_KEYS = tuple(f.key for f in FIELDS if str(f.type).startswith("dict"))
