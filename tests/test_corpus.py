"""A corpus of realistic brain outputs (tests/corpus/NN-name.md), each with what must be read from
it (NN-name.expected.json): the exact experiments, the errors that must be reported, the warnings
that must at least be reported, and the promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wild_ci.generate import read_brain_output

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.md"))


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def _matches(diagnostics: list, line: int | None, text: str) -> bool:
    return any((line is None or d.line == line) and text.lower() in d.message.lower() for d in diagnostics)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_corpus_case(case: Path) -> None:
    expected = json.loads(case.with_suffix(".expected.json").read_text(encoding="utf-8"))
    parsed = read_brain_output(case.read_bytes())
    got = [{"goal": e.goal, "run": e.run, "workdir": e.workdir, "id": e.id} for e in parsed.experiments]
    want = expected["experiments"]
    assert [{k: g[k] for k in w} for g, w in zip(got, want, strict=False)] == want
    assert len(got) == len(want), f"got {len(got)} experiments, expected {len(want)}"
    if not expected.get("errors"):
        assert parsed.errors == [], parsed.errors
    for error in expected.get("errors", []):
        assert _matches(parsed.errors, error["line"], error["contains"]), (error, parsed.errors)
    for warning in expected.get("warnings", []):
        assert _matches(parsed.warnings, warning["line"], warning["contains"]), (warning, parsed.warnings)
    if "promise" in expected:
        assert parsed.promise == expected["promise"]
