"""Retries: when a failed attempt of an experiment is run again, and what each attempt leaves.

An experiment may ask for `retries: N` (at most `MAX_RETRIES`) and name in `retry_on` what is worth
another attempt: exit codes, signals, `timeout`, and regular expressions searched in its output. The
built-in rules always apply when retries are allowed: they are failures of the machine rather than
of the experiment (a GPU out of memory or busy, a hung NCCL collective, the kernel's OOM killer),
the reason retries exist. A failure nothing matches is the experiment's own and is not retried; so
is a cancelled attempt, and a timed-out one unless `retry_on` holds `timeout`.

The leg (execute.py) runs its command through `run_attempts`, which decides after each attempt,
moves that attempt's logs into `attempt-N/`, waits a short back-off and starts the next with
`WILD_ATTEMPT=N`. The search for patterns reads only the end of each log (`SCAN_BYTES`) and has a
time budget (`SCAN_TIME_S`): Python's `re` backtracks, so a pattern such as `(a+)+$` can run for
days on a line of forty a's, and a leg must not hang on its own retry rules.

Standard library only (and specs, layout): every leg imports this module.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

try:  # re's own parser (3.11+), to find what only newer Pythons read (newer_python_syntax)
    from re import _constants as _re_constants  # type: ignore[attr-defined]
    from re import _parser as _re_parser  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    _re_constants = _re_parser = None

from .layout import LEG_DEADLINE_ENV, STDERR_LOG, STDOUT_LOG, attempt_dir
from .specs import MAX_RETRIES, Attempt, LegSettings, Status

MAX_RETRY_ON = 20  # entries of a `retry_on` list
MAX_PATTERN_CHARS = 200
SCAN_BYTES = 1024 * 1024  # of the end of each log (stderr, then stdout) searched for patterns
SCAN_TIME_S = 5.0  # for all the patterns of one attempt, over both logs
BACKOFF_S = 2.0  # before attempt N+1: N times this
BACKOFF_ENV = "WILD_CI_RETRY_BACKOFF"  # seconds instead of BACKOFF_S (tests; at most MAX_BACKOFF_S)
MAX_BACKOFF_S = 60.0
ATTEMPT_ENV = "WILD_ATTEMPT"  # 1, 2, … for the experiment: it may lower its batch size on a retry
MAX_ATTEMPTS_ENV = "WILD_MAX_ATTEMPTS"
TIMEOUT = "timeout"  # the `retry_on` entry that makes a timed-out attempt worth another
ATTEMPT_MARGIN_S = 30  # per attempt, beyond its timeout: killing its group, draining pipes, the search
SIGNAL_EXIT_BASE = 128  # bash reports a child killed by signal N as exit 128 + N
OOM_KILLER = "killed by SIGKILL, likely the OOM killer"

SIGNALS = {
    s.name: int(s) for s in signal.Signals if s.name.startswith("SIG") and not s.name.startswith("SIG_")
}
EXIT_CODE_TEXT = re.compile(r"^\d{1,3}$")


@dataclass(frozen=True)
class Rule:
    """A pattern searched in an attempt's output, and how a retry for it is described."""

    label: str
    regex: re.Pattern[str]


def _compiled(pattern: str) -> re.Pattern[str]:
    """`^` and `$` at line ends; `re`'s FutureWarnings (a possible nested set `[[`) are not the
    brain's business at submit, nor the job log's in the leg."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return re.compile(pattern, re.MULTILINE)


# The built-in rules. `.{0,200}?` rather than `.*`: a bounded gap keeps the search linear in the log.
BUILTIN_RULES = (
    Rule(
        "CUDA out of memory",
        _compiled(
            r"CUDA out of memory|torch\.cuda\.OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED"
            r"|CUDA error: out of memory"
        ),
    ),
    Rule(
        "CUDA devices busy or unavailable",
        _compiled(r"CUDA-capable device(?:s|\(s\))? (?:is|are|is/are) busy or unavailable"),
    ),
    Rule("NCCL timeout", _compiled(r"NCCL.{0,200}?[Tt]imeout|Watchdog caught collective operation timeout")),
)


# --- `retries` and `retry_on`, as the brain or the config writes them ------------------------------


def retries_problem(value: Any) -> str | None:
    """Why `value` is not a number of retries (a whole number from 0 to MAX_RETRIES), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        return f"must be a whole number from 0 to {MAX_RETRIES}"
    return None


def parse_retry_on(value: Any) -> tuple[list[int | str], list[str]]:
    """`retry_on` as written (one entry or a list) → its entries, normalized, and its problems.

    An entry is an exit code (a whole number 1 to 255, also written as text), a signal name
    (`SIGKILL`), the word `timeout`, or else a regular expression (one that compiles, at most
    MAX_PATTERN_CHARS characters)."""
    entries = value if isinstance(value, list) else [value]
    if len(entries) > MAX_RETRY_ON:
        return [], [f"has {len(entries)} entries; at most {MAX_RETRY_ON}"]
    items: list[int | str] = []
    problems: list[str] = []
    for entry in entries:
        item, problem = _entry(entry)
        if problem:
            problems.append(problem)
        elif item is not None:
            items.append(item)
    return items, problems


def _entry(entry: Any) -> tuple[int | str | None, str | None]:
    if isinstance(entry, str) and EXIT_CODE_TEXT.match(entry.strip()):
        entry = int(entry.strip())
    if isinstance(entry, int) and not isinstance(entry, bool):
        return (entry, None) if 1 <= entry <= 255 else (None, f"exit code {entry} is not one from 1 to 255")
    if not isinstance(entry, str):
        return None, "entries must be an exit code, a signal name, 'timeout' or a regular expression"
    text = entry.strip()
    if not text:
        return None, "has an empty entry"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None, f"entry {_shown(text)} must be one line without control characters"
    if text.lower() == TIMEOUT:  # `Timeout`, `sigsegv`: what the writer meant, not a pattern
        return TIMEOUT, None
    if re.fullmatch(r"SIG[A-Z0-9]+", text, re.IGNORECASE):
        name = text.upper()
        return (name, None) if name in SIGNALS else (None, f"{text} is not a signal name (e.g. SIGKILL)")
    if len(text) > MAX_PATTERN_CHARS:
        return None, f"pattern {_shown(text)} is longer than {MAX_PATTERN_CHARS} characters"
    try:
        _compiled(text)
    except (re.error, RecursionError, OverflowError) as exc:
        return None, f"pattern {_shown(text)} is not a valid regular expression ({exc})"
    newer = newer_python_syntax(text)
    if newer:
        return None, (f"pattern {_shown(text)} uses {newer}, which Python 3.10 (the oldest a leg may run) "
                      "does not have; write it without")  # fmt: skip
    return text, None


def newer_python_syntax(pattern: str) -> str | None:
    """What in a pattern only Python 3.11+'s `re` reads (possessive quantifiers `a++`, atomic
    groups `(?>…)`), or None: a leg on 3.10 could not compile it and would drop the rule. Found by
    walking the parse this Python's `re` made; on 3.10 itself `re.compile` refuses them already."""
    if _re_parser is None:  # 3.10: re.compile refuses what it cannot read
        return None
    newer = {
        _re_constants.POSSESSIVE_REPEAT: "a possessive quantifier",
        _re_constants.ATOMIC_GROUP: "an atomic group",
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in _compiled
            stack: list[Any] = [_re_parser.parse(pattern, re.MULTILINE)]
    except (re.error, RecursionError, OverflowError):
        return None
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and item[0] in newer:
            return newer[item[0]]
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, _re_parser.SubPattern):
            stack.extend(item.data)
    return None


def _shown(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


# --- the policy of one experiment ------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often an experiment may be run again, and for what (besides the built-in rules)."""

    retries: int = 0
    exit_codes: frozenset[int] = frozenset()
    signals: frozenset[int] = frozenset()
    patterns: tuple[Rule, ...] = ()
    on_timeout: bool = False

    @classmethod
    def of(cls, retries: int, retry_on: Sequence[int | str]) -> RetryPolicy:
        """From the normalized entries of `parse_retry_on`; an entry that no longer parses (a spec
        edited by hand) is left out rather than stopping the leg."""
        exit_codes, signals, patterns = set(), set(), []
        on_timeout = False
        for raw in retry_on:
            item, problem = _entry(raw)
            if problem or item is None:
                continue
            if isinstance(item, int):
                exit_codes.add(item)
            elif item == TIMEOUT:
                on_timeout = True
            elif item in SIGNALS:
                signals.add(SIGNALS[item])
            else:
                patterns.append(Rule(f"output matched {item!r}", _compiled(item)))
        retries = max(0, min(int(retries), MAX_RETRIES))
        return cls(retries, frozenset(exit_codes), frozenset(signals), tuple(patterns), on_timeout)

    @property
    def max_attempts(self) -> int:
        return self.retries + 1


def policy_for(retries: int | None, retry_on: Sequence[int | str] | None, leg: LegSettings) -> RetryPolicy:
    """An experiment's own `retries`/`retry_on`, or, where it wrote none, the configured defaults."""
    return RetryPolicy.of(
        leg.retries if retries is None else retries, leg.retry_on if retry_on is None else retry_on
    )


def worst_case_s(timeout_s: int, retries: int) -> int:
    """How long a leg's command may take with every attempt, back-off and margin: what the
    workflow's step timeout must allow, or GitHub would end the leg before its last attempt
    (without retries: the timeout, as before)."""
    backoff = sum(BACKOFF_S * n for n in range(1, retries + 1))
    return int(timeout_s + retries * (timeout_s + ATTEMPT_MARGIN_S) + backoff)


# --- the job's time limit -------------------------------------------------------------------------

# Too little time for another attempt: the next is not started (it would be cut at once).
MIN_ATTEMPT_S = 60
JOB_LIMIT = (
    "the job's time limit on its runner (GitHub ends a job after 6 h on its own runners, 5 days on "
    "self-hosted ones)"
)


def time_left_s(environ: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds until the leg must have stopped its experiment, from the moment its install step
    wrote (LEG_DEADLINE_ENV: set only where the job's timeout was cut to its runners' limit);
    None: no such moment, the experiment keeps its own timeout."""
    try:
        deadline = float(environ.get(LEG_DEADLINE_ENV, ""))
    except ValueError:
        return None
    return deadline - now() if math.isfinite(deadline) else None


@dataclass(frozen=True)
class Budget:
    """An attempt's timeout: its own, or what is left before the job's limit (`cut`)."""

    timeout_s: int
    cut: bool = False

    def note(self, number: int, ran_s: float, own_timeout_s: int) -> str:
        return (f"attempt {number} was stopped after {ran_s:.0f}s, before its {own_timeout_s}s "
                f"timeout, to end before {JOB_LIMIT}, so that its logs and outputs are still "
                "uploaded")  # fmt: skip


def attempt_budget(timeout_s: int, left_s: float | None) -> Budget:
    """The timeout of an attempt that starts with `left_s` before the job's limit."""
    if left_s is None or left_s >= timeout_s:
        return Budget(timeout_s)
    return Budget(max(1, int(left_s)), cut=True)


def no_time_for_another(left_s: float | None) -> bool:
    return left_s is not None and left_s < MIN_ATTEMPT_S


# --- after an attempt -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Why an attempt is worth another (None: it is not), and a note when the search gave up."""

    reason: str | None
    note: str | None = None


def decide(policy: RetryPolicy, attempt: Attempt, logs: Path) -> Decision:
    """Whether the attempt that just ended, whose logs are `logs`/stderr.log and stdout.log, should
    be run again. Only failures are: not a success, not a cancellation, and not a timeout (the
    timeout is wild-ci's own SIGKILL) unless the policy says `timeout`."""
    if policy.retries == 0:
        return Decision(None)
    if attempt.status == Status.TIMED_OUT:
        return Decision("timed out" if policy.on_timeout else None)
    if attempt.status != Status.FAILED:
        return Decision(None)
    label, note = search_logs((*BUILTIN_RULES, *policy.patterns), [logs / STDERR_LOG, logs / STDOUT_LOG])
    if label:
        return Decision(label, note)
    killed_by = attempt.signal or _signal_of_exit(attempt.exit_code)
    if killed_by == signal.SIGKILL:
        return Decision(OOM_KILLER, note)
    if attempt.exit_code is not None and attempt.exit_code in policy.exit_codes:
        return Decision(f"exit code {attempt.exit_code}", note)
    if killed_by in policy.signals:
        return Decision(f"signal {signal.Signals(killed_by).name}", note)
    return Decision(None, note)


def _signal_of_exit(exit_code: int | None) -> int | None:
    if exit_code is None or exit_code <= SIGNAL_EXIT_BASE:
        return None
    return exit_code - SIGNAL_EXIT_BASE


class _OutOfTime(Exception):
    """The pattern search used up SCAN_TIME_S."""


def search_logs(rules: Sequence[Rule], paths: Sequence[Path]) -> tuple[str | None, str | None]:
    """The label of the first rule whose pattern occurs in the end of one of the logs, and a note
    when the search ran out of time. `re` checks for signals while it matches, so an interval
    timer stops a pattern that backtracks without end (only in the main thread, where the leg runs)."""
    texts = [_end_of(path) for path in paths]
    limited = _Limit()
    try:
        with _time_limit(SCAN_TIME_S, limited):
            for rule in rules:
                if any(rule.regex.search(text) for text in texts):
                    return rule.label, None
    except _OutOfTime:
        pass
    if limited.expired:
        return None, f"the search for retry patterns gave up after {SCAN_TIME_S:g}s"
    return None, None


def _end_of(path: Path) -> str:
    """The last SCAN_BYTES of a log, decoded (a log may hold anything)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - SCAN_BYTES))
            return handle.read(SCAN_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""


@dataclass
class _Limit:
    armed: bool = False
    expired: bool = False


@contextlib.contextmanager
def _time_limit(seconds: float, limit: _Limit) -> Iterator[None]:
    """SIGALRM after `seconds` raises _OutOfTime in the body (and only there: disarmed first)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        if limit.armed:
            limit.expired = True
            raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    limit.armed = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        limit.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the loop of attempts -------------------------------------------------------------------------


class Outcome(Protocol):
    """How one attempt of the command ended (execute.py's `_Run`)."""

    @property
    def status(self) -> str: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def signal(self) -> int | None: ...
    @property
    def duration_s(self) -> float: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


@dataclass
class Attempted(Generic[OutcomeT]):
    """What `run_attempts` did: the final attempt's outcome, every attempt (empty when retries were
    not allowed), whether the leg was cancelled before attempt `cancelled_before`, and notes."""

    outcome: OutcomeT
    attempts: list[Attempt] = field(default_factory=list)
    cancelled_before: int | None = None
    notes: list[str] = field(default_factory=list)


def run_attempts(
    policy: RetryPolicy,
    run: Callable[[int], OutcomeT],
    out: Path,
    cancelled: threading.Event,
    record: Callable[[list[Attempt]], None] = lambda _attempts: None,
    announce: Callable[[str], None] = lambda _line: None,
    time_left: Callable[[], float | None] = lambda: None,
) -> Attempted[OutcomeT]:
    """Run attempt 1, 2, … (`run(n)` writes `out`/stdout.log and stderr.log) until one is not worth
    another, the retries are spent, or the leg is cancelled. With retries allowed, each attempt's
    logs end in `out`/attempt-N/ and the final attempt's stay at the top as well. `record` is told
    the attempts after each one (the leg rewrites its result.json); `time_left` how long until the
    job's limit (no attempt starts too close to it)."""
    outcome = run(1)
    if policy.retries == 0:
        return Attempted(outcome)
    done: Attempted[OutcomeT] = Attempted(outcome)
    for number in range(1, policy.max_attempts + 1):
        attempt = Attempt(
            number, outcome.exit_code, outcome.signal, str(outcome.status), round(outcome.duration_s, 3)
        )
        done.attempts.append(attempt)
        decision = Decision(None)
        if number < policy.max_attempts:
            decision = decide(policy, attempt, out)
        done.notes += [decision.note] if decision.note else []
        if decision.reason and no_time_for_another(time_left()):
            done.notes.append(
                f"attempt {number + 1} was not started ({decision.reason} on attempt {number}): "
                f"less than {MIN_ATTEMPT_S}s was left before {JOB_LIMIT}"
            )
            decision = Decision(None)
        attempt.retried_because = decision.reason
        record(done.attempts)
        if decision.reason is None:
            break
        delay = backoff_s(number)
        announce(f"attempt {number} failed ({decision.reason}); retrying in {delay:g}s")
        if _wait(delay, cancelled):
            done.cancelled_before = number + 1
            break
        done.notes += _keep_logs(out, number, move=True)
        outcome = done.outcome = run(number + 1)
    done.notes += _keep_logs(out, len(done.attempts), move=False)
    return done


def backoff_s(attempt: int) -> float:
    """The wait after attempt `attempt` fails: BACKOFF_S per attempt made, or $WILD_CI_RETRY_BACKOFF
    (a number of seconds, at most MAX_BACKOFF_S) instead of BACKOFF_S."""
    base = BACKOFF_S
    with contextlib.suppress(ValueError):
        base = min(MAX_BACKOFF_S, max(0.0, float(os.environ.get(BACKOFF_ENV, BACKOFF_S))))
    return base * attempt


def _wait(seconds: float, cancelled: threading.Event) -> bool:
    """Sleep `seconds` unless the leg is cancelled meanwhile; whether it was. Short sleeps, not
    `Event.wait`: the event is set from a signal handler on this very thread."""
    deadline = time.monotonic() + seconds
    while not cancelled.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.1, left))
    return True


def _keep_logs(out: Path, number: int, move: bool) -> list[str]:
    """Attempt `number`'s logs into attempt-N/: moved when another attempt follows (a rename
    needs no space), linked when it is the final one, whose logs stay at the top for `wild-ci logs`
    (a copy where links are refused). A disk that cannot hold them costs a note, not the leg."""
    folder = out / attempt_dir(number)
    try:
        folder.mkdir(exist_ok=True)
        for name in (STDOUT_LOG, STDERR_LOG):
            source, target = out / name, folder / name
            if not source.exists():
                continue
            if move:
                os.replace(source, target)
            else:
                _link_or_copy(source, target)
    except OSError as exc:
        return [
            f"attempt {number}'s logs could not be kept in {attempt_dir(number)}/ ({exc.strerror or exc})"
        ]
    return []


def _link_or_copy(source: Path, target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@contextlib.contextmanager
def cancellation() -> Iterator[threading.Event]:
    """While the attempts run: SIGTERM/SIGINT/SIGHUP set the event (each attempt's own handlers
    forward them to its command and restore this one), so a signal between two attempts, during
    the search or the back-off, ends the loop instead of killing the leg before its result."""
    cancelled = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancelled
        return

    def handler(_signum: int, _frame: object) -> None:
        cancelled.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield cancelled
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
