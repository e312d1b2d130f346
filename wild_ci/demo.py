"""`wild-ci demo`: the bundled example, end to end, on the embedded default (act, no network).

It makes a fresh git repository from the example project, then does what a user does with a brain
output: `wild-ci run brain.md`. The brain's paths name /home/researcher/demo, its own machine, so
the run maps that project root onto the checkout.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import git

from . import report
from .compare import Standing
from .config import Config
from .engines.act.runs import LocalRunError, run_local
from .errors import EXIT_OK, PipelineError, UsageError
from .layout import RESULTS_MD, iteration_file
from .templating import resource_dir

BRAIN_PROJECT_ROOT = "/home/researcher/demo"
DEMO_IDENTITY = ("-c", "user.name=wild-ci demo", "-c", "user.email=demo@wild-ci.invalid")


def create_demo_repo(target: Path) -> Path:
    """Copy the example project into `target` and commit it (with a throw-away identity)."""
    source = resource_dir("examples") / "demo"
    try:
        # an installed wheel's copy holds bytecode pip compiled: not part of the example
        shutil.copytree(source / "project", target, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    except shutil.Error as exc:  # copytree gathers its OSErrors into one: report the first
        first = exc.args[0][0] if exc.args and exc.args[0] else ("", target, str(exc))
        raise PipelineError(
            f"could not copy the example into {target}: {first[2]}",
            hint="free space or fix permissions, then retry",
        ) from exc
    shutil.copyfile(source / "brain.md", target / "brain.md")
    repo = git.Repo.init(target, initial_branch="main")
    repo.git.add("--all")
    repo.git.execute(["git", *DEMO_IDENTITY, "commit", "--quiet", "-m", "Toy regression project"])
    return target


def run_demo(directory: Path | None) -> int:
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="wild-ci-demo-")) / "demo"
    elif directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file", hint="name a new or empty folder: wild-ci demo DIR")
    elif directory.exists() and any(directory.iterdir()):
        raise UsageError(
            f"{directory} exists and is not empty", hint="name a new or empty folder: wild-ci demo DIR"
        )
    elif directory.exists():
        directory.rmdir()
    repo_dir = create_demo_repo(directory.resolve())
    print(f"wild-ci demo: example repository at {repo_dir}", file=sys.stderr)
    print(
        f"wild-ci demo: running: wild-ci run brain.md --repo {repo_dir} --project-root {BRAIN_PROJECT_ROOT}",
        file=sys.stderr,
    )
    config = Config(project_root=BRAIN_PROJECT_ROOT)
    outcome = run_local(repo_dir, (repo_dir / "brain.md").read_bytes(), "main", config)
    assert outcome is not None, "the bundled brain output asks for experiments"
    print(report.context_block(outcome.results, standing=Standing.of(outcome.results)), end="")
    print(
        f"\nwild-ci demo: {report.counts_line(outcome.results)}\n"
        f"wild-ci demo: the example repository is kept at {repo_dir}\n"
        f"wild-ci demo: see the ledger with: git -C {repo_dir} log --stat wild/main\n"
        f"wild-ci demo: results for people: git -C {repo_dir} show "
        f"wild/main:{iteration_file(outcome.results.iteration, RESULTS_MD)}",
        file=sys.stderr,
    )
    if outcome.collected_by != "workflow":
        raise LocalRunError(
            f"the workflow's collect job did not commit the results; see {outcome.run_dir / 'act.log'}"
        )
    return EXIT_OK
