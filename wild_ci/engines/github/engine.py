"""GitHub Actions as an `Engine`: its workflow and its runner environment, assembled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base import WorkflowLimits
from . import workflow
from .runner import RUNNER

if TYPE_CHECKING:
    from ...config import Config
    from ...specs import IterationSpec


class GitHubEngine:
    name = "github"
    limits: WorkflowLimits = workflow.LIMITS
    actions = workflow.PINNED_ACTIONS
    runner = RUNNER

    def render_workflow(self, spec: IterationSpec, config: Config) -> str:
        return workflow.render_workflow(spec, config, self.actions)


GITHUB = GitHubEngine()
