"""One family of errors, and the one handler every entry point runs its body under.

Domain code raises a `WildError` subclass: `BadInput` (exit 2: the brain output, the command line,
the config file), `PipelineError` (exit 1: git, act, artifacts, GitHub) or `Interrupted` (130).
The handler prints `wild-ci: error: …` and the hint for those. Anything else is a bug in wild-ci:
its traceback is printed and the exit code is 3, so a programming error is never passed off as the
user's fault. Standard library only: every matrix leg loads this module.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable

from .text import visible

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
EXIT_CODES = (  # what every --help says
    "exit codes: 0 done (an experiment that fails is a result, not a failure of wild-ci); "
    "1 the pipeline failed (git, act, an artifact, GitHub, the disk); 2 bad input (the brain output, "
    "a flag, the config file); 3 a bug in wild-ci (its traceback is printed); 130 interrupted"
)

# Faults of the machine, not of wild-ci: reported like a pipeline failure, without a traceback.
# errno -> what to do about it.
ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "free space, then retry",
    errno.EDQUOT: "free space, then retry",
    errno.EACCES: "fix permissions or choose a writable place, then retry",
    errno.EPERM: "fix permissions or choose a writable place, then retry",
    errno.EROFS: "fix permissions or choose a writable place, then retry",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n), then retry",
    errno.ENFILE: "too many open files: raise the limit (ulimit -n), then retry",
    # A path the user gave or a folder on disk is not what it must be (a file where a folder goes).
    errno.ENOTDIR: "a file is in the way of a folder: check the path, then retry",
    errno.EISDIR: "a folder is in the way of a file: check the path, then retry",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ELOOP: "a symbolic link points back at itself: check the path",
}


class WildError(Exception):
    """Base of every error wild-ci reports to its user. `hint` says what to do about it."""

    exit_code = EXIT_BUG  # only the families below are raised

    def __init__(self, message: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def report_lines(self, prog: str) -> list[str]:
        """What the handler prints on stderr, one line each."""
        lines = [f"{prog}: error: {self}"]
        if self.hint:
            lines.append(f"{prog}: {self.hint}")
        return lines


class BadInput(WildError):
    """The user's input is wrong: the brain output, a flag, the configuration."""

    exit_code = EXIT_BAD_INPUT


class UsageError(BadInput):
    """A flag or argument on the command line is wrong."""


class PipelineError(WildError):
    """A stage could not do its work: git, act, an artifact, GitHub."""

    exit_code = EXIT_FAILED


class Interrupted(WildError):
    """Stopped by a signal; what had finished was recorded."""

    exit_code = EXIT_INTERRUPTED


def run_guarded(body: Callable[[], int], prog: str = "wild-ci") -> int:
    """Run an entry point's body and turn what it raises into a message and an exit code."""
    try:
        return body()
    except KeyboardInterrupt:
        _say([f"{prog}: interrupted; what had finished was recorded"])
        return EXIT_INTERRUPTED
    except WildError as exc:
        _say(exc.report_lines(prog))
        return exc.exit_code
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`wild-ci context | head`): nothing more to say
        return EXIT_FAILED
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            return _bug(prog)
        where = f": {exc.filename}" if exc.filename else ""
        _say([f"{prog}: error: {exc.strerror}{where}", f"{prog}: {ENVIRONMENT_ERRNOS[exc.errno]}"])
        return EXIT_FAILED
    except Exception:
        return _bug(prog)


def _bug(prog: str) -> int:
    traceback.print_exc()
    _say([f"{prog}: this is a bug in wild-ci, not in your input: please report it with the traceback"])
    return EXIT_BUG


def _say(lines: list[str]) -> None:
    for line in lines:
        print(visible(line), file=sys.stderr)  # an error may quote a brain or an experiment


def _silence_stdout() -> None:
    """Python would complain again at exit while flushing the dead pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
