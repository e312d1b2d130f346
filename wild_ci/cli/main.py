"""The `wild-ci` command: one subcommand per stage, plus `run` (all of them locally) and `demo`.

Exit codes: 0 done; 1 the pipeline failed (act, git, artifacts, GitHub); 2 bad input (the brain
output, the command line, .wild/config.yml); 130 interrupted. Errors go to stderr; what the brain
reads (`context`, `run`, `wait`) goes to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import git

from .. import __version__, collect, ledger, report
from ..config import Config, ConfigError, committed_config, workflow_safe
from ..engines.github.workflow import PINNED_ACTIONS
from ..execute import add_arguments as add_execute_arguments
from ..execute import execute, load_spec
from ..generate import InvalidBrainOutput, read_brain_output, submit
from ..parse import normalize_setup, parse_duration
from ..specs import BrainOutput, Diagnostic, IterationResults
from ..templating import render

# The GitHub client, act's runner and the artifact client are loaded by the commands that use them:
# `collect` runs in every iteration's collect job and should not pay for them.
if TYPE_CHECKING:
    from ..engines.act.runs import LocalRun
    from ..engines.github.client import GitHubSettings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line input; reported with exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("wild-ci: interrupted; what had finished was recorded", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InvalidBrainOutput as exc:
        _print_diagnostics(getattr(args, "file", "brain output"), exc.diagnostics, "error")
        print("wild-ci: nothing was committed", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (UsageError, ConfigError) as exc:
        print(f"wild-ci: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if not isinstance(exc, _pipeline_failures()):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"wild-ci: error: {message}", file=sys.stderr)
        return EXIT_FAILED


def _pipeline_failures() -> tuple[type[Exception], ...]:
    """Errors reported as `wild-ci: error: …` with exit code 1 (imported only when one happened)."""
    from ..engines.act.artifacts import ArtifactError
    from ..engines.act.runs import LocalRunError
    from ..engines.github.client import GitHubError

    return (ledger.LedgerError, LocalRunError, ArtifactError, FileNotFoundError, KeyError,
            git.GitCommandError, GitHubError)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wild-ci",
        description="Run the experiments an AI research agent asks for, on GitHub Actions or "
        "locally through act, and hand the results back.",
    )
    parser.add_argument("--version", action="version", version=f"wild-ci {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("parse", help="check a brain output and show its experiments")
    p.add_argument("file", help="the brain output (a file, or - for stdin)")
    p.add_argument("--json", action="store_true", help="print the parse as JSON")
    p.set_defaults(handler=cmd_parse)

    p = commands.add_parser("submit", help="commit a brain output as the next iteration")
    _add_submit_arguments(p)
    p.add_argument("--push", action="store_true", help="push wild/<session> to --remote")
    p.add_argument("--remote", default="origin", help="the remote to push to (default: origin)")
    p.add_argument("--open-pr", action="store_true", help="open the session's pull request if none")
    p.add_argument("--base", default="main", help="base branch of that pull request (default: main)")
    p.set_defaults(handler=cmd_submit)

    p = commands.add_parser(
        "run", help="submit, run the experiments locally through act, commit and print results"
    )
    _add_submit_arguments(p)
    p.add_argument(
        "--pr", type=int, help="also post the results on this pull request (GITHUB_TOKEN, GITHUB_REPOSITORY)"
    )
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("rerun", help="run an iteration already on the session branch again, locally")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="the iteration (default: the latest)")
    p.add_argument(
        "--pr", type=int, help="also post the results on this pull request (GITHUB_TOKEN, GITHUB_REPOSITORY)"
    )
    p.set_defaults(handler=cmd_rerun)

    p = commands.add_parser("context", help="print the experiment_results block for the brain")
    _add_repo_arguments(p)
    p.add_argument(
        "--budget", type=int,
        help="at most this many characters; tails are cut evenly to fit "
        "(default: context_budget in .wild/config.yml, else 20000)",
    )  # fmt: skip
    p.add_argument("--iteration", type=int, help="iteration number (default: the latest with results)")
    p.set_defaults(handler=cmd_context)

    p = commands.add_parser("execute", help="(runs inside a matrix leg) run one experiment")
    add_execute_arguments(p)
    p.set_defaults(handler=cmd_execute)

    p = commands.add_parser(
        "collect",
        help="write and commit results: from downloaded artifacts (the collect job), or from a "
        "finished GitHub run's artifacts (--run-id)",
    )
    p.add_argument("--iteration", type=int, help="default: the latest iteration")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--artifacts", type=Path, help="folder of downloaded artifacts (in the checkout)")
    source.add_argument("--run-id", type=int, help="a GitHub Actions run whose artifacts to download")
    p.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: .)")
    p.add_argument("--session", default="main", help="with --run-id: the session (default: main)")
    p.add_argument("--push", action="store_true", help="push the results commit to --remote")
    p.add_argument("--remote", default="origin")
    p.add_argument("--comment", action="store_true", help="create or update the pull-request comment")
    p.add_argument("--pr", type=int, help="the pull request to comment on (default: found)")
    p.set_defaults(handler=cmd_collect)

    p = commands.add_parser("comment", help="post an iteration's results as the pull-request comment")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest with results")
    p.add_argument("--pr", type=int, help="the pull request (default: the session branch's open one)")
    p.set_defaults(handler=cmd_comment)

    p = commands.add_parser("wait", help="follow the GitHub run of an iteration, then print the context")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest iteration")
    p.add_argument("--timeout", default="6h", help="give up after this long (default: 6h)")
    p.add_argument("--interval", type=float, default=15.0, help="seconds between polls (default: 15)")
    p.add_argument("--remote", default="origin")
    p.set_defaults(handler=cmd_wait)

    p = commands.add_parser("status", help="sessions, their iterations, and how far each got")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_status)

    p = commands.add_parser("show", help="an iteration's results as a table")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest with results")
    p.add_argument("--json", action="store_true", help="print results.json")
    p.set_defaults(handler=cmd_show)

    p = commands.add_parser("logs", help="an experiment's full log (local runs; downloaded for GitHub runs)")
    p.add_argument("experiment", help="the experiment id")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest with results")
    p.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    p.add_argument("--json", action="store_true", help="print the leg's result.json instead")
    p.set_defaults(handler=cmd_logs)

    p = commands.add_parser("init", help="install the inbox workflow (brain outputs committed directly)")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    p.add_argument("--install-spec", default=os.environ.get("WILD_CI_INSTALL_SPEC"))
    p.add_argument("--runs-on", default="ubuntu-latest")
    p.add_argument("--force", action="store_true", help="overwrite an existing inbox workflow")
    p.set_defaults(handler=cmd_init)

    p = commands.add_parser("inbox", help="(runs in the inbox workflow) submit the oldest inbox file")
    p.add_argument("--repo", type=Path, default=Path("."), help="the session branch's checkout")
    p.add_argument("--push", action="store_true", help="push the iteration to --remote")
    p.add_argument("--remote", default="origin")
    p.add_argument("--dispatch", action="store_true", help="start the experiments workflow on GitHub")
    p.set_defaults(handler=cmd_inbox)

    p = commands.add_parser("demo", help="run the bundled example end to end, locally")
    p.add_argument("--dir", type=Path, help="where to create the example repository")
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("_artifact")  # used by the local stand-ins of the artifact actions
    p.add_argument("action", choices=["upload", "download"])
    p.set_defaults(handler=cmd_artifact)
    return parser


def _add_repo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    p.add_argument("--session", default="main", help="session name; branch wild/<session>")


def _add_submit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the brain output (a file, or - for stdin)")
    _add_repo_arguments(p)
    p.add_argument(
        "--project-root",
        help="the absolute project root the brain's paths use (default: project_root in "
        ".wild/config.yml, else the repository's path)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="submit the valid experiments and report the invalid ones to the brain (default: strict)",
    )
    p.add_argument(
        "--install-spec",
        default=os.environ.get("WILD_CI_INSTALL_SPEC"),
        help="what runners pip-install to get wild-ci: a version, git URL or path",
    )
    p.add_argument(
        "--setup", help="environment set-up before each experiment: auto, none, or a command (default: auto)"
    )
    p.add_argument("--runs-on", help="runner label for the jobs (default: ubuntu-latest)")
    p.add_argument(
        "--max-parallel", type=int, help="legs at once per matrix (default: local cores; GitHub: no cap)"
    )
    p.add_argument("--timeout", help="default experiment timeout: seconds or 90s/30m/2h (default: 60m)")


def _config(args: argparse.Namespace) -> Config:
    """.wild/config.yml of the repository, overridden by the flags that were given."""
    repo = ledger.open_repo(args.repo)
    config = committed_config(repo)
    timeout_s = None
    if args.timeout is not None:
        timeout_s = parse_duration(args.timeout)
        if timeout_s is None:
            raise UsageError(f"--timeout {args.timeout!r} is not seconds or a duration like 90s, 30m, 2h")
    if args.max_parallel is not None and args.max_parallel < 1:
        raise UsageError("--max-parallel must be positive")
    if args.project_root is not None and not args.project_root.startswith("/"):
        raise UsageError("--project-root must be an absolute path")
    for name in ("install_spec", "runs_on"):
        value = getattr(args, name)
        if value is not None:
            workflow_safe(value, f"--{name.replace('_', '-')}", lambda _k, message: UsageError(message))
    if args.setup is not None:
        config = config.with_overrides(leg=dataclasses.replace(config.leg, setup=normalize_setup(args.setup)))
    return config.with_overrides(
        project_root=args.project_root,
        install_spec=args.install_spec,
        runs_on=args.runs_on,
        max_parallel=args.max_parallel,
        timeout_s=timeout_s,
    )


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from exc


def _report_parse(source: str, parsed: BrainOutput) -> None:
    """After a submit: the warnings, and the invalid items that were skipped."""
    _print_diagnostics(source, parsed.warnings, "warning")
    for item in parsed.invalid:
        _print_diagnostics(source, item.errors, "skipped")


def _print_diagnostics(source: str, diagnostics: list[Diagnostic], kind: str) -> None:
    source = "<stdin>" if source == "-" else source
    for d in diagnostics:
        where = f"{source}:{d.line}" if d.line else source
        print(f"{where}: {kind}: {d.message}", file=sys.stderr)


# --- commands -----------------------------------------------------------------------------------


def cmd_parse(args: argparse.Namespace) -> int:
    parsed = read_brain_output(_read_input(args.file))
    if args.json:
        print(json.dumps(parsed.to_json(), indent=2, ensure_ascii=False))
    else:
        for e in parsed.experiments:
            print(f"{e.id}  (line {e.line})\n  goal: {e.goal}\n  run:  {e.run}")
        print(f"{len(parsed.experiments)} experiment(s); promise: {parsed.promise or '-'}")
    _print_diagnostics(args.file, parsed.warnings, "warning")
    _print_diagnostics(args.file, parsed.errors, "error")
    return EXIT_OK if parsed.ok else EXIT_BAD_INPUT


def cmd_submit(args: argparse.Namespace) -> int:
    from ..engines.github import runs as remote

    data = _read_input(args.file)
    config = _config(args)
    if args.push or args.open_pr:  # build on what the collect jobs pushed, not on a stale branch
        remote.sync_branch(ledger.open_repo(args.repo), args.session, args.remote)
    parsed = read_brain_output(data, config.limits)
    submission = submit(args.repo, data, args.session, config, args.skip_invalid, parsed)
    _report_parse(args.file, parsed)
    if submission is None:
        print("wild-ci: the brain output asks for no experiments; nothing was committed")
        return EXIT_OK
    n = len(submission.spec.experiments)
    print(
        f"committed iteration {submission.label} ({n} experiment{'s' * (n != 1)}) "
        f"as {submission.commit[:12]} on {submission.branch}"
    )
    if args.push or args.open_pr:
        remote.push_branch(ledger.open_repo(args.repo), args.session, args.remote)
        print(f"pushed {submission.branch} to {args.remote}")
    if args.open_pr:
        number, created = remote.open_pull_request(remote.client_from_env(), args.session, args.base)
        print(f"{'opened' if created else 'using'} pull request #{number}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from ..engines.act.runs import PullRequestTarget, run_local
    from ..engines.github.client import GitHubSettings

    signal.signal(signal.SIGTERM, _interrupt)  # stopped from outside: record what finished, as on Ctrl-C
    data = _read_input(args.file)
    config = _config(args)
    github = GitHubSettings.from_env() if args.pr else None
    target = PullRequestTarget(args.pr, github) if args.pr and github else None
    parsed = read_brain_output(data, config.limits)
    outcome = run_local(
        args.repo, data, args.session, config, args.skip_invalid, pull_request=target, parsed=parsed
    )
    _report_parse(args.file, parsed)
    if outcome is None:
        print("wild-ci: the brain output asks for no experiments; nothing to run", file=sys.stderr)
        print(report.nothing_ran_block(args.session, parsed.warnings, parsed.promise), end="")
        return EXIT_OK
    return _report_local_run(args, config, outcome, github)


def cmd_rerun(args: argparse.Namespace) -> int:
    from ..engines.act.runs import PullRequestTarget, rerun_local
    from ..engines.github.client import GitHubSettings

    signal.signal(signal.SIGTERM, _interrupt)
    repo = ledger.open_repo(args.repo)
    config = committed_config(repo)
    github = GitHubSettings.from_env() if args.pr else None
    target = PullRequestTarget(args.pr, github) if args.pr and github else None
    outcome = rerun_local(args.repo, args.session, args.iteration, config, pull_request=target)
    return _report_local_run(args, config, outcome, github)


def _report_local_run(
    args: argparse.Namespace, config: Config, outcome: LocalRun, github: GitHubSettings | None
) -> int:
    """What `run` and `rerun` print: a summary on stderr, the brain's context on stdout."""
    from ..engines.github import runs as remote
    from ..engines.github.client import GitHubClient

    results = outcome.results
    print(
        f"wild-ci: iteration {results.label} on {outcome.submission.branch}: "
        f"{report.counts_line(results)}\n"
        f"wild-ci: each experiment's logs and outputs: {outcome.run_dir / 'legs'}/<id>/ "
        f"(act's log: {outcome.run_dir / 'act.log'})",
        file=sys.stderr,
    )
    print(report.context_block(results, config.context_budget), end="")
    if args.pr and github:
        # The collect job posted it; posting again changes nothing when it did, and makes a
        # failure (a wrong token, a missing PR) show here instead of deep in act's log.
        repo = ledger.open_repo(args.repo)
        previous = collect.previous_results(repo, outcome.submission.branch, results.iteration)
        outcome_comment = remote.post_results_comment(GitHubClient(github), results, args.pr, previous)
        print(f"wild-ci: results comment on #{args.pr}: {outcome_comment.url}", file=sys.stderr)
    if outcome.collected_by == "host":
        why = (
            f"act was killed (signal {-outcome.act_exit_code})"
            if outcome.act_exit_code < 0
            else ("the workflow's collect job did not commit the results")
        )
        print(
            f"wild-ci: error: {why}; wild-ci collected the results on the host instead "
            f"(see {outcome.run_dir / 'act.log'})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_context(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    results = _committed_results(repo, args.session, args.iteration)
    print(report.context_block(results, args.budget or committed_config(repo).context_budget), end="")
    return EXIT_OK


def cmd_execute(args: argparse.Namespace) -> int:
    execute(args.workspace, args.iteration, args.experiment, args.out)
    return EXIT_OK  # the experiment's outcome is data in result.json, not a failure of the leg


def cmd_collect(args: argparse.Namespace) -> int:
    from ..engines.github import runs as remote

    repo = ledger.open_repo(args.repo)
    if args.run_id is not None:
        client = remote.client_from_env()
        try:
            results = remote.collect_from_run(
                repo, args.session, args.iteration, args.run_id, client, args.remote
            )
        except remote.WaitFailed as exc:
            raise ledger.LedgerError(str(exc)) from exc
        print(f"wild-ci: results of iteration {results.label} rebuilt from run {args.run_id}")
        print(report.counts_line(results))
        return EXIT_OK
    workspace = Path(repo.working_tree_dir)
    iteration = args.iteration or _latest_iteration_in(workspace)
    spec = load_spec(workspace, iteration)
    commit = os.environ.get("WILD_COMMIT") or os.environ.get("GITHUB_SHA") or ledger.resolve(repo, "HEAD")
    results = collect.collect_results(spec, args.artifacts, commit)
    if args.push:
        outcome = collect.commit_and_push(repo, results, args.remote)
    else:
        outcome = collect.commit_locally(repo, results)
    collect.write_step_summary(results)
    action = "committed" if outcome.created else "already committed"
    print(f"wild-ci: results of iteration {results.label} {action} as {outcome.commit[:12]}")
    print(report.counts_line(results))
    if args.comment:
        _comment_from_job(results, args.pr, collect.previous_results(repo, outcome.commit, results.iteration))
    return EXIT_OK


def _comment_from_job(results: IterationResults, pr: int | None, previous: IterationResults | None) -> None:
    """The collect job's comment. A failure here is a warning: the results are committed already.
    A local run comments only when `wild-ci run --pr` named the PR (handed over, or in the event)."""
    from ..engines.github import runs as remote
    from ..engines.github.client import GitHubError

    branch = ledger.branch_name(results.session)
    named = remote.pull_request_number(None, branch, pr)  # given, handed over, or in the event
    if os.environ.get("WILD_CI_LOCAL") and named is None:
        return
    try:
        client = remote.client_from_env()
        number = named or remote.pull_request_number(client, branch, pr)
        if number is None:
            print("wild-ci: the session branch has no open pull request; no comment posted")
            return
        outcome = remote.post_results_comment(client, results, number, previous)
    except GitHubError as exc:
        print(f"::warning::wild-ci could not comment on the pull request: {exc}")
        return
    verb = "posted" if outcome.created else "updated" if outcome.updated else "unchanged:"
    print(f"wild-ci: {verb} the results comment on #{number}: {outcome.url}")


def cmd_comment(args: argparse.Namespace) -> int:
    from ..engines.github import runs as remote
    from ..engines.github.client import GitHubError

    repo = ledger.open_repo(args.repo)
    results = _committed_results(repo, args.session, args.iteration)
    client = remote.client_from_env()
    number = remote.pull_request_number(client, ledger.branch_name(args.session), args.pr)
    if number is None:
        raise GitHubError(f"{ledger.branch_name(args.session)} has no open pull request; pass --pr")
    tip = ledger.branch_tip(repo, ledger.branch_name(args.session))
    previous = collect.previous_results(repo, tip, results.iteration) if tip else None
    outcome = remote.post_results_comment(client, results, number, previous)
    verb = "posted" if outcome.created else "updated" if outcome.updated else "already up to date:"
    print(f"wild-ci: {verb} the comment for iteration {results.label} on #{number}: {outcome.url}")
    return EXIT_OK


def cmd_wait(args: argparse.Namespace) -> int:
    from ..engines.github import runs as remote

    timeout_s = parse_duration(args.timeout)
    if timeout_s is None or args.interval <= 0:
        raise UsageError("--timeout must be a duration like 90s, 30m, 2h and --interval positive")
    repo = ledger.open_repo(args.repo)
    options = remote.WaitOptions(remote=args.remote, timeout_s=timeout_s, interval_s=args.interval)
    try:
        results = remote.wait_for_results(
            repo, args.session, args.iteration, remote.client_from_env(), options
        )
    except remote.WaitFailed as exc:
        print(f"wild-ci: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report.context_block(results, committed_config(repo).context_budget), end="")
    return EXIT_OK


def _committed_results(repo: git.Repo, session: str, iteration: int | None) -> IterationResults:
    branch = ledger.branch_name(session)
    tip = ledger.branch_tip(repo, branch)
    if tip is None:
        raise ledger.LedgerError(f"there is no session branch {branch}")
    candidates = [iteration] if iteration is not None else list(reversed(ledger.iterations_at(repo, tip)))
    for number in candidates:
        results = collect.read_results(repo, tip, number)
        if results is not None:
            return results
    which = f"iteration {iteration}" if iteration else "any iteration"
    raise ledger.LedgerError(f"{branch} has no results for {which} yet")


def _latest_iteration_in(workspace: Path) -> int:
    folder = workspace / ledger.ITERATIONS_DIR
    numbers = sorted(int(p.name) for p in folder.glob("[0-9]*") if p.name.isdigit())
    if not numbers:
        raise FileNotFoundError(f"no iterations under {folder}")
    return numbers[-1]


def cmd_status(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    sessions = []
    for branch in repo.git.for_each_ref("--format=%(refname:short)", "refs/heads/wild/").split():
        tip = ledger.branch_tip(repo, branch)
        iterations = []
        for number in ledger.iterations_at(repo, tip):
            spec = collect.read_spec(repo, tip, number)
            results = collect.read_results(repo, tip, number)
            iterations.append({
                "iteration": number,
                "experiments": len(spec.experiments) if spec else 0,
                "state": "collected" if results else "waiting for results",
                "counts": results.counts() if results else {},
                "promise": spec.promise if spec else None,
            })  # fmt: skip
        sessions.append({"session": branch.removeprefix("wild/"), "branch": branch, "iterations": iterations})
    if args.json:
        print(json.dumps({"sessions": sessions}, indent=2))
        return EXIT_OK
    if not sessions:
        print("no sessions yet: `wild-ci run brain.md` starts one (branch wild/main)")
    for session in sessions:
        print(f"{session['branch']}: {len(session['iterations'])} iteration(s)")
        for item in session["iterations"]:
            counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in item["counts"].items())
            promise = f" · promise {item['promise']}" if item["promise"] else ""
            print(f"  {item['iteration']:04d}  {item['experiments']} experiment(s)  {item['state']}"
                  f"{': ' + counts if counts else ''}{promise}")  # fmt: skip
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    results = _committed_results(repo, args.session, args.iteration)
    if args.json:
        print(json.dumps(results.to_json(), indent=2, ensure_ascii=False))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(
        title=f"wild/{results.session} · iteration {results.label}", caption=report.counts_line(results)
    )
    for column in ("", "experiment", "goal", "duration", "exit", "metrics"):
        table.add_column(column, overflow="fold")
    for r in results.experiments:
        table.add_row(
            f"{report.STATUS_SYMBOLS.get(r.status, '?')} {r.status}", r.id, report.one_line(r.goal, 60),
            report.duration(r.duration_s), report.exit_text(r), report.metrics_cell(r.metrics),
        )  # fmt: skip
    console.print(table)
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    from ..engines.act.runs import local_leg_folder, runs_root
    from ..engines.github import runs as remote

    repo = ledger.open_repo(args.repo)
    results = _committed_results(repo, args.session, args.iteration)
    if args.experiment not in {r.id for r in results.experiments}:
        known = ", ".join(r.id for r in results.experiments)
        raise UsageError(f"no experiment {args.experiment!r} in iteration {results.label} (known: {known})")
    leg = local_leg_folder(repo, results.session, results.label, args.experiment)
    if leg is None:
        leg = remote.download_leg(
            repo,
            results,
            args.experiment,
            runs_root(repo, results.session, results.label) / "legs" / args.experiment,
        )
    path = leg / ("result.json" if args.json else "stderr.log" if args.stderr else "stdout.log")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (the leg left no such file)")
    sys.stdout.buffer.write(path.read_bytes())
    sys.stdout.flush()
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from ..engines.github import runs as remote

    repo = ledger.open_repo(args.repo)
    target = Path(repo.working_tree_dir) / remote.INBOX_WORKFLOW_PATH
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    config = committed_config(repo)
    text = render(
        "wild-inbox.yml.j2",
        version=__version__,
        install_spec=args.install_spec or config.install_spec,
        runs_on=args.runs_on,
        actions=PINNED_ACTIONS,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target}")
    print(
        f"commit it to your default branch; then a brain output committed to {remote.INBOX_DIR}/ "
        "on a wild/<session> branch runs as that session's next iteration"
    )
    return EXIT_OK


def cmd_inbox(args: argparse.Namespace) -> int:
    """Submit the oldest brain output in `.wild/inbox/` as the session's next iteration. One that
    cannot run is moved to `.wild/rejected/` with its errors, so it never blocks the inbox."""
    from ..engines.github import runs as remote

    repo = ledger.open_repo(args.repo)
    workspace = Path(repo.working_tree_dir)
    session = remote.session_of_checkout(repo)
    files = remote.inbox_files(workspace)
    if not files:
        print(f"wild-ci: nothing in {remote.INBOX_DIR}/")
        return EXIT_OK
    oldest = files[0]
    data = oldest.read_bytes()
    oldest.unlink()  # the iteration commit removes it from the inbox
    try:
        submission = submit(args.repo, data, session, committed_config(repo))
        reason = None if submission else "the brain output asks for no experiments"
    except InvalidBrainOutput as exc:
        submission, reason = None, "\n".join(str(d) for d in exc.diagnostics)
    if submission is None:
        remote.reject_inbox_file(repo, session, oldest.relative_to(workspace).as_posix(), data, reason or "")
        print(f"wild-ci: {oldest.name} was not run and is now in {remote.REJECTED_DIR}/:\n{reason}")
    else:
        print(f"wild-ci: {oldest.name} is iteration {submission.label} on {submission.branch}")
    if args.push:
        remote.push_branch(repo, session, args.remote)
    if args.dispatch and submission is not None:
        remote.client_from_env().dispatch(remote.WORKFLOW_FILE, submission.branch)
        print(f"wild-ci: started {remote.WORKFLOW_FILE} on {submission.branch}")
    return EXIT_OK if submission is not None else EXIT_BAD_INPUT


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args.dir)


def cmd_artifact(args: argparse.Namespace) -> int:
    """The body of the local upload/download-artifact stand-ins (inputs arrive as env vars)."""
    from ..engines.act.artifacts import run_standin

    return run_standin(args.action)
