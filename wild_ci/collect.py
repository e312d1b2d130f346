"""Stage 4 — collect: every leg's artifact becomes `results.json` and `results.md`, committed back.

Each experiment of the iteration gets a result, whatever happened to its leg: an artifact without a
finished `result.json` is `cancelled`, no artifact at all is `missing`. The results commit goes on
top of the session branch's current tip (retrying when someone pushed meanwhile) and is skipped
when the same results are already there, so collecting twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import git

from . import chart, gpus, ledger, report, retries
from .compare import Standing
from .engines.github import artifact_paths
from .engines.github.runner import RUNNER
from .layout import (
    CHART_FILE,
    LEG_OUTPUTS_DIR,
    REFLECTION_FILE,
    RESULT_FILE,
    RESULTS_JSON,
    RESULTS_MD,
    SETUP_LOG,
    SPEC_FILE,
    STDERR_LOG,
    STDOUT_LOG,
    artifact_name,
    iteration_file,
)
from .leaderboard import declared_for
from .metrics import Direction
from .parse import parse_brain_output
from .specs import (
    COMMITTED_OUTPUTS,
    Conclusion,
    Experiment,
    ExperimentResult,
    IterationResults,
    IterationSpec,
    LegSettings,
    Status,
    load_record,
)

TAIL_LINES = 40
TAIL_CHARS = 4000
STEP_SUMMARY_LIMIT = RUNNER.step_summary_bytes
PUSH_ATTEMPTS = 5
# results.json at most: a fifth of the 50 MiB at which GitHub warns, a tenth of the 100 MiB it refuses
RESULTS_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class CommitOutcome:
    commit: str
    created: bool
    standing: Standing  # what the committed results.md compares with (for the summary, the comment)
    earlier_run: bool = False  # not committed: another run committed results of this iteration first


def collect_results(spec: IterationSpec, artifacts: Path, commit: str | None) -> IterationResults:
    """Read every leg's artifact in `artifacts`, laid out as download-artifact lays it out
    (`locate_legs`), into results.

    `spec` must be what wild-ci controls — the iteration commit's experiments.json (`committed_spec`)
    or the spec it just submitted — never a file in a checkout that a leg could write: it decides
    which experiments there are, and each leg's result.json is checked against its experiment. An
    artifact of an experiment the spec does not have is ignored, and said so in `notes`."""
    found = locate_legs(spec, artifacts)
    results = []
    for experiment in spec.experiments:
        result = load_leg(found.folders.get(experiment.id), experiment, spec.leg)
        if experiment.id in found.problems:  # nothing was read: the layout is in doubt
            result.note = found.problems[experiment.id]
        results.append(result)
    return IterationResults(
        session=spec.session,
        iteration=spec.iteration,
        commit=commit,
        experiments=results,
        promise=spec.promise,
        warnings=spec.warnings,
        invalid=spec.invalid,
        notes=[
            *found.notes,
            *(
                f"ignored an artifact that belongs to no experiment of the iteration: {name}"
                for name in unknown_artifacts(spec, artifacts)
            ),
        ],
        left_out=spec.left_out,
        metric_directions=dict(spec.metric_directions),
        code=spec.code,
        replicate_keys=list(spec.replicate_keys),
        project_root=spec.project_root,
        project_dir=spec.project_dir,
    )


LEG_FILES = (RESULT_FILE, STDOUT_LOG, STDERR_LOG, SETUP_LOG)  # what every leg's artifact has at its top


@dataclass(frozen=True)
class LegsFound:
    """Where each experiment's artifact is in a download folder (`locate_legs`)."""

    folders: dict[str, Path]  # experiment id -> the folder that holds its leg's files
    problems: dict[str, str]  # experiment id -> why its files were not read (the layout is in doubt)
    notes: list[str]


def holds_leg(folder: Path) -> bool:
    """Whether `folder` holds a leg's own files at its top (an artifact's content)."""
    return any((folder / name).is_file() for name in LEG_FILES)


def claimed_id(folder: Path) -> str | None:
    """The experiment id a leg's result.json names, if it names one."""
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    claimed = data.get("id") if isinstance(data, dict) else None
    return claimed if isinstance(claimed, str) else None


def locate_legs(spec: IterationSpec, artifacts: Path) -> LegsFound:
    """Which folder holds which experiment's artifact, for each layout download-artifact v5+ makes
    (docs/github-conformance.md, "download-artifact: where artifacts land"):

    * several artifacts: one folder each, `<artifacts>/<artifact name>/` — the name is the one the
      workflow gave the leg's upload, and the leg's result.json must name the same experiment
      (`ExperimentResult.from_leg_json`);
    * one artifact (the pattern matched one, or only one leg uploaded), or `merge-multiple`: its
      files straight in `<artifacts>/` — the experiment is the one its result.json names; with a
      one-experiment spec, that experiment (and `from_leg_json` says so if the file names another);
    * both at once (leg files at the top *and* leg folders): no download makes that, so nothing is
      guessed: the experiments concerned are reported, not read.
    """
    if not artifacts.is_dir():
        return LegsFound({}, {}, [])
    by_folder = {
        e.id: artifacts / artifact_name(spec.iteration, e.id)
        for e in spec.experiments
        if (artifacts / artifact_name(spec.iteration, e.id)).is_dir()
    }
    if not holds_leg(artifacts):
        return LegsFound(by_folder, {}, [])
    ids = [e.id for e in spec.experiments]
    claimed = claimed_id(artifacts)
    if by_folder:
        concerned = sorted({*by_folder, *([claimed] if claimed in ids else [])})
        problem = (
            f"{artifacts} holds one artifact's files at its top and also artifact folders "
            f"({', '.join(artifact_name(spec.iteration, i) for i in sorted(by_folder))}): no download "
            "lays artifacts out both ways, so which files are whose was not guessed"
        )
        return LegsFound({}, dict.fromkeys(concerned, problem), [problem])
    if claimed in ids:
        return LegsFound({str(claimed): artifacts}, {}, [])
    if len(ids) == 1:
        return LegsFound({ids[0]: artifacts}, {}, [])
    return LegsFound(
        {},
        {},
        [
            f"one artifact's files came back straight into {artifacts}, and its result.json names no "
            "experiment of the iteration, so they were not used"
        ],
    )


SHOWN_NAME = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


def unknown_artifacts(spec: IterationSpec, artifacts: Path) -> list[str]:
    """Artifact folders of this iteration whose experiment is not in the spec (names shown only
    when they are plain words: an artifact's name is chosen by whoever uploaded it)."""
    if not artifacts.is_dir() or holds_leg(artifacts):
        return []  # one artifact's files at the top: its folders are its own content, not artifacts
    known = {artifact_name(spec.iteration, e.id) for e in spec.experiments}
    prefix = artifact_name(spec.iteration, "")
    found = sorted(p.name for p in artifacts.iterdir() if p.name.startswith(prefix) and p.name not in known)
    return [name if SHOWN_NAME.match(name) else "(a name that is not plain text)" for name in found]


def load_leg(folder: Path | None, experiment: Experiment, leg: LegSettings) -> ExperimentResult:
    """One experiment's result from its leg's artifact folder (None: no artifact of it was found):
    its result.json checked against the experiment (`ExperimentResult.from_leg_json`) and against
    what the iteration's leg settings allow it (`_beyond_spec`), its logs' tails; whatever
    the folder holds, a result for this experiment and no exception."""
    stdout_tail = tail(folder / STDOUT_LOG) if folder else ""
    stderr_tail = tail(folder / STDERR_LOG) if folder else ""
    fallback = ExperimentResult(
        id=experiment.id,
        goal=experiment.goal,
        command=experiment.run,
        status=Status.MISSING,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        workdir=experiment.repo_workdir,
        parameters=dict(experiment.parameters),
        env=dict(experiment.env),
        baseline=experiment.baseline,
    )
    if folder is None or not folder.is_dir():
        fallback.note = "no artifact came back: the runner died or the leg never ran"
        return fallback
    oversized = artifact_paths.oversized_result(folder)
    if oversized:
        fallback.status = Status.FAILED
        fallback.note = oversized
        return fallback
    try:
        text = (folder / RESULT_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        fallback.status = Status.CANCELLED
        fallback.note = f"the leg left logs but no readable result.json ({exc.__class__.__name__})"
        return fallback
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than Python recurses
        fallback.status = Status.FAILED
        fallback.note = f"result.json could not be read as JSON ({exc.__class__.__name__})"
        return fallback
    result = ExperimentResult.from_leg_json(data, experiment)
    result.stdout_tail, result.stderr_tail = stdout_tail, stderr_tail
    problem = _beyond_spec(result, experiment, leg)
    if problem:
        result.status = Status.FAILED
        result.note = "; ".join(filter(None, [f"{problem}, so its status was not used", result.note]))
    restored = artifact_paths.restore_names(folder / LEG_OUTPUTS_DIR, result.renamed_outputs)
    result.note = "; ".join(filter(None, [result.note, *restored])) or None
    if len(result.outputs) > COMMITTED_OUTPUTS:  # results.md, the brain's context: a list, not 10,000 names
        result.outputs_total = len(result.outputs)
        result.outputs = result.outputs[:COMMITTED_OUTPUTS]
    return result


def _beyond_spec(result: ExperimentResult, experiment: Experiment, leg: LegSettings) -> str | None:
    """What a leg's result.json claims that the spec never allowed its experiment: more attempts
    than its retries give, or other GPUs than it asked for (none when GPUs were not managed). The
    claim is dropped; the experiment wrote that file, so it cannot vouch for its status either."""
    problems = []
    allowed = retries.policy_for(experiment.retries, experiment.retry_on, leg).max_attempts
    if len(result.attempts) > allowed or (allowed == 1 and result.attempts):
        problems.append(f"{len(result.attempts)} attempts where at most {allowed} are allowed")
        result.attempts = []
    asked = gpus.requested(experiment.gpus, leg.gpus_per_experiment)
    if result.gpus is not None and (asked is None or len(result.gpus) != asked):
        having = "GPUs were not managed for it" if asked is None else f"it asked for {asked}"
        problems.append(f"GPUs {', '.join(map(str, result.gpus)) or 'none'} where {having}")
        result.gpus = result.gpu_wait_s = None
    if not problems:
        return None
    return f"result.json claims {' and '.join(problems)}"


def tail(path: Path, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The end of a log, decoded with replacement characters, with an explicit truncation marker."""
    if not path.is_file():
        return ""
    size = path.stat().st_size
    start = max(0, size - chars * 4)
    with path.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    whole = "\n".join(all_lines[-lines:])
    kept = whole[-chars:]
    if len(kept) < len(whole) and "\n" in kept:  # from a whole line: a cut line's end misleads
        kept = kept[kept.index("\n") + 1 :]
    if start > 0 or len(all_lines) > lines or len(kept) < len(whole):
        return f"[… truncated: the log has {size} bytes; these are its last lines]\n{kept}"
    return kept


def keep_known(results: IterationResults, existing: IterationResults | None) -> IterationResults:
    """Collecting again (a re-run, artifacts that expired) never replaces a result that is known
    with `missing`: for each experiment, an existing real result wins over a missing one."""
    if existing is None:
        return results
    known = {r.id: r for r in existing.experiments if r.status != Status.MISSING}
    merged = [known.get(r.id, r) if r.status == Status.MISSING else r for r in results.experiments]
    return dataclasses.replace(results, experiments=merged)


def results_files(
    results: IterationResults,
    history: list[IterationResults] | None = None,
    declared: Mapping[str, Direction] | None = None,
) -> dict[str, bytes]:
    """`files_and_standing`'s files."""
    return files_and_standing(results, history, declared)[0]


def files_and_standing(
    results: IterationResults,
    history: list[IterationResults] | None = None,
    declared: Mapping[str, Direction] | None = None,
) -> tuple[dict[str, bytes], Standing]:
    """results.json, results.md and, when there are metrics, the chart; `history` holds the
    session's earlier iterations with results, oldest first: the previous one for changes, all of
    them for the best-so-far section and the chart (None: not known, as when the ledger cannot be
    written: then results.md claims no best so far); directions: those the iterations recorded (from
    the user's config at submit), with `declared` (the user's config now) over them. Without
    matplotlib the results say there is no chart, and why (stderr too)."""
    known = history is not None
    history = history or []
    results = bounded(results, RESULTS_MAX_BYTES)  # read here: a test may lower it
    n = results.iteration
    standing = Standing.of(
        results, history, declared_for([*history, results], declared) if declared else None, known
    )
    drawing = chart.draw(results, history, standing.declared)
    png = drawing.png
    missing = chart.warn_missing(results, png, standing.parameter_names, drawing.failure)
    if missing and missing not in results.notes:
        results = dataclasses.replace(results, notes=[*results.notes, missing])
    as_json = results_json(results)
    markdown = report.results_markdown(results, chart_src=CHART_FILE if png else None, standing=standing)
    files = {
        iteration_file(n, RESULTS_JSON): as_json.encode(),
        iteration_file(n, RESULTS_MD): markdown.encode(),
    }
    if png:
        files[iteration_file(n, CHART_FILE)] = png
    return files, standing


def results_json(results: IterationResults) -> str:
    """The text of results.json."""
    return json.dumps(results.to_json(), indent=2, ensure_ascii=False) + "\n"


def _record_bytes(result: ExperimentResult) -> int:
    return len(json.dumps(result.to_record(), indent=2, ensure_ascii=False).encode())


def bounded(results: IterationResults, limit: int) -> IterationResults:
    """`results` whose results.json fits `limit`: when it would not, the largest experiment
    records are cut to `slimmed` ones, largest first, until it fits, and a note says which. A push
    of a file over GitHub's 100 MiB is refused whole: one experiment's record must not cost the
    iteration every result."""
    size = len(results_json(results).encode())
    if size <= limit:
        return results
    experiments = list(results.experiments)
    sizes = [_record_bytes(r) for r in experiments]
    order = sorted(range(len(experiments)), key=lambda i: sizes[i], reverse=True)
    cut: list[str] = []
    estimate = size
    for index in order:
        if estimate <= limit and _fits(results, experiments, limit):
            break
        experiments[index] = slimmed(experiments[index])
        estimate -= sizes[index] - _record_bytes(experiments[index])
        cut.append(experiments[index].id)
    note = (
        f"results.json would have had {size} bytes, over its {limit}-byte bound (GitHub refuses "
        f"files over 100 MiB): the records of {len(cut)} experiment(s) were cut to their outcome "
        f"({', '.join(cut[:SHOWN_CUT])}{' …' if len(cut) > SHOWN_CUT else ''}); their artifacts have the rest"
    )
    return dataclasses.replace(results, experiments=experiments, notes=[*results.notes, note])


def _fits(results: IterationResults, experiments: list[ExperimentResult], limit: int) -> bool:
    return len(results_json(dataclasses.replace(results, experiments=experiments)).encode()) <= limit


SHOWN_CUT = 20  # experiment ids the note on cut records lists
SLIM_NOTE_CHARS = 1000  # of a cut record's own note
SLIM_METRICS_BYTES = 64 * 1024  # metrics a cut record keeps when they are no larger


def slimmed(result: ExperimentResult) -> ExperimentResult:
    """An experiment's record cut to its outcome: identity and parameters (from the spec), status,
    exit code, times, and its metrics when they are small; its tails, output names, environment and
    other leg-reported text left out, and said so in its note."""
    metrics = result.metrics
    if len(json.dumps(metrics, ensure_ascii=False).encode()) > SLIM_METRICS_BYTES:
        metrics = {}
    said = "its record was too large for results.json: only its outcome was kept"
    if not metrics and result.metrics:
        said += f" (not its {len(result.metrics)} metrics)"
    own = (result.note or "")[:SLIM_NOTE_CHARS]
    return ExperimentResult(
        id=result.id,
        goal=result.goal,
        command=result.command,
        status=result.status,
        exit_code=result.exit_code,
        duration_s=result.duration_s,
        started_at=(result.started_at or "")[:100] or None,
        finished_at=(result.finished_at or "")[:100] or None,
        stdout_bytes=result.stdout_bytes,
        stderr_bytes=result.stderr_bytes,
        workdir=result.workdir,
        signal=result.signal,
        note="; ".join(filter(None, [said, own])),
        metrics=metrics,
        parameters=result.parameters,
        env=result.env,
        baseline=result.baseline,
        outputs_total=result.outputs_total or len(result.outputs) or None,
    )


def earlier_results(repo: git.Repo, rev: str, iteration: int) -> list[IterationResults]:
    """The session's iterations before `iteration` that have results, oldest first."""
    numbers = [i for i in ledger.iterations_at(repo, rev) if i < iteration]
    return _results_of(repo, rev, numbers)


def _results_of(repo: git.Repo, rev: str, numbers: list[int]) -> list[IterationResults]:
    """The committed results of the given iterations, in that order (those that have results): the
    iterations folder read once (`ledger.read_iteration_files`), each results.json checked on load."""
    data = ledger.read_iteration_files(repo, rev, numbers, RESULTS_JSON)
    return [
        load_record(data[n], f"{rev[:12]}:{iteration_file(n, RESULTS_JSON)}", IterationResults.from_json)
        for n in numbers
        if n in data
    ]


def standing_at(
    repo: git.Repo,
    rev: str | None,
    results: IterationResults,
    config_metrics: Mapping[str, Direction] | None = None,
) -> Standing:
    """What `results` is compared with, from the session branch at `rev`: the previous iteration and
    the best so far over every earlier iteration's results.json (one blob read each: cheap for tens
    of iterations; at 500, about 2 s here: bench/history_bench.py). `config_metrics`: the config as
    committed now, for commands that read the ledger (it wins over the recorded directions)."""
    earlier = earlier_results(repo, rev, results.iteration) if rev else []
    declared = declared_for([*earlier, results], config_metrics) if config_metrics is not None else None
    return Standing.of(results, earlier, declared)


def session_standing(
    repo: git.Repo, results: IterationResults, config_metrics: Mapping[str, Direction] | None = None
) -> Standing:
    """`standing_at` the tip of the results' session branch."""
    return standing_at(
        repo, ledger.branch_tip(repo, ledger.branch_name(results.session)), results, config_metrics
    )


def session_results(repo: git.Repo, session: str) -> list[IterationResults]:
    """Every iteration of the session that has committed results, oldest first (the leaderboard's
    input): one blob read per iteration."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {ledger.branch_name(session)}")
    return _results_of(repo, tip, ledger.iterations_at(repo, tip))


def commit_message(results: IterationResults) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in results.counts().items())
    return f"wild: results of {results.session} iteration {results.label} [skip ci]\n\n{counts}\n"


def commit_locally(
    repo: git.Repo, results: IterationResults, declared: Mapping[str, Direction] | None = None
) -> CommitOutcome:
    """Put the results on the session branch of this repository (no remote involved); `declared`:
    the config's metric directions, for the chart."""
    branch = ledger.branch_name(results.session)
    tip = ledger.branch_tip(repo, branch)
    if tip is None:
        raise ledger.LedgerError(f"branch {branch} does not exist in {repo.working_tree_dir}")
    results = keep_known(results, read_results(repo, tip, results.iteration))
    files, standing = files_and_standing(results, earlier_results(repo, tip, results.iteration), declared)
    new = ledger.commit_files_on(repo, tip, files, commit_message(results))
    if new != tip:
        ledger.update_branch(repo, branch, new, tip, f"wild-ci: results {results.label}")
    return CommitOutcome(new, new != tip, standing)


def commit_and_push(
    repo: git.Repo,
    results: IterationResults,
    remote: str,
    declared: Mapping[str, Direction] | None = None,
    first_only: bool = False,
) -> CommitOutcome:
    """Commit on top of the remote branch's tip and push; when the push is rejected because the
    branch moved (the brain pushed its next iteration), rebuild on the new tip and try again.
    `first_only` (the first attempt of a GitHub run, `first_attempt_on_github`): results another
    run committed first are kept, and these are not committed (#25 finding 3)."""
    branch = ledger.branch_name(results.session)
    last_error: Exception | None = None
    auth = push_auth_env(repo, remote)
    for _attempt in range(PUSH_ATTEMPTS):
        try:
            repo.git.fetch("--quiet", remote, f"+refs/heads/{branch}:refs/wild-ci/remote-tip", env=auth)
        except git.GitCommandError as exc:
            raise ledger.LedgerError(f"could not fetch {branch} from {remote}: {exc.stderr.strip()}") from exc
        tip = repo.git.rev_parse("refs/wild-ci/remote-tip")
        existing = read_results(repo, tip, results.iteration)
        merged = keep_known(results, existing)
        if first_only and existing is not None:
            standing = files_and_standing(existing, earlier_results(repo, tip, existing.iteration), declared)[
                1
            ]
            return CommitOutcome(tip, False, standing, earlier_run=True)
        files, standing = files_and_standing(merged, earlier_results(repo, tip, merged.iteration), declared)
        new = ledger.commit_files_on(repo, tip, files, commit_message(merged))
        if new == tip:
            return CommitOutcome(tip, False, standing)
        try:
            repo.git.push("--quiet", remote, f"{new}:refs/heads/{branch}", env=auth)
            return CommitOutcome(new, True, standing)
        except git.GitCommandError as exc:
            last_error = exc
    raise ledger.LedgerError(
        f"could not push results to {remote} {branch} after {PUSH_ATTEMPTS} attempts: {last_error}"
    )


def first_attempt_on_github(environ: Mapping[str, str]) -> bool:
    """The collect job of a run's first attempt on GitHub: results already on the branch came from
    another run of the iteration (a push and a dispatch), not from this run's earlier attempt. Under
    act (`wild-ci run`, `rerun`) wild-ci starts each run itself, and a re-run is asked for."""
    if not RUNNER.on_runner(environ) or environ.get("ACT") or environ.get("WILD_CI_LOCAL"):
        return False
    return environ.get("GITHUB_RUN_ATTEMPT", "1") in ("", "1")


def push_auth_env(repo: git.Repo, remote: str) -> dict[str, str]:
    """git environment variables that authenticate the collect job's fetch and push on a runner
    (the checkout keeps no credentials); {} on a workstation, where the user's own git
    credentials push. The runner says how (`RunnerEnvironment.push_auth`)."""
    if not RUNNER.on_runner(os.environ):
        return {}
    try:
        url = repo.git.remote("get-url", remote)
    except git.GitCommandError:
        return {}
    return RUNNER.push_auth(url, os.environ)


def write_step_summary(results: IterationResults, standing: Standing | None = None) -> None:
    """On a runner, the results table also goes to the job summary (the runner's limit at most)."""
    target = RUNNER.step_summary_path(os.environ)
    if not target:
        return
    text = report.results_markdown(results, standing=standing)
    if len(text.encode()) > STEP_SUMMARY_LIMIT:
        text = text.encode()[:STEP_SUMMARY_LIMIT].decode(errors="ignore") + "\n\n[truncated]\n"
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text)


def read_results(repo: git.Repo, rev: str, iteration: int) -> IterationResults | None:
    data = ledger.read_file(repo, rev, iteration_file(iteration, RESULTS_JSON))
    name = f"{rev[:12]}:{iteration_file(iteration, RESULTS_JSON)}"
    return load_record(data, name, IterationResults.from_json) if data else None


def read_spec(repo: git.Repo, rev: str, iteration: int) -> IterationSpec | None:
    data = ledger.read_file(repo, rev, iteration_file(iteration, SPEC_FILE))
    name = f"{rev[:12]}:{iteration_file(iteration, SPEC_FILE)}"
    return load_record(data, name, IterationSpec.from_json) if data else None


def committed_spec(repo: git.Repo, commit: str, iteration: int) -> IterationSpec:
    """The iteration's spec as its commit holds it: a git object, which no leg can rewrite the way
    it can rewrite the experiments.json in a checkout."""
    try:
        spec = read_spec(repo, ledger.iteration_commit(repo, commit, iteration), iteration)
    except git.GitCommandError as exc:
        raise ledger.LedgerError(f"{commit[:12]} is not a commit of this repository") from exc
    if spec is None:
        raise ledger.LedgerError(f"iteration {iteration} has no experiments.json at {commit[:12]}")
    return spec


def empty_results(spec: IterationSpec) -> IterationResults:
    """What an iteration without experiments has to say: its promise, warnings, invalid items."""
    return IterationResults(
        session=spec.session, iteration=spec.iteration, commit=None, experiments=[],
        promise=spec.promise, warnings=spec.warnings, invalid=spec.invalid,
        metric_directions=dict(spec.metric_directions), code=spec.code,
        replicate_keys=list(spec.replicate_keys),
    )  # fmt: skip


def latest_empty_spec(repo: git.Repo, session: str, iteration: int | None) -> IterationSpec | None:
    """The spec of the given iteration (default: the latest) when it asked for no experiments and
    so has no results: what `context` answers for it; None otherwise."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    numbers = ledger.iterations_at(repo, tip)
    number = iteration if iteration is not None else (numbers[-1] if numbers else None)
    if tip is None or number is None or number not in numbers or read_results(repo, tip, number):
        return None
    spec = read_spec(repo, tip, number)
    return spec if spec is not None and not spec.experiments else None


def any_results(repo: git.Repo, session: str) -> bool:
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    return any(read_results(repo, tip, n) for n in ledger.iterations_at(repo, tip)) if tip else False


def committed_results(repo: git.Repo, session: str, iteration: int | None) -> IterationResults:
    """An iteration's committed results; without `iteration`, the latest that has any."""
    branch = ledger.branch_name(session)
    tip = ledger.branch_tip(repo, branch)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {branch}")
    candidates = [iteration] if iteration is not None else list(reversed(ledger.iterations_at(repo, tip)))
    for number in candidates:
        results = read_results(repo, tip, number)
        if results is not None:
            return results
    which = f"iteration {iteration}" if iteration else "any iteration"
    raise ledger.LedgerError(f"{branch} has no results for {which} yet")


@dataclass(frozen=True)
class IterationState:
    """How far one iteration got, for `wild-ci status`."""

    iteration: int
    experiments: int
    collected: bool
    counts: dict[str, int]
    promise: str | None

    @property
    def state(self) -> str:
        if self.collected:
            return "collected"
        return "waiting for results" if self.experiments else "no experiments (nothing to run)"

    def to_json(self) -> dict[str, object]:
        return {
            "iteration": self.iteration,
            "experiments": self.experiments,
            "state": self.state,
            "counts": self.counts,
            "promise": self.promise,
        }


def conclusion(repo: git.Repo, tip: str, spec: IterationSpec | None) -> Conclusion | None:
    """The session's conclusion when its last iteration (`spec`) said DONE; else None."""
    if spec is None or spec.promise != "DONE":
        return None
    data = ledger.read_file(repo, tip, iteration_file(spec.iteration, REFLECTION_FILE))
    if data is None:
        return Conclusion(spec.iteration, spec.summary)
    text = data.decode("utf-8", errors="replace")
    parsed = parse_brain_output(text)
    return Conclusion(spec.iteration, spec.summary, (parsed.reflection or text).strip(), parsed.continues)


@dataclass(frozen=True)
class SessionState:
    session: str
    branch: str
    iterations: list[IterationState]
    conclusion: Conclusion | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "session": self.session,
            "branch": self.branch,
            "iterations": [i.to_json() for i in self.iterations],
            "conclusion": self.conclusion.to_json() if self.conclusion else None,
        }


def session_states(repo: git.Repo) -> list[SessionState]:
    """Every session of the repository and how far each of its iterations got."""
    sessions = []
    for branch in ledger.session_branches(repo):
        tip = ledger.branch_tip(repo, branch)
        iterations = []
        spec = None
        for number in ledger.iterations_at(repo, tip):
            spec = read_spec(repo, tip, number) if tip else None
            results = read_results(repo, tip, number) if tip else None
            iterations.append(
                IterationState(
                    iteration=number,
                    experiments=len(spec.experiments) if spec else 0,
                    collected=results is not None,
                    counts=results.counts() if results else {},
                    promise=spec.promise if spec else None,
                )
            )
        concluded = conclusion(repo, tip, spec) if tip else None
        sessions.append(SessionState(branch.removeprefix("wild/"), branch, iterations, concluded))
    return sessions
