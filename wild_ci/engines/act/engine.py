"""act on this machine as an `Engine`: a rehearsal of GitHub Actions.

The workflow is GitHub's, word for word (act's `--local-repository` swaps an action only when the
`uses:` text matches exactly), so the pinned actions and GitHub's limits stay. What differs:

* rendering: legs run as parallel as this machine allows (or as configured), because here they
  share the cores where on GitHub each has a runner of its own. A leg that asks for GPUs may wait
  for them inside its slot (gpus.py), so each such leg gets a slot of its own on top of the cores:
  CPU legs are never held back by GPU legs waiting for a GPU;
* actions: each pinned action is replaced by a local stand-in, `templates/actions/<name>/`
  (`standins`), since act cannot fetch the real ones without network;
* the runner: act sets GitHub's variables, so its jobs read them as on GitHub. wild-ci adds
  `WILD_CI_LOCAL` (the path of this installation's wild-ci, see `runs.act_command`).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from ... import gpus
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
        local = config.with_overrides(max_parallel=config.max_parallel or default_parallelism(spec))
        # act ends no job after 6 h: the legs keep the timeouts they asked for (limits=None)
        return workflow.render_workflow(spec, local, self.actions, limits=None)


def default_parallelism(spec: IterationSpec) -> int:
    """Legs at once under act: one per core, plus one per leg that asks for GPUs, which spends most
    of its slot waiting for a GPU or waiting on one — but no more such slots than this machine has
    GPUs (nor GPU_LEG_SLOTS): a sweep of 100 one-GPU legs on a 2-GPU machine would otherwise start
    66 legs at once, 64 of them setting up environments only to wait."""
    gpu_legs = sum(1 for e in spec.experiments if gpus.requested(e.gpus, spec.leg.gpus_per_experiment))
    extra = min(gpu_legs, GPU_LEG_SLOTS)
    if extra:
        with contextlib.suppress(gpus.GpuSettingError):  # submit said so; the legs will say it again
            extra = min(extra, len(gpus.detect_pool(spec.leg.gpu_pool).ids))
    return (os.cpu_count() or 1) + extra


GPU_LEG_SLOTS = 64  # beyond this, GPU legs that wait may take cores' slots (set max_parallel)


ACT = ActEngine()
