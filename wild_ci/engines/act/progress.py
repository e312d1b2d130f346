"""Live progress of a local run: act's `--json` log lines and the legs' progress channel.

act's log says when a leg starts and ends and what its experiment prints (the last output column).
What a leg's experiment *is* — waiting for GPUs, on an attempt after a retry, ended with a status —
comes only from the lines its executor appends to the run's channel (progress_channel.py), never
from the log, which holds the experiment's own output: an experiment that prints
`wild-ci: experiment <id> succeeded exit=0` does not end its row. (act reports a matrix's result as
shared, once one leg fails later legs are logged as failed too, so act's job result gives a leg's
end, never its status.)
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ...layout import EXPERIMENT_STEP, RESULT_MARKER
from ...progress_channel import Tail
from ...report import STATUS_SYMBOLS, duration
from ...specs import Status
from ...text import last_line, visible

# Numbers as the executor writes them, ASCII digits only: a line that only looks like one (where an
# experiment reaches the channel) matches nothing, rather than failing float() in the reader.
SECONDS = r"[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?"  # how Python writes a float rounded to 3 places
MARKER = re.compile(
    re.escape(RESULT_MARKER)
    + r" (?P<id>[a-z0-9-]+) (?P<status>[a-z_]+) exit=(?P<exit>\S+)"
    + rf"(?: duration=(?P<duration>{SECONDS})s)?(?: setup=(?P<setup>{SECONDS})s)?$"
)
CHANNEL_LINE = re.compile(re.escape(RESULT_MARKER) + r" (?P<id>[a-z0-9-]+) ")  # any line of the channel
# what a leg that asks for GPUs prints while it waits for them and once it has them (gpus.py)
GPU_WAIT = re.compile(re.escape(RESULT_MARKER) + r" (?P<id>[a-z0-9-]+) waiting for (?P<what>[0-9]+ GPUs?)")
GPU_GOT = re.compile(
    re.escape(RESULT_MARKER) + r" (?P<id>[a-z0-9-]+) got GPUs? (?P<ids>[0-9]+(?:,[0-9]+)*) after waiting"
)

# what a leg prints when an attempt failed and another one follows (retries.py)
RETRYING = re.compile(
    re.escape(RESULT_MARKER)
    + r" (?P<id>[a-z0-9-]+) attempt (?P<n>[0-9]{1,9}) failed \((?P<why>.*)\); retrying"
)


@dataclass
class LegState:
    id: str
    state: str = "queued"  # queued → running → done
    status: str | None = None
    exit: str | None = None
    started: float | None = None
    ended: float | None = None
    last_line: str = ""
    duration_s: float | None = None  # the experiment's own time, as its result says
    setup_s: float | None = None  # building its environment, apart from the experiment
    waiting_for: str | None = None  # "2 GPUs" while the leg waits for them
    gpus: str | None = None  # the GPUs it got, "0,1"
    gpus_at: float | None = None  # when it got them: its experiment's time starts there
    attempt: int = 1  # the attempt running (retries.py)
    retried_because: str | None = None  # why the last attempt is being retried

    def elapsed(self, now: float) -> float | None:
        """Its time so far: since it got its GPUs (a wait is not the experiment's time), else since
        it started."""
        since = self.gpus_at if self.gpus_at is not None else self.started
        if since is None:
            return None
        return (self.ended or now) - since


@dataclass
class ProgressTracker:
    """Folds act's JSON events into one state per experiment (and one for the collect job)."""

    experiment_ids: list[str]
    legs: dict[str, LegState] = field(default_factory=dict)
    collect: LegState = field(default_factory=lambda: LegState("collect"))
    other_lines: list[str] = field(default_factory=list)
    saw_jobs: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)  # act's lines and the channel's

    def __post_init__(self) -> None:
        self.legs = {i: LegState(i) for i in self.experiment_ids}

    def feed(self, line: str, now: float | None = None) -> LegState | None:
        """Take one line of act's output; return the state that changed, if any."""
        now = time.monotonic() if now is None else now
        try:
            event = json.loads(line)
        except ValueError:
            if line.strip():
                self.other_lines = [*self.other_lines[-49:], visible(line.rstrip(), multiline=False)]
            return None
        if not isinstance(event, dict) or "jobID" not in event:
            return None
        self.saw_jobs = True
        if event["jobID"] == "collect":
            return self._advance(self.collect, event, now)
        leg = self.legs.get((event.get("matrix") or {}).get("experiment", ""))
        if leg is None:
            return None
        return self._advance(leg, event, now)

    def _advance(self, leg: LegState, event: dict, now: float) -> LegState | None:
        """act's view of a leg: started, its experiment's last line, ended. Nothing in the log's
        text changes what the leg's experiment is (`feed_progress` does)."""
        changed = self._begun(leg, now)
        message = str(event.get("msg", ""))
        if event.get("raw_output"):
            text = message.strip()
            own_step = leg is self.collect or event.get("step") == EXPERIMENT_STEP
            if text and own_step and not text.startswith(("::", RESULT_MARKER)):
                leg.last_line = last_line(text) or leg.last_line
        if "jobResult" in event and leg.state != "done":
            leg.state, leg.ended, changed = "done", now, True
            if leg is self.collect:
                leg.status = Status.SUCCEEDED if event["jobResult"] == "success" else Status.FAILED
        return leg if changed else None

    def feed_progress(self, line: str, now: float | None = None) -> LegState | None:
        """Take one line of the legs' progress channel (written by their executors only); return the
        state that changed, if any. A status arriving after act logged the job's end still counts
        (the two come by different ways), and a later status replaces an earlier one: the executor
        writes its last line once every process of its experiment has ended, so where a channel is
        within an experiment's reach (no sandbox) a lie lasts at most until then."""
        now = time.monotonic() if now is None else now
        match = CHANNEL_LINE.match(line)
        leg = self.legs.get(match["id"]) if match else None
        if leg is None:
            return None
        changed = self._begun(leg, now)
        changed = self._gpu_lines(leg, line, now) or changed
        retrying = RETRYING.match(line)
        if retrying and leg.status is None:
            leg.attempt, leg.retried_because, changed = int(retrying["n"]) + 1, retrying["why"], True
        marker = MARKER.match(line)
        if marker:
            leg.status, leg.exit = marker["status"], marker["exit"]
            leg.duration_s = float(marker["duration"]) if marker["duration"] else None
            leg.setup_s = float(marker["setup"]) if marker["setup"] else None
            leg.state, leg.ended, changed = "done", leg.ended or now, True
        return leg if changed else None

    @staticmethod
    def _begun(leg: LegState, now: float) -> bool:
        if leg.state != "queued":
            return False
        leg.state, leg.started = "running", now
        return True

    @staticmethod
    def _gpu_lines(leg: LegState, line: str, now: float) -> bool:
        if leg.status is not None:
            return False
        waiting = GPU_WAIT.match(line)
        if waiting:
            leg.waiting_for = waiting["what"]
            return True
        got = GPU_GOT.match(line)
        if got:
            leg.waiting_for, leg.gpus, leg.gpus_at = None, got["ids"], now
            return True
        return False


def state_text(leg: LegState) -> str:
    """The state column: waiting for GPUs, running on them, or just the state."""
    if leg.state == "running" and leg.waiting_for:
        return f"waiting for {leg.waiting_for}"
    if leg.state == "running" and leg.attempt > 1:
        return f"attempt {leg.attempt} ({leg.retried_because})"
    if leg.state == "running" and leg.gpus:
        return f"running on GPU {leg.gpus}"
    return leg.state


def took(leg: LegState, now: float | None = None) -> str:
    """One duration for an experiment, the one its result records, with the set-up beside it; the
    leg's wall time only while it runs (or when the leg ended without a result)."""
    if leg.duration_s is None:
        return duration(leg.elapsed(time.monotonic() if now is None else now))
    setup = f" + {duration(leg.setup_s)} set-up" if leg.setup_s else ""
    return f"{duration(leg.duration_s)}{setup}"


class ProgressDisplay:
    """A live table on a terminal; plain lines, one per change, anywhere else (CI logs). Every cell
    is a `Text` of visible characters (`text.visible`): an experiment's output is data, never markup
    or a terminal sequence."""

    def __init__(self, tracker: ProgressTracker, stream: TextIO | None = None) -> None:
        self.tracker = tracker
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False)
        self.live: Live | None = None
        self.start = time.monotonic()

    def __enter__(self) -> ProgressDisplay:
        if self.console.is_terminal:
            self.live = Live(
                console=self.console,
                refresh_per_second=4,
                get_renderable=self._table,  # re-rendered on every refresh, so times keep ticking
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.__exit__(*exc)

    def update(self, changed: LegState | None) -> None:
        if self.live is not None:
            if changed is not None:
                self.live.refresh()
        elif changed is not None:
            self.stream.write(visible(self._line(changed), multiline=False) + "\n")
            self.stream.flush()

    def _line(self, leg: LegState) -> str:
        stamp = f"[{time.monotonic() - self.start:6.1f}s]"
        if leg.state == "done":
            extra = f" (exit {leg.exit})" if leg.exit not in (None, "-") else ""
            on = f" on GPU {leg.gpus}" if leg.gpus else ""
            return f"{stamp} {leg.id}: {leg.status or 'ended without a result'}{extra} in {took(leg)}{on}"
        return f"{stamp} {leg.id}: {state_text(leg)}"

    def _table(self) -> Table:
        now = time.monotonic()
        table = Table(title=Text("wild-ci run"), expand=False)
        table.add_column("experiment", overflow="ellipsis", no_wrap=True, max_width=40)
        table.add_column("state", no_wrap=True, min_width=14)
        table.add_column("time", no_wrap=True, min_width=9, justify="right")
        table.add_column("last output", overflow="ellipsis", no_wrap=True, max_width=50)
        for leg in [*self.tracker.legs.values(), self.tracker.collect]:
            if leg.state == "done":
                symbol = STATUS_SYMBOLS.get(leg.status or "", "?")
                state = f"{symbol} {leg.status or 'ended'}"
            else:
                state = state_text(leg)
            # Text, never a plain string: rich would read `[/data]` in an experiment's output as markup
            cells = (leg.id, state, took(leg, now), leg.last_line)
            table.add_row(*(Text(visible(cell, multiline=False)) for cell in cells))
        return table


CHANNEL_POLL_S = 0.1


@contextlib.contextmanager
def following(tracker: ProgressTracker, display: ProgressDisplay, channel: Path) -> Iterator[None]:
    """The legs' progress channel read while act runs (a thread, every CHANNEL_POLL_S), and once
    more at the end: a status a leg wrote just before act ended is not lost."""
    tail = Tail(channel)
    stop = threading.Event()

    def drain(read: Callable[[], list[str]] = tail.read) -> None:
        for line in read():
            with tracker.lock:
                changed = tracker.feed_progress(line)
                with contextlib.suppress(OSError):  # the terminal is gone: the run goes on
                    display.update(changed)

    def follow() -> None:
        while not stop.wait(CHANNEL_POLL_S):
            drain()

    thread = threading.Thread(target=follow, name="wild-ci progress channel", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        drain(tail.read_all)
