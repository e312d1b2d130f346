"""`--json` outputs hold no raw control character (#26 item 18): C1 controls (a one-byte CSI),
DEL, bidi overrides and U+2028 from a brain or an experiment are written as JSON escapes, and the
output still parses to the same data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Run, record_iteration

from wild_ci.cli import app
from wild_ci.cli.results import _result_json
from wild_ci.text import is_visible, json_text

ODD = "a\x9b31mb\x7fc\u202ed\u2028e\x1b[2Jf\x07g é 漢"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert app.main(list(args)) == 0
    return capsys.readouterr().out


def test_json_text_escapes_what_a_terminal_would_interpret_and_parses_back() -> None:
    data = {ODD: [ODD, 1, None], "lone": "\udc80"}
    text = json_text(data)
    assert is_visible(text) and "é 漢" in text and "\\u009b" in text and "\\u202e" in text
    assert json.loads(text) == data


def test_parse_show_status_and_leaderboard_json_hold_no_raw_control(
    capsys, make_repo, tmp_path: Path
) -> None:
    brain = tmp_path / "brain.md"
    brain.write_text(
        f"<experiments>\n- goal: {json.dumps(ODD)}\n  command: echo {json.dumps(ODD)}\n</experiments>\n"
    )
    out = run(capsys, "parse", str(brain), "--json")
    assert is_visible(out) and json.loads(out)["experiments"][0]["goal"] == ODD
    repo = make_repo()
    record_iteration(repo, tmp_path / "a1", [Run(ODD, {"seed": 1}, {ODD: 0.5, "acc": 0.9})])
    for args in (["show"], ["status"], ["leaderboard"]):
        out = run(capsys, *args, "--json", "--repo", str(repo))
        assert is_visible(out), (args, [c for c in out if not is_visible(c)])
        json.loads(out)
    shown = json.loads(run(capsys, "show", "--json", "--repo", str(repo)))
    assert shown["experiments"][0]["goal"] == ODD


def test_logs_json_rewrites_the_legs_result_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"id": "a", "stdout_tail": ODD}, ensure_ascii=False), encoding="utf-8")
    out = _result_json(path)
    assert is_visible(out) and json.loads(out) == {"id": "a", "stdout_tail": ODD}
    path.write_bytes(b"not json \x9b\xc2\x9b2J")
    assert is_visible(_result_json(path))
