"""Snapshots of what people and the brain read: results.md and the context (wild-ci's block and the
original Wild V2 brain's markdown) for an iteration with a
success, a failure, a timeout, a missing leg, a parameter echoed in metrics.json, metrics compared
with the iteration before, and the best so far.
Regenerate after a deliberate change: WILD_CI_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wild_ci.compare import Standing
from wild_ci.report import context_block, results_markdown
from wild_ci.specs import Diagnostic, ExperimentResult, IterationResults

SNAPSHOTS = Path(__file__).parent / "snapshots"


def iteration(number: int, losses: dict[str, float]) -> IterationResults:
    return IterationResults(
        session="main",
        iteration=number,
        commit="0123456789abcdef" * 2 + "01234567",
        experiments=[
            ExperimentResult(
                "baseline",
                "Train the baseline",
                "python train.py --lr=0.1",
                "succeeded",
                0,
                42.5,
                stdout_tail="epoch 10 loss 0.31\ndone",
                outputs=["outputs/model.pt"],
                metrics={"loss": losses["baseline"], "accuracy": 0.91, "lr": 0.1},  # lr: echoed, a parameter
                parameters={"lr": 0.1},
            ),
            ExperimentResult(
                "wider",
                "Train a wider model",
                "python train.py --width=2",
                "failed",
                1,
                3.2,
                stderr_tail="Traceback (most recent call last):\nRuntimeError: CUDA out of memory",
                metrics={"loss": losses["wider"]},
            ),
            ExperimentResult(
                "sweep",
                "Sweep the learning rate",
                "python sweep.py",
                "timed_out",
                None,
                600.0,
                signal=15,
                stdout_tail="lr=0.3 loss=0.40",
                note="stopped after the 600s timeout",
            ),
            ExperimentResult(
                "eval",
                "Evaluate on the test set",
                "python eval.py",
                "missing",
                note="no artifact came back: the runner died or the leg never ran",
            ),
        ],
        promise="WAITING",
        warnings=[Diagnostic(14, "unknown key 'priority' was ignored")],
    )


PREVIOUS = iteration(1, {"baseline": 0.42, "wider": 0.39})
CURRENT = iteration(2, {"baseline": 0.31, "wider": 0.45})
STANDING = Standing.of(CURRENT, [PREVIOUS])


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("results.md", lambda: results_markdown(CURRENT, chart_src="metrics.png", standing=STANDING)),
        ("context.txt", lambda: context_block(CURRENT, standing=STANDING)),
        ("context-wild-v2.md", lambda: context_block(CURRENT, context_format="wild-v2")),
    ],
)
def test_snapshot(name: str, render) -> None:
    path = SNAPSHOTS / name
    text = render()
    if os.environ.get("WILD_CI_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
