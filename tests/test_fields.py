"""The table of experiment fields (`wild_ci.parse.fields`) and the dataclass it fills."""

from __future__ import annotations

import dataclasses
import json

import pytest

from wild_ci.config import Config
from wild_ci.parse import FIELDS, KNOWN_KEYS, Field, parse_brain_output
from wild_ci.specs import Experiment


def test_every_field_is_an_experiment_attribute() -> None:
    attributes = {f.name for f in dataclasses.fields(Experiment)}
    assert {f.attr for f in FIELDS} <= attributes
    assert len({f.key for f in FIELDS}) == len(FIELDS)


def test_the_known_keys_are_the_tables_in_its_order() -> None:
    """The order the unknown-key warning lists them in; a new field is added at the end."""
    old = ("goal", "command", "workdir", "parameters", "timeout", "env", "setup", "artifacts", "runs_on")
    assert KNOWN_KEYS[: len(old)] == old


def test_optional_fields_have_fresh_defaults_and_required_ones_come_first() -> None:
    for spec in FIELDS:
        if not spec.required:
            first, second = spec.default(), spec.default()
            assert first == second
            assert not isinstance(first, (dict, list)) or first is not second
    required = [f.required for f in FIELDS]
    assert required == sorted(required, reverse=True)


def test_config_defaults_name_real_settings() -> None:
    config = Config()
    for spec in FIELDS:
        if spec.config is not None:
            value: object = config
            for part in spec.config.split("."):
                value = getattr(value, part)  # AttributeError: the table names no such setting


def test_a_field_must_name_an_experiment_attribute() -> None:
    with pytest.raises(TypeError, match="no attribute 'retry_count'"):
        Field("retries", lambda value, key, error: value, "retries", attr="retry_count")


def test_an_unknown_key_still_warns_and_lists_the_known_ones() -> None:
    out = parse_brain_output('<experiments>\n- goal: "a"\n  command: "true"\n  priority: 3\n</experiments>\n')
    assert out.ok and len(out.experiments) == 1
    [warning] = out.warnings
    assert warning.line == 4
    assert warning.message == f"unknown key 'priority' was ignored (known: {', '.join(KNOWN_KEYS)})"


def test_every_field_round_trips_through_experiments_json() -> None:
    text = (
        "<experiments>\n"
        '- goal: "All of it"\n'
        '  command: "python run.py"\n'
        '  workdir: "/p/sub"\n'
        '  parameters: {"seed": 1}\n'
        "  timeout: 90s\n"
        '  env: {"MODE": "fast"}\n'
        "  setup: none\n"
        '  artifacts: ["model/*.pt"]\n'
        "  runs_on: [self-hosted, gpu]\n"
        "</experiments>\n"
    )
    out = parse_brain_output(text)
    assert out.ok, out.errors
    [experiment] = out.experiments
    data = json.loads(json.dumps(experiment.to_json()))
    assert {f.attr for f in FIELDS} <= set(data)
    assert Experiment.from_json(data) == experiment
    assert (
        experiment.timeout_s == 90
        and experiment.setup == "none"
        and experiment.runs_on == ["self-hosted", "gpu"]
    )


def test_the_mapping_fields_come_from_the_one_table() -> None:
    """The tolerant reader and the repeated-key check take them from FIELDS, not lists of their own."""
    from wild_ci.parse.fields import MAPPING_KEYS

    assert set(MAPPING_KEYS) == {"parameters", "env", "sweep", "metrics"}
