"""Issue #26, items 1-4: YAML 1.1 surprises read as written, lone surrogates refused on their line,
a garbled block never run, a mapping where the list belongs warned."""

from __future__ import annotations

import json

import pytest

from wild_ci.parse import parse_brain_output
from wild_ci.specs import BrainOutput


def _parse(item: str) -> BrainOutput:
    return parse_brain_output(f"Prose.\n<experiments>\n{item}</experiments>\n")


def _run(item: str) -> str:
    out = _parse(item)
    assert out.ok, out.errors
    json.dumps(out.to_json())  # what parse --json, submit and the context write
    return out.experiments[0].run


@pytest.mark.parametrize(
    ("written", "flag"),
    [
        ("{since: 2024-01-01}", "--since=2024-01-01"),
        ("{ts: 2024-01-01T10:00:00Z}", "--ts=2024-01-01T10:00:00Z"),
        ("{ts: 2024-01-01 10:00:00.5 +02:00}", "'--ts=2024-01-01 10:00:00.5 +02:00'"),
        ("{a: {b: 2024-01-01}}", '--a={"b":"2024-01-01"}'),
        ("{a: [2024-01-01]}", '--a=["2024-01-01"]'),
        ("{a: !!timestamp 2024-01-01}", "--a=2024-01-01"),
    ],
)
def test_a_date_or_timestamp_stays_its_text(written: str, flag: str) -> None:
    run = _run(f'- goal: "d"\n  command: "python t.py"\n  parameters: {written}\n')
    assert run.endswith(flag) or run.endswith(f"'{flag}'"), run


def test_a_date_in_a_sweep_and_in_env_stays_its_text() -> None:
    out = _parse('- goal: "d"\n  command: "python t.py"\n  sweep: {since: [2024-01-01, 2024-02-01]}\n'
                 "  env: {SINCE: 2024-03-01}\n")  # fmt: skip
    assert out.ok, out.errors
    runs = [e.run for e in out.experiments]
    assert runs == ["python t.py --since=2024-01-01", "python t.py --since=2024-02-01"]
    assert out.experiments[0].env == {"SINCE": "2024-03-01"}
    json.dumps(out.to_json())


WORDS = ["on", "off", "yes", "no", "y", "n", "null", "~", "true", "True", "NULL", "Off"]


@pytest.mark.parametrize("word", WORDS)
def test_a_yaml11_key_stays_that_word(word: str) -> None:
    if word == "~":
        out = _parse('- goal: "k"\n  command: "python t.py"\n  env: {"A": 1, ~: 2}\n')
        assert not out.ok and any("'~'" in e.message for e in out.errors), out.errors
        return
    run = _run(f'- goal: "k"\n  command: "python t.py"\n  parameters: {{{word}: 1}}\n')
    assert run == f"python t.py --{word}=1"


def test_a_yaml11_key_in_a_sweep_and_in_block_style_stays_that_word() -> None:
    out = _parse('- goal: "k"\n  command: "python t.py"\n  sweep: {off: [1, 2]}\n  parameters:\n    on: 3\n')
    assert out.ok, out.errors
    assert out.experiments[0].run == "python t.py --on=3 --off=1"


def test_booleans_and_numbers_as_values_keep_their_rules() -> None:
    values = "{a: yes, b: true, c: 1.5, d: 7, e: null, f: off}"
    run = _run(f'- goal: "v"\n  command: "python t.py"\n  parameters: {values}\n')
    assert run == "python t.py --a=true --b=true --c=1.5 --d=7 --e=null --f=false"


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ('  goal: "bad \\udc80"\n  command: "python t.py"\n', 3),
        ('  goal: "g"\n  command: "python t.py \\ud800"\n', 4),
        ('  goal: "g"\n  command: "python t.py"\n  parameters: {"a": "\\udc80"}\n', 5),
        ('  goal: "g"\n  command: "python t.py"\n  parameters: {a: "\\udc80"}\n', 5),
        ('  goal: "g"\n  command: "python t.py"\n  parameters: {"\\udc80": 1}\n', 5),
        ('  goal: "g"\n  command: "python t.py"\n  env: {A: "\\udc80"}\n', 5),
        ('  goal: "g"\n  command: "python t.py"\n  sweep: {a: ["\\udc80", 1]}\n', 5),
        ('  goal: "g"\n  command: "python t.py"\n  workdir: "/x/\\udc80"\n', 5),
    ],
)
def test_a_lone_surrogate_is_an_error_on_its_line(field: str, line: int) -> None:
    out = _parse("- " + field[2:])
    assert not out.ok and not out.experiments
    assert any(e.line == line and "surrogate" in e.message for e in out.errors), out.errors
    json.dumps(out.to_json(), ensure_ascii=False).encode()  # parse --json writes it as UTF-8


def test_a_surrogate_pair_is_one_character_and_fine() -> None:
    out = _parse('- goal: "emoji \\ud83d\\ude00"\n  command: "python t.py"\n')
    assert out.ok and out.experiments[0].goal == "emoji \U0001f600"


def test_a_garbled_block_runs_nothing() -> None:
    out = _parse('- goal: "x\n  command: [unclosed\n- - : :\n')
    assert not out.experiments
    assert any(e.line == 4 and "command" in e.message for e in out.errors), out.errors


@pytest.mark.parametrize("value", ["[unclosed", "{a: 1", '"open'])
def test_a_broken_value_is_never_a_command(value: str) -> None:
    out = _parse(f'- goal: "x"\n  command: {value}\n  bad: : :\n')  # the block is not YAML
    assert not out.experiments, out.experiments
    assert any(e.line == 4 for e in out.errors), out.errors


def test_the_tolerant_reader_still_fixes_layout_slips() -> None:
    out = _parse('* goal: "x"\n    command: "python t.py --a: b"\n\tworkdir: /w\n')
    assert out.ok, out.errors
    assert out.experiments[0].command == "python t.py --a: b"


def test_a_mapping_where_the_list_belongs_is_warned() -> None:
    out = _parse('goal: "x"\ncommand: "python t.py"\n')
    assert out.ok and len(out.experiments) == 1
    assert any(w.line == 3 and "'- goal:" in w.message for w in out.warnings), out.warnings
