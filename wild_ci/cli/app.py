"""The `wild-ci` command: argument wiring, and the table of which module runs each command.

Exit codes: 0 done; 1 the pipeline failed (act, git, artifacts, GitHub); 2 bad input (the brain
output, the command line, the config file); 3 a bug in wild-ci (with its traceback); 130
interrupted. Errors go to stderr; what the brain reads (`context`, `run`, `wait`) goes to stdout.

A command's module is imported only when that command runs (the one lazy import of the CLI):
`collect` runs in every iteration's collect job and should not load act's runner, rich or the
GitHub client, which other commands need.
"""

from __future__ import annotations

import argparse
import importlib
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__, layout
from ..config import CONTEXT_FORMATS, DEFAULT_CONTEXT_BUDGET
from ..errors import EXIT_CODES, run_guarded
from ..execute import add_arguments as add_execute_arguments
from ..leaderboard import DEFAULT_TOP
from ..specs import Status

# command -> "module:function" under wild_ci.cli; each function takes the parsed arguments.
COMMANDS = {
    "parse": "parse:check",
    "submit": "submit:submit",
    "run": "local:run",
    "rerun": "local:rerun",
    "context": "results:context",
    "execute": "leg:execute",
    "collect": "github:collect_command",
    "comment": "github:comment",
    "wait": "github:wait",
    "status": "results:status",
    "show": "results:show",
    "leaderboard": "leaderboard:leaderboard",
    "logs": "results:logs",
    "init": "inbox:init",
    "inbox": "inbox:inbox",
    "demo": "demo:demo",
    "loop": "loop:loop",
    "steer": "steer:steer",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: command_function(args.command)(args))


def command_function(command: str) -> Callable[[argparse.Namespace], int]:
    module_name, function = COMMANDS[command].split(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    handler: Callable[[argparse.Namespace], int] = getattr(module, function)
    return handler


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

    p = commands.add_parser("submit", help="commit a brain output as the next iteration")
    _add_submit_arguments(p)
    p.add_argument("--push", action="store_true", help="push wild/<session> to --remote")
    p.add_argument("--remote", default="origin", help="the remote to push to (default: origin)")
    p.add_argument("--open-pr", action="store_true", help="open the session's pull request if none")
    p.add_argument("--base", default="main", help="base branch of that pull request (default: main)")

    p = commands.add_parser(
        "run", help="submit, run the experiments locally through act, commit and print results"
    )
    _add_submit_arguments(p)
    _add_pr_argument(p)
    _add_format_argument(p)

    p = commands.add_parser(
        "loop",
        help="drive the research loop with a brain command: prompt on its stdin, its output from its "
        "stdout, then run it; until DONE or --max-iterations",
        description="Each turn writes the prompt (the protocol, the goal, the last results or the errors "
        "of the last output, the best metrics so far) to the brain command's stdin, runs it in the "
        "repository (it may edit code), and submits, runs and collects what it printed. Stops on "
        "<promise>DONE</promise> (after a reflection prompt whose <continue>yes</continue> resumes it, "
        "unless --no-reflection), after --max-iterations turns, on `wild-ci steer --pause` after the "
        "current turn, or on Ctrl-C. Prints the last "
        "experiment_results block on stdout. Exit 0 when the loop ended (DONE or the turns used), 1 when "
        "the brain command or the pipeline failed, 2 on bad input, 130 when interrupted.",
    )
    p.add_argument("--brain", required=True, metavar="CMD", help="the brain: a shell command, run in --repo")
    p.add_argument(
        "--max-iterations", type=positive_int, default=10, help="at most this many turns (default: 10)"
    )
    p.add_argument("--goal", type=Path, help=f"the research goal (default: {layout.GOAL_PATH} as committed)")
    p.add_argument(
        "--prompt", type=Path,
        help=f"a jinja2 prompt template (default: {layout.PROMPT_PATH} as committed, else the bundled one)",
    )  # fmt: skip
    _add_repo_arguments(p)
    _add_submit_options(p)
    p.add_argument(
        "--brain-timeout", default="60m",
        help="end the brain (with everything it started) when it has not answered after this long; the "
        "turn fails as a failing brain does (default: 60m)",
    )  # fmt: skip
    p.add_argument("--push", action="store_true", help="run each iteration on GitHub (submit --push + wait)")
    p.add_argument("--remote", default="origin", help="with --push: the remote (default: origin)")
    p.add_argument("--wait-timeout", default="6h", help="with --push: give up on a run after (default: 6h)")
    p.add_argument(
        "--wait-interval", type=float, default=15.0, help="with --push: seconds between polls (default: 15)"
    )
    p.add_argument(
        "--no-reflection", dest="reflection", action="store_false",
        help="end at the brain's DONE without asking it the reflection prompt (is the goal really reached?)",
    )  # fmt: skip
    _add_format_argument(p)
    _add_steer_parser(commands)

    p = commands.add_parser(
        "rerun",
        help="run an iteration already on the session branch again, locally",
        description="Run an iteration's committed experiments again through act (the same commit) and "
        "commit the new results; with --only, just the experiments whose latest result has one of the "
        "statuses, the others keeping theirs. Prints the context on stdout. Exit 0 when the run "
        "completed, whatever the experiments' exit codes; 1 when the pipeline failed; 2 on bad input "
        "(also when --only selects no experiment).",
    )
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="the iteration (default: the latest)")
    p.add_argument(
        "--only", type=status_list, metavar="STATUS[,STATUS…]",
        help="re-run only the experiments whose latest result has one of these statuses, e.g. "
        "failed,timed_out,missing,cancelled (an experiment without a result counts as missing)",
    )  # fmt: skip
    _add_pr_argument(p)
    _add_format_argument(p)

    p = commands.add_parser("context", help="print the experiment_results block for the brain")
    _add_repo_arguments(p)
    p.add_argument(
        "--budget", type=positive_int,
        help="at most this many characters; tails are cut evenly to fit "
        f"(default: context_budget in {layout.CONFIG_PATH}, else {DEFAULT_CONTEXT_BUDGET})",
    )  # fmt: skip
    p.add_argument("--iteration", type=int, help="iteration number (default: the latest with results)")
    _add_format_argument(p)

    p = commands.add_parser("execute", help="(runs inside a matrix leg) run one experiment")
    add_execute_arguments(p)  # the leg's own parser has the same arguments

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

    p = commands.add_parser("comment", help="post an iteration's results as the pull-request comment")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest with results")
    p.add_argument("--pr", type=int, help="the pull request (default: the session branch's open one)")

    p = commands.add_parser("wait", help="follow the GitHub run of an iteration, then print the context")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest iteration")
    p.add_argument("--timeout", default="6h", help="give up after this long (default: 6h)")
    p.add_argument("--interval", type=float, default=15.0, help="seconds between polls (default: 15)")
    p.add_argument("--remote", default="origin")
    _add_format_argument(p)

    p = commands.add_parser("status", help="sessions, their iterations, and how far each got")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    p.add_argument("--session", help="only this session (default: every session)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = commands.add_parser("show", help="an iteration's results as a table")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest with results")
    p.add_argument("--json", action="store_true", help="print results.json")

    p = commands.add_parser(
        "leaderboard",
        help="the best so far of each metric in a session, with the top runs",
        description="For each metric: its direction (declared in "
        f"{layout.CONFIG_PATH} `metrics:`, else guessed from the name and marked ↑? or ↓?), the best "
        "value in the whole session with its iteration, experiment and parameters, and the top runs. "
        "Only experiments that succeeded count, and a metrics.json key that echoes a parameter with its "
        "value is a parameter, never ranked. Exit 0 when printed (also with no metrics yet), 1 when "
        "the session branch does not exist or its records are damaged, 2 for an unknown --metric.",
    )
    _add_repo_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument(
        "--top",
        type=positive_int,
        default=DEFAULT_TOP,
        help=f"runs shown per metric (default: {DEFAULT_TOP})",
    )
    p.add_argument("--metric", metavar="NAME", help="only this metric")

    p = commands.add_parser(
        "logs",
        help="an experiment's full log (local runs; downloaded for GitHub runs)",
        description="Print an experiment's stdout; its stderr instead when stdout is empty (said on "
        "stderr); both, each under a label, with --both. Only the logs of the run that produced the "
        "committed result are shown. Exit 0 when printed, 1 when there are no such logs, 2 for an "
        "unknown experiment.",
    )
    p.add_argument("experiment", help="the experiment id")
    _add_repo_arguments(p)
    p.add_argument("--iteration", type=int, help="default: the latest with results")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stderr", action="store_true", help="stderr only")
    which.add_argument(
        "--both", action="store_true", help="stdout, then stderr, each under a ==> name <== line"
    )
    which.add_argument("--json", action="store_true", help="print the leg's result.json instead")
    p.add_argument(
        "--attempt",
        type=int,
        help="a retried experiment's attempt N (attempt-N/ of its artifact); default: the final",
    )

    p = commands.add_parser("init", help="install the inbox workflow (brain outputs committed directly)")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    p.add_argument(
        "--install-spec", default=os.environ.get("WILD_CI_INSTALL_SPEC"),
        help="what the inbox job pip-installs to get wild-ci: a version, git URL or path (default: "
        "$WILD_CI_INSTALL_SPEC, else install_spec in the config, else this version from PyPI)",
    )  # fmt: skip
    p.add_argument(
        "--runs-on",
        default="ubuntu-latest",
        help="the runner label of the inbox job (default: ubuntu-latest)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing inbox workflow")
    p.add_argument(
        "--environment",
        default="wild-inbox",
        help="the deployment environment the inbox job runs in, which holds WILD_CI_TOKEN (default: "
        "wild-inbox)",
    )
    p.add_argument(
        "--no-environment",
        dest="environment",
        action="store_const",
        const=None,
        help="no environment, WILD_CI_TOKEN as a repository secret (GitHub Free offers environments "
        "to public repositories only)",
    )

    p = commands.add_parser("inbox", help="(the inbox workflow) submit every inbox file, oldest first")
    p.add_argument("--repo", type=Path, default=Path("."), help="the session branch's checkout")
    p.add_argument("--push", action="store_true", help="push the iteration to --remote")
    p.add_argument("--remote", default="origin")
    p.add_argument(
        "--dispatch",
        action="store_true",
        help="start the experiments workflow on GitHub (GitHub must know it: on the default branch, or "
        "run once; after --push, the run the push started is taken instead of a 404)",
    )
    p.add_argument(
        "--config-ref",
        help=f"the branch whose {layout.CONFIG_PATH} applies, fetched from --remote (default: the "
        "remote's default branch); never the pushed commit",
    )

    p = commands.add_parser("demo", help="run the bundled example end to end, locally")
    p.add_argument(
        "dir", nargs="?", type=Path, metavar="DIR",
        help="a new or empty folder for the example repository, kept afterwards (default: a new "
        "folder under the system's temporary directory, named when it is made)",
    )  # fmt: skip
    p.add_argument("--dir", dest="dir_option", type=Path, help=argparse.SUPPRESS)  # the earlier spelling
    _describe(commands, parser)
    return parser


DESCRIPTIONS = {
    "run": "Submit the brain output as the next iteration, run its experiments on this machine "
    "through act (host mode: no Docker, no network), commit the results and print the "
    "experiment_results block for the brain on stdout; progress and a summary go to stderr. "
    "Exit 0 when the pipeline completed, whatever the experiments' own exit codes.",
}


WORKFLOW_ONLY = ("execute", "inbox")  # steps of the workflow, not typed by people (still callable)
WORKFLOW_EPILOG = (
    "commands the workflow runs (documented under internals): execute (one matrix leg), inbox (the "
    "inbox job), collect --artifacts (the collect job); `collect --run-id` is for people"
)


def _describe(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], top: argparse.ArgumentParser
) -> None:
    """Every command's --help says what it does (its one-line help, or more); the main help lists the
    commands people type, names the workflow's own apart, and gives the exit codes once."""
    top.epilog = f"{textwrap.fill(WORKFLOW_EPILOG, 79)}\n\n{textwrap.fill(EXIT_CODES, 79)}"
    top.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in commands._choices_actions:
        sub = commands.choices[action.dest]
        text = DESCRIPTIONS.get(action.dest) or action.help or ""
        sub.description = sub.description or (
            text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
        )
    # argparse has no hidden sub-command (help=SUPPRESS prints "==SUPPRESS==" before Python 3.12)
    commands._choices_actions = [a for a in commands._choices_actions if a.dest not in WORKFLOW_ONLY]


def _add_steer_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "steer",
        help="guidance for the next prompt of a session's loop, or --pause to stop it after its turn",
        description="Queue guidance (TEXT, or --file) for the next prompt of the session's running or "
        "next `wild-ci loop`: shown once, marked as guidance queued with `wild-ci steer`, and committed "
        "with the iteration it shaped. --pause makes the running loop stop after its current turn "
        "(exit 0); `wild-ci loop` again resumes it. Queued guidance is kept in .git/wild-ci/steer/.",
    )
    p.add_argument("text", nargs="?", help="the guidance, in words")
    p.add_argument("--file", metavar="FILE", help="read the guidance from FILE (- for stdin)")
    p.add_argument("--pause", action="store_true", help="stop the running loop after its current turn")
    _add_repo_arguments(p)


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero (argparse reports anything else, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


RERUN_STATUSES = tuple(s.value for s in Status if s is not Status.RUNNING)


def status_list(text: str) -> frozenset[str]:
    """An argparse type: comma-separated result statuses (`rerun --only`)."""
    statuses = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(statuses - set(RERUN_STATUSES))
    if unknown or not statuses:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or repr(text)}: not a status (statuses: {', '.join(RERUN_STATUSES)})"
        )
    return statuses


def _add_repo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    p.add_argument("--session", default="main", help="session name; branch wild/<session> (default: main)")


def _add_pr_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pr", type=int, help="also post the results on this pull request (GITHUB_TOKEN, GITHUB_REPOSITORY)"
    )


def _add_format_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=CONTEXT_FORMATS,
        help="how the results are printed for the brain: wild-ci's experiment_results block, or wild-v2, "
        "the markdown the original Wild V2 prompt expects "
        f"(default: context_format in {layout.CONFIG_PATH}, else {CONTEXT_FORMATS[0]})",
    )  # fmt: skip


def _add_submit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the brain output (a file, or - for stdin)")
    _add_repo_arguments(p)
    _add_submit_options(p)


def _add_submit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--project-root",
        help="the brain's absolute name for the repository's top (default: project_root in "
        f"{layout.CONFIG_PATH}, else the top's own path)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="submit the valid experiments and report the invalid ones to the brain (default: strict)",
    )
    p.add_argument(
        "--install-spec",
        default=os.environ.get("WILD_CI_INSTALL_SPEC"),
        help="what runners pip-install to get wild-ci: a version, git URL or path; it goes into the "
        "committed workflow (a local run uses this machine's wild-ci)",
    )
    p.add_argument(
        "--setup", help="environment set-up before each experiment: auto, none, or a command (default: auto)"
    )
    p.add_argument(
        "--runs-on",
        help="runner label for the jobs, written into the committed workflow and added to the labels a "
        "brain's runs_on may name; a local run runs every label on this machine (default: ubuntu-latest)",
    )
    p.add_argument(
        "--max-parallel", type=int, help="legs at once per matrix (default: local cores; GitHub: no cap)"
    )
    p.add_argument("--timeout", help="default experiment timeout: seconds or 90s/30m/2h (default: 60m)")
