"""Property-based tests of the parser: it never crashes on any text, and parameters of any JSON
value reach the command line so that `shlex.split` gives them back exactly."""

from __future__ import annotations

import json
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wild_ci.parse import flag_value, parse_brain_output
from wild_ci.parse.fast import read_canonical
from wild_ci.specs import BrainOutput

no_nul = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))  # NUL: no argv; Cs: no file
texts = st.text(alphabet=no_nul)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(no_nul, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
flag_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}", fullmatch=True)
fragments = st.sampled_from(
    ["<experiments>", "</experiments>", "<EXPERIMENTS a='1'>", "- goal: ", "  command: ", "  workdir: ",
     "  parameters: ", "{", "}", "[", "]", ": ", " #", "```", "`", "\n", "  ", "\t", "*", '"', "'", "|",
     "${{ x }}", "{{ y }}", "$(z)", "<promise>", "</promise>", "\x00", "\r\n", "\ufeff",
     "!!int ", "!!timestamp ", "!!python/object ", "&a ", "*a", "[[[[[[[[", "{{{{", "\u2028", "\x85",
     "  timeout: ", "  parameters:\n    ", "  command: |\n    ", "<<EOF\n", "EOF\n"]
)  # fmt: skip
brainish = st.lists(st.one_of(fragments, st.text(max_size=12)), max_size=40).map("".join)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.text(), brainish))
def test_any_text_parses_without_raising(text: str) -> None:
    out = parse_brain_output(text)
    assert isinstance(out, BrainOutput)
    for diagnostic in out.errors + out.warnings:
        assert diagnostic.line is None or 1 <= diagnostic.line <= text.count("\n") + 1
    for experiment in out.experiments:
        assert experiment.goal.strip() and experiment.command.strip()


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(flag_names, json_values, min_size=1, max_size=5))
def test_parameters_round_trip_through_the_command_line(parameters: dict) -> None:
    block = "<experiments>\n- goal: g\n  command: python run.py\n  parameters: " + json.dumps(parameters)
    out = parse_brain_output(block + "\n</experiments>\n")
    assert out.ok, out.errors
    words = shlex.split(out.experiments[0].run)
    assert words[:2] == ["python", "run.py"]
    expected = [f"--{key}={flag_value(value)}" for key, value in parameters.items()]
    assert words[2:] == expected
    for word, value in zip(words[2:], parameters.values(), strict=True):
        text = word.split("=", 1)[1]
        assert text == value if isinstance(value, str) else json.loads(text) == value


scalar_texts = st.one_of(
    st.text(max_size=20).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.from_regex(r"[A-Za-z][A-Za-z0-9 _./,()=+-]{0,20}", fullmatch=True).map(str.rstrip),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["yes", "No", "on", "null", "~", "True", "1e-05", "0x1F", "012", ".5", "a: b", "x #c"]),
    st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(json.dumps),
)
canonical_items = st.lists(
    st.dictionaries(st.sampled_from(["goal", "command", "workdir", "parameters", "note"]), scalar_texts,
                    min_size=1, max_size=4),
    min_size=1, max_size=4,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(canonical_items, st.sampled_from([0, 2]))
def test_fast_reader_agrees_with_yaml_wherever_it_answers(items: list[dict], indent: int) -> None:
    import yaml

    pad = " " * indent
    lines = []
    for item in items:
        for position, (key, value) in enumerate(item.items()):
            lines.append(f"{pad}{'- ' if position == 0 else '  '}{key}: {value}")
    block = "\n".join(lines) + "\n"
    fast = read_canonical(block, 1)
    if fast is None:
        return
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the loader production uses
    assert [values for values, _line, _keys in fast] == yaml.load(block, Loader=loader)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udbff", "\\udc00", "\\uDFFF"])
def test_a_lone_surrogate_escape_is_left_to_yaml(escape: str) -> None:
    """Found by the property above: JSON decodes a lone low surrogate (\\udc00) that YAML refuses;
    the fast reader let it through because it looked only for high halves (\\ud8-\\udb)."""
    assert read_canonical(f'- goal: {{"": "{escape}"}}\n  command: "x"\n', 1) is None
    assert read_canonical(f'- goal: "{escape}"\n  command: "x"\n', 1) is None
