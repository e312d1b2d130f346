"""`wild-ci run` and `wild-ci rerun`: an iteration run on this machine through act. A summary goes
to stderr; the brain's context to stdout."""

from __future__ import annotations

import argparse
import sys

from .. import collect, layout, ledger, report, sandbox, tokens
from ..config import Config, committed_config
from ..engines.act.runs import LocalRun, PullRequestTarget, rerun_local, run_local, stop_on_signals
from ..engines.github import runs as github
from ..engines.github.client import GitHubClient, GitHubSettings
from ..errors import EXIT_OK, PipelineError
from ..generate import InvalidBrainOutput, read_brain_output
from .common import config_with_flags, naming_source, read_input, report_submitted


def run(args: argparse.Namespace) -> int:
    stop_on_signals()
    config = config_with_flags(args)
    data = read_input(args.file, limit=config.limits.max_brain_bytes)  # /dev/zero cannot fill the memory
    sandbox.require(config.leg.sandbox)  # `required` and no sandbox here: refused before anything runs
    target = _pull_request(args.pr)
    parsed = read_brain_output(data, config.limits)
    try:
        outcome = run_local(
            args.repo, data, args.session, config, args.skip_invalid, pull_request=target, parsed=parsed
        )
    except InvalidBrainOutput as exc:  # the brain still gets an answer: its errors, on stdout
        print(
            report.invalid_output_block(
                args.session, exc.diagnostics, parsed.warnings, config.context_format, data
            ),
            end="",
        )
        raise naming_source(args.file, exc) from None
    report_submitted(args.file, parsed.warnings, outcome.submission.spec if outcome else None)
    if outcome is None:
        print("wild-ci: the brain output is empty; nothing was committed", file=sys.stderr)
        print(
            report.nothing_ran_block(
                args.session, parsed.warnings, parsed.promise, context_format=config.context_format
            ),
            end="",
        )
        return EXIT_OK
    if outcome.collected_by == "nothing to run":
        spec = outcome.submission.spec
        print(
            f"wild-ci: iteration {spec.label} on {outcome.submission.branch} asks for no experiments "
            f"(promise {spec.promise or 'none'}): committed, nothing to run",
            file=sys.stderr,
        )
        print(
            report.nothing_ran_block(
                args.session, spec.warnings, spec.promise, spec.label, config.context_format
            ),
            end="",
        )
        return EXIT_OK
    return _report(args, config, outcome, target)


def rerun(args: argparse.Namespace) -> int:
    stop_on_signals()
    config = committed_config(ledger.open_repo(args.repo)).with_overrides(context_format=args.format)
    sandbox.require(config.leg.sandbox)
    target = _pull_request(args.pr)
    outcome = rerun_local(
        args.repo, args.session, args.iteration, config, pull_request=target, only=args.only
    )
    return _report(args, config, outcome, target)


def _pull_request(number: int | None) -> PullRequestTarget | None:
    """`--pr N`: the settings (the token) are read here, and the token leaves what a leg could read
    of this process (tokens.py); it is used for the comment after every leg has ended."""
    target = PullRequestTarget(number, GitHubSettings.from_env()) if number else None
    tokens.hide_from_proc()
    if target is not None:
        tokens.seal_process()  # the token is in this process's memory from here on
    return target


def _report(
    args: argparse.Namespace, config: Config, outcome: LocalRun, target: PullRequestTarget | None
) -> int:
    results = outcome.results
    for note in [*results.notes, report.sandbox_line(results)]:
        if note:
            print(f"wild-ci: warning: {report.one_line(note, 300)}", file=sys.stderr)
    act_log = outcome.run_dir / layout.RUN_LOG
    print(
        f"wild-ci: iteration {results.label} on {outcome.submission.branch}: "
        f"{report.counts_line(results)}\n"
        f"wild-ci: each experiment's logs and outputs: {outcome.run_dir / layout.RUN_LEGS_DIR}/<id>/ "
        + (f"(act's log: {act_log})" if act_log.exists() else "(act's log could not be kept)"),
        file=sys.stderr,
    )
    repo = ledger.open_repo(args.repo)
    standing = collect.standing_at(repo, outcome.submission.branch, results)
    print(report.context_for(results, config, standing), end="")
    if target is not None:
        # Posted here, by the only process that holds the token, once act and every leg have
        # ended (the collect job under act has no token: engines/github/runs.py)
        posted = github.post_results_comment(GitHubClient(target.settings), results, target.number, standing)
        print(f"wild-ci: results comment on #{target.number}: {posted.url}", file=sys.stderr)
    if outcome.collected_by == "host":
        why = (
            f"act was killed (signal {-outcome.act_exit_code})"
            if outcome.act_exit_code < 0
            else "the workflow's collect job did not commit the results"
        )
        log = outcome.run_dir / layout.RUN_LOG
        raise PipelineError(f"{why}; wild-ci collected the results on the host instead (see {log})")
    return EXIT_OK
