"""The data that flows between the stages: parsed experiments, an iteration's specs, and results.

Every stage reads and writes these dataclasses; the JSON files on the session branch
(`experiments.json`, `result.json`, `results.json`) are their serialised form, so other tools can
rely on the field names documented here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from .engines.github.artifact_paths import check_renamed
from .errors import BadInput, PipelineError
from .layout import iteration_label
from .text import visible
from .values import DEFAULT_TIMEOUT_S

T = TypeVar("T")

SPEC_FORMAT = 1
"""The version of `experiments.json` and `results.json` this wild-ci writes, and the newest it reads."""


class Status(str, Enum):
    """How an experiment ended. A `str`, so JSON, templates and comparisons see the bare value."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SETUP_FAILED = "setup_failed"
    CANCELLED = "cancelled"
    MISSING = "missing"  # no artifact came back: the runner died or the leg never ran
    RUNNING = "running"  # what a leg writes first; collect reads a leg that left it as cancelled

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


STATUSES = tuple(status for status in Status if status is not Status.RUNNING)
"""Every status an experiment can end with."""


class FormatTooNew(PipelineError):
    """A file on the branch was written by a newer wild-ci than this one."""


class DamagedRecord(PipelineError):
    """A file wild-ci wrote (experiments.json, results.json) is no longer what it wrote."""


def load_record(text: str | bytes, name: str, build: Callable[[Any], T]) -> T:
    """`build(json.loads(text))`, or DamagedRecord when the file is not JSON of the expected shape
    (edited by hand, truncated, or written by something else). FormatTooNew passes through."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, found {type(data).__name__}")
        return build(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DamagedRecord(
            f"{name} is damaged ({type(exc).__name__}: {exc})",
            hint="restore it from git history (git log -p -- <file>) or submit the iteration again",
        ) from exc


class UnknownExperiment(BadInput):
    """An experiment id that the iteration does not have."""


def check_format(data: dict[str, Any], name: str) -> None:
    """Refuse a file whose format is newer than this wild-ci reads (files without one are format 1)."""
    version = data.get("format", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > SPEC_FORMAT:
        raise FormatTooNew(
            f"{name} was written by a newer wild-ci (format {version}; this one reads up to "
            f"{SPEC_FORMAT}): upgrade wild-ci"
        )


@dataclass(frozen=True)
class Diagnostic:
    """An error or warning about the brain output, tied to a line of it when one is known."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message

    def located(self, source: str, kind: str) -> str:
        """As compilers say it: `brain.md:12: error: …` (`-` is standard input)."""
        source = "<stdin>" if source == "-" else source
        where = f"{source}:{self.line}" if self.line else source
        return visible(f"{where}: {kind}: {self.message}", multiline=False)  # it may quote the brain

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostic:
        return cls(line=data.get("line"), message=str(data.get("message", "")))


@dataclass
class InvalidItem:
    """An item of the brain output that could not be used, kept so the brain learns why."""

    line: int | None
    goal: str | None
    errors: list[Diagnostic] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "goal": self.goal, "errors": [d.to_json() for d in self.errors]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InvalidItem:
        errors = [Diagnostic.from_json(d) for d in data.get("errors", [])]
        return cls(line=data.get("line"), goal=data.get("goal"), errors=errors)


@dataclass
class LeftOut:
    """A path of the working tree the iteration commit does not have, and why (`snapshot.py`)."""

    path: str
    reason: str

    def __str__(self) -> str:
        """For a terminal: a file name may hold control characters, shown escaped."""
        return visible(f"{self.path} ({self.reason})", multiline=False)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeftOut:
        return cls(path=str(data.get("path", "")), reason=str(data.get("reason", "")))


@dataclass
class Experiment:
    """One validated experiment, as the brain asked for it.

    `run` is the final command line: `command` with `parameters` appended as shell-quoted
    `--key=value` flags. An item with a `sweep` becomes one Experiment per combination of values,
    each with its combination in `sweep`, appended to `parameters`, and at the end of its goal.
    `workdir` is as the brain wrote it; the generator maps it into the repository (`repo_workdir`).

    The attributes a brain sets are the rows of `parse.fields.FIELDS` (key in the brain output,
    validator, config default); their type and default are declared here, once. `id`, `run`,
    `line` and `repo_workdir` are derived. `experiments.json` is this dataclass, field by field.
    """

    id: str
    goal: str
    command: str
    run: str
    line: int
    workdir: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    timeout_s: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    setup: str | None = None  # auto | none | a command; None means the iteration's default
    artifacts: list[str] = field(default_factory=list)  # extra globs to keep, relative to workdir
    runs_on: list[str] = field(default_factory=list)  # runner labels; empty: the configured default
    # This experiment's values of the keys its item swept (`sweep:`), e.g. {"lr": 0.001, "seed": 1};
    # they are in `parameters` too (that is where their flags come from). Empty: not part of a sweep.
    sweep: dict[str, Any] = field(default_factory=dict)
    retries: int | None = None  # failed attempts run again (retries.py); None: the configured default
    retry_on: list[int | str] | None = None  # exit codes, signals, `timeout`, patterns; None: configured
    gpus: int | None = None  # GPUs the leg takes for it (gpus.py); None: the config's default
    baseline: bool = False  # the configuration the brain compares the others with
    metrics: dict[str, str] = field(default_factory=dict)  # metric -> max | min | ignore (config wins)
    network: bool | None = None  # False cuts it (where the sandbox can); None: the config's
    repo_workdir: str = "."

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Experiment:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class BrainOutput:
    """What the parser read from one brain output."""

    experiments: list[Experiment] = field(default_factory=list)
    promise: str | None = None
    summary: str | None = None
    plan: str | None = None
    reflection: str | None = None  # `<reflection>`: the answer to `wild-ci loop`'s reflection prompt
    continues: bool | None = None  # `<continue>yes|true</continue>` (any case); None: no such tag
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    invalid: list[InvalidItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "experiments": [e.to_json() for e in self.experiments],
            "promise": self.promise,
            "summary": self.summary,
            "plan": self.plan,
            "reflection": self.reflection,
            "continue": self.continues,
            "errors": [d.to_json() for d in self.errors],
            "warnings": [d.to_json() for d in self.warnings],
            "invalid": [i.to_json() for i in self.invalid],
        }


@dataclass(frozen=True)
class LegSettings:
    """How every leg of an iteration behaves, from the user's configuration."""

    setup: str = "auto"  # auto | none | a command
    setup_timeout_s: int = 30 * 60  # its own budget: building an environment is not the experiment
    max_log_bytes: int = 50 * 1024 * 1024
    max_output_bytes: int = 512 * 1024 * 1024
    retries: int = 0  # an experiment's `retries` when it says none
    retry_on: tuple[int | str, ...] = ()  # its `retry_on` when it says none (the built-ins always apply)
    # GPUs (gpus.py): an experiment's `gpus:` when it says nothing (None: GPUs left as they are),
    # the ids legs may take (None: what the machine has), and the memory use that marks one busy
    gpus_per_experiment: int | None = None
    gpu_pool: tuple[int, ...] | None = None
    gpu_busy_percent: float = 10.0
    # The kernel sandbox (wild_ci/sandbox): auto | required | off; the network (an experiment's
    # `network: false` cuts it for that one); paths let in besides the checkout, read-only or writable
    sandbox: str = "auto"
    network: bool = True
    sandbox_read: tuple[str, ...] = ()
    sandbox_write: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LegSettings:
        """A newer wild-ci's settings this one does not know are left out, not a damaged record."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def __post_init__(self) -> None:  # experiments.json holds lists where these are tuples
        object.__setattr__(self, "retry_on", tuple(self.retry_on))
        object.__setattr__(self, "sandbox_read", tuple(self.sandbox_read))
        object.__setattr__(self, "sandbox_write", tuple(self.sandbox_write))
        if self.gpu_pool is not None:
            object.__setattr__(self, "gpu_pool", tuple(self.gpu_pool))


@dataclass
class IterationSpec:
    """The content of an iteration's `experiments.json` (`layout.SPEC_FILE`): everything a leg needs."""

    session: str
    iteration: int
    project_root: str
    experiments: list[Experiment]
    project_dir: str = "."  # where the brain's project root is inside the repository
    project_root_aliases: list[str] = field(default_factory=list)  # other spellings (symlinks)
    source_commit: str | None = None
    promise: str | None = None
    summary: str | None = None
    plan: str | None = None
    warnings: list[Diagnostic] = field(default_factory=list)
    invalid: list[InvalidItem] = field(default_factory=list)
    default_timeout_s: int = DEFAULT_TIMEOUT_S
    leg: LegSettings = field(default_factory=lambda: LegSettings())
    left_out: list[LeftOut] = field(default_factory=list)  # working-tree paths not in the commit
    submodules: list[str] = field(default_factory=list)  # paths of the commit's submodules
    # config `metrics:` as submitted (name -> max/min): collect ranks with what the user declared,
    # never with a config file the brain could have edited in the snapshot it ran on
    metric_directions: dict[str, str] = field(default_factory=dict)
    code: str | None = None  # the snapshot's tree without .wild/ (configurations.py: "the same code")
    replicate_keys: list[str] = field(default_factory=list)  # config `replicates:`, beside `seed`

    @property
    def label(self) -> str:
        return iteration_label(self.iteration)

    def experiment(self, experiment_id: str) -> Experiment:
        for experiment in self.experiments:
            if experiment.id == experiment_id:
                return experiment
        known = ", ".join(e.id for e in self.experiments) or "none"
        raise UnknownExperiment(f"no experiment {experiment_id!r} in iteration {self.label} (known: {known})")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "session": self.session,
            "iteration": self.iteration,
            "project_root": self.project_root,
            "project_root_aliases": self.project_root_aliases,
            "project_dir": self.project_dir,
            "source_commit": self.source_commit,
            "default_timeout_s": self.default_timeout_s,
            "leg": dataclasses.asdict(self.leg),
            "promise": self.promise,
            "summary": self.summary,
            "plan": self.plan,
            "warnings": [d.to_json() for d in self.warnings],
            "invalid": [i.to_json() for i in self.invalid],
            "left_out": [item.to_json() for item in self.left_out],
            "submodules": self.submodules,
            "metric_directions": self.metric_directions,
            "code": self.code,
            "replicate_keys": self.replicate_keys,
            "experiments": [e.to_json() for e in self.experiments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IterationSpec:
        check_format(data, "experiments.json")
        return cls(
            session=data["session"],
            iteration=int(data["iteration"]),
            project_root=data["project_root"],
            project_dir=data.get("project_dir", "."),
            project_root_aliases=list(data.get("project_root_aliases", [])),
            experiments=[Experiment.from_json(e) for e in data.get("experiments", [])],
            source_commit=data.get("source_commit"),
            promise=data.get("promise"),
            summary=data.get("summary"),
            plan=data.get("plan"),
            warnings=[Diagnostic.from_json(w) for w in data.get("warnings", [])],
            invalid=[InvalidItem.from_json(i) for i in data.get("invalid", [])],
            default_timeout_s=int(data.get("default_timeout_s", DEFAULT_TIMEOUT_S)),
            leg=LegSettings.from_json(data.get("leg", {})),
            left_out=[LeftOut.from_json(item) for item in data.get("left_out", [])],
            submodules=[str(path) for path in data.get("submodules", [])],
            metric_directions=_directions(data.get("metric_directions")),
            code=_text_or_none(data.get("code")),
            replicate_keys=_names(data.get("replicate_keys")),
        )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


MAX_RETRIES = 5
"""The most `retries` an experiment may ask for: a leg makes at most MAX_RETRIES + 1 attempts."""
RETRY_REASON_LIMIT = 500  # characters of an attempt's `retried_because`


@dataclass
class Attempt:
    """One run of an experiment's command, when its experiment allows retries (`retries.py`)."""

    attempt: int  # 1, 2, …
    exit_code: int | None = None
    signal: int | None = None
    status: str = Status.FAILED  # how this attempt ended
    duration_s: float | None = None
    retried_because: str | None = None  # why it was run again; None: it was the last

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ExperimentResult:
    """How one experiment ended. The leg writes it as `result.json`; collect adds the tails."""

    id: str
    goal: str
    command: str
    status: str  # a Status; a leg's own result.json may hold anything until collect checks it
    exit_code: int | None = None
    duration_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    outputs: list[str] = field(default_factory=list)
    runner: str | None = None
    commit: str | None = None
    workdir: str | None = None
    signal: int | None = None
    note: str | None = None
    executed_command: str | None = None  # `command` with the project root mapped onto the checkout
    metrics: dict[str, float] = field(default_factory=dict)
    environment: dict[str, Any] | None = None  # how the leg's Python environment was set up
    cpu_s: float | None = None
    os: str | None = None
    python: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # from the spec: how it was asked to run
    attempts: list[Attempt] = field(default_factory=list)  # each attempt, when retries were allowed
    gpus: list[int] | None = None  # the GPUs it had ([]: hidden by gpus: 0; None: not managed)
    gpu_wait_s: float | None = None  # waiting for them, apart from its duration
    env: dict[str, str] = field(default_factory=dict)  # from the spec: the experiment's `env:`
    baseline: bool = False  # from the spec: the brain's baseline configuration
    checkout: str | None = None  # the project root inside the leg's checkout (its paths in the logs)
    cpus: int | None = None  # CPU cores the leg's machine gave it
    sandbox: str | None = None  # the backend it ran under: bubblewrap | landlock | none (None: older)
    sandbox_note: str | None = None  # without one (or a weaker one than asked): why
    # the attempt the leg stopped before its timeout for the job's time limit on its runner (None: none)
    cut_attempt: int | None = None
    # outputs uploaded under another name (GitHub refuses `:` and others): uploaded -> original
    renamed_outputs: dict[str, str] = field(default_factory=dict)
    # how many outputs the leg kept when the committed record lists only the first (None: all listed)
    outputs_total: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_record(self) -> dict[str, Any]:
        """What results.json commits of it: `to_json` without `renamed_outputs` (collect has put the
        original names back; nothing reads them later) and with at most `COMMITTED_OUTPUTS` output
        names plus their count, so one experiment's outputs cannot swell the committed file."""
        data = self.to_json()
        del data["renamed_outputs"]
        if len(self.outputs) > COMMITTED_OUTPUTS:
            data["outputs"] = self.outputs[:COMMITTED_OUTPUTS]
            data["outputs_total"] = len(self.outputs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExperimentResult:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["attempts"] = [Attempt.from_json(a) for a in values.get("attempts") or []]
        return cls(**values)

    @classmethod
    def from_leg_json(cls, data: Any, experiment: Experiment) -> ExperimentResult:
        """A leg's own `result.json`, checked against the experiment of the spec it belongs to.

        The experiment ran there and may have rewritten the file, so nothing in it is taken on
        trust: identity (id, goal, command, workdir) comes from the spec; each field the leg reports
        must have its type and range (`RESULT_FIELD_CHECKS`) or is dropped; the file must name this
        experiment. A file with any problem cannot vouch for its status: the experiment is `failed`,
        with a note that says what was wrong. A leg that stopped while `running` was `cancelled`.
        """
        result = cls(
            id=experiment.id,
            goal=experiment.goal,
            command=experiment.run,
            status=Status.FAILED,
            workdir=experiment.repo_workdir,
            parameters=dict(experiment.parameters),
            env=dict(experiment.env),
            baseline=experiment.baseline,
        )
        if not isinstance(data, dict):
            result.note = f"result.json is not a JSON object (it holds {_kind(data)})"
            return result
        claimed = data.get("id")
        if claimed != experiment.id:
            named = (
                repr(claimed) if isinstance(claimed, str) and EXPERIMENT_ID.match(claimed) else "no valid id"
            )
            result.note = (
                f"result.json names {named}, not {experiment.id!r}: nothing in it was used, "
                "an experiment's artifact speaks only for that experiment"
            )
            return result
        problems = []
        values: dict[str, Any] = {}
        for name, check in RESULT_FIELD_CHECKS.items():
            if name in data:
                problem = check(data[name])
                if problem:
                    problems.append(f"{name} {problem}")
                else:
                    values[name] = data[name]
        status = values.pop("status", None)
        if "attempts" in values:
            values["attempts"] = [Attempt.from_json(a) for a in values["attempts"]]
        result = dataclasses.replace(result, **values)
        if problems:
            leg_note = f"; the leg's note: {result.note}" if result.note else ""
            result.note = (
                f"result.json was malformed, so its status was not used: {'; '.join(problems)}{leg_note}"
            )
        elif status is None:
            result.note = "result.json has no status"
        elif status == Status.RUNNING:
            result.status = Status.CANCELLED
            result.note = "the leg stopped before the experiment finished"
        else:
            result.status = Status(status)
        return result


EXPERIMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
RESULT_TEXT_LIMIT = 20_000  # characters in one text field of a leg's result.json
RESULT_LIST_LIMIT = 10_000  # outputs, metrics
COMMITTED_OUTPUTS = 200  # output names results.json lists for one experiment (the artifact has them all)


def _kind(value: Any) -> str:
    """What a JSON value is, in words (never the value itself: it is an experiment's text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def finite_number(value: Any) -> bool:
    """A real number JSON can hold: not a bool, not NaN or infinite, not too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _text(optional: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            return f"must be text, not {_kind(value)}"
        return f"is longer than {RESULT_TEXT_LIMIT} characters" if len(value) > RESULT_TEXT_LIMIT else None

    return check


def _whole(low: int, high: int, optional: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number, not {_kind(value)}"
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _seconds(value: Any) -> str | None:
    if value is None:
        return None
    if not finite_number(value):
        return f"must be a number of seconds, not {_kind(value)}"
    return None if 0 <= value <= 10**8 else "must be between 0 and 10^8 seconds"


def _status(value: Any) -> str | None:
    if value in {s.value for s in Status} and isinstance(value, str):
        return None
    return "is not a known status" if isinstance(value, str) else f"must be a status, not {_kind(value)}"


def _texts(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        return "must be a list of text"
    if len(value) > RESULT_LIST_LIMIT or any(len(x) > RESULT_TEXT_LIMIT for x in value):
        return "is too long"
    return None


def _metrics(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object of numbers, not {_kind(value)}"
    if not all(finite_number(v) for v in value.values()):
        return "must hold finite numbers only"
    if len(value) > RESULT_LIST_LIMIT or any(len(k) > 1000 for k in value):
        return "has too many or too long names"
    return None


def _gpu_ids(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 10_000 for x in value
    ):
        return "must be a list of GPU numbers"
    return (
        "must be at most 64 different GPU numbers"
        if len(set(value)) != len(value) or len(value) > 64
        else None
    )


def _object(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict) else f"must be an object, not {_kind(value)}"


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"must be text, not {_kind(value)}"
    return f"is longer than {RETRY_REASON_LIMIT} characters" if len(value) > RETRY_REASON_LIMIT else None


def _ended(value: Any) -> str | None:
    return "must be how the attempt ended, not running" if value == Status.RUNNING else _status(value)


ATTEMPT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "attempt": _whole(1, MAX_RETRIES + 1, optional=False),
    "exit_code": _whole(0, 255),
    "signal": _whole(1, 128),
    "status": _ended,
    "duration_s": _seconds,
    "retried_because": _reason,
}


def _attempts(value: Any) -> str | None:
    """A leg's list of attempts: at most MAX_RETRIES + 1, numbered 1, 2, … in order, each field checked."""
    if not isinstance(value, list):
        return f"must be a list, not {_kind(value)}"
    if len(value) > MAX_RETRIES + 1:
        return f"has {len(value)} entries; a leg makes at most {MAX_RETRIES + 1} attempts"
    for number, item in enumerate(value, 1):
        if not isinstance(item, dict):
            return f"entry {number} must be an object, not {_kind(item)}"
        if "status" not in item:
            return f"entry {number} has no status"
        for name, check in ATTEMPT_CHECKS.items():
            problem = check(item.get(name))
            if problem:
                return f"entry {number}: {name} {problem}"
        if item["attempt"] != number:
            return f"entry {number} is numbered {item['attempt']}"
    return None


RESULT_FIELD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "status": _status,
    "exit_code": _whole(0, 255),
    "duration_s": _seconds,
    "cpu_s": _seconds,
    "started_at": _text(),
    "finished_at": _text(),
    "stdout_bytes": _whole(0, 2**62, optional=False),
    "stderr_bytes": _whole(0, 2**62, optional=False),
    "outputs": _texts,
    "runner": _text(),
    "commit": _text(),
    "signal": _whole(1, 128),
    "note": _text(),
    "executed_command": _text(),
    "metrics": _metrics,
    "environment": _object,
    "os": _text(),
    "python": _text(),
    "attempts": _attempts,
    "gpus": _gpu_ids,
    "gpu_wait_s": _seconds,
    "checkout": _text(),
    "cpus": _whole(1, 1 << 20),
    "sandbox": _text(),
    "sandbox_note": _text(),
    "cut_attempt": _whole(1, MAX_RETRIES + 1),
    "renamed_outputs": check_renamed,
}
"""What a leg may report about its experiment, each with its check (None: fine, else the problem).
The other fields of `ExperimentResult` come from the spec (id, goal, command, workdir, parameters) or from the
leg's logs (the tails), never from result.json."""


@dataclass
class IterationResults:
    """The content of an iteration's `results.json` (`layout.RESULTS_JSON`)."""

    session: str
    iteration: int
    commit: str | None
    experiments: list[ExperimentResult]
    promise: str | None = None
    warnings: list[Diagnostic] = field(default_factory=list)
    invalid: list[InvalidItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what collecting found beside the legs
    left_out: list[LeftOut] = field(default_factory=list)  # from the spec: not in the snapshot
    metric_directions: dict[str, str] = field(default_factory=dict)  # from the spec: config `metrics:`
    code: str | None = None  # from the spec: the code the experiments ran (configurations.py)
    replicate_keys: list[str] = field(default_factory=list)  # from the spec: config `replicates:`
    project_root: str | None = None  # from the spec: the root the brain sees (None: older results)
    project_dir: str = "."  # from the spec: where that root is inside the repository

    @property
    def label(self) -> str:
        return iteration_label(self.iteration)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for result in self.experiments:
            counts[result.status] = counts.get(result.status, 0) + 1
        return {status: n for status, n in counts.items() if n}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "session": self.session,
            "iteration": self.iteration,
            "commit": self.commit,
            "counts": self.counts(),
            "promise": self.promise,
            "warnings": [d.to_json() for d in self.warnings],
            "invalid": [i.to_json() for i in self.invalid],
            "notes": self.notes,
            "left_out": [item.to_json() for item in self.left_out],
            "metric_directions": self.metric_directions,
            "code": self.code,
            "replicate_keys": self.replicate_keys,
            "project_root": self.project_root,
            "project_dir": self.project_dir,
            "experiments": [r.to_record() for r in self.experiments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IterationResults:
        check_format(data, "results.json")
        return cls(
            session=data["session"],
            iteration=int(data["iteration"]),
            commit=data.get("commit"),
            experiments=[ExperimentResult.from_json(r) for r in data.get("experiments", [])],
            promise=data.get("promise"),
            warnings=[Diagnostic.from_json(w) for w in data.get("warnings", [])],
            invalid=[InvalidItem.from_json(i) for i in data.get("invalid", [])],
            notes=[str(n) for n in data.get("notes", [])],
            left_out=[LeftOut.from_json(item) for item in data.get("left_out", [])],
            metric_directions=_directions(data.get("metric_directions")),
            code=_text_or_none(data.get("code")),
            replicate_keys=_names(data.get("replicate_keys")),
            project_root=data["project_root"] if isinstance(data.get("project_root"), str) else None,
            project_dir=data["project_dir"] if isinstance(data.get("project_dir"), str) else ".",
        )


def _directions(data: Any) -> dict[str, str]:
    """Recorded metric directions (`metric_directions`), keeping only well-formed entries: a file
    without them (older wild-ci) or with a damaged entry ranks by guessing, as before."""
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(k, str) and v in ("max", "min", "ignore")}


@dataclass(frozen=True)
class Conclusion:
    """What a session concluded: its last iteration said DONE; its summary, and the answer to the
    reflection `wild-ci loop` asked on that DONE (reflection.md), when there was one."""

    iteration: int
    summary: str | None
    reflection: str | None = None  # the `<reflection>` text (else the whole answer)
    continues: bool | None = None  # its `<continue>`: None when there was no reflection, or no tag

    def to_json(self) -> dict[str, object]:
        return {
            "iteration": self.iteration,
            "summary": self.summary,
            "reflection": self.reflection,
            "continue": self.continues,
        }
