"""Where a local run's collect job pushes: never the user's repository (issue 23).

Under act every job runs on this machine as the user. If any job's checkout had a remote that is the
user's repository, an experiment could push through it (rewind the session branch, overwrite another
branch, create tags). So no checkout has a remote at all (the checkout stand-in removes `origin`),
and the collect job pushes its results commit to a bare repository in the run's temporary folder
(`$WILD_CI_RESULTS_REMOTE`, which the experiment does not inherit). Once act and every leg have
ended, wild-ci reads the results from there as data — the commit must sit directly on the branch tip
the run started from and hold results of exactly the submitted experiments — and commits them to the
user's session branch itself (collect.commit_locally). No git object, ref or config goes from there
into the user's repository.
"""

from __future__ import annotations

from pathlib import Path

import git

from ... import collect, ledger
from ...errors import WildError
from ...specs import IterationResults, IterationSpec

STAGING_DIR = "results.git"


def make_staging(repo: git.Repo, branch: str, target: Path) -> Path:
    """A bare clone of the session branch whose objects come from the user's repository (read-only
    sharing: git never writes to an alternate), with no remote."""
    source = str(Path(repo.common_dir).resolve())
    staging = git.Repo.clone_from(
        source, target, multi_options=["--bare", "--shared", "--single-branch", f"--branch={branch}"]
    )
    staging.git.remote("remove", "origin")
    return target


def staged_results(
    staging: Path, branch: str, spec: IterationSpec, tip_before: str | None
) -> IterationResults | None:
    """The collect job's results, when it pushed exactly one results commit on top of `tip_before`
    and they are of exactly the submitted experiments; else None (then wild-ci collects itself)."""
    if tip_before is None or not staging.is_dir():
        return None
    try:
        with git.Repo(staging) as bare:
            tip = ledger.branch_tip(bare, branch)
            if tip is None or tip == tip_before:
                return None
            if bare.git.rev_list("--parents", "-n", "1", tip).split()[1:] != [tip_before]:
                return None  # not the collect job's one commit on the run's own tip
            results = collect.read_results(bare, tip, spec.iteration)
    except (git.GitError, OSError, ValueError, WildError):
        return None
    if results is None or [r.id for r in results.experiments] != [e.id for e in spec.experiments]:
        return None
    return results
