"""The commands of remote mode: `collect` (the workflow's collect job, or a finished GitHub run),
`comment` (the sticky pull-request comment) and `wait` (follow the run, then print the context)."""

from __future__ import annotations

import argparse
import os
import sys

from .. import chart, collect, ledger, report
from ..config import committed_config
from ..engines.github import pushes
from ..engines.github import runs as github
from ..engines.github.client import GitHubError
from ..engines.github.runner import RUNNER
from ..errors import EXIT_OK, UsageError
from ..layout import RESULTS_REMOTE_ENV
from ..values import parse_duration


def collect_command(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    if args.run_id is not None:
        client = github.client_from_env()
        results = github.collect_from_run(
            repo, args.session, args.iteration, args.run_id, client, args.remote
        )
        print(f"wild-ci: results of iteration {results.label} rebuilt from run {args.run_id}")
        print(report.counts_line(results))
        return EXIT_OK
    commit = os.environ.get("WILD_COMMIT") or RUNNER.commit(os.environ) or ledger.resolve(repo, "HEAD")
    if commit is None:
        raise ledger.LedgerError("the checkout has no commit to collect the results of")
    iteration = args.iteration or ledger.latest_iteration(repo, commit)
    # the spec from the commit, not the checkout's file: the legs ran in copies of this checkout
    spec = collect.committed_spec(repo, commit, iteration)
    results = collect.collect_results(spec, args.artifacts, commit)
    chart.preload(results)  # loads while git fetches and reads the earlier iterations
    for note in results.notes:
        print(f"wild-ci: warning: {report.one_line(note, 300)}", file=sys.stderr)
    if args.push:  # directions: those recorded at submit (the user's config), not the snapshot's
        first_only = collect.first_attempt_on_github(os.environ)
        outcome = collect.commit_and_push(repo, results, _results_remote(args.remote), first_only=first_only)
        if outcome.earlier_run:
            print(
                f"::warning::iteration {results.label} already has results, committed by another run of "
                "it; this run's are not committed (re-run that run to replace them)"
            )
            return EXIT_OK
    else:
        outcome = collect.commit_locally(repo, results)
    if args.push:
        dropped = pushes.drop_start_branch(repo, args.remote, results.session, results.iteration, os.environ)
        if dropped:
            print(f"wild-ci: deleted the start branch {dropped}")
    collect.write_step_summary(results, outcome.standing)  # compared as results.md is
    action = "committed" if outcome.created else "already committed"
    print(f"wild-ci: results of iteration {results.label} {action} as {outcome.commit[:12]}")
    print(report.counts_line(results))
    if args.comment:
        said = github.comment_from_collect_job(results, args.pr, outcome.standing)
        if said:
            print(said)
    return EXIT_OK


def _results_remote(remote: str) -> str:
    """Under `wild-ci run` (act) the checkout has no remote: the collect job pushes to wild-ci's
    staging repository, never to the user's (engines/act/staging.py)."""
    staged = os.environ.get(RESULTS_REMOTE_ENV)
    return staged if staged and os.environ.get("WILD_CI_LOCAL") else remote


def comment(args: argparse.Namespace) -> int:
    repo = ledger.open_repo(args.repo)
    results = collect.committed_results(repo, args.session, args.iteration)
    client = github.client_from_env()
    branch = ledger.branch_name(args.session)
    number = github.pull_request_number(client, branch, args.pr)
    if number is None:
        raise GitHubError(f"{branch} has no open pull request; pass --pr")
    standing = collect.session_standing(repo, results, committed_config(repo).metrics)
    outcome = github.post_results_comment(client, results, number, standing)
    verb = "posted" if outcome.created else "updated" if outcome.updated else "already up to date:"
    print(f"wild-ci: {verb} the comment for iteration {results.label} on #{number}: {outcome.url}")
    return EXIT_OK


def wait(args: argparse.Namespace) -> int:
    timeout_s = parse_duration(args.timeout)
    if timeout_s is None or args.interval <= 0:
        raise UsageError("--timeout must be a duration like 90s, 30m, 2h and --interval positive")
    repo = ledger.open_repo(args.repo)
    options = github.WaitOptions(remote=args.remote, timeout_s=timeout_s, interval_s=args.interval)
    results = github.wait_for_results(repo, args.session, args.iteration, github.client_from_env(), options)
    config = committed_config(repo)
    standing = collect.session_standing(repo, results, config.metrics)
    print(
        report.context_block(results, config.context_budget, args.format or config.context_format, standing),
        end="",
    )
    return EXIT_OK
