"""The engine seam: what differs between the CI services that run an iteration's workflow.

An engine renders the iteration's workflow (its templates, the actions it pins, the limits the
service enforces) and describes the runner environment that a job reads (the commit, the runner's
name, the step-summary file, how to silence workflow commands, how a job authenticates a push).
Two engines implement it today:

* `engines.github` — GitHub Actions: `workflow.py` (pinned actions, limits, sharding, rendering),
  `runner.py` (the runner's environment variables), `engine.py` (the `GITHUB` engine).
* `engines.act` — act on this machine, a rehearsal of GitHub: `engine.py` (the `ACT` engine: the
  same workflow text, its legs as parallel as this machine allows, and the local stand-ins that
  replace the pinned actions), `runs.py`, `progress.py`, `artifacts.py`.

Deliberately *not* in the interface, because only one engine has it (each documented where it lives):

* runs, pull requests and comments, the inbox: GitHub only (`engines.github.runs`, `.client`);
  act runs an iteration on this machine instead (`engines.act.runs.run_local`).
* artifacts: on GitHub the pinned upload/download actions store them and `GitHubClient
  .download_artifacts` fetches a finished run's; under act the stand-ins speak the same v4
  protocol to act's server (`engines.act.artifacts`) and `runs.unpack_artifacts` reads its disk.
  Both leave each artifact in `<folder>/<artifact name>/`, which is what `collect` reads.

A third engine (Forgejo Actions, which runs the same workflow syntax) is a package beside these:
an `engine.py` whose object has its pinned actions (Forgejo needs its own artifact actions), its
limits, and a `render_workflow` (GitHub's template with those actions, or its own template); its
runner is `github.runner.RUNNER` while the runner sets GitHub's variables (Forgejo's does), else a
`RunnerEnvironment` of its own; and, for remote mode, a client and runs module like
`engines.github`. Not yet pluggable: which engine generate renders with (`generate.ENGINE`), and
the commands that call `engines.github.runs` directly.

This module imports only the standard library (and `errors`) at run time: the leg (`wild-ci execute`) may load
the runner description, and must stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import BadInput

if TYPE_CHECKING:
    from ..config import Config
    from ..specs import IterationSpec


@dataclass(frozen=True)
class PinnedAction:
    """A standard action pinned by full commit SHA (GitHub's hardening guide), with its tag."""

    repo: str
    sha: str
    tag: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.sha}"


@dataclass(frozen=True)
class WorkflowLimits:
    """What the service refuses to start: above these, the workflow is sharded or refused."""

    max_matrix_legs: int  # legs in one job's matrix; more legs become more matrix jobs
    max_workflow_bytes: int  # the rendered workflow file
    hosted_job_s: int | None = None  # a job on the service's own runners is ended after this
    self_hosted_job_s: int | None = None  # and on a self-hosted runner


class WorkflowTooLarge(BadInput):
    """The rendered workflow is over the engine's size limit; the message says what to do."""


@runtime_checkable
class RunnerEnvironment(Protocol):
    """What a job (a leg, the collect job) reads from the runner it runs on."""

    @property
    def credentials(self) -> tuple[str, ...]:
        """The runner's tokens (and the service addresses they open) that no process of a leg's
        experiment step holds: the step starts the executor without them."""
        ...

    @property
    def withheld(self) -> tuple[str, ...]:
        """The runner's tokens and file commands that an experiment does not inherit."""
        ...

    @property
    def step_summary_bytes(self) -> int:
        """What the job summary takes, per step."""
        ...

    def on_runner(self, environ: Mapping[str, str]) -> bool:
        """Whether this process runs as a job on such a runner (else: on a workstation)."""
        ...

    def commit(self, environ: Mapping[str, str]) -> str | None:
        """The commit the job runs for (the workflow may name a better one: WILD_COMMIT)."""
        ...

    def runner_name(self, environ: Mapping[str, str]) -> str | None: ...

    def step_summary_path(self, environ: Mapping[str, str]) -> str | None:
        """The file whose Markdown becomes the job's summary; None where there is none."""
        ...

    def event_path(self, environ: Mapping[str, str]) -> str | None:
        """The JSON of the event that started the run (a pull request's number is in it)."""
        ...

    def ref_name(self, environ: Mapping[str, str]) -> str | None:
        """The branch the run is for."""
        ...

    def stop_commands(self, token: str) -> str:
        """The log line after which output is not read as workflow commands, until…"""
        ...

    def resume_commands(self, token: str) -> str:
        """…this line, with the same token."""
        ...

    def push_auth(self, url: str, environ: Mapping[str, str]) -> dict[str, str]:
        """git environment variables that authenticate a fetch/push of `url` from a job; {} off a
        runner, where the user's own credentials are used."""
        ...


@runtime_checkable
class Engine(Protocol):
    """A CI service that runs an iteration's workflow."""

    @property
    def name(self) -> str: ...

    @property
    def limits(self) -> WorkflowLimits: ...

    @property
    def actions(self) -> Mapping[str, PinnedAction]:
        """Key (as the templates name it) -> the action its `uses:` names."""
        ...

    @property
    def runner(self) -> RunnerEnvironment:
        """The environment the engine's jobs run in."""
        ...

    def render_workflow(self, spec: IterationSpec, config: Config) -> str:
        """The iteration's workflow file. Raises WorkflowTooLarge over `limits.max_workflow_bytes`."""
        ...
