"""Stage 2 — generate: one brain output becomes one iteration commit on `wild/<session>`.

The commit holds the code as the working tree has it, the brain output verbatim, the normalised
specs (`experiments.json`) and the workflow rendered with a matrix of experiment ids. It is built
with a temporary index, so the user's working tree, index and branch stay exactly as they were.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import gpus, ledger, paths, sandbox
from .config import Config, Limits
from .engines.base import Engine, WorkflowTooLarge
from .engines.github.engine import GITHUB as ENGINE
from .engines.github.workflow import leg_seconds, self_hosted
from .errors import BadInput
from .layout import (
    BRAIN_FILE,
    CONFIG_PATH,
    ITERATION_SUBJECT,
    ITERATION_TRAILER,
    SPEC_FILE,
    WORKFLOW_PATH,
    iteration_file,
    iteration_label,
)
from .parse import decode_brain_output, parse_brain_output
from .specs import (
    BrainOutput,
    Diagnostic,
    Experiment,
    InvalidItem,
    IterationSpec,
)

MESSAGE_IDS = 100  # experiment ids listed in an iteration's commit message


@dataclass(frozen=True)
class Submission:
    """Where an iteration landed."""

    session: str
    branch: str
    iteration: int
    commit: str
    spec: IterationSpec

    @property
    def label(self) -> str:
        return iteration_label(self.iteration)


class InvalidBrainOutput(BadInput):
    """The brain output cannot be submitted; `diagnostics` say where and why."""

    def __init__(self, diagnostics: list[Diagnostic], source: str = "brain output") -> None:
        self.diagnostics = diagnostics
        self.source = source  # the file name, once the command line knows it
        super().__init__("; ".join(str(d) for d in diagnostics))

    def report_lines(self, prog: str) -> list[str]:
        return [
            *(d.located(self.source, "error") for d in self.diagnostics),
            f"{prog}: nothing was committed",
        ]


def read_brain_output(data: bytes, limits: Limits | None = None) -> BrainOutput:
    """Decode and parse; bytes that are not UTF-8 text are an error of the parse."""
    limits = limits or Limits()
    if len(data) > limits.max_brain_bytes:  # the reader may have stopped just past the limit
        message = f"the brain output has more than {limits.max_brain_bytes:,} bytes (limits.max_brain_bytes)"
        return BrainOutput(errors=[Diagnostic(None, message)])
    text, not_text = decode_brain_output(data)
    if not_text is not None:
        return BrainOutput(errors=[not_text])
    return parse_brain_output(text, limits)


def submit(
    repo_path: str | Path,
    brain_output: bytes,
    session: str = "main",
    config: Config | None = None,
    skip_invalid: bool = False,
    parsed: BrainOutput | None = None,
    local: bool = False,
    companions: Mapping[str, bytes] | None = None,
) -> Submission | None:
    """Commit one iteration; None when the brain output is blank.

    An output that asks for no experiments (only a promise, a summary, prose) is still committed:
    brain.md and an experiments.json with no experiments and no workflow, so the ledger holds what
    the brain concluded and `status` shows its promise; nothing runs for it.

    Strict by default: any invalid item stops everything. With `skip_invalid`, the valid items are
    submitted and each invalid one is recorded with its errors, for the brain's next context.
    `local`: the legs run on this machine (`wild-ci run`), so an experiment's `gpus:` is checked
    against this machine's GPUs; else against the configured GPU runners. `parsed` is the parse of
    `brain_output` when the caller has it already; it is not changed (the iteration's spec says
    which items were left out and why). `companions`: more files for the iteration's folder, by
    name (`wild-ci loop`'s guidance.md), in the same commit.
    """
    config = config or Config()
    parsed = _own_copy(parsed) if parsed else read_brain_output(brain_output, config.limits)
    repo = ledger.open_repo(repo_path)
    project = ProjectLocation.find(repo_path, ledger.work_tree(repo), config.project_root)
    _map_workdirs(parsed, project, _sandbox_holds_the_tree(config, local))
    _check_gpus(parsed, config, local)
    _check_runner_labels(parsed, config)
    if not local:
        _warn_past_hosted_limit(parsed, config)
    _check_submittable(parsed, skip_invalid)
    if not parsed.experiments and not brain_output.strip():
        return None
    branch = ledger.branch_name(session)
    in_worktree = ledger.checked_out_in(repo, branch)
    if in_worktree:
        raise ledger.LedgerError(
            f"{branch} is checked out in {in_worktree}; wild-ci writes that branch, so switch "
            "that worktree to another branch first"
        )
    tip = ledger.branch_tip(repo, branch) or ledger.adopt_remote_branch(repo, branch)
    iterations = ledger.iterations_at(repo, tip)
    iteration = (iterations[-1] if iterations else 0) + 1
    snapshot = ledger.snapshot_worktree(repo, tip, config.snapshot)
    spec = IterationSpec(
        session=session,
        iteration=iteration,
        project_root=project.root,
        project_dir=project.directory,
        project_root_aliases=project.aliases,
        experiments=parsed.experiments,
        source_commit=ledger.resolve(repo, "HEAD"),
        promise=parsed.promise,
        summary=parsed.summary,
        plan=parsed.plan,
        warnings=parsed.warnings,
        invalid=parsed.invalid if skip_invalid else [],
        default_timeout_s=config.timeout_s,
        leg=config.leg,
        left_out=snapshot.left_out,
        metric_directions=_metric_directions(parsed, config),
        submodules=snapshot.submodules,
        code=ledger.code_identity(repo, snapshot.tree),
        replicate_keys=list(config.replicates),
    )
    files = {
        iteration_file(iteration, BRAIN_FILE): brain_output,
        iteration_file(iteration, SPEC_FILE): spec_json(spec),
        **{iteration_file(iteration, name): data for name, data in (companions or {}).items()},
    }
    if spec.experiments:  # an iteration without experiments has no workflow: nothing runs for it
        files[WORKFLOW_PATH] = render_workflow(spec, config).encode()
    tree = ledger.tree_with_files(repo, snapshot.tree, files)
    parent = tip or spec.source_commit
    count = len(spec.experiments)
    listed = [f"- {e.id}" for e in spec.experiments[:MESSAGE_IDS]]
    if count > MESSAGE_IDS:
        listed.append(f"- … and {count - MESSAGE_IDS} more (experiments.json has them all)")
    counted = f"{count} experiment{'s' * (count != 1)}" if count else "no experiments"
    # an iteration without a run says what it is for in the log: its promise
    promised = f", promise {' '.join(spec.promise.split())[:40]}" if spec.promise and not count else ""
    subject = f"{ITERATION_SUBJECT}{session} iteration {spec.label} ({counted}{promised})"
    # the trailer by which the inbox workflow knows a push wild-ci made (templates/wild-inbox.yml.j2)
    trailer = f"{ITERATION_TRAILER}: {spec.label}"
    message = "\n\n".join(part for part in (subject, "\n".join(listed), trailer) if part) + "\n"
    commit = ledger.commit_tree(repo, tree, parent, message)
    ledger.update_branch(repo, branch, commit, tip, f"wild-ci: iteration {spec.label}")
    return Submission(session, branch, iteration, commit, spec)


def _metric_directions(parsed: BrainOutput, config: Config) -> dict[str, str]:
    """What the items declare (`metrics:` on an item), the config's `metrics:` winning."""
    declared: dict[str, str] = {}
    for experiment in parsed.experiments:
        declared.update(experiment.metrics)
    return {**declared, **{name: d.value for name, d in config.metrics.items()}}


def _own_copy(parsed: BrainOutput) -> BrainOutput:
    """The checks below move experiments to the invalid items: on a copy, not the caller's parse."""
    return dataclasses.replace(
        parsed,
        experiments=[dataclasses.replace(e) for e in parsed.experiments],
        errors=list(parsed.errors),
        invalid=list(parsed.invalid),
    )


def _check_submittable(parsed: BrainOutput, skip_invalid: bool) -> None:
    """Strict: any error stops. Lenient: only errors that belong to no single item stop."""
    if parsed.ok:
        return
    item_errors = [e for item in parsed.invalid for e in item.errors]
    fatal = [e for e in parsed.errors if e not in item_errors]
    if not skip_invalid or fatal:
        raise InvalidBrainOutput(fatal or parsed.errors)
    if not parsed.experiments:
        raise InvalidBrainOutput([*parsed.errors, Diagnostic(None, "no valid experiment is left to run")])


def spec_json(spec: IterationSpec) -> bytes:
    return (json.dumps(spec.to_json(), indent=2, ensure_ascii=False) + "\n").encode()


def render_workflow(spec: IterationSpec, config: Config, engine: Engine | None = None) -> str:
    """The workflow for one iteration, rendered by `engine` (GitHub's by default: the committed
    file is the one GitHub runs); over the engine's size limit the brain output is refused."""
    try:
        return (engine or ENGINE).render_workflow(spec, config)
    except WorkflowTooLarge as exc:
        raise InvalidBrainOutput([Diagnostic(None, str(exc))]) from exc


@dataclass(frozen=True)
class ProjectLocation:
    """The project root as the brain names it, its other spellings, where it is in the repository,
    and the names of the user's real repository (its top), which no experiment may still name once
    the roots are mapped."""

    root: str
    aliases: list[str]
    directory: str  # relative to the repository's top, "." for the top itself
    real_tree: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def find(cls, repo_path: str | Path, top: Path, configured_root: str | None) -> ProjectLocation:
        """The project root is the repository's top, wherever inside it wild-ci was pointed
        (`--repo sub/deeper`, a run from a subfolder), under the name the user reached it by, git's
        name and its resolved name. A configured root is the brain's name for that top; the top's
        own names map too, whatever the root."""
        names = paths.repository_names(paths.given_path(repo_path), top)
        root = posixpath.normpath(configured_root) if configured_root else names[0]
        aliases = [name for name in names if name != root]
        return cls(root, aliases, ".", names)

    def relative(self, path: str) -> str | None:
        """`path` (absolute) relative to the project root under any of its names, else None."""
        for root in sorted((self.root, *self.aliases), key=len, reverse=True):
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return posixpath.relpath(path, root)
        return None

    def leak(self, text: str) -> str | None:
        """What in `text` still names the user's real repository once the roots are mapped as the
        leg maps them; None when nothing does."""
        mapped = paths.map_project_root(text, [self.root, *self.aliases], CHECKOUT_STAND_IN)
        return paths.names_real_tree(mapped, self.real_tree)


CHECKOUT_STAND_IN = "/wild-ci-checkout"  # where the leg's checkout goes, for the check above


def _sandbox_holds_the_tree(config: Config, local: bool) -> bool:
    """Whether a kernel sandbox will hide the user's working tree from the legs: only known for a
    local run (`wild-ci run`: the legs run here, and the backend is probed here). A self-hosted
    runner on this very machine could reach the tree, so a push is treated as having none."""
    return local and config.sandbox != "off" and sandbox.choose(config.sandbox).backend != sandbox.NONE


def _map_workdirs(parsed: BrainOutput, project: ProjectLocation, sandboxed: bool = False) -> None:
    """Map each workdir the brain wrote (absolute under its project root, or relative to it) into
    the repository, as a relative path the leg can `cd` into inside its checkout. An experiment
    whose workdir cannot be mapped becomes an invalid item. One whose command still names the user's
    real repository after mapping gets a warning with its line when a sandbox hides that tree
    (`sandboxed`: the text check is a hint to the brain, the boundary is the kernel's, issue 23);
    without one nothing else stands between the command and the working tree, and it becomes an
    invalid item."""
    _keep_or_invalidate(parsed, lambda experiment: _repo_workdir(experiment, project))
    if not sandboxed:
        _keep_or_invalidate(parsed, lambda experiment: _names_real_tree(experiment, project))
        return
    said: set[int | None] = set()
    for experiment in parsed.experiments:
        problem = _names_real_tree(experiment, project)
        if problem is not None and experiment.line not in said:  # the legs of a sweep share it
            said.add(experiment.line)
            parsed.warnings.append(Diagnostic(experiment.line, problem.replace(
                "and would run in your working tree;",
                "and the mapping does not reach it: it is your working tree, not the checkout "
                "(this run's sandbox hides it, so the command will not find it there);",
            )))  # fmt: skip


def _names_real_tree(experiment: Experiment, project: ProjectLocation) -> str | None:
    """Under act the leg runs on this machine: a command (its set-up, an environment value) that
    names the real repository in a way the mapping does not reach would run in the working tree."""
    texts = [("command", experiment.run)]
    if experiment.setup not in (None, "auto", "none"):
        texts.append(("setup", experiment.setup or ""))
    texts += [(f"env {name}", value) for name, value in experiment.env.items()]
    for what, text in texts:
        found = project.leak(text)
        if found is not None:
            return (
                f"the {what} names {found!r}, in your repository, and would run in your working "
                "tree; name it by the project root (it is mapped into the checkout), or use a "
                "relative path"
            )
    return None


def _check_runner_labels(parsed: BrainOutput, config: Config) -> None:
    """A brain picks runners only among the label sets the user allows: `runs_on:` could otherwise
    send its commands to any self-hosted runner of the repository (a deploy box, a machine with
    secrets). An experiment asking for anything else becomes an invalid item."""
    allowed = config.allowed_label_sets()
    shown = "; ".join(sorted(f"[{', '.join(sorted(labels))}]" for labels in allowed))

    def problem(experiment: Experiment) -> str | None:
        if not experiment.runs_on or frozenset(experiment.runs_on) in allowed:
            return None
        return (
            f"runs_on [{', '.join(experiment.runs_on)}] is not an allowed set of runner labels "
            f"(allowed: {shown}); add it to runner_labels in {CONFIG_PATH}"
        )

    _keep_or_invalidate(parsed, problem)


def _check_gpus(parsed: BrainOutput, config: Config, local: bool) -> None:
    """On GitHub an experiment with `gpus: N` (N > 0, its own or the config's default) runs on the
    GPU runner set (`gpu_runs_on`, which must be configured), which it gets when it names no runner,
    and N is no more than `gpu_runner_gpus` says such a runner has. Locally (`local`) every leg runs
    on this machine: N is checked against its pool, detected once and only when some experiment
    asks for GPUs, and runner labels stay as they are (a GPU matrix job of its own would run after
    the others under act, which runs one job at a time)."""
    pool: gpus.Pool | None = None

    def problem(experiment: Experiment) -> str | None:
        nonlocal pool
        count = gpus.requested(experiment.gpus, config.leg.gpus_per_experiment)
        if not count:
            return None
        plural = "s" * (count != 1)
        if config.gpu_runs_on and not local:  # locally every leg runs here, in one matrix job
            wanted = list(config.gpu_runs_on)
            if experiment.runs_on and frozenset(experiment.runs_on) != frozenset(wanted):
                return (
                    f"runs_on [{', '.join(experiment.runs_on)}] is not the GPU runner set "
                    f"[{', '.join(wanted)}] (gpu_runs_on in {CONFIG_PATH}) that gpus: {count} needs"
                )
            experiment.runs_on = wanted
        if local:
            pool = pool or gpus.detect_pool(config.leg.gpu_pool)
            if count > len(pool.ids):
                return f"gpus: {count} asks for more GPUs than this machine has: {pool.describe()}"
            return None
        if not config.gpu_runs_on:
            return (
                f"gpus: {count} needs a runner with GPU{plural}: set gpu_runs_on in {CONFIG_PATH} "
                "to their runner labels (e.g. gpu_runs_on: [self-hosted, gpu])"
            )
        if config.gpu_runner_gpus is not None and count > config.gpu_runner_gpus:
            return (
                f"gpus: {count} asks for {count} GPU{plural}; a gpu_runs_on runner has "
                f"{config.gpu_runner_gpus} (gpu_runner_gpus in {CONFIG_PATH})"
            )
        return None

    _keep_or_invalidate(parsed, problem)


def _warn_past_hosted_limit(parsed: BrainOutput, config: Config) -> None:
    """An experiment on a service-hosted runner (no `self-hosted` label) whose leg may take longer
    than the service lets a job run there — its timeout times its attempts, a wait for GPUs, its
    set-up — is cut short (the workflow's job timeout is the limit, and the leg stops it in time
    for its upload: workflow.Shard.timed): a warning with its line (once per item: the legs of a
    sweep share it), before anything runs."""
    limit = ENGINE.limits.hosted_job_s
    if limit is None:
        return
    said: set[int | None] = set()
    for experiment in parsed.experiments:
        labels = experiment.runs_on or [config.runs_on]
        if self_hosted(labels, config.self_hosted_labels) or experiment.line in said:
            continue
        seconds = leg_seconds(experiment, config.timeout_s, config.leg) + config.leg.setup_timeout_s
        if seconds > limit:
            said.add(experiment.line)
            waits = gpus.requested(experiment.gpus, config.leg.gpus_per_experiment)
            parsed.warnings.append(Diagnostic(experiment.line, (
                f"this experiment may take up to {seconds / 3600:.1f} h (its timeout × its attempts, "
                f"set-up{', a wait for GPUs' if waits else ''}); its runner labels have no `self-hosted`, "
                f"and GitHub ends a job on a GitHub-hosted runner after {limit / 3600:g} h: the leg will "
                "stop it shortly before (timed out, said in its results), so lower timeout or retries, "
                "or run it on a self-hosted runner (one without the `self-hosted` label, such as a "
                "runner scale set: name its label in the config's self_hosted_labels)")))  # fmt: skip


def _keep_or_invalidate(parsed: BrainOutput, problem: Callable[[Experiment], str | None]) -> None:
    """Experiments with a problem leave the run and become invalid items, with their line. The legs
    of a sweep share their item's line and, mostly, its problem: that is said once, not per leg."""
    kept = []
    swept: set[Diagnostic] = set()
    for experiment in parsed.experiments:
        message = problem(experiment)
        if message is None:
            kept.append(experiment)
            continue
        error = Diagnostic(experiment.line, message)
        if experiment.sweep and error in swept:
            continue
        swept.add(error)
        parsed.errors.append(error)
        parsed.invalid.append(InvalidItem(experiment.line, experiment.goal, [error]))
    parsed.experiments = kept


def _repo_workdir(experiment: Experiment, project: ProjectLocation) -> str | None:
    """Set `experiment.repo_workdir`; return what is wrong instead when it cannot be mapped."""
    path = posixpath.normpath(experiment.workdir or ".")
    if posixpath.isabs(path):
        relative = project.relative(path)
        if relative is None:
            return (
                f"workdir {experiment.workdir!r} is outside the project root {project.root!r}; pass "
                f"--project-root (or set project_root in {CONFIG_PATH}) with the root the brain uses"
            )
        path = relative
    in_repo = posixpath.normpath(posixpath.join(project.directory, path))
    if in_repo == ".." or in_repo.startswith("../"):
        return f"workdir {experiment.workdir!r} leaves the repository"
    experiment.repo_workdir = in_repo
    return None
