"""The parse stage: blocks, fields, flags, ids, signals, and errors that name their line."""

from __future__ import annotations

import json
import shlex

from helpers import run_cli

from wild_ci.parse import final_command, parse_brain_output, slugify

THREE = """Some prose first.

<experiments>
- goal: "Run unit tests"
  command: "cd /path/to/project && python -m pytest tests/ -v"
  workdir: "/path/to/project"
- goal: Sweep the learning rate
  command: python train.py
  parameters: {"lr": 0.001, "warmup": true, "tag": "a b", "layers": [1, 2], "extra": null}
- goal: "Run unit tests"
  command: echo again
</experiments>
<summary>Testing things.</summary>
<promise>waiting</promise>
"""


def test_reads_experiments_in_order_with_their_lines() -> None:
    out = parse_brain_output(THREE)
    assert out.ok, out.errors
    assert [e.goal for e in out.experiments] == [
        "Run unit tests",
        "Sweep the learning rate",
        "Run unit tests",
    ]
    assert [e.line for e in out.experiments] == [4, 7, 10]
    assert out.experiments[0].workdir == "/path/to/project"
    assert out.summary == "Testing things."
    assert out.promise == "WAITING"


def test_ids_are_unique_slugs_and_stable_across_parses() -> None:
    first = [e.id for e in parse_brain_output(THREE).experiments]
    assert first == ["run-unit-tests", "sweep-the-learning-rate", "run-unit-tests-2"]
    assert first == [e.id for e in parse_brain_output(THREE).experiments]


def test_slugify_is_artifact_safe_and_bounded() -> None:
    assert slugify('Ünïcode: "quotes" / slashes \\ and ${{ secrets.X }}') == (
        "unicode-quotes-slashes-and-secrets-x"
    )
    assert slugify("!!!") == "experiment"
    assert len(slugify("word " * 40)) <= 48


def test_parameters_become_flags_that_shlex_splits_back_exactly() -> None:
    sweep = parse_brain_output(THREE).experiments[1]
    words = shlex.split(sweep.run)
    assert words == [
        "python",
        "train.py",
        "--lr=0.001",
        "--warmup=true",
        "--tag=a b",
        "--layers=[1,2]",
        "--extra=null",
    ]


def test_hostile_parameter_values_stay_literal() -> None:
    hostile = {"x": "$(rm -rf /); `id` ${{ secrets.TOKEN }} 'q' \"d\"\nnext"}
    run = final_command("python run.py", hostile)
    assert shlex.split(run)[-1] == "--x=" + hostile["x"]


def test_flags_go_on_the_last_line_of_a_multiline_command() -> None:
    run = final_command("set -e\npython a.py", {"seed": 1})
    assert run == "set -e\npython a.py --seed=1"


def test_missing_command_is_an_error_naming_the_item_line() -> None:
    text = "intro\n<experiments>\n- goal: only a goal\n</experiments>\n"
    out = parse_brain_output(text)
    assert not out.ok
    assert out.errors[0].line == 3
    assert "'command' is required" in out.errors[0].message


def test_invalid_yaml_is_read_tolerantly_with_warnings() -> None:
    """A broken value is refused on its line, never run as its text (issue #26, item 4)."""
    text = "a\nb\n<experiments>\n- goal: x\n  command: [unclosed\n- goal: y\n</experiments>\n"
    out = parse_brain_output(text)
    assert out.experiments == []
    assert any("not valid YAML" in w.message and w.line in (5, 6) for w in out.warnings)
    assert [e.line for e in out.errors] == [5, 6]
    assert "starts like a JSON list" in out.errors[0].message
    assert "'command' is required" in out.errors[1].message


def test_unreadable_block_is_an_error_naming_the_line() -> None:
    text = "intro\n<experiments>\nI would like to run: the tests\nplease [\n</experiments>\n"
    out = parse_brain_output(text)
    assert not out.ok and out.experiments == []
    assert out.errors[0].line == 3
    assert "cannot read the <experiments> block: expected an item" in out.errors[0].message


def test_tolerant_reader_fixes_the_usual_slips() -> None:
    text = (
        "<experiments>\n"
        "* command: echo a: b --note=c#d\n"  # line 2: '*' bullet, ': ' unquoted
        "    goal: Colons: everywhere\n"  # line 3: uneven indentation, goal after command
        "  parameters:\n"
        "    lr: 0.1\n"
        "    name: run one\n"
        "- goal: Second\n"
        "  command: |\n"
        "    set -e\n"
        "    python train.py\n"
        "</experiments>\n"
    )
    out = parse_brain_output(text)
    assert out.ok, out.errors
    first, second = out.experiments
    assert first.goal == "Colons: everywhere"
    assert first.command == "echo a: b --note=c#d"
    assert shlex.split(first.run)[-2:] == ["--lr=0.1", "--name=run one"]
    assert second.command == "set -e\npython train.py"
    lines = {w.line for w in out.warnings}
    assert {2, 3} <= lines


def test_unsafe_parameter_names_are_errors() -> None:
    text = '<experiments>\n- goal: g\n  command: c\n  parameters: {"--evil; rm": 1}\n</experiments>'
    out = parse_brain_output(text)
    assert not out.ok
    assert out.errors[0].line == 4
    assert "safe flag name" in out.errors[0].message


def test_unknown_keys_are_warnings_with_lines() -> None:
    text = "<experiments>\n- goal: g\n  command: c\n  priority: high\n</experiments>"
    out = parse_brain_output(text)
    assert out.ok
    assert [(w.line, "priority" in w.message) for w in out.warnings] == [(4, True)]


def test_blocks_in_code_are_quotations_and_warn() -> None:
    text = (
        "The format is:\n```\n<experiments>\n- goal: example\n  command: echo no\n</experiments>\n```\n"
        "Inline: `<experiments>- goal: x</experiments>`\n"
        "<experiments>\n- goal: real\n  command: echo yes\n</experiments>\n"
    )
    out = parse_brain_output(text)
    assert [e.goal for e in out.experiments] == ["real"]
    assert [w.line for w in out.warnings] == [3, 8]


def test_fence_inside_a_block_is_unwrapped_and_lines_kept() -> None:
    text = "<experiments>\n```yaml\n- goal: g\n  command: c\n```\n</experiments>\n"
    out = parse_brain_output(text)
    assert out.ok
    assert out.experiments[0].line == 3


def test_timeouts_and_env() -> None:
    text = (
        "<experiments>\n- goal: a\n  command: c\n  timeout: 30m\n  env: {MODE: fast, N: 3}\n"
        "- goal: b\n  command: c\n  timeout: 90\n</experiments>"
    )
    a, b = parse_brain_output(text).experiments
    assert (a.timeout_s, a.env) == (1800, {"MODE": "fast", "N": "3"})
    assert b.timeout_s == 90


def test_no_experiments_with_waiting_is_valid() -> None:
    out = parse_brain_output("Still thinking.\n<promise>WAITING</promise>")
    assert out.ok and out.experiments == [] and out.promise == "WAITING"


def test_cli_parse_json_contract(tmp_path) -> None:
    brain = tmp_path / "brain.md"
    brain.write_text(THREE)
    done = run_cli("parse", str(brain), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) >= {"experiments", "promise", "summary", "errors", "warnings"}
    first = data["experiments"][0]
    assert set(first) >= {"id", "goal", "command", "workdir", "parameters", "run"}
    assert data["experiments"][1]["run"].endswith(
        "--lr=0.001 --warmup=true '--tag=a b' '--layers=[1,2]' --extra=null"
    )


def test_cli_parse_reports_errors_with_file_and_line_and_exit_2(tmp_path) -> None:
    done = run_cli("parse", "-", stdin=b"x\n<experiments>\n- command: ls\n</experiments>\n")
    assert done.returncode == 2
    assert b"<stdin>:3: error: 'goal' is required" in done.stderr


def test_nul_bytes_and_infinite_timeouts_are_errors_not_crashes() -> None:
    text = (
        '<experiments>\n- goal: a\n  command: c\n  parameters: {"x": "a\\0b"}\n'
        '- goal: b\n  command: c\n  env: {X: "a\\0b"}\n'
        "- goal: c\n  command: c\n  timeout: .inf\n</experiments>\n"
    )
    out = parse_brain_output(text)
    firsts = [(e.line, e.message.split(" ")[0]) for e in out.errors]
    assert firsts == [(4, "'parameters'"), (7, "environment"), (10, "'timeout'")]
    assert out.experiments == []


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    levels = ["p0: &p0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"p{i}: &p{i} [{', '.join([f'*p{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = "<experiments>\n- goal: g\n  command: c\n  parameters:\n" + "".join(
        f"    {level}\n" for level in levels
    )
    out = parse_brain_output(text + "</experiments>\n")  # 9**10 leaves if expanded
    assert not out.ok and out.experiments == []
    assert any("aliases" in e.message for e in out.errors)


def test_parameters_that_could_not_reach_the_program_are_errors() -> None:
    for command in ("python train.py  # baseline", "python train.py;", "python a.py &&", "echo 'open"):
        text = f"<experiments>\n- goal: g\n  command: {json.dumps(command)}\n  parameters: {{a: 1}}\n"
        out = parse_brain_output(text + "</experiments>")
        assert not out.ok, command
        expected = "unmatched ' quote" if command == "echo 'open" else "cannot be appended"
        assert expected in out.errors[0].message
    fine = "<experiments>\n- goal: g\n  command: \"echo a#b '# quoted'\"\n  parameters: {a: 1}\n"
    assert parse_brain_output(fine + "</experiments>").experiments[0].run == "echo a#b '# quoted' --a=1"


def test_yaml_tags_and_deep_nesting_are_errors_not_exceptions() -> None:
    for value in ("!!int ten", "!!timestamp soon", "!!float fast", "!!bool maybe", "[" * 2000):
        text = f"<experiments>\n- goal: g\n  command: c\n  timeout: {value}\n</experiments>\n"
        out = parse_brain_output(text)  # must not raise
        assert not out.ok and out.experiments == [], value
        assert all(e.line and 1 <= e.line <= 5 for e in out.errors), out.errors


def test_a_stray_backtick_cannot_hide_a_real_block() -> None:
    text = (
        "I will re-run the `train script with two seeds.\n"
        "<experiments>\n- goal: Seed 2\n  command: python train.py > `date +%s`.log\n</experiments>\n"
    )
    out = parse_brain_output(text)
    assert [e.goal for e in out.experiments] == ["Seed 2"]
    assert any(w.line == 2 and "unmatched backtick" in w.message for w in out.warnings)


def test_only_the_exact_tag_name_opens_a_block() -> None:
    text = (
        "<experiments-draft>\n- goal: not this\n  command: rm -rf data\n</experiments-draft>\n"
        "<experiments>\n- goal: this\n  command: ls\n</experiments>\n"
    )
    assert [e.goal for e in parse_brain_output(text).experiments] == ["this"]


def test_lines_stay_right_after_yaml_line_breaks_inside_values() -> None:
    text = '<experiments>\n- goal: "first\u2028still the goal"\n  comand: x\n</experiments>\n'
    out = parse_brain_output(text)
    assert [(d.line, d.message[:14]) for d in out.warnings] == [(3, "unknown key 'c")]
    assert [(d.line, d.message) for d in out.errors] == [(2, "'command' is required")]


def test_tolerant_reader_ignores_stray_lines_and_reads_multiline_quotes() -> None:
    text = (
        "<experiments>\n- goal: Base: line\n  command: python train.py --epochs 1\n"
        "This one should take about a minute.\n"
        '- goal: Quoted\n  command: "python eval.py\n    --split test"\n'
        '- goal: Escapes\n  command: "grep -cE \\"[0-9]+\\.\\d+\\" log.txt"\n</experiments>\n'
    )
    out = parse_brain_output(text)
    assert [e.command for e in out.experiments] == [
        "python train.py --epochs 1",
        "python eval.py --split test",
        'grep -cE "[0-9]+\\.\\d+" log.txt',
    ]
    assert any(w.line == 4 and "ignored" in w.message for w in out.warnings)


def test_parameters_after_a_heredoc_or_a_shell_block_are_errors() -> None:
    heredoc = "cat > a.py <<'EOF'\nprint(1)\nEOF"
    loop = "for s in 1 2; do\n  python t.py --seed $s\ndone"
    fine = "cat > c.json <<EOF\n{}\nEOF\npython t.py"
    for command, ok in ((heredoc, False), (loop, False), (fine, True)):
        text = f"<experiments>\n- goal: g\n  command: {json.dumps(command)}\n  parameters: {{a: 1}}\n"
        assert parse_brain_output(text + "</experiments>").ok is ok, command


def test_a_timeout_over_a_year_and_a_day_is_an_error() -> None:
    """#25 attack: `timeout: 3000000h` was taken; the leg's `timeout-minutes` (its attempts) was
    more than act's Go time.Duration holds, wrapped to a deadline already past, and every leg of
    the local run ended at once and came back `missing` ("context deadline exceeded" in act.log)."""
    items = [("a", "3000000h"), ("b", "8785 hours"), ("c", "8784 hours")]
    text = "".join(f"- goal: {g}\n  command: c\n  timeout: {t}\n" for g, t in items)
    out = parse_brain_output(f"<experiments>\n{text}</experiments>\n")
    rule = "is not a positive number of seconds or a duration like 90s, 30m, 2h (at most 366 days)"
    assert [(e.line, e.message) for e in out.errors] == [
        (4, f"'timeout' '3000000h' {rule}"),
        (7, f"'timeout' '8785 hours' {rule}"),
    ]
    assert [e.timeout_s for e in out.experiments] == [366 * 24 * 3600]
