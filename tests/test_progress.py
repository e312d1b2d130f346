"""Progress from act's --json lines: per-leg state from the leg's own marker, not act's job result."""

from __future__ import annotations

import io
import json

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
    marker = "wild-ci: experiment a failed exit=3 duration=1.2s\n"
    changed = tracker.feed(event("experiment", marker, "a", raw_output=True), now=3.0)
    assert changed is tracker.legs["a"]
    assert (changed.state, changed.status, changed.exit) == ("done", "failed", "3")
    assert changed.elapsed(10.0) == 2.0
    tracker.feed(event("experiment", "⭐ Run Set up job", "b"), now=3.0)
    tracker.feed(event("experiment", "wild-ci: experiment b succeeded exit=0 duration=1s", "b",
                       raw_output=True), now=4.0)  # fmt: skip
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
        display.update(tracker.feed(event("experiment", marker, "a", raw_output=True)))
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
        display.update(tracker.feed(event("experiment", marker, "a", raw_output=True), now=12.9))
        display.update(tracker.feed(event("experiment", "⭐ Run Set up job", "b"), now=13.0))
        marker = "wild-ci: experiment b failed exit=1 duration=2.0s"
        display.update(tracker.feed(event("experiment", marker, "b", raw_output=True), now=14.0))
    lines = stream.getvalue().splitlines()
    assert lines[1].endswith("a: succeeded (exit 0) in 6.3 s + 6.6 s set-up")
    assert lines[3].endswith("b: failed (exit 1) in 2.0 s")
