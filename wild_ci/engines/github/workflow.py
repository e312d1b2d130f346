"""The GitHub Actions workflow of an iteration: the actions it pins, GitHub's limits, the matrix
sharded at 256 legs, and the rendering of `templates/wild-experiments.yml.j2`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import yaml

from ... import __version__, gpus
from ...environment import ENVIRONMENT_FORMAT
from ...layout import (
    CONFIG_PATH,
    JOB_LIMIT_ENV,
    LEG_DEADLINE_ENV,
    WHEEL_ARTIFACT,
    WHEEL_DIR,
    inbox_names,
    workflow_names,
)
from ...retries import policy_for, worst_case_s
from ...runner_install import leg_pin, pins
from ...templating import environment, render
from ..base import PinnedAction, WorkflowLimits, WorkflowTooLarge
from .runner import CREDENTIALS

if TYPE_CHECKING:
    from ...config import Config
    from ...specs import Experiment, IterationSpec, LegSettings

MAX_MATRIX_LEGS = 256  # GitHub refuses to start a job whose matrix has more legs.
MAX_WORKFLOW_BYTES = 500 * 1024
HOSTED_JOB_S = 6 * 3600  # a job on a GitHub-hosted runner (docs/github-conformance.md, "6 hours")
SELF_HOSTED_JOB_S = 5 * 24 * 3600  # a job on a self-hosted runner ("5 days", the same page)
LIMITS = WorkflowLimits(
    max_matrix_legs=MAX_MATRIX_LEGS,
    max_workflow_bytes=MAX_WORKFLOW_BYTES,
    hosted_job_s=HOSTED_JOB_S,
    self_hosted_job_s=SELF_HOSTED_JOB_S,
)
SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SETUP_MARGIN_MINUTES = 10
# A leg whose job is cut to the runner's limit stops its experiment this long before that limit:
# the checkout before the install step notes the time, ending the experiment's group, gathering its
# outputs, and the upload step (docs/gpus-retries.md, "On GitHub").
STOP_RESERVE_S = 10 * 60

PINNED_ACTIONS = {
    "checkout": PinnedAction("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "upload_artifact": PinnedAction(
        "actions/upload-artifact", "cf430e030ddbb5b0abf93d22962f4752f3646cd9", "v7.0.2"
    ),
    "download_artifact": PinnedAction(
        "actions/download-artifact", "9000827ccba6bdab643e8b6fd33ac0654aef8333", "v8.0.2"
    ),
    "cache": PinnedAction("actions/cache", "55cc8345863c7cc4c66a329aec7e433d2d1c52a9", "v6.1.0"),
}


def render_workflow(
    spec: IterationSpec,
    config: Config,
    actions: Mapping[str, PinnedAction] = PINNED_ACTIONS,
    limits: WorkflowLimits | None = LIMITS,
) -> str:
    """The workflow for one iteration. Only validated ids and the user's settings reach it.
    `limits`: the service's job time limits each matrix job is cut to (None under act: no limit)."""
    ids = [e.id for e in spec.experiments]
    unsafe = [i for i in ids if not SAFE_ID.match(i)]
    if unsafe:  # ids come from slugify(); this guards the invariant the template relies on
        raise ValueError(f"experiment ids not safe for a workflow: {unsafe}")
    longest_s = max(leg_seconds(e, spec.default_timeout_s, spec.leg) for e in spec.experiments)
    step_minutes = math.ceil((longest_s + spec.leg.setup_timeout_s) / 60) + 1
    shards = [
        shard.timed(step_minutes + SETUP_MARGIN_MINUTES, limits, config.self_hosted_labels)
        for shard in shard_legs(spec.experiments, config.runs_on)
    ]
    text = render(
        "wild-experiments.yml.j2",
        version=__version__,
        session=spec.session,
        label=spec.label,
        install_spec=config.install_spec,
        collect_pins=pins("collect"),
        chart_pins=pins("chart"),
        uv_pin=leg_pin("uv"),
        environment_format=ENVIRONMENT_FORMAT,
        collect_runs_on=config.runs_on,
        max_parallel=config.max_parallel,
        trigger=config.trigger,
        submodules=bool(spec.submodules),
        sandbox=spec.leg.sandbox,
        shards=shards,
        step_timeout_minutes=min(step_minutes, max(shard.timeout_minutes for shard in shards)),
        actions=actions,
        credentials=CREDENTIALS,
        job_limit_env=JOB_LIMIT_ENV,
        leg_deadline_env=LEG_DEADLINE_ENV,
        **workflow_names(spec.iteration),
    )
    size = len(text.encode())
    if size > MAX_WORKFLOW_BYTES:
        raise WorkflowTooLarge(
            f"the rendered workflow has {size:,} bytes, over GitHub's limit of {MAX_WORKFLOW_BYTES:,}: "
            "ask for fewer experiments per iteration (shorter goals give shorter ids)"
        )
    return text


def leg_seconds(experiment: Experiment, default_timeout_s: int, leg: LegSettings) -> int:
    """How long a leg's experiment may take: every attempt it may make (retries.py) with its
    back-offs, plus, for one that asks for GPUs, a wait of up to its timeout for them (gpus.py)."""
    timeout_s = experiment.timeout_s or default_timeout_s
    attempts_s = worst_case_s(timeout_s, policy_for(experiment.retries, experiment.retry_on, leg).retries)
    return attempts_s + timeout_s if gpus.requested(experiment.gpus, leg.gpus_per_experiment) else attempts_s


INBOX_ENVIRONMENT = "wild-inbox"


def render_inbox_workflow(
    install_spec: str, runs_on: str, environment: str | None = INBOX_ENVIRONMENT
) -> str:
    """The inbox workflow (`wild-ci init`): a brain output pushed to `.wild/inbox/` runs. The job
    runs in deployment environment `environment`, which holds WILD_CI_TOKEN; None (`wild-ci init
    --no-environment`) for a plan without environments on private repositories: a repository secret."""
    return render(
        "wild-inbox.yml.j2",
        version=__version__,
        install_spec=install_spec,
        collect_pins=pins("collect"),
        runs_on=runs_on,
        environment=environment,
        actions=PINNED_ACTIONS,
        **inbox_names(),
    )


def install_script(job: str) -> str:
    """The `run:` script of the install step of a job ("leg", "collect" or "inbox"), as the rendered
    workflow holds it: for the benchmark and the tests, which run it as a runner would."""
    macro = (
        '{% from "install-wild-ci.yml.j2" import install_step %}'
        "{{ install_step(path, pins=pins, leg=leg, chart_pins=chart_pins, uv_pin=uv_pin,"
        " limit_env=limit_env, deadline_env=deadline_env, wheel_dir=wheel_dir) }}"
    )
    step = (
        environment()
        .from_string(macro)
        .render(
            path=CONFIG_PATH,
            pins=[] if job == "leg" else pins("collect"),
            chart_pins=pins("chart") if job == "collect" else [],
            uv_pin=leg_pin("uv"),
            leg=job == "leg",
            limit_env=JOB_LIMIT_ENV if job == "leg" else None,
            deadline_env=LEG_DEADLINE_ENV,
            wheel_dir=None if job == "inbox" else WHEEL_DIR,
        )
    )
    run: str = yaml.safe_load(step)[0]["run"]
    return run


def wheel_script() -> str:
    """The `run:` script of the gate job's step that builds wild-ci's wheel once per run (into
    $RUNNER_TEMP/WHEEL_DIR), as the rendered workflow holds it: for the benchmark and the tests."""
    macro = (
        '{% from "install-wild-ci.yml.j2" import build_wheel_steps %}'
        "{{ build_wheel_steps(wheel_dir, wheel_artifact, upload) }}"
    )
    steps = (
        environment()
        .from_string(macro)
        .render(wheel_dir=WHEEL_DIR, wheel_artifact=WHEEL_ARTIFACT, upload=PINNED_ACTIONS["upload_artifact"])
    )
    run: str = yaml.safe_load(steps)[0]["run"]
    return run


@dataclass(frozen=True)
class Shard:
    """One matrix job: legs that share runner labels, at most GitHub's 256 per matrix. Its
    `timeout_minutes` is no more than its runners allow; when that cut what its legs may need,
    `stop_after_s` is how long after its install step a leg must have stopped its experiment."""

    job: str
    runs_on: list[str]
    ids: list[str]
    timeout_minutes: int = 0
    stop_after_s: int | None = None

    def timed(
        self, needed_minutes: int, limits: WorkflowLimits | None, self_hosted_labels: tuple[str, ...] = ()
    ) -> Shard:
        """This job with `needed_minutes`, or its runners' limit where that is lower."""
        limit_s = job_limit_s(self.runs_on, limits, self_hosted_labels)
        if limit_s is None or needed_minutes * 60 <= limit_s:
            return replace(self, timeout_minutes=needed_minutes)
        return replace(self, timeout_minutes=limit_s // 60, stop_after_s=limit_s - STOP_RESERVE_S)


def self_hosted(labels: list[str], self_hosted_labels: tuple[str, ...] = ()) -> bool:
    """Runner labels that pick a self-hosted runner: GitHub gives each the label `self-hosted` by
    default, but a runner may go without it (a runner scale set is named alone): the config's
    `self_hosted_labels` name those (lower case)."""
    return any(label.lower() == "self-hosted" or label.lower() in self_hosted_labels for label in labels)


def job_limit_s(
    labels: list[str], limits: WorkflowLimits | None, self_hosted_labels: tuple[str, ...] = ()
) -> int | None:
    """How long the service lets a job on runners with these labels run (None: no limit known)."""
    if limits is None:
        return None
    return limits.self_hosted_job_s if self_hosted(labels, self_hosted_labels) else limits.hosted_job_s


def shard_legs(experiments: list[Experiment], default_runs_on: str) -> list[Shard]:
    """Group legs by runner labels (a job has one `runs-on`), in the order the brain gave them,
    then cut each group into matrices of at most 256 legs."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for experiment in experiments:
        groups.setdefault(tuple(experiment.runs_on or [default_runs_on]), []).append(experiment.id)
    pieces = [
        (list(labels), ids[start : start + MAX_MATRIX_LEGS])
        for labels, ids in groups.items()
        for start in range(0, len(ids), MAX_MATRIX_LEGS)
    ]
    return [
        Shard("experiment" if number == 1 else f"experiment-{number}", labels, ids)
        for number, (labels, ids) in enumerate(pieces, start=1)
    ]
