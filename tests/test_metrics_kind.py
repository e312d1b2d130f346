"""Which numbers are metrics (and which way they improve) and which are the experiment's parameters."""

from __future__ import annotations

import pytest

from wild_ci.config import ConfigError, _config_from
from wild_ci.metrics import Direction, kind_of, measured
from wild_ci.specs import Experiment, ExperimentResult


def _error(key: str, message: str) -> ConfigError:
    return ConfigError(f"{key}: {message}")


def test_a_declared_direction_wins_over_the_name_and_is_not_guessed() -> None:
    declared = {"loss_reduction": Direction.MAX}
    assert kind_of("loss_reduction", declared).direction is Direction.MAX
    assert not kind_of("loss_reduction", declared).guessed
    guessed = kind_of("val_loss", declared)
    assert guessed.direction is Direction.MIN and guessed.guessed
    assert guessed.label == "↓?" and kind_of("loss_reduction", declared).label == "↑"


def test_better_and_best_follow_the_direction() -> None:
    loss, accuracy = kind_of("loss"), kind_of("accuracy")
    assert loss.better(0.1, 0.2) and not loss.better(0.2, 0.2)
    assert accuracy.better(0.97, 0.94) and accuracy.best([0.94, 0.97, 0.5]) == 0.97
    assert loss.best([0.3, 0.1, 0.2]) == 0.1


def test_an_echoed_parameter_is_not_a_measurement() -> None:
    experiment = Experiment(id="a", goal="g", command="python t.py", run="python t.py --lr=0.01", line=1)
    experiment.parameters = {"lr": 0.01}
    result = ExperimentResult.from_leg_json(
        {"id": "a", "status": "succeeded", "metrics": {"lr": 0.01, "accuracy": 0.97}}, experiment
    )
    assert result.parameters == {"lr": 0.01}
    assert measured(result) == {"accuracy": 0.97}
    assert ExperimentResult.from_json(result.to_json()).parameters == {"lr": 0.01}


def test_parameters_in_result_json_are_the_specs_not_the_legs() -> None:
    experiment = Experiment(id="a", goal="g", command="c", run="c --seed=1", line=1)
    experiment.parameters = {"seed": 1}
    result = ExperimentResult.from_leg_json(
        {"id": "a", "status": "succeeded", "parameters": {"seed": 99}}, experiment
    )
    assert result.parameters == {"seed": 1}


def test_config_metrics_declares_directions() -> None:
    config = _config_from({"metrics": {"accuracy": "max", "loss": "min"}}, _error)
    assert config.metrics == {"accuracy": Direction.MAX, "loss": Direction.MIN}


@pytest.mark.parametrize("value", [["accuracy"], {"accuracy": "up"}, {"accuracy": None}, "max"])
def test_config_metrics_refuses_what_is_not_a_direction(value: object) -> None:
    with pytest.raises(ConfigError, match="metrics must map metric names to max, min, ignore"):
        _config_from({"metrics": value}, _error)
