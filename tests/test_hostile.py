"""The hostile corpus at the parser: every case runs exactly as written, or is refused clearly."""

from __future__ import annotations

import shlex

import pytest
from hostile_cases import load_cases

from wild_ci.generate import ProjectLocation, _map_workdirs
from wild_ci.parse import parse_brain_output

CASES = load_cases()


def test_the_hostile_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert {c.outcome for c in CASES} == {"runs", "refused"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case) -> None:
    out = parse_brain_output(f"Prose.\n<experiments>\n{case.brain_item()}</experiments>\n")
    _map_workdirs(out, ProjectLocation("/brain/root", [], "."))  # as submit does
    if case.outcome == "refused":
        assert not out.ok and out.experiments == []
        assert any(case.message.lower() in e.message.lower() for e in out.errors), out.errors
        assert all(e.line is not None for e in out.errors)
        return
    assert out.ok, out.errors
    [experiment] = out.experiments
    assert shlex.split(experiment.run) == ["printf", "%s", case.payload, f"--x={case.payload}"]
    assert experiment.parameters == {"x": case.payload}
