"""The data model: the Status enum, the format check on load, and domain errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wild_ci import execute as execute_module
from wild_ci.errors import BadInput, PipelineError, WildError
from wild_ci.specs import (
    SPEC_FORMAT,
    STATUSES,
    Experiment,
    ExperimentResult,
    FormatTooNew,
    IterationResults,
    IterationSpec,
    Status,
    UnknownExperiment,
)


def _spec() -> IterationSpec:
    experiment = Experiment(id="a", goal="A", command="true", run="true", line=2)
    return IterationSpec(session="s", iteration=1, project_root="/p", experiments=[experiment])


def test_status_values_are_the_strings_on_the_branch() -> None:
    assert [s.value for s in Status] == [
        "succeeded", "failed", "timed_out", "setup_failed", "cancelled", "missing", "running"
    ]  # fmt: skip
    assert tuple(s for s in Status if s is not Status.RUNNING) == STATUSES
    assert "running" not in STATUSES  # not a way to end: collect turns it into cancelled
    for status in Status:
        assert status == status.value and hash(status) == hash(status.value)
        assert str(status) == f"{status}" == status.value
        assert json.dumps(status) == json.dumps(status.value)
    assert {"failed": 1}.get(Status.FAILED) == 1 and {Status.FAILED: 1}.get("failed") == 1


def test_results_json_text_is_the_same_with_enum_statuses() -> None:
    def results(status: str) -> IterationResults:
        result = ExperimentResult(id="a", goal="A", command="true", status=status)
        return IterationResults(session="s", iteration=1, commit=None, experiments=[result])

    assert json.dumps(results(Status.TIMED_OUT).to_json()) == json.dumps(results("timed_out").to_json())
    assert results(Status.TIMED_OUT).counts() == {"timed_out": 1}


@pytest.mark.parametrize(
    ("load", "name"),
    [(IterationSpec.from_json, "experiments.json"), (IterationResults.from_json, "results.json")],
)
def test_a_file_from_a_newer_wild_ci_is_refused(load, name: str) -> None:
    spec = _spec()
    data = spec.to_json() if name == "experiments.json" else IterationResults("s", 1, None, []).to_json()
    assert data["format"] == SPEC_FORMAT
    assert load(data) is not None  # this version's own files load
    del data["format"]
    assert load(data) is not None  # as do files from before the field
    data["format"] = 99
    with pytest.raises(FormatTooNew) as caught:
        load(data)
    assert str(caught.value) == (
        f"{name} was written by a newer wild-ci (format 99; this one reads up to {SPEC_FORMAT}): "
        "upgrade wild-ci"
    )
    assert isinstance(caught.value, PipelineError) and caught.value.exit_code == 1


def test_an_unknown_experiment_id_is_bad_input_not_a_key_error() -> None:
    message = r"no experiment 'b' in iteration 0001 \(known: a\)"
    with pytest.raises(UnknownExperiment, match=message) as caught:
        _spec().experiment("b")
    assert isinstance(caught.value, BadInput) and not isinstance(caught.value, KeyError)
    assert caught.value.exit_code == 2 and issubclass(BadInput, WildError)


def test_the_leg_reports_an_unknown_experiment_and_a_newer_format(tmp_path: Path, capsys) -> None:
    folder = tmp_path / ".wild" / "iterations" / "0001"
    folder.mkdir(parents=True)
    data = _spec().to_json()
    (folder / "experiments.json").write_text(json.dumps(data), encoding="utf-8")
    args = ["--iteration", "1", "--experiment", "b", "--workspace", str(tmp_path)]
    args += ["--out", str(tmp_path / "o")]
    assert execute_module.main(args) == 2  # an id the spec does not have is bad input
    assert capsys.readouterr().err == "wild-ci: error: no experiment 'b' in iteration 0001 (known: a)\n"
    data["format"] = SPEC_FORMAT + 1
    (folder / "experiments.json").write_text(json.dumps(data), encoding="utf-8")
    assert execute_module.main([*args[:3], "a", *args[4:]]) == 1
    assert "was written by a newer wild-ci" in capsys.readouterr().err
