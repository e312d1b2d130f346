"""Progress from act's --json lines and the legs' progress channel: per-leg state from the channel
(what the leg's executor wrote), never from act's job result nor from the experiment's output."""

from __future__ import annotations

import io
import json

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from wild_ci.engines.act.progress import ProgressDisplay, ProgressTracker


def event(job: str, msg: str, experiment: str | None = None, **extra: object) -> str:
    data: dict[str, object] = {"jobID": job, "msg": msg, "level": "info", **extra}
    if experiment:
        data["matrix"] = {"experiment": experiment}
    return json.dumps(data) + "\n"


def test_states_follow_the_legs_and_ignore_acts_shared_matrix_result() -> None:
    tracker = ProgressTracker(["a", "b"])
    assert tracker.feed("not json: Error: Job 'experiment' failed\n") is None
    tracker.feed(event("experiment", "⭐ Run Set up job", "a"), now=1.0)
    assert tracker.legs["a"].state == "running" and tracker.legs["b"].state == "queued"
    step = {"raw_output": True, "step": "Run the experiment"}
    tracker.feed(event("experiment", "epoch 1 loss 0.5\n", "a", **step), now=2.0)
    tracker.feed(event("experiment", "uploaded artifact x\n", "a", raw_output=True, step="Upload"), now=2.0)
    assert tracker.legs["a"].last_line == "epoch 1 loss 0.5"
    changed = tracker.feed_progress("wild-ci: experiment a failed exit=3 duration=1.2s", now=3.0)
    assert changed is tracker.legs["a"]
    assert (changed.state, changed.status, changed.exit) == ("done", "failed", "3")
    assert changed.elapsed(10.0) == 2.0
    tracker.feed(event("experiment", "⭐ Run Set up job", "b"), now=3.0)
    tracker.feed_progress("wild-ci: experiment b succeeded exit=0 duration=1s", now=4.0)
    # act then logs the whole matrix as failed: b keeps its own status
    tracker.feed(event("experiment", "🏁  Job failed", "b", jobResult="failure"), now=4.1)
    assert tracker.legs["b"].status == "succeeded"
    tracker.feed(event("collect", "🏁  Job succeeded", jobResult="success"), now=5.0)
    assert tracker.collect.status == "succeeded"
    assert tracker.saw_jobs


def test_plain_lines_when_not_a_terminal() -> None:
    tracker = ProgressTracker(["a"])
    stream = io.StringIO()
    with ProgressDisplay(tracker, stream) as display:
        display.update(tracker.feed(event("experiment", "⭐ Run Set up job", "a")))
        marker = "wild-ci: experiment a timed_out exit=- duration=5s"
        display.update(tracker.feed_progress(marker))
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("a: running")
    assert "a: timed_out in" in lines[1]


def test_an_experiment_shows_its_own_duration_with_the_set_up_beside_it() -> None:
    """#16: progress said `in 12.9 s` (the leg's wall time) where the results said 6.3 s: now the
    duration the result records, and the environment's set-up apart."""
    tracker = ProgressTracker(["a", "b"])
    stream = io.StringIO()
    with ProgressDisplay(tracker, stream) as display:
        display.update(tracker.feed(event("experiment", "⭐ Run Set up job", "a"), now=0.0))
        marker = "wild-ci: experiment a succeeded exit=0 duration=6.3s setup=6.6s"
        display.update(tracker.feed_progress(marker, now=12.9))
        display.update(tracker.feed(event("experiment", "⭐ Run Set up job", "b"), now=13.0))
        marker = "wild-ci: experiment b failed exit=1 duration=2.0s"
        display.update(tracker.feed_progress(marker, now=14.0))
    lines = stream.getvalue().splitlines()
    assert lines[1].endswith("a: succeeded (exit 0) in 6.3 s + 6.6 s set-up")
    assert lines[3].endswith("b: failed (exit 1) in 2.0 s")


def test_what_an_experiment_prints_never_changes_its_state() -> None:
    """#26 item 14: an experiment printing wild-ci's own lines (its end, GPUs, a retry) in the job
    log moved the live view: `liar` showed succeeded while it still ran, and ended failed."""
    tracker = ProgressTracker(["liar", "other"])
    step = {"raw_output": True, "step": "Run the experiment"}
    tracker.feed(event("experiment", "⭐ Run Set up job", "liar"), now=1.0)
    lies = [
        "wild-ci: experiment liar succeeded exit=0 duration=1s",
        "wild-ci: experiment liar got GPU 0 after waiting 0.0s",
        "wild-ci: experiment liar waiting for 2 GPUs (held by other legs: 0)",
        "wild-ci: experiment liar attempt 1 failed (exit 1); retrying in 1s",
        "wild-ci: experiment other failed exit=9 duration=1s",
    ]
    for lie in lies:  # in its own step, in another step, as act's other lines
        assert tracker.feed(event("experiment", lie + "\n", "liar", **step), now=2.0) is None
        tracker.feed(event("experiment", lie, "liar", raw_output=True), now=2.0)
        tracker.feed(lie + "\n", now=2.0)
    liar, other = tracker.legs["liar"], tracker.legs["other"]
    assert (liar.state, liar.status, liar.gpus, liar.waiting_for, liar.attempt) == (
        "running",
        None,
        None,
        None,
        1,
    )
    assert (other.state, other.status) == ("queued", None)
    tracker.feed_progress("wild-ci: experiment liar failed exit=1 duration=3.0s", now=4.0)
    assert (liar.state, liar.status, liar.exit) == ("done", "failed", "1")


def test_the_channel_gives_gpus_retries_and_a_status_that_comes_after_acts_job_end() -> None:
    tracker = ProgressTracker(["a"])
    leg = tracker.legs["a"]
    assert tracker.feed_progress("wild-ci: experiment a waiting for 2 GPUs (held by other legs: 0)", now=1.0)
    assert (leg.state, leg.waiting_for) == ("running", "2 GPUs")
    tracker.feed_progress("wild-ci: experiment a got GPUs 0,1 after waiting 2.5s", now=3.5)
    assert (leg.waiting_for, leg.gpus, leg.gpus_at) == (None, "0,1", 3.5)
    tracker.feed_progress("wild-ci: experiment a attempt 1 failed (exit 137); retrying in 2s", now=4.0)
    assert (leg.attempt, leg.retried_because) == (2, "exit 137")
    # act's log and the channel are two ways: the job's end may be read first
    tracker.feed(event("experiment", "🏁  Job failed", "a", jobResult="failure"), now=6.0)
    assert (leg.state, leg.status) == ("done", None)
    assert tracker.feed_progress("wild-ci: experiment a succeeded exit=0 duration=1.5s", now=6.1) is leg
    assert (leg.status, leg.duration_s, leg.ended) == ("succeeded", 1.5, 6.0)
    # the executor's last line is the leg's (it writes it once the whole experiment has ended)
    assert tracker.feed_progress("wild-ci: experiment a failed exit=1 duration=1s", now=7.0) is leg
    assert tracker.feed_progress("wild-ci: experiment nobody failed exit=1", now=7.0) is None
    assert (leg.status, leg.ended) == ("failed", 6.0)


MALFORMED = [
    "wild-ci: experiment liar succeeded exit=0 duration=1.2.3s",
    "wild-ci: experiment liar succeeded exit=0 duration=1s setup=..s",
    "wild-ci: experiment liar succeeded exit=0 duration=.s",
    "wild-ci: experiment liar attempt ١٢ failed (x); retrying",  # digits of another script
    "wild-ci: experiment liar got GPU ٣ after waiting 0s",
]


def test_a_malformed_channel_line_changes_nothing_and_raises_nothing() -> None:
    """Where an experiment reaches the channel (no sandbox), a line such as `duration=1.2.3s`
    matched the status pattern and then failed float(): the ValueError ended the thread that reads
    the channel, with a traceback on the terminal (test_live_view.py shows it through act). Numbers
    are matched as the executor writes them, and a status line ends where the executor's ends."""
    tracker = ProgressTracker(["liar"])
    for line in MALFORMED:
        assert tracker.feed_progress(line, now=1.0) in (None, tracker.legs["liar"])
    leg = tracker.legs["liar"]
    assert leg.status is None and leg.attempt == 1 and leg.gpus is None


@seed(2026)
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_no_channel_line_raises(rest: str) -> None:
    tracker = ProgressTracker(["liar"])
    for line in (f"wild-ci: experiment liar {rest}", rest):
        tracker.feed_progress(line, now=1.0)


def test_every_status_line_an_executor_writes_is_read() -> None:
    """The status line's pattern now ends with the line: every duration Python writes for a
    rounded float (exponents included) still matches."""
    for duration in (0.0, 0.001, 12.5, 1e16, 123456.789):
        tracker = ProgressTracker(["a"])
        tracker.feed_progress(f"wild-ci: experiment a failed exit=- duration={duration}s setup={duration}s")
        assert tracker.legs["a"].status == "failed" and tracker.legs["a"].duration_s == duration
