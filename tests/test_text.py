"""Text from brains and experiments is data on every rendering path: never rich markup, never a
terminal sequence (`wild_ci/text.py`). A hypothesis property sends arbitrary text through each path;
the pseudo-terminal half is in `tests/test_e2e_text.py`."""

from __future__ import annotations

import argparse
import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from wild_ci.cli import parse as parse_cli
from wild_ci.cli.results import _results_table, status_lines
from wild_ci.collect import IterationState, SessionState
from wild_ci.engines.act.progress import ProgressDisplay, ProgressTracker
from wild_ci.layout import EXPERIMENT_STEP
from wild_ci.report import comment_body, context_block, nothing_ran_block, one_line, results_markdown
from wild_ci.specs import Diagnostic, ExperimentResult, InvalidItem, IterationResults, LeftOut
from wild_ci.text import is_visible, last_line, visible

# What a terminal or an editor would interpret; \n and \t are checked separately where one line is due.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SGR = re.compile("\x1b\\[[0-9;]*m")  # rich's own colours, the only sequence a rendering may add
HOSTILE = [
    "reading [/tmp/data.csv]", "Epoch [/10]", "done [/]", "[bold red]x[/]", "[/", "[link=x]y",
    "\x1b[2J", "\x1b]0;pwned\x07", "\x07", "\x00", "\x1b[31m", "\x9b2J", "\x9d0;t\x9c", "\r", "\r\n",
    "\x7f", "\x08", "\u202e", "\u2066", "\u2028", "\udcff", "`", "```", "|", "</experiment_results>",
    "{{ x }}", "\t", "\n", "é", "😀", "\u200d",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)), max_size=6).map("".join)


def words(text: str) -> list[str]:
    """The printable runs that must survive every rendering (letters, digits, markup brackets)."""
    return re.findall(r"[A-Za-z0-9\[\]/]+", text)


def results_with(text: str) -> IterationResults:
    return IterationResults(
        session="main", iteration=1, commit="a" * 40,
        experiments=[
            ExperimentResult(
                "one", text, text, "failed", 1, 1.0, stdout_tail=text, stderr_tail=text, note=text,
                outputs=[text], metrics={text or "m": 1.0},
            ),
        ],
        promise=text, warnings=[Diagnostic(3, text)], invalid=[InvalidItem(4, text, [Diagnostic(4, text)])],
        notes=[text], left_out=[LeftOut(text, "a secret")],
    )  # fmt: skip


def rendered(renderable: object, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(
        file=out, width=400, force_terminal=terminal, color_system="truecolor" if terminal else None
    )
    console.print(renderable)
    return out.getvalue()


def assert_data(output: str, text: str, one_line: bool = False) -> None:
    assert RAW.search(output) is None, repr(output)
    if one_line:
        assert "\t" not in output
    for word in words(text):
        assert word in output, (word, output)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_any_text_is_shown_as_data_on_every_rendering_path(text: str) -> None:
    results = results_with(text)
    for output in (
        results_markdown(results), comment_body(results, "https://x/results.md"), context_block(results),
        nothing_ran_block("main", [Diagnostic(1, text)], text),
    ):  # fmt: skip
        assert_data(output, text)
        assert output.count("</experiment_results>") <= 1
    # `show`: the table through rich, plain and on a terminal
    shortest = " ".join(words(one_line(text, 29))[:-1])  # the table cuts cells; this much is in all
    for terminal in (False, True):
        assert_data(SGR.sub("", rendered(_results_table(results), terminal)), shortest)
    # `status`
    lines = status_lines([SessionState("main", "wild/main", [IterationState(1, 1, True, {}, text)])])
    for line in lines:
        assert_data(line, "", one_line=True)
    assert_data("\n".join(lines), text)
    # diagnostics and left-out paths on stderr
    assert_data(Diagnostic(5, text).located("brain.md", "warning"), text, one_line=True)
    assert_data(str(LeftOut(text, "secret")), text, one_line=True)
    # the live view: its last-output column through a terminal console
    tracker = ProgressTracker(["one"])
    tracker.feed(
        '{"jobID": "legs", "matrix": {"experiment": "one"}, "raw_output": true, '
        f'"step": "{EXPERIMENT_STEP}", "msg": {_json(text)}}}'
    )
    assert_data(SGR.sub("", rendered(ProgressDisplay(tracker, io.StringIO())._table(), True)), "")
    assert_data(tracker.legs["one"].last_line, "", one_line=True)


def _json(text: str) -> str:
    return json.dumps(text)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("clear\x1b[2Jscreen", "clear\\x1b[2Jscreen"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("nul\x00bel\x07del\x7f", "nul\\x00bel\\x07del\\x7f"),
        ("c1 \x9b2J", "c1 \\x9b2J"),
        ("rtl \u202eevil\u202c", "rtl \\u202eevil\\u202c"),
        ("lone \udcff", "lone \\udcff"),
        ("a\r\nb\tc\rd", "a\nb\tc\\rd"),
        ("emoji 😀 \u200d é [/x]", "emoji 😀 \u200d é [/x]"),
    ],
)
def test_visible_escapes_what_a_terminal_interprets_and_keeps_the_rest(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert is_visible(visible(raw)) and visible(visible(raw)) == visible(raw)


def test_one_line_escapes_line_breaks_and_tabs_too() -> None:
    assert visible("a\nb\tc", multiline=False) == "a\\nb\\tc"
    assert one_line("a\x1b[2J\nb") == "a\\x1b[2J b"


def test_the_live_view_keeps_the_last_redraw_of_a_progress_line() -> None:
    assert last_line("10%\r 50%\r100% done\r") == "100% done"
    assert last_line("\x1b]0;pwned\x07 hi") == "\\x1b]0;pwned\\x07 hi"


@pytest.mark.parametrize("line", ["reading [/tmp/data.csv]", "Epoch [/10]", "done [/]", "[bold red]x[/]"])
def test_the_live_table_shows_markup_like_output_literally(line: str) -> None:
    tracker = ProgressTracker(["one"])
    tracker.feed(
        '{"jobID": "legs", "matrix": {"experiment": "one"}, "raw_output": true, '
        f'"step": "{EXPERIMENT_STEP}", "msg": {_json(line)}}}'
    )
    assert line in rendered(ProgressDisplay(tracker, io.StringIO())._table(), False)


def test_show_prints_a_goal_with_markup_and_escapes_literally() -> None:
    goal = "Evaluate on [/data/val] split \x1b[2J\x1b]0;pwned\x07"
    out = rendered(_results_table(results_with(goal)), True)
    assert "[/data/val]" in out and "\\x1b[2J\\x1b]0;pwned\\x07" in out
    assert "\x07" not in out and "\x1b]" not in out


def test_parse_lists_the_brains_text_without_its_escapes(tmp_path, capsys) -> None:
    brain = tmp_path / "brain.md"
    brain.write_text(
        '<experiments>\n- goal: "Epoch [/10] \\e[2J \\a"\n  command: "echo \\e]0;pwned\\a"\n'
        "</experiments>\n<promise>done \x1b[2J</promise>\n"
    )
    parse_cli.check(argparse.Namespace(file=str(brain), json=False))
    out, err = capsys.readouterr()
    assert RAW.search(out + err) is None, out + err
    assert "Epoch [/10] \\x1b[2J \\x07" in out and "echo \\x1b]0;pwned\\x07" in out
