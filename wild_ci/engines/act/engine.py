"""act on this machine as an `Engine`: a rehearsal of GitHub Actions.

The workflow is GitHub's, word for word (act's `--local-repository` swaps an action only when the
`uses:` text matches exactly), so the pinned actions and GitHub's limits stay. What differs:

* rendering: legs run as parallel as this machine allows (or as configured), because here they
  share the cores where on GitHub each has a runner of its own;
* actions: each pinned action is replaced by a local stand-in, `templates/actions/<name>/`
  (`standins`), since act cannot fetch the real ones without network;
* the runner: act sets GitHub's variables, so its jobs read them as on GitHub. wild-ci adds
  `WILD_CI_LOCAL` (the path of this installation's wild-ci, see `runs.act_command`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..github import workflow
from ..github.runner import RUNNER

if TYPE_CHECKING:
    from ...config import Config
    from ...specs import IterationSpec

# key of a pinned action -> the stand-in's folder under templates/actions/
STANDINS = {
    "checkout": "checkout",
    "upload_artifact": "upload-artifact",
    "download_artifact": "download-artifact",
    "cache": "cache",
}


class ActEngine:
    name = "act"
    limits = workflow.LIMITS  # the same file must start on GitHub too
    actions = workflow.PINNED_ACTIONS  # what the workflow says; act swaps in `standins`
    standins = STANDINS
    runner = RUNNER

    def render_workflow(self, spec: IterationSpec, config: Config) -> str:
        local = config.with_overrides(max_parallel=config.max_parallel or os.cpu_count() or 1)
        return workflow.render_workflow(spec, local, self.actions)


ACT = ActEngine()
