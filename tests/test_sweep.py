"""Sweeps (#17): `sweep: {lr: [...], seed: [...]}` on an item is one experiment per combination of
values, with those values as flags after the parameters; what a sweep may hold, its limits, and the
warning for a list in `parameters`."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest
import yaml
from helpers import git, run_cli

from wild_ci import layout
from wild_ci.config import Config, Limits
from wild_ci.generate import InvalidBrainOutput, render_workflow, submit
from wild_ci.parse import parse_brain_output
from wild_ci.parse.items import MAX_ID_LENGTH
from wild_ci.specs import BrainOutput, Experiment, IterationSpec

SWEEP = """Let us sweep.
<experiments>
- goal: "Train"
  command: "python train.py"
  parameters: {"epochs": 20}
  sweep: {lr: [0.001, 0.01], seed: [1, 2, 3]}
- goal: Baseline
  command: python train.py
</experiments>
<promise>WAITING</promise>
"""


def parse(text: str, limits: Limits | None = None) -> BrainOutput:
    return parse_brain_output(text, limits)


def block(*lines: str) -> str:
    return "<experiments>\n" + "".join(f"{line}\n" for line in lines) + "</experiments>\n"


def test_a_sweep_is_the_cartesian_product_first_key_slowest() -> None:
    out = parse(SWEEP)
    assert out.ok, out.errors
    assert [e.goal for e in out.experiments] == [
        "Train lr=0.001 seed=1",
        "Train lr=0.001 seed=2",
        "Train lr=0.001 seed=3",
        "Train lr=0.01 seed=1",
        "Train lr=0.01 seed=2",
        "Train lr=0.01 seed=3",
        "Baseline",
    ]
    assert [e.id for e in out.experiments] == [
        "train-lr-0-001-seed-1",
        "train-lr-0-001-seed-2",
        "train-lr-0-001-seed-3",
        "train-lr-0-01-seed-1",
        "train-lr-0-01-seed-2",
        "train-lr-0-01-seed-3",
        "baseline",
    ]
    assert [e.line for e in out.experiments] == [3] * 6 + [7]


def test_sweep_values_are_flags_after_the_parameters_and_part_of_them() -> None:
    first, *_, sixth, baseline = parse(SWEEP).experiments
    assert shlex.split(first.run) == ["python", "train.py", "--epochs=20", "--lr=0.001", "--seed=1"]
    assert first.parameters == {"epochs": 20, "lr": 0.001, "seed": 1}
    assert list(first.parameters) == ["epochs", "lr", "seed"]
    assert first.sweep == {"lr": 0.001, "seed": 1}
    assert sixth.sweep == {"lr": 0.01, "seed": 3}
    assert first.command == "python train.py"  # as the brain wrote it; `run` has the flags
    assert baseline.sweep == {} and baseline.parameters == {}


def test_a_leg_keeps_everything_else_of_its_item() -> None:
    out = parse(
        block(
            "- goal: g",
            "  command: python t.py",
            "  workdir: /p/sub",
            "  timeout: 5m",
            '  env: {"MODE": "x"}',
            "  sweep: {seed: [1, 2]}",
        )
    )
    assert out.ok, out.errors
    one, two = out.experiments
    assert (one.workdir, one.timeout_s, one.env) == ("/p/sub", 300, {"MODE": "x"})
    assert (two.workdir, two.timeout_s, two.env) == ("/p/sub", 300, {"MODE": "x"})
    two.env["MODE"] = "changed"
    assert one.env == {"MODE": "x"}  # each leg its own copy


def test_block_style_and_flow_style_sweeps_read_the_same() -> None:
    flow = parse(block("- goal: g", "  command: run", "  sweep: {lr: [0.1, 0.2], opt: [adam, sgd]}"))
    json_flow = parse(
        block("- goal: g", "  command: run", '  sweep: {"lr": [0.1, 0.2], "opt": ["adam", "sgd"]}')
    )
    block_style = parse(
        block(
            "- goal: g",
            "  command: run",
            "  sweep:",
            "    lr:",
            "      - 0.1",
            "      - 0.2",
            "    opt: [adam, sgd]",
        )
    )
    runs = [[e.run for e in out.experiments] for out in (flow, json_flow, block_style)]
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 4


def test_a_json_sweep_is_read_as_json() -> None:
    """YAML 1.1 reads `1e-05` as a string; in a JSON object it is the number the brain meant."""
    out = parse(block("- goal: g", "  command: run", '  sweep: {"lr": [1e-05, 0.001]}'))
    assert out.ok, out.errors
    assert [e.sweep["lr"] for e in out.experiments] == [1e-05, 0.001]


def test_a_sweep_of_one_value_is_one_experiment_named_by_it() -> None:
    out = parse(block("- goal: g", "  command: run", "  sweep: {seed: [7]}"))
    [only] = out.experiments
    assert (only.goal, only.id, only.run, only.sweep) == ("g seed=7", "g-seed-7", "run --seed=7", {"seed": 7})


def test_sweep_values_are_shell_quoted_like_parameters() -> None:
    hostile = ["$(touch /tmp/pwned)", "`id`", "a'b\"c", "${{ secrets.TOKEN }}", "two words", ""]
    out = parse(block("- goal: g", "  command: python run.py", "  sweep:", f"    x: {json.dumps(hostile)}"))
    assert out.ok, out.errors
    assert [shlex.split(e.run)[-1] for e in out.experiments] == [f"--x={v}" for v in hostile]
    assert out.experiments[4].goal == 'g x="two words"'  # a value with blanks is quoted in the goal
    assert out.experiments[5].goal == 'g x=""'
    assert [e.id for e in out.experiments] == [
        "g-x-touch-tmp-pwned",
        "g-x-id",
        "g-x-a-b-c",
        "g-x-secrets-token",
        "g-x-two-words",
        "g-x",
    ]


def test_ids_stay_unique_readable_and_short_for_long_goals_and_keys() -> None:
    goal = "Measure how the validation accuracy of the small transformer depends on things"
    out = parse(
        block(
            f'- goal: "{goal}"',
            "  command: run",
            "  sweep: {learning_rate: [0.001, 0.0001], weight_decay: [0, 0.1], seed: [1, 2]}",
        )
    )
    ids = [e.id for e in out.experiments]
    assert len(set(ids)) == 8
    assert all(len(i) <= MAX_ID_LENGTH for i in ids)
    assert all(i.startswith("measure-") for i in ids)  # the goal stays recognisable
    assert ids[0].endswith("0-001-0-1")  # the values are never what the cut drops
    assert ids[-1].endswith("0-0001-0-1-2")


def test_values_that_slug_alike_still_get_unique_ids() -> None:
    out = parse(block("- goal: g", "  command: run", "  sweep: {x: [-1, 1, '1', 1.0]}"))
    assert out.ok, out.errors
    assert [e.run for e in out.experiments] == ["run --x=-1", "run --x=1", "run --x=1", "run --x=1.0"]
    ids = [e.id for e in out.experiments]
    assert len(set(ids)) == 4 and all(len(i) <= MAX_ID_LENGTH for i in ids)
    assert any(w.line == 4 and "more than once" in w.message for w in out.warnings)  # 1 and '1'


def test_unicode_goals_and_values_give_ascii_ids() -> None:
    out = parse(block("- goal: Entraîner le modèle", "  command: run", "  sweep: {opt: [adamé, 日本]}"))
    assert out.ok, out.errors
    assert [e.goal for e in out.experiments] == [
        "Entraîner le modèle opt=adamé",
        "Entraîner le modèle opt=日本",
    ]
    ids = [e.id for e in out.experiments]
    assert ids[0] == "entrainer-le-modele-opt-adame"
    assert ids[1].startswith("entrainer-le-modele-opt") and len(set(ids)) == 2


# --- what a sweep may hold, each refusal on the sweep's line ------------------------------------


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("[0.1, 0.2]", "'sweep' must be a mapping of flag names to lists of values"),
        ('"lr"', "'sweep' must be a mapping of flag names to lists of values"),
        ("{'bad name': [1, 2]}", "sweep key 'bad name' is not a safe flag name"),
        ("{'-lr': [1, 2]}", "sweep key '-lr' is not a safe flag name"),
        ("{'lrä': [1, 2]}", "sweep key 'lrä' is not a safe flag name"),
        ("{lr: 0.1}", "sweep.lr is a single value; a sweep needs a list of values"),
        ("{lr: 0.1}", "use `parameters`"),
        ("{lr: []}", "sweep.lr is an empty list"),
        ("{lr: [[1, 2], [3]]}", "sweep.lr holds a list"),
        ("{lr: [{a: 1}]}", "sweep.lr holds a mapping"),
        ("{epochs: [1, 2]}", "'epochs' is both in parameters and in sweep"),
    ],
)
def test_an_invalid_sweep_is_an_error_on_its_line(sweep: str, message: str) -> None:
    out = parse(block("- goal: g", "  command: run", "  parameters: {epochs: 3}", f"  sweep: {sweep}"))
    assert not out.ok
    assert out.experiments == []
    assert any(e.line == 5 and message in e.message for e in out.errors), out.errors
    [invalid] = out.invalid
    assert invalid.line == 2 and invalid.goal == "g"


def test_a_nul_in_a_sweep_value_is_refused() -> None:
    out = parse(block("- goal: g", "  command: run", '  sweep: {"x": ["a\\u0000b"]}'))
    assert [(e.line, "NUL" in e.message) for e in out.errors] == [(4, True)]


def test_an_empty_sweep_runs_once_with_a_warning() -> None:
    out = parse(block("- goal: g", "  command: run", "  sweep: {}"))
    assert out.ok and [e.goal for e in out.experiments] == ["g"]
    assert [(w.line, "'sweep' is empty" in w.message) for w in out.warnings] == [(4, True)]


# --- limits: counted before anything is expanded ------------------------------------------------


def test_a_sweep_past_the_experiment_limit_says_how_many_and_the_limit() -> None:
    text = block(
        "- goal: first",
        "  command: run",
        "- goal: g",
        "  command: run",
        "  sweep: {a: [1, 2, 3], b: [1, 2, 3], c: [1, 2]}",
    )
    out = parse(text, Limits(max_experiments=10))
    assert [e.goal for e in out.experiments] == ["first"]  # nothing of the sweep was expanded
    [error] = out.errors
    assert error.line == 6
    assert "18 experiments (3 × 3 × 2)" in error.message
    assert "the limit is 10" in error.message
    assert "1 before it" in error.message


def test_a_huge_product_is_refused_at_once() -> None:
    """50 keys of 50 values would be 50^50 experiments: counted, never enumerated."""
    keys = ", ".join(f"k{i}: [{', '.join(str(v) for v in range(50))}]" for i in range(50))
    text = block("- goal: g", "  command: run", f"  sweep: {{{keys}}}")
    started = time.perf_counter()
    out = parse(text)
    assert time.perf_counter() - started < 1.0
    [error] = out.errors
    assert error.line == 4 and "the limit is 1000" in error.message
    assert "more than 10^15 experiments" in error.message
    assert out.experiments == []


def test_the_longest_expanded_command_must_fit_the_command_limit() -> None:
    long = "x" * 60
    text = block("- goal: g", "  command: run", f"  sweep: {{a: [1, {long}], b: [2, 3]}}")
    out = parse(text, Limits(max_command_chars=70))
    [error] = out.errors
    assert error.line == 4
    assert "the longest command of the sweep has 74 characters; the limit is 70" in error.message
    assert out.experiments == []
    assert parse(text, Limits(max_command_chars=74)).ok


def test_a_sweep_may_not_write_more_than_a_brain_output_may_hold() -> None:
    """1,000 legs of a 60 KB command would be a 120 MB experiments.json from a 60 KB output."""
    values = ", ".join(str(v) for v in range(100))
    text = block("- goal: g", f"  command: echo {'x' * 500}", f"  sweep: {{a: [{values}], b: [x, yy]}}")
    out = parse(text, Limits(max_brain_bytes=100_000))
    [error] = out.errors
    assert error.line == 4
    total = sum(len(f"echo {'x' * 500} --a={a} --b={b}") for a in range(100) for b in ("x", "yy"))
    assert f"the sweep's 200 commands have {total} characters together; the limit is 100000" in error.message
    assert out.experiments == []
    fits = parse(text, Limits(max_brain_bytes=total))
    assert fits.ok and sum(len(e.run) for e in fits.experiments) == total


def test_sweeps_count_with_the_other_items_against_the_limit() -> None:
    items = [
        line for i in range(3) for line in (f"- goal: g{i}", "  command: run", "  sweep: {s: [1, 2, 3, 4]}")
    ]
    out = parse(block(*items), Limits(max_experiments=10))
    assert [e.goal for e in out.experiments][-1] == "g1 s=4"
    [error] = out.errors
    assert error.line == 10 and "8 before it" in error.message and "12 in all" in error.message


def test_the_sweep_must_be_appendable_to_the_command() -> None:
    out = parse(block("- goal: g", '  command: "python run.py # comment"', "  sweep: {seed: [1, 2]}"))
    assert any(e.line == 3 and "ends in a comment" in e.message for e in out.errors), out.errors


# --- a list in parameters: kept literal, with a warning that names sweep ------------------------


def test_a_list_in_parameters_stays_one_flag_and_warns_about_sweep() -> None:
    out = parse(block("- goal: g", "  command: run", '  parameters: {"lr": [0.005, 0.02], "seed": 1}'))
    assert out.ok
    [experiment] = out.experiments
    assert shlex.split(experiment.run) == ["run", "--lr=[0.005,0.02]", "--seed=1"]
    [warning] = out.warnings
    assert warning.line == 4
    assert warning.message == (
        "parameters.lr is a list; it is passed as one flag value '--lr=[0.005,0.02]'; "
        "to run one experiment per value use `sweep:`"
    )


def test_the_list_warning_cuts_a_long_list() -> None:
    values = list(range(500))
    out = parse(block("- goal: g", "  command: run", f"  parameters: {{layers: {values}}}"))
    [warning] = out.warnings
    assert len(warning.message) < 300 and "…" in warning.message


# --- the tolerant reader, the record, the workflow and the CLI ----------------------------------


def test_the_tolerant_reader_reads_a_sweep_too() -> None:
    text = block(
        "- goal: g: with a colon",  # not YAML: read tolerantly
        "  command: run",
        "  sweep:",
        "    lr: [0.1, 0.2]",
        "    seed: [1, 2]",
    )
    out = parse(text)
    assert out.ok, out.errors
    assert any("read tolerantly" in w.message for w in out.warnings)
    assert [e.run for e in out.experiments] == [
        "run --lr=0.1 --seed=1",
        "run --lr=0.1 --seed=2",
        "run --lr=0.2 --seed=1",
        "run --lr=0.2 --seed=2",
    ]
    bad = parse(block("- goal: g: x", "  command: run", "  sweep: {lr: 0.1}"))
    assert [e.line for e in bad.errors] == [4]


def test_a_leg_round_trips_through_experiments_json_and_old_files_still_read() -> None:
    leg = parse(SWEEP).experiments[4]
    data = json.loads(json.dumps(leg.to_json()))
    assert data["sweep"] == {"lr": 0.01, "seed": 2}
    assert data["parameters"] == {"epochs": 20, "lr": 0.01, "seed": 2}
    assert Experiment.from_json(data) == leg
    old = {k: v for k, v in data.items() if k != "sweep"}  # experiments.json before sweeps
    assert Experiment.from_json(old).sweep == {}


def test_the_workflow_has_one_leg_per_combination(tmp_path: Path) -> None:
    out = parse(SWEEP)
    spec = IterationSpec(session="main", iteration=1, project_root="/p", experiments=out.experiments)
    workflow = yaml.safe_load(render_workflow(spec, Config()))
    matrix = workflow["jobs"]["experiment"]["strategy"]["matrix"]["experiment"]
    assert matrix == [e.id for e in out.experiments]
    assert len(matrix) == 7 and len([i for i in matrix if i.startswith("train-")]) == 6
    assert json.loads(json.dumps(spec.to_json()))["experiments"][0]["sweep"] == {"lr": 0.001, "seed": 1}


def test_a_submitted_sweep_is_in_experiments_json(make_repo) -> None:
    repo = make_repo({"train.py": "print(1)\n"})
    submission = submit(repo, SWEEP.encode(), config=Config(project_root=str(repo)))
    assert submission is not None
    spec = IterationSpec.from_json(
        json.loads(git(repo, "show", f"wild/main:{layout.iteration_file(1, layout.SPEC_FILE)}"))
    )
    assert [e.sweep for e in spec.experiments][:2] == [{"lr": 0.001, "seed": 1}, {"lr": 0.001, "seed": 2}]


def test_a_problem_of_the_whole_sweep_found_at_submit_is_said_once(make_repo) -> None:
    repo = make_repo({"train.py": "print(1)\n"})
    text = block("- goal: g", "  command: run", "  workdir: /elsewhere", "  sweep: {lr: [1, 2, 3]}")
    with pytest.raises(InvalidBrainOutput) as raised:
        submit(repo, text.encode(), config=Config(project_root=str(repo)))
    [error] = raised.value.diagnostics
    assert error.line == 2 and "workdir '/elsewhere' is outside the project root" in error.message


def test_parse_cli_shows_the_expanded_experiments(tmp_path: Path) -> None:
    brain = tmp_path / "brain.md"
    brain.write_text(SWEEP)
    result = run_cli("parse", str(brain))
    assert result.returncode == 0, result.stderr
    assert b"train-lr-0-01-seed-3  (line 3)" in result.stdout
    assert b"7 experiment(s)" in result.stdout
    as_json = json.loads(run_cli("parse", "--json", str(brain)).stdout)
    assert as_json["experiments"][0]["sweep"] == {"lr": 0.001, "seed": 1}
    bad = tmp_path / "bad.md"
    bad.write_text(block("- goal: g", "  command: run", "  sweep: {lr: 0.1}"))
    result = run_cli("parse", str(bad))
    assert result.returncode == 2
    assert f"{bad}:4: error: sweep.lr is a single value".encode() in result.stderr


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ('sweep: {"lr": [0.1, 0.2], "lr": [0.3]}', "lr"),  # JSON keeps the last one silently
        ("sweep: {lr: [0.1, 0.2], lr: [0.3]}", "lr"),
        ('sweep: {1: [a], "1": [b]}', "1"),  # the same flag once both are text
        ("sweep:\n    lr: [0.1, 0.2]\n    lr: [0.3]", "lr"),
        ('parameters: {"seed": 1, "seed": 2}', "seed"),
    ],
)
def test_a_key_given_twice_is_said_not_silently_dropped(mapping: str, key: str) -> None:
    """A brain that merges two sweeps into one mapping lost the first list without a word."""
    item = f"- goal: g\n  command: python t.py\n  {mapping}\n"
    out = parse_brain_output(f"<experiments>\n{item}</experiments>\n")
    said = [w for w in out.warnings if f"{key!r} is given twice" in w.message]
    assert said and said[0].line in (4, 5, 6)


def test_the_legs_of_one_sweep_share_their_goals_prefix() -> None:
    """#26 item 17: `final-a-b-naive-vs-impl-textstats-naive-seed-1` beside
    `final-a-b-naive-vs-v4-no-impl-textstats-seed-1`: the goal was cut per value."""
    from wild_ci.parse import parse_brain_output

    out = parse_brain_output(
        "<experiments>\n- goal: final A/B naive vs impl textstats comparison\n  command: python t.py\n"
        "  sweep: {variant: [naive, v4-no-impl-textstats-longer], seed: [1]}\n</experiments>\n"
    )
    assert out.ok, out.errors
    ids = [e.id for e in out.experiments]
    assert ids == ["final-a-b-naive-vs-naive-1", "final-a-b-naive-vs-v4-no-impl-textstats-longer-1"]
