"""The parser against hostile input (issue #15): linear time on every path, bytes that are not
UTF-8 text refused with their line, unbalanced quotes refused with their line, ids within 48."""

from __future__ import annotations

import importlib.util
import itertools
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from wild_ci.generate import read_brain_output
from wild_ci.parse import decode_brain_output, parse_brain_output
from wild_ci.parse.blocks import _LineIndex, code_spans
from wild_ci.parse.commands import open_quote
from wild_ci.parse.items import MAX_ID_LENGTH

ROOT = Path(__file__).resolve().parent.parent


def _block(item: str) -> str:
    return f"Prose.\n<experiments>\n{item}</experiments>\n"


def _bomb(levels: int) -> str:
    names = [chr(97 + i) for i in range(levels)]
    parts = [f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x]"]
    parts += [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in itertools.pairwise(names)]
    return "{" + ", ".join(parts) + "}"


# --- linear time ----------------------------------------------------------------------------------


def test_an_alias_bomb_in_string_parameters_is_refused_before_it_expands() -> None:
    out = parse_brain_output(
        _block(f"- goal: bomb\n  command: python train.py\n  parameters: {_bomb(5)!r}\n")
    )
    assert out.experiments == []
    [error] = out.errors
    assert error.line == 5 and "anchors and aliases" in error.message


def test_string_parameters_are_still_read_as_yaml_or_json() -> None:
    out = parse_brain_output(_block("- goal: g\n  command: run\n  parameters: '{lr: 0.1, tag: \"a b\"}'\n"))
    assert out.ok, out.errors
    assert out.experiments[0].parameters == {"lr": 0.1, "tag": "a b"}


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("a `b` c", ["`b`"]),
        ("``a ` b`` c", ["``a ` b``"]),  # a run closes only at a run of the same length
        ("`a`` b", []),  # nothing closes the single backtick, or the double one
        ("```a`` b`` c", ["`` b``"]),  # an unclosed run is literal; the runs after it still pair
        ("`a` `b` ``c``", ["`a`", "`b`", "``c``"]),
        ("`" * 3 + "a", []),
    ],
)
def test_code_spans_follow_commonmark_backtick_runs(text: str, spans: list[str]) -> None:
    assert [text[start:end] for start, end in code_spans(text)] == spans


def test_code_spans_match_the_old_regex_where_it_was_right() -> None:
    """On inputs without an unclosed run (where the old regex retried inside a run) the new
    scanner gives exactly the old spans."""
    old = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
    for text in ["x `a` y ``b`` z ```c``` `d`", "`<experiments>` and `</experiments>`", "``a`b``"]:
        assert [m.span() for m in old.finditer(text)] == code_spans(text)


def test_line_numbers_by_offset_match_counting() -> None:
    text = "a\n\nbc\n" * 3000 + "tail"
    index = _LineIndex(text)
    for offset in [0, 1, 2, 3, 4095, 4096, 4097, 8191, 12000, len(text) - 1, len(text)]:
        assert index.line(offset) == text.count("\n", 0, offset) + 1


def test_a_block_with_more_items_than_allowed_is_refused_without_reading_it() -> None:
    item = "- goal: g\n  command: |\n    run\n"
    out = read_brain_output(_block(item * 1001).encode())
    assert out.experiments == [] and out.invalid and "1001 items" in out.errors[0].message
    assert out.errors[0].line == 2


def _bench():
    spec = importlib.util.spec_from_file_location(
        "parse_adversarial_bench", ROOT / "bench/parse_adversarial_bench.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_adversarial_family_of_the_bench_parses_quickly_at_256_kib(tmp_path) -> None:
    """Each family of bench/parse_adversarial_bench.py at 256 KiB, in one subprocess with a generous
    cap: on the quadratic or exponential paths these took minutes (the bench has the figures)."""
    bench = _bench()
    paths = []
    for number, build in enumerate(bench.FAMILIES.values()):
        data = build(256 * 1024)
        path = tmp_path / f"{number}.md"
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        paths.append(str(path))
    script = (
        "import sys, time\nfrom wild_ci.generate import read_brain_output\n"
        "for p in sys.argv[1:]:\n"
        "    t = time.perf_counter(); read_brain_output(open(p, 'rb').read())\n"
        "    print(round(time.perf_counter() - t, 3))\n"
    )
    command = [sys.executable, "-c", script, *paths]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    times = dict(zip(bench.FAMILIES, map(float, done.stdout.split()), strict=True))
    assert max(times.values()) < 5, times


# --- text that is not UTF-8 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line", "contains"),
    [
        (b"Prose.\n<experiments>\n- goal: g\n  command: echo caf\xe9\n</experiments>\n", 4, "0xe9"),
        ("Prose.\n<experiments>\n".encode("utf-16"), 1, "UTF-16"),
        ("Prose.\n<experiments>\n".encode("utf-16-le"), 1, "NUL"),
        (b"ok\nok\n\x7fELF\x02\x01\x01\x00\x00", 3, "NUL"),
        (b"one\ntwo \xff\xfe\n", 2, "0xff"),
    ],
    ids=["latin-1", "utf-16-bom", "utf-16-no-bom", "binary", "stray-bytes"],
)
def test_a_brain_output_that_is_not_utf8_text_is_an_error_naming_its_line(data, line, contains) -> None:
    out = read_brain_output(data)
    assert out.experiments == [] and not out.ok
    [error] = out.errors
    assert error.line == line and contains in error.message


def test_a_utf8_byte_order_mark_is_dropped() -> None:
    data = b"\xef\xbb\xbf" + _block("- goal: g\n  command: echo café\n").encode()
    text, problem = decode_brain_output(data)
    assert problem is None and text.startswith("Prose.")
    out = read_brain_output(data)
    assert out.ok and out.experiments[0].command == "echo café" and out.experiments[0].line == 3


def test_cli_parse_refuses_latin1_with_the_file_and_line_and_exit_2(tmp_path) -> None:
    brain = tmp_path / "brain.md"
    brain.write_bytes(b"Prose.\n<experiments>\n- goal: g\n  command: echo caf\xe9\n</experiments>\n")
    done = run_cli("parse", str(brain))
    assert done.returncode == 2
    assert "brain.md:4" in done.stderr.decode() and "not UTF-8" in done.stderr.decode()


# --- quotes ---------------------------------------------------------------------------------------


def test_an_unmatched_quote_in_a_command_is_an_error_with_its_line() -> None:
    out = parse_brain_output(_block("- goal: g\n  command: '\"python train.py'\n- goal: h\n  command: ok\n"))
    assert [e.goal for e in out.experiments] == ["h"]
    [error] = out.errors
    assert error.line == 4 and 'unmatched " quote' in error.message


def test_an_unmatched_quote_on_a_later_line_of_a_block_command_names_that_line() -> None:
    out = parse_brain_output(_block("- goal: g\n  command: |\n    cd /x\n    echo it's\n"))
    [error] = out.errors
    assert error.line == 4 and "unmatched ' quote (opened on its line 2)" in error.message


@pytest.mark.parametrize(
    "command",
    [
        'echo "it\'s"',
        "echo it\\'s",
        "echo $'it\\'s'",
        "cat <<EOF\nit's\nEOF\necho ok",
        "cat <<'EOF' > f.py\nprint(\"it's\")\nEOF\npython f.py",
        "cat <<-EOF\n\tdon't\n\tEOF",
        "echo a  # don't",
        "echo ${#x} ${y#pre} $#",
        'python -c "\nprint(1)\n"',
        'echo "$(echo "it\'s")"',
        'echo "a `echo "b"` c"',
        "case $x in a) echo 'q';; esac",
        'echo "$(cat <<EOF\nit\'s\nEOF\n)"',
        "x=$((1<<2)); echo $x",
    ],
)
def test_balanced_commands_have_no_open_quote_and_bash_agrees(command: str) -> None:
    assert open_quote(command) is None
    assert subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode == 0


@pytest.mark.parametrize(
    ("command", "quote", "line"),
    [
        ('"python train.py', '"', 1),
        ("cd /x\necho it's", "'", 2),
        ("echo `date", "`", 1),
        ("cat <<EOF\nok\nEOF\necho 'a", "'", 4),
        ("echo ${#x} '", "'", 1),
    ],
)
def test_open_quotes_are_found_and_bash_agrees(command: str, quote: str, line: int) -> None:
    assert open_quote(command) == (quote, line)
    assert subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode != 0


def test_the_corpus_commands_agree_with_bash_about_quotes() -> None:
    commands = []
    for case in sorted((ROOT / "tests/corpus").glob("*.md")):
        commands += [e.command for e in read_brain_output(case.read_bytes()).experiments]
    assert len(commands) > 50
    for command in commands:
        refused = subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode != 0
        assert (open_quote(command) is not None) == refused, command


# --- ids ------------------------------------------------------------------------------------------


def test_ids_with_their_uniqueness_suffix_stay_within_48_characters() -> None:
    goal = "Evaluate the ablation of every attention head in layer twelve of the model"
    out = parse_brain_output(_block("".join(f"- goal: {goal}\n  command: run\n" for _ in range(12))))
    ids = [e.id for e in out.experiments]
    assert len(set(ids)) == 12
    assert max(map(len, ids)) <= MAX_ID_LENGTH == 48
    assert ids[1].endswith("-2") and ids[11].endswith("-12")


def test_open_quote_agrees_with_bash_on_random_commands() -> None:
    """600 seeded random commands over quotes, escapes, comments, `$(`, `$'` and here-documents:
    nothing bash accepts is refused, and every quote bash refuses is found (outside here-document
    oddities such as a word continued with a backslash on the next line)."""
    rng = random.Random(15)
    alphabet = ["a", " ", "'", '"', "`", "\\", "\n", "#", "$", "echo ", "(", ")", "$(", ";", "$'", "\t"]
    alphabet += ["<<E", "\nE\n", "<<'E'", "<<-E", "\n\tE\n"]
    for _ in range(600):
        command = "echo " + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        done = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        found = open_quote(command) is not None
        assert not (found and done.returncode == 0), command
        unclosed = "looking for matching `" in done.stderr and "`)'" not in done.stderr
        if unclosed and "<<" not in command:  # a here-doc word continued on the next line: missed
            assert found, (command, done.stderr)
