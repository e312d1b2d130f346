"""Issue #26: anything `parse` accepts, `parse --json`, `submit` and the context accept too — over
every YAML scalar type (YAML 1.1's dates, sexagesimals, booleans, nulls, special floats, tags),
as keys and as values, and unicode. Through `submit` and collect, not act.

The suite runs a fixed seed and few examples; a longer run:
`WILD_CI_PROPERTY_EXAMPLES=2000 python -m pytest tests/test_parse_accepted.py -p no:randomly`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from wild_ci import collect, report
from wild_ci.cli.parse import check
from wild_ci.generate import read_brain_output, submit

EXAMPLES = int(os.environ.get("WILD_CI_PROPERTY_EXAMPLES", "25"))

YAML_SCALARS = [
    "2024-01-01", "2024-1-1", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "12:30:45",
    "190:20:30", "0x1f", "0o17", "017", "0b101", "1_000", "+1", "-0", "1e3", "1.0e+3", "6.8523015e+5",
    ".inf", "-.Inf", ".nan", "~", "null", "Null", "NULL", "", "yes", "No", "on", "OFF", "y", "n",
    "true", "False", "=", "<<", "!!str 5", "!!int 7", "!!float 1", "!!binary aGk=", "!!timestamp 2024-01-01",
    "!!set {a, b}", "!!omap [a: 1]", "!!null ''", "'it''s'", '"\\x41\\u00e9\\U0001F600"', '"\\ud83d\\ude00"',
    '"\\udc80"', '"\\N\\_\\L\\P"', "|-\n      x", "0.", "1__0", "1.7976931348623157e+309",
    "99999999999999999999999999999", "-1e-400",
]  # fmt: skip
unicode = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
scalars = st.sampled_from(YAML_SCALARS) | unicode.map(json.dumps)
keys = st.sampled_from([s for s in YAML_SCALARS if "\n" not in s and s]) | st.from_regex(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,6}", fullmatch=True
)


@st.composite
def brain_outputs(draw: st.DrawFn) -> str:
    """One item with a goal, parameters, a sweep and env drawn from YAML's scalars."""
    params = draw(st.lists(st.tuples(keys, scalars), max_size=3))
    sweep = draw(st.lists(st.tuples(keys, st.lists(scalars, min_size=1, max_size=2)), max_size=1))
    env = draw(st.lists(st.tuples(st.sampled_from(["A", "on", "NO", "B_1"]), scalars), max_size=2))
    lines = [f"- goal: {draw(scalars)}", "  command: python train.py"]
    for name, pairs in (("parameters", params), ("env", env)):
        if pairs:
            lines += [f"  {name}:"] + [f"    {k}: {v}" for k, v in pairs]
    if sweep:
        lines += ["  sweep:"] + [f"    {k}: [{', '.join(v)}]" for k, v in sweep if "\n" not in "".join(v)]
    return "Prose.\n<experiments>\n" + "\n".join(lines) + "\n</experiments>\n"


@seed(2026)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(brain_outputs())
def test_what_parse_accepts_submit_and_the_context_accept(make_repo, tmp_path: Path, brain: str) -> None:
    parsed = read_brain_output(brain.encode())
    json.dumps(parsed.to_json(), ensure_ascii=False).encode()  # parse --json, as the CLI writes it
    if not parsed.ok:
        return
    repo = tmp_path / "project"
    if not repo.exists():  # one repository for all examples: each submit is the next iteration
        make_repo()
    submission = submit(repo, brain.encode())
    assert submission is not None
    artifacts = tmp_path / f"a{submission.iteration}"
    for experiment in submission.spec.experiments:
        folder = artifacts / f"wild-{submission.iteration:04d}-{experiment.id}"
        folder.mkdir(parents=True)
        (folder / "stdout.log").write_text("ok\n")
        (folder / "stderr.log").write_text("")
        result = {"id": experiment.id, "status": "succeeded", "exit_code": 0, "duration_s": 1.0}
        (folder / "result.json").write_text(json.dumps(result))
    results = collect.collect_results(submission.spec, artifacts, submission.commit)
    context = report.context_block(results, 20_000, "markdown", None)
    context.encode()
    assert "experiment_results" in context


def test_parse_json_writes_every_accepted_scalar(tmp_path: Path, capsys) -> None:
    """The CLI path of `parse --json` over each scalar, as a parameter value and as a key."""
    import argparse

    for text in YAML_SCALARS:
        if "\n" in text or not text:
            continue
        brain = tmp_path / "b.md"
        block = (
            f"<experiments>\n- goal: g\n  command: python t.py\n  parameters:\n    k: {text}\n    {text}: 1\n"
        )
        brain.write_text(block + "</experiments>\n")
        check(argparse.Namespace(file=str(brain), json=True))
        json.loads(capsys.readouterr().out)
