"""Project configuration: the optional, committed config file (`layout.CONFIG_PATH`).

It holds a project's defaults so that every `wild-ci submit`/`run` does not need the same flags.
Command-line flags win over the file, and the file over built-in defaults. Unknown keys and wrong
types are errors that name the line, because a silently ignored setting is worse than none.

```yaml
project_root: /home/researcher/project   # the absolute path the brain's commands use
timeout: 2h                              # default per-experiment timeout
runs_on: ubuntu-latest                   # runner label for the jobs
max_parallel: 8                          # legs at once per matrix (default: local cores; GitHub: no cap)
trigger: push                            # push (default) or pull_request: the event that starts a run
runner_labels: [[self-hosted, gpu]]      # label sets a brain's runs_on may ask for (besides runs_on)
install_spec: "git+https://github.com/you/wild-ci@v0.1.0"   # how runners get wild-ci
github_server_url: https://github.com    # where the repository lives (a GitHub Enterprise Server: refused)
setup: auto                              # auto | none | a command, before each experiment
setup_timeout: 30m                       # its own time budget, apart from the experiment's
max_log_bytes: 52428800                  # per log (stdout, stderr); the end is always kept
max_output_bytes: 536870912              # outputs kept per experiment
context_budget: 20000                    # characters of experiment_results for the brain
context_format: wild-ci                  # wild-ci (default) or wild-v2: the original Wild V2 brain's markdown
metrics: {accuracy: max, loss: min}      # which way each metric improves (others: guessed from the name)
retries: 0                               # an experiment's retries when it says none (at most 5)
retry_on: [SIGSEGV, "Connection reset"]  # exit codes, signals, timeout, output patterns (plus the built-ins)
snapshot:                                # what the iteration commit takes from the working tree
  include: [".env.test"]                 # let in what looks secret or is too big
  exclude: ["scratch/*", "*.ckpt"]       # leave out more (wins over include)
  max_file_bytes: 52428800               # per file (50 MB)
  max_total_bytes: 524288000             # what one iteration may add in all (else: refused)
gpus_per_experiment: 0                   # GPUs of an experiment that does not say (unset: untouched)
gpus: [0, 1]                             # GPUs legs may take (default: nvidia-smi's; $WILD_CI_GPUS wins)
gpu_busy_percent: 10                     # a GPU with more of its memory in use by others is skipped
gpu_runs_on: [self-hosted, gpu]          # the runner label set of experiments with gpus > 0 (GitHub)
gpu_runner_gpus: 4                       # how many GPUs such a runner has (more is refused at submit)
self_hosted_labels: [arc-gpu]            # labels of self-hosted runners that lack `self-hosted` (GitHub)
sandbox: auto                            # auto | required | off: the kernel sandbox (docs/safety.md)
network: true                            # false: no experiment reaches the network (where it can be cut)
sandbox_paths:                           # let in besides the checkout (absolute): read-only unless said
  - /data/imagenet
  - {path: /scratch/cache, writable: true}
limits:
  max_brain_bytes: 5242880
  max_experiments: 1000                  # above 256, legs are sharded into several matrices
  max_command_chars: 65536
```
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import ledger
from .errors import BadInput, UsageError
from .gpus import MAX_GPUS
from .layout import CONFIG_PATH
from .metrics import DIRECTIONS, Direction
from .retries import parse_retry_on, retries_problem
from .snapshot import SnapshotRules
from .specs import LegSettings
from .values import (
    DEFAULT_TIMEOUT_S,
    MAX_DURATION_TEXT,
    RUNNER_LABEL,
    normalize_setup,
    parse_duration,
    runner_labels,
    unsupported_runner,
    workflow_safe,
)

SANDBOX_MODES = ("auto", "required", "off")  # wild_ci.sandbox.MODES (not imported: the CLI stays light)
DEFAULT_MAX_EXPERIMENTS = 1000  # a brain that asks for more is more likely confused than ambitious
TRIGGERS = ("push", "pull_request")
# how experiments are confined (issue 23): the strongest sandbox available, one or refuse, none
SANDBOX_MODES = ("auto", "required", "off")
DEFAULT_INSTALL_SPEC = ""  # no published package yet: set install_spec to run on GitHub
DEFAULT_CONTEXT_BUDGET = 20_000  # characters of experiment_results for the brain
# How the results are handed to the brain: wild-ci's experiment_results block, or the markdown the
# original Wild V2 prompt expects (`## Results from Previous Experiments`), so its prompts work unchanged.
CONTEXT_FORMATS = ("wild-ci", "wild-v2")
GITHUB_SERVER_URL = "https://github.com"
# GitHub Enterprise Cloud with data residency (<name>.ghe.com) has what github.com has; a GitHub
# Enterprise Server does not support actions/upload-artifact v4+ (docs/github-conformance.md).
GHE_CLOUD_SUFFIX = ".ghe.com"


class ConfigError(BadInput):
    """The config file is not valid; the message names the file and line."""


@dataclass(frozen=True)
class Limits:
    """Guards against runaway brain outputs; defaults a user would not hit by accident."""

    max_brain_bytes: int = 5 * 1024 * 1024
    max_experiments: int = DEFAULT_MAX_EXPERIMENTS
    max_command_chars: int = 64 * 1024


@dataclass(frozen=True)
class Config:
    """Everything about a run that comes from the user, never from the brain."""

    project_root: str | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S
    runs_on: str = "ubuntu-latest"
    max_parallel: int | None = None  # None: the machine's cores under act; no cap on GitHub
    trigger: str = "push"
    runner_labels: tuple[tuple[str, ...], ...] = ()  # label sets a brain's `runs_on` may name
    install_spec: str = DEFAULT_INSTALL_SPEC
    limits: Limits = field(default_factory=Limits)
    leg: LegSettings = field(default_factory=LegSettings)
    context_budget: int = DEFAULT_CONTEXT_BUDGET
    context_format: str = CONTEXT_FORMATS[0]
    snapshot: SnapshotRules = field(default_factory=SnapshotRules)
    github_server_url: str = GITHUB_SERVER_URL
    metrics: dict[str, Direction] = field(default_factory=dict)  # declared directions, by metric name
    replicates: tuple[str, ...] = ()  # parameter names that only replicate a run, beside `seed`
    gpu_runs_on: tuple[str, ...] = ()  # the runner label set of experiments with gpus > 0
    gpu_runner_gpus: int | None = None  # how many GPUs a gpu_runs_on runner has (None: not checked)
    sandbox: str = SANDBOX_MODES[0]  # auto | required | off (issue 23; docs/safety.md)
    # labels that pick a self-hosted runner without the `self-hosted` label (an Actions Runner
    # Controller scale set is named alone): its jobs get the self-hosted time limit (#25)
    self_hosted_labels: tuple[str, ...] = ()

    def allowed_label_sets(self) -> set[frozenset[str]]:
        """What a brain's `runs_on` may be, as a whole: `[self-hosted]` alone would match every
        self-hosted runner, so allowing `[self-hosted, gpu]` does not allow any part of it."""
        sets = {frozenset([self.runs_on]), *(frozenset(labels) for labels in self.runner_labels)}
        return sets | {frozenset(self.gpu_runs_on)} if self.gpu_runs_on else sets

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with the given settings replaced; None means 'not given'."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given)


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line, as typed; None means not given. They win over the file."""

    project_root: str | None = None
    timeout: str | None = None
    runs_on: str | None = None
    install_spec: str | None = None
    max_parallel: int | None = None
    setup: str | None = None
    context_format: str | None = None

    def applied_to(self, config: Config) -> Config:
        """`config` with these settings checked and put in; a bad one raises UsageError."""
        timeout_s = None
        if self.timeout is not None:
            timeout_s = parse_duration(self.timeout)
            if timeout_s is None:
                raise UsageError(f"--timeout {self.timeout!r} is not seconds or a duration like 90s, 30m, 2h")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise UsageError("--max-parallel must be positive")
        if self.project_root is not None and not self.project_root.startswith("/"):
            raise UsageError("--project-root must be an absolute path")
        for flag, value in (("--install-spec", self.install_spec), ("--runs-on", self.runs_on)):
            if value is not None:
                workflow_safe(value, flag, lambda _key, message: UsageError(message))
        if self.context_format is not None and self.context_format not in CONTEXT_FORMATS:
            raise UsageError(f"--format must be one of: {', '.join(CONTEXT_FORMATS)}")
        refused = unsupported_runner([self.runs_on] if self.runs_on else [])
        if refused:
            raise UsageError(f"--runs-on: {refused}")
        if self.setup is not None:
            config = config.with_overrides(
                leg=dataclasses.replace(config.leg, setup=normalize_setup(self.setup))
            )
        return config.with_overrides(
            project_root=self.project_root,
            install_spec=self.install_spec,
            runs_on=self.runs_on,
            max_parallel=self.max_parallel,
            timeout_s=timeout_s,
            context_format=self.context_format,
        )


def load_config(repo_root: Path) -> Config:
    """Read the config file (`CONFIG_PATH`) from a folder (defaults when absent)."""
    path = repo_root / CONFIG_PATH
    if not path.is_file():
        return Config()
    return parse_config(path.read_text(encoding="utf-8", errors="replace"), str(path))


def committed_config(repo: Any, ref: str = "HEAD") -> Config:
    """The configuration as committed at `ref` (HEAD; the inbox reads the default branch's): the
    working tree is what the brain edits, and a setting that reaches the workflow (install_spec,
    runs_on, runner_labels) must not come from the brain. A repository without commits has no
    committed configuration: defaults, and a message when the working tree holds one."""
    commit = ledger.resolve(repo, ref)
    if commit is None and ref == "HEAD":
        if (ledger.work_tree(repo) / CONFIG_PATH).is_file():
            print(
                f"wild-ci: the repository has no commits yet, so {CONFIG_PATH} is not read (only a "
                "committed config counts); using the defaults",
                file=sys.stderr,
            )
        return Config()
    if commit is None:
        raise ConfigError(f"{ref} names no commit to read {CONFIG_PATH} from")
    data = ledger.read_file(repo, commit, CONFIG_PATH)
    if data is None:
        return Config()
    return parse_config(data.decode("utf-8", errors="replace"), f"{ref}:{CONFIG_PATH}")


def parse_config(text: str, where: str) -> Config:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise ConfigError(f"{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}:1: expected a mapping of settings")
    lines = _key_lines(node)
    return _config_from(data, lambda key, msg: ConfigError(f"{where}:{lines.get(key, 1)}: {msg}"))


CONFIG_KEYS: dict[str, str] = {
    "project_root": "The absolute path the brain's commands use for the project (default: the repository's).",
    "timeout": "Default per-experiment timeout (`90s`, `30m`, `2h`; default 60 min).",
    "runs_on": "Runner label for the jobs (default `ubuntu-latest`).",
    "max_parallel": "Legs at once per matrix (default: the machine's cores under act; no cap on GitHub).",
    "trigger": "`push` (default) or `pull_request`: the event that starts a run.",
    "runner_labels": "Label sets a brain's `runs_on` may name besides `runs_on`: `[[self-hosted, gpu]]`.",
    "install_spec": "What runners `pip install` to get wild-ci (a version, a git URL).",
    "github_server_url": "Where the repository lives (`https://github.com`; Enterprise Server is refused).",
    "setup": "`auto` (default), `none` or a command, run before each experiment to build its environment.",
    "setup_timeout": "The set-up's own time budget, apart from the experiment's (default 30 min).",
    "max_log_bytes": "Bytes kept per log (stdout, stderr); the beginning and the end are always kept.",
    "max_output_bytes": "Bytes of output files kept per experiment.",
    "context_budget": "Characters of `experiment_results` for the brain (default 20,000).",
    "context_format": "`wild-ci` (default) or `wild-v2`: the original Wild V2 brain's markdown.",
    "metrics": "Which way each metric improves: `{accuracy: max, loss: min, n_test: ignore}`.",
    "replicates": "Parameters whose runs are replicates of one configuration, besides `seed`, e.g. `[fold]`.",
    "retries": "An experiment's retries when it says none (at most 5).",
    "retry_on": "Exit codes, signals, `timeout` and output patterns retried (beside the built-ins).",
    "snapshot": "What the iteration commit takes from the working tree: `include`, `exclude`, size limits.",
    "gpus_per_experiment": "GPUs of an experiment that does not say (unset: GPUs are not managed).",
    "gpus": "The GPUs legs may take (default: what nvidia-smi lists; `$WILD_CI_GPUS` wins).",
    "gpu_busy_percent": "A GPU with more of its memory in use by other processes is skipped (default 10).",
    "gpu_runs_on": "The runner label set of experiments with `gpus` > 0 (GitHub).",
    "gpu_runner_gpus": "How many GPUs such a runner has (asking for more is refused at submit).",
    "self_hosted_labels": "Labels that pick self-hosted runners without the `self-hosted` label (a runner "
    "scale set's name): their jobs may run 5 days, not GitHub-hosted runners' 6 h.",
    "limits": "Bounds on a brain output: `max_brain_bytes`, `max_experiments`, `max_command_chars`.",
    "sandbox": "`auto` (default: the strongest sandbox here), `required` or `off` (see the safety page).",
    "network": "`false` cuts every experiment's network where the sandbox can (default: on).",
    "sandbox_paths": "Paths let into every sandbox, read-only unless `writable: true` (data, a model cache).",
}
"""Every key of the config file with what it does: the docs' reference is generated from it, and a
key the reader accepts without a description fails a test."""


def _config_from(data: dict[str, Any], error: Any) -> Config:
    known = set(CONFIG_KEYS)
    for key in data:
        if key not in known:
            raise error(key, f"unknown setting {key!r} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    if "project_root" in data:
        root = data["project_root"]
        if not isinstance(root, str) or not root.startswith("/"):
            raise error("project_root", "project_root must be an absolute path")
        values["project_root"] = root.rstrip("/") or "/"
    if "timeout" in data:
        values["timeout_s"] = _duration(data, "timeout", error)
    for key in ("runs_on", "install_spec"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise error(key, f"{key} must be a non-empty string")
            values[key] = workflow_safe(data[key].strip(), key, error)
    if "runs_on" in values and not RUNNER_LABEL.match(values["runs_on"]):
        raise error("runs_on", "runs_on must be a runner label (letters, digits, '.', '_', '-')")
    if "runs_on" in values and unsupported_runner([values["runs_on"]]):
        raise error("runs_on", unsupported_runner([values["runs_on"]]))
    if "github_server_url" in data:
        values["github_server_url"] = _server_url(data["github_server_url"], error)
    if "context_budget" in data:
        values["context_budget"] = _positive_int(data["context_budget"], "context_budget", error)
    if "context_format" in data:
        if data["context_format"] not in CONTEXT_FORMATS:
            raise error("context_format", f"context_format must be one of: {', '.join(CONTEXT_FORMATS)}")
        values["context_format"] = data["context_format"]
    if "max_parallel" in data:
        values["max_parallel"] = _positive_int(data["max_parallel"], "max_parallel", error)
    if "runner_labels" in data:
        values["runner_labels"] = _label_sets(data["runner_labels"], error)
    if "sandbox" in data:
        mode = "off" if data["sandbox"] is False else data["sandbox"]  # YAML 1.1 reads `off` as false
        if mode not in SANDBOX_MODES:
            raise error("sandbox", f"sandbox must be one of: {', '.join(SANDBOX_MODES)}")
        values["sandbox"] = mode
    if "trigger" in data:
        if data["trigger"] not in TRIGGERS:
            raise error("trigger", f"trigger must be one of: {', '.join(TRIGGERS)}")
        values["trigger"] = data["trigger"]
    if "limits" in data:
        values["limits"] = _limits_from(data["limits"], error)
    if "snapshot" in data:
        values["snapshot"] = _snapshot_from(data["snapshot"], error)
    if "metrics" in data:
        values["metrics"] = _metric_directions(data["metrics"], error)
    if "gpu_runs_on" in data:
        values["gpu_runs_on"] = _gpu_runs_on(data["gpu_runs_on"], error)
    if "replicates" in data:
        values["replicates"] = _replicate_keys(data["replicates"], error)
    if "gpu_runner_gpus" in data:
        values["gpu_runner_gpus"] = _positive_int(data["gpu_runner_gpus"], "gpu_runner_gpus", error)
    if "self_hosted_labels" in data:
        values["self_hosted_labels"] = _self_hosted_labels(data["self_hosted_labels"], error)
    leg = _leg_settings(data, error)
    if leg:
        values["leg"] = LegSettings(**leg)
    return Config(**values)


def _leg_settings(data: dict[str, Any], error: Any) -> dict[str, Any]:
    """The settings every leg reads from the iteration's spec (`LegSettings`), as given."""
    leg: dict[str, Any] = {}
    if "setup" in data:
        if not isinstance(data["setup"], str) or not data["setup"].strip():
            raise error("setup", "setup must be auto, none, or a command")
        leg["setup"] = normalize_setup(data["setup"])
    if "setup_timeout" in data:
        leg["setup_timeout_s"] = _duration(data, "setup_timeout", error)
    for key in ("max_log_bytes", "max_output_bytes"):
        if key in data:
            leg[key] = _positive_int(data[key], key, error)
    if "retries" in data:
        problem = retries_problem(data["retries"])
        if problem:
            raise error("retries", f"retries {problem}")
        leg["retries"] = data["retries"]
    if "retry_on" in data:
        items, problems = parse_retry_on(data["retry_on"])
        if problems:
            raise error("retry_on", f"retry_on {problems[0]}")
        leg["retry_on"] = tuple(items)
    leg.update(_gpu_leg_settings(data, error))
    leg.update(_sandbox_settings(data, error))
    return leg


def _sandbox_settings(data: dict[str, Any], error: Any) -> dict[str, Any]:
    """`sandbox`, `network` and `sandbox_paths`: what the kernel sandbox lets a leg do
    (wild_ci/sandbox). The user's, in the config: a brain's text never widens it."""
    leg: dict[str, Any] = {}
    if "sandbox" in data:
        if data["sandbox"] is False:  # YAML 1.1 reads a bare `off` as false
            data = {**data, "sandbox": "off"}
        if not isinstance(data["sandbox"], str) or data["sandbox"] not in SANDBOX_MODES:
            raise error("sandbox", f"sandbox must be one of {', '.join(SANDBOX_MODES)}")
        leg["sandbox"] = data["sandbox"]
    if "network" in data:
        if not isinstance(data["network"], bool):
            raise error("network", "network must be true or false")
        leg["network"] = data["network"]
    if "sandbox_paths" in data:
        read, write = _sandbox_paths(data["sandbox_paths"], error)
        leg["sandbox_read"], leg["sandbox_write"] = read, write
    return leg


def _sandbox_paths(value: Any, error: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Absolute paths, each a string (read-only) or `{path: ..., writable: true}`."""
    message = "sandbox_paths must be a list of absolute paths or {path: /abs, writable: true}"
    if not isinstance(value, list):
        raise error("sandbox_paths", message)
    read: list[str] = []
    write: list[str] = []
    for item in value:
        path, writable = (item, False) if isinstance(item, str) else _path_item(item)
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or "\x00" in path
            or not isinstance(writable, bool)
        ):
            raise error("sandbox_paths", message)
        (write if writable else read).append(path)
    return tuple(read), tuple(write)


def _path_item(item: Any) -> tuple[Any, Any]:
    if not isinstance(item, dict) or set(item) - {"path", "writable"}:
        return None, False
    return item.get("path"), item.get("writable", False)


def _metric_directions(data: Any, error: Any) -> dict[str, Direction]:
    """`metrics`: metric name → max or min, the way it improves (undeclared names are guessed)."""
    example = "{accuracy: max, loss: min, n_test: ignore}"
    message = f"metrics must map metric names to {', '.join(DIRECTIONS)}, e.g. {example}"
    if not isinstance(data, dict):
        raise error("metrics", message)
    directions = {}
    for name, direction in data.items():
        if not isinstance(name, str) or not name.strip() or direction not in DIRECTIONS:
            raise error("metrics", message)
        directions[name] = Direction(direction)
    return directions


def _replicate_keys(data: Any, error: Any) -> tuple[str, ...]:
    """`replicates: [seed, fold]`: parameters whose runs are replicates of one configuration."""
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(name, str) and name.strip() for name in data):
        raise error("replicates", "replicates must be a list of parameter names, e.g. [seed, fold]")
    return tuple(name.strip() for name in data)


def _gpu_leg_settings(data: dict[str, Any], error: Any) -> dict[str, Any]:
    """`gpus_per_experiment`, `gpus` (the pool) and `gpu_busy_percent`: what every leg reads from
    the iteration's spec (gpus.py)."""
    leg: dict[str, Any] = {}
    if "gpus_per_experiment" in data:
        value = data["gpus_per_experiment"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GPUS:
            raise error(
                "gpus_per_experiment", f"gpus_per_experiment must be a whole number from 0 to {MAX_GPUS}"
            )
        leg["gpus_per_experiment"] = value
    if "gpus" in data:
        pool = data["gpus"]
        if (
            not isinstance(pool, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 10_000 for i in pool)
            or len(set(pool)) != len(pool)
        ):
            raise error("gpus", "gpus must be a list of GPU numbers, each once, e.g. [0, 1] ([] for none)")
        leg["gpu_pool"] = tuple(pool)
    if "gpu_busy_percent" in data:
        percent = data["gpu_busy_percent"]
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise error("gpu_busy_percent", "gpu_busy_percent must be a number from 0 to 100")
        leg["gpu_busy_percent"] = float(percent)
    return leg


def _gpu_runs_on(value: Any, error: Any) -> tuple[str, ...]:
    """`gpu_runs_on`: one runner label set (a label or a list), like a brain's `runs_on`."""
    problems: list[str] = []
    labels = runner_labels(value, problems.append)
    if problems:
        raise error("gpu_runs_on", problems[0].replace("'runs_on'", "gpu_runs_on"))
    return tuple(sorted(set(labels)))


def _self_hosted_labels(value: Any, error: Any) -> tuple[str, ...]:
    """`self_hosted_labels`: runner labels (a label or a list), each as `runs_on` takes one."""
    problems: list[str] = []
    labels = runner_labels(value, problems.append)
    if problems:
        raise error("self_hosted_labels", problems[0].replace("'runs_on'", "self_hosted_labels"))
    return tuple(sorted({label.lower() for label in labels}))


def _label_sets(data: Any, error: Any) -> tuple[tuple[str, ...], ...]:
    """`runner_labels`: a list whose entries are a label or a list of labels (one runner's set)."""
    message = (
        "runner_labels must be a list of label sets, e.g. [[self-hosted, gpu], big-cpu] "
        "(labels: letters, digits, '.', '_', '-')"
    )
    if not isinstance(data, list):
        raise error("runner_labels", message)
    sets = []
    for entry in data:
        labels = entry if isinstance(entry, list) else [entry]
        if not labels or not all(isinstance(x, str) and RUNNER_LABEL.match(x) for x in labels):
            raise error("runner_labels", message)
        refused = unsupported_runner(labels)
        if refused:
            raise error("runner_labels", refused)
        sets.append(tuple(sorted(set(labels))))
    return tuple(sets)


def _server_url(value: Any, error: Any) -> str:
    """`github_server_url`: where the repository is hosted, https://github.com unless said otherwise."""
    url = value.strip().rstrip("/") if isinstance(value, str) else ""
    host = url.removeprefix("https://").split("/")[0]
    if not url.startswith("https://") or url.count("/") != 2 or not host:
        raise error(
            "github_server_url", "github_server_url must be a server's address, e.g. https://github.com"
        )
    return url


def refuse_unsupported_server(config: Config) -> None:
    """Before anything is committed for GitHub (`submit`, `init`): a GitHub Enterprise Server cannot
    run the workflow, because every leg uploads its results with actions/upload-artifact v4+, which
    GitHub Enterprise Server does not support. github.com and GitHub Enterprise Cloud with data
    residency (<name>.ghe.com) can. `wild-ci run` (local, through act) is not affected."""
    host = config.github_server_url.removeprefix("https://").split("/")[0].lower()
    if host == "github.com" or host.endswith(GHE_CLOUD_SUFFIX):
        return
    raise ConfigError(
        f"{CONFIG_PATH}: github_server_url {config.github_server_url} is a GitHub Enterprise Server: "
        "wild-ci's legs upload their results with actions/upload-artifact v4+, which GitHub Enterprise "
        "Server does not support (docs/github-conformance.md)",
        hint="run the iterations locally with `wild-ci run`, or host the repository on github.com",
    )


def _duration(data: dict[str, Any], key: str, error: Any) -> int:
    seconds = parse_duration(data[key])
    if seconds is None:
        raise error(
            key, f"{key} must be seconds or a duration like 90s, 30m, 2h (at most {MAX_DURATION_TEXT})"
        )
    return seconds


def _limits_from(data: Any, error: Any) -> Limits:
    if not isinstance(data, dict):
        raise error("limits", "limits must be a mapping")
    names = {f.name for f in dataclasses.fields(Limits)}
    for key in data:
        if key not in names:
            raise error("limits", f"unknown limit {key!r} (known: {', '.join(sorted(names))})")
    values = {key: _positive_int(value, f"limits.{key}", error) for key, value in data.items()}
    return Limits(**values)


def _snapshot_from(data: Any, error: Any) -> SnapshotRules:
    if not isinstance(data, dict):
        raise error(
            "snapshot", "snapshot must be a mapping (include, exclude, max_file_bytes, max_total_bytes)"
        )
    names = {f.name for f in dataclasses.fields(SnapshotRules)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise error("snapshot", f"unknown snapshot setting {key!r} (known: {', '.join(sorted(names))})")
        if key in ("include", "exclude"):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
                raise error(
                    "snapshot", f"snapshot.{key} must be a list of globs, e.g. ['scratch/*', '*.ckpt']"
                )
            values[key] = tuple(p.strip() for p in value)
        else:
            values[key] = _positive_int(value, f"snapshot.{key}", error)
    return SnapshotRules(**values)


def _positive_int(value: Any, name: str, error: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(name.split(".")[0], f"{name} must be a positive whole number")
    return value


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
