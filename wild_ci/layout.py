"""Every name on the session branch and in a run, spelled once.

The iteration folders and their files, the config file, the inbox, the workflow files and the
names inside them that code relies on (the workflow's `name:`, a step's name, the artifact of each
leg), a leg's files, and where a local run keeps its logs. The workflow templates receive these
names as variables (`workflow_names`, `inbox_names`), so a template and the code that reads what
it produced cannot drift apart.

Standard library only: the leg (`wild-ci execute`) imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

# --- on the session branch -------------------------------------------------------------------------

WILD_DIR = ".wild"
ITERATIONS_DIR = ".wild/iterations"
CONFIG_PATH = ".wild/config.yml"
INBOX_DIR = f"{WILD_DIR}/inbox"  # brain outputs committed directly (the inbox workflow)
REJECTED_DIR = f"{WILD_DIR}/rejected"  # inbox files that could not run, beside a note of why
GOAL_PATH = f"{WILD_DIR}/goal.md"  # `wild-ci loop`: the research goal, read from HEAD
PROMPT_PATH = f"{WILD_DIR}/prompt.md.j2"  # `wild-ci loop`: the user's own prompt template, from HEAD

# the files of one iteration, in `iteration_dir(n)`
BRAIN_FILE = "brain.md"  # the brain's output, verbatim
SPEC_FILE = "experiments.json"  # the normalized specs: everything a leg needs
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
CHART_FILE = "metrics.png"  # beside results.md, when there are metrics
GUIDANCE_FILE = "guidance.md"  # `wild-ci loop`: the guidance queued with `wild-ci steer` its prompt showed
REFLECTION_FILE = "reflection.md"  # `wild-ci loop`: the answer to the reflection prompt on DONE, verbatim


def iteration_label(iteration: int) -> str:
    """Iterations are numbered 0001, 0002, … so that folders sort in order."""
    return f"{iteration:04d}"


def iteration_dir(iteration: int) -> str:
    """Where an iteration's files live in the repository."""
    return f"{ITERATIONS_DIR}/{iteration_label(iteration)}"


def iteration_file(iteration: int, name: str) -> str:
    """The repository path of one of an iteration's files (`SPEC_FILE`, `RESULTS_JSON`, …)."""
    return f"{iteration_dir(iteration)}/{name}"


# --- workflows -------------------------------------------------------------------------------------

WORKFLOWS_DIR = ".github/workflows"
WORKFLOW_FILE = "wild-experiments.yml"  # what `workflow_dispatch` names
WORKFLOW_PATH = f"{WORKFLOWS_DIR}/{WORKFLOW_FILE}"
WORKFLOW_NAME = "wild-experiments"  # its `name:`, by which the runs of an iteration are found
INBOX_WORKFLOW_PATH = f"{WORKFLOWS_DIR}/wild-inbox.yml"
ITERATION_TRAILER = "Wild-CI-Iteration"  # a trailer of every iteration commit's message: `…: NNNN`
ITERATION_SUBJECT = "wild: "  # how every iteration commit's message starts: `wild: <session> iteration NNNN`
START_REF_SEPARATOR = "+"  # `wild/<session>+NNNN`: a branch made to start one iteration's run
GATE_STEP = "Is this an iteration commit?"  # the gate job's step: whether the legs run
EXPERIMENT_STEP = "Run the experiment"  # the leg's step whose output the live view shows

# --- a leg -----------------------------------------------------------------------------------------

# under act, where the collect job pushes its results commit instead of the user's repository: a bare
# repository in the run's temporary folder, which wild-ci reads once every leg has ended
RESULTS_REMOTE_ENV = "WILD_CI_RESULTS_REMOTE"
# A leg's job cut to its runners' time limit (workflow.Shard): seconds from its install step until
# its experiment must have stopped (job env), and that moment, epoch seconds (the install step
# writes it for the executor: retries.time_left_s)
JOB_LIMIT_ENV = "WILD_CI_JOB_LIMIT_S"
LEG_DEADLINE_ENV = "WILD_CI_LEG_DEADLINE"
LEG_OUT_DIR = "wild-out"  # under $RUNNER_TEMP: what the leg writes and uploads as its artifact
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"
SETUP_LOG = "setup.log"
RESULT_FILE = "result.json"  # one experiment's result, written by the leg
LEG_OUTPUTS_DIR = "outputs"  # in a leg's artifact: the files the experiment wrote, by workdir path
RESULT_MARKER = "wild-ci: experiment"  # starts the line a leg prints when its experiment ends
RESERVE_FILE = ".result-reserve"  # room the leg keeps on its disk for its final result.json
# the live view's channel under `wild-ci run`: a file in the run's temporary folder, out of every
# sandboxed experiment's view, that each leg's executor appends its progress lines to
# (progress_channel.py); the variable that names it is withheld from the experiment
PROGRESS_ENV = "WILD_CI_PROGRESS"
PROGRESS_DIR = "progress"
PROGRESS_FILE = "progress.log"


def attempt_dir(attempt: int) -> str:
    """The folder of a leg's artifact that keeps one attempt's logs, when retries were allowed
    (`attempt-1/stdout.log`, …; the final attempt's are also at the top, as without retries)."""
    return f"attempt-{attempt}"


# The wheel of wild-ci the gate job builds once from install_spec and shares with every job of the run
# (#25 finding 7): not an experiment's artifact (artifact_prefix does not match it), kept a day.
WHEEL_ARTIFACT = "wild-ci-wheel"
WHEEL_DIR = "wild-ci-wheel"  # under $RUNNER_TEMP: where the gate builds it and the jobs download it


def start_branch(session: str, iteration: int) -> str:
    """The branch pushed to start an iteration commit that no push had at its head: matched by the
    workflow's `wild/**`, and never a session's branch (a session name has no '+')."""
    return f"wild/{session}{START_REF_SEPARATOR}{iteration_label(iteration)}"


def artifact_prefix(iteration: int) -> str:
    """What every leg's artifact name of an iteration starts with."""
    return f"wild-{iteration_label(iteration)}-"


def artifact_name(iteration: int, experiment_id: str) -> str:
    """The artifact a leg uploads: `artifact_prefix` and the experiment's id."""
    return artifact_prefix(iteration) + experiment_id


def artifact_pattern(iteration: int) -> str:
    """The download pattern that matches every leg's artifact of an iteration."""
    return artifact_prefix(iteration) + "*"


def artifact_experiment(name: str) -> str:
    """The experiment id in an artifact's name (ids have no '-' prefix of their own to lose)."""
    return name.split("-", 2)[-1]


# --- a local run (inside .git, out of the work tree) -----------------------------------------------

RUN_LOG = "act.log"
RUN_LEGS_DIR = "legs"  # each leg's artifact, unpacked: `legs/<experiment id>/`
RUN_RESULTS_DIR = "results"  # the results, when they could not be committed (a full disk, read-only)
RUN_MARKER = "running.json"  # while a local run is alive: its pid, its temporary folder (a fault leaves it)
# in the session's runs folder, from before a local run commits its iteration until it ends: a
# SIGKILL before RUN_MARKER is written leaves this one, and the next command records the iteration
SUBMIT_MARKER = "submitting.json"


class _Repository(Protocol):
    @property
    def common_dir(self) -> str | os.PathLike[str]: ...


def runs_root(repo: _Repository, session: str, label: str) -> Path:
    """Where a local run of an iteration keeps act's log and the artifacts: inside .git (the
    common one, shared by worktrees), out of the work tree. An earlier run of the same iteration
    moves beside it, `NNNN.run-K`."""
    return Path(repo.common_dir) / "wild-ci" / "runs" / session / label


def loop_turn_files(repo: _Repository, session: str, label: str) -> tuple[Path, Path]:
    """Where `wild-ci loop` keeps a turn's prompt and, beside it, the output if it is refused: one
    pair per turn, never overwritten — `0002.prompt.md`, then `0002-2.prompt.md` for the next turn
    that asks for iteration 0002 (after a refused output), and so on, across loops."""
    folder = Path(repo.common_dir) / "wild-ci" / "loop" / session
    attempt = 1
    while True:
        stem = label if attempt == 1 else f"{label}-{attempt}"
        prompt = folder / f"{stem}.prompt.md"
        if not prompt.exists():
            return prompt, folder / f"{stem}.refused.md"
        attempt += 1


def loop_reflection_file(repo: _Repository, session: str, label: str) -> Path:
    """Where `wild-ci loop` keeps the reflection prompt it wrote on the DONE of iteration `label`
    (`0003.reflection.prompt.md`, then `0003.reflection-2.prompt.md`, …)."""
    folder = Path(repo.common_dir) / "wild-ci" / "loop" / session
    attempt = 1
    while True:
        path = folder / f"{label}.reflection{'' if attempt == 1 else f'-{attempt}'}.prompt.md"
        if not path.exists():
            return path
        attempt += 1


def steer_dir(repo: _Repository, session: str) -> Path:
    """Where `wild-ci steer` queues guidance for `session`'s loop (one file per message) and its
    pause request: inside .git, out of the working tree the brain edits and snapshots."""
    return Path(repo.common_dir) / "wild-ci" / "steer" / session


def run_lock_file(repo: _Repository, session: str) -> Path:
    """Held (flock) by the local run of `session` (`wild-ci run`), and by its watchdog while that
    ends what a dead run left: one local run per session at a time."""
    return Path(repo.common_dir) / "wild-ci" / "locks" / f"{session}.lock"


def loop_lock_file(repo: _Repository, session: str) -> Path:
    """Held (flock) by the `wild-ci loop` that drives `session`: one loop per session at a time."""
    return Path(repo.common_dir) / "wild-ci" / "loop" / f"{session}.lock"


# --- what the templates get ------------------------------------------------------------------------


def workflow_names(iteration: int) -> dict[str, str]:
    """The names the experiments workflow template spells, for `render(...)`."""
    return {
        "workflow_name": WORKFLOW_NAME,
        "spec_path": iteration_file(iteration, SPEC_FILE),
        "results_path": iteration_file(iteration, RESULTS_JSON),
        "gate_step": GATE_STEP,
        "config_path": CONFIG_PATH,
        "experiment_step": EXPERIMENT_STEP,
        "leg_out_dir": LEG_OUT_DIR,
        "artifact_prefix": artifact_prefix(iteration),
        "artifact_pattern": artifact_pattern(iteration),
        "wheel_artifact": WHEEL_ARTIFACT,
        "wheel_dir": WHEEL_DIR,
    }


def inbox_names() -> dict[str, str]:
    """The names the inbox workflow template spells, for `render(...)`."""
    return {
        "inbox_dir": INBOX_DIR,
        "rejected_dir": REJECTED_DIR,
        "config_path": CONFIG_PATH,
        "iteration_trailer": ITERATION_TRAILER,
        "iteration_subject": ITERATION_SUBJECT,
        "start_separator": START_REF_SEPARATOR,
    }
