"""The metrics chart: what it plots (computed apart from the drawing, so tested without pixels),
and that it is drawn, readable and quick, whatever the names and however many experiments."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from wild_ci import chart, collect
from wild_ci.metrics import Direction, kind_of
from wild_ci.specs import ExperimentResult, IterationResults

PNG = b"\x89PNG\r\n\x1a\n"


def iteration(
    number: int,
    metrics: dict[str, dict[str, float]],
    parameters: dict[str, dict[str, float]] | None = None,
    failed: tuple[str, ...] = (),
) -> IterationResults:
    parameters = parameters or {}
    results = [
        ExperimentResult(
            # each its own command: a configuration of its own (one command is replicates of one)
            i,
            i,
            f"python {i}.py",
            "failed" if i in failed else "succeeded",
            metrics=m,
            parameters=parameters.get(i, {}),
        )
        for i, m in metrics.items()
    ]
    return IterationResults("main", number, None, results)


def test_all_experiments_are_shown_when_they_fit() -> None:
    results = iteration(1, {"a": {"loss": 3.0}, "b": {"loss": 1.0}, "c": {}})
    assert [p.id for p in chart.iteration_points(results, kind_of("loss"), 25)] == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "expected"), [("loss", ["e01", "e02", "e03"]), ("acc", ["e97", "e98", "e99"])]
)
def test_the_best_are_kept_in_the_brains_order(name: str, expected: list[str]) -> None:
    results = iteration(1, {f"e{n:02d}": {name: float(n)} for n in range(1, 100)})
    shown = [p.id for p in chart.iteration_points(results, kind_of(name), 3)]
    assert shown == expected  # loss: lower is better; acc: higher


def test_parameters_echoed_into_metrics_are_never_plotted() -> None:
    results = iteration(
        1,
        {"a": {"lr": 0.01, "accuracy": 0.95, "seed": 1}, "b": {"lr": 0.1, "accuracy": 0.97, "seed": 2}},
        parameters={"a": {"lr": 0.01, "seed": 1}, "b": {"lr": 0.1, "seed": 2}},
    )
    assert [k.name for k in chart.metric_kinds(results)] == ["accuracy"]
    assert chart.chart_data(results, [])[0].kind.name == "accuracy"
    only_parameters = iteration(1, {"a": {"lr": 0.01}}, parameters={"a": {"lr": 0.01}})
    assert chart.chart_data(only_parameters, []) == []
    assert chart.metrics_png(only_parameters, []) is None  # nothing measured: no chart


def test_declared_directions_win_and_come_first() -> None:
    results = iteration(1, {"a": {"speed": 3.0, "loss": 0.2}, "b": {"speed": 1.0, "loss": 0.4}})
    guessed = chart.metric_kinds(results)
    assert [(k.name, k.direction, k.guessed) for k in guessed] == [
        ("speed", Direction.IGNORE, True),  # no guess: shown, not ranked, until declared
        ("loss", Direction.MIN, True),
    ]
    declared = {"loss": Direction.MIN, "speed": Direction.MIN, "absent": Direction.MAX}
    kinds = chart.metric_kinds(results, declared)
    assert [(k.name, k.direction, k.guessed) for k in kinds] == [
        ("loss", Direction.MIN, False),
        ("speed", Direction.MIN, False),
    ]
    speed = chart.chart_data(results, [], declared)[1]
    assert [(p.id, p.best) for p in speed.points] == [("a", False), ("b", True)]  # lower speed is better


def test_best_so_far_follows_the_session_when_ids_differ_between_iterations() -> None:
    first = iteration(1, {"baseline": {"accuracy": 0.91}, "svm": {"accuracy": 0.925}})
    second = iteration(2, {"rf-100": {"accuracy": 0.94}, "gbm": {"accuracy": 0.99}}, failed=("gbm",))
    third = iteration(3, {"gbm-tuned": {"accuracy": 0.93}, "rf-500": {"accuracy": 0.935}})
    progress = chart.best_so_far([first, second, third], kind_of("accuracy"))
    assert progress.iterations == [1, 2, 3]
    assert progress.best == [0.925, 0.94, 0.94]  # a failed run's 0.99 is never the best
    assert progress.best_at == (2, "rf-100")
    assert progress.values == [[0.925, 0.91], [0.94], [0.935, 0.93]]  # succeeded ones, best first
    loss = chart.best_so_far(
        [iteration(1, {"a": {"loss": 0.3}}), iteration(2, {"b": {"loss": 0.2}})], kind_of("loss")
    )
    assert (loss.best, loss.best_at) == ([0.3, 0.2], (2, "b"))


def test_best_so_far_skips_iterations_that_did_not_measure_the_metric() -> None:
    history = [
        iteration(1, {"a": {"accuracy": 0.8}}),
        iteration(2, {"b": {"f1": 0.5}}),
        iteration(4, {"c": {"accuracy": 0.7}}),
    ]
    progress = chart.best_so_far(history, kind_of("accuracy"))
    assert (progress.iterations, progress.best) == ([1, 4], [0.8, 0.8])


def test_a_single_iteration_is_one_column_and_its_best_is_marked() -> None:
    results = iteration(7, {f"e{n}": {"accuracy": 0.94 + n * 0.003} for n in range(10)})
    (data,) = chart.chart_data(results, [])
    assert data.progress.iterations == [7]
    assert [p.id for p in data.points if p.best] == ["e9"]
    assert data.total == len(data.points) == 10


def test_close_values_get_an_axis_and_decimals_that_tell_them_apart() -> None:
    low, high = chart.value_range([0.94, 0.97])
    assert 0.93 < low < 0.94 and 0.97 < high < 0.98  # not from zero
    assert chart.format_values([0.94, 0.9433, 0.97]) == ["0.9400", "0.9433", "0.9700"]
    assert chart.format_values([1e-6, 0.01, 1.0]) == ["1e-06", "0.01", "1"]
    assert chart.format_values([10.0, 10.000001, -5000.0]) == ["10.0000", "10.0000", "-5000.0000"]  # fits
    assert (chart.best_text(0.952, [0.952, 0.9424]), chart.best_text(12.0, [12.0, 12.7])) == ("0.952", "12")
    assert chart.value_range([5.0])[0] < 5.0 < chart.value_range([5.0])[1]
    assert chart.value_range([0.0, 0.0]) == (-1.0, 1.0)


def test_a_diverged_run_is_left_off_the_scale_not_squashing_the_rest() -> None:
    accuracy = [0.951, 0.952, 0.953, 0.966, 0.967, 0.968, 0.959, 0.96, 0.961, 0.70]
    assert chart.diverged(accuracy, kind_of("accuracy")) == 0.70  # one alone: named in the panel
    low, high = chart.focus(accuracy, kind_of("accuracy"))
    assert 0.94 < low < 0.951 and 0.968 < high < 0.98
    assert chart.clipped(0.70, low, high)[1] == -1  # drawn at the edge as off the scale
    loss = [0.24, 0.25, 0.26, 0.245, 10.0]
    assert chart.focus(loss, kind_of("loss"))[1] < 1  # a loss of 10 is worse: off the scale
    assert chart.focus([0.24, 0.25, 0.26, 0.245, 0.001], kind_of("loss"))[0] < 0.001  # better: shown
    assert chart.focus(accuracy, kind_of("accuracy"), keep=[0.5])[0] < 0.5  # the best-so-far line


def test_a_png_is_drawn_for_odd_names_without_mathtext_or_warnings() -> None:
    pytest.importorskip("matplotlib")
    names = ["$x^2$", "a_b_c", "$", "\\frac{1}{2}", "x\x1b[31m", "日本語", "^{}_$$"]
    earlier = iteration(1, {"first-try": dict.fromkeys(names, 0.5)})
    latest = iteration(2, {"a": dict.fromkeys(names, 1.0), "b": dict.fromkeys(names, 2.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph or a mathtext error would be one
        png = chart.metrics_png(latest, [earlier])
    assert png is not None and png.startswith(PNG)
    assert chart._plain("$x^2$", 40) == r"\$x^2\$"


def test_the_chart_is_deterministic() -> None:
    pytest.importorskip("matplotlib")
    results = iteration(1, {"a": {"accuracy": 0.94, "loss": 0.3}, "b": {"accuracy": 0.97, "loss": 0.2}})
    assert chart.metrics_png(results, []) == chart.metrics_png(results, [])


def test_a_chart_of_a_thousand_experiments_is_drawn() -> None:
    pytest.importorskip("matplotlib")
    earlier = iteration(1, {f"e{n}": {"loss": n / 7} for n in range(1000)})
    latest = iteration(2, {f"e{n}": {"loss": n / 9, "acc": 1 - n / 1000} for n in range(1000)})
    png = chart.metrics_png(latest, [earlier])
    assert png is not None and png.startswith(PNG)
    (loss, _acc) = chart.chart_data(latest, [earlier])
    assert (len(loss.points), loss.total) == (chart.MAX_POINTS, 1000)


def test_without_matplotlib_the_results_say_there_is_no_chart(monkeypatch, capsys) -> None:
    monkeypatch.setattr(chart.lazy, "matplotlib_available", lambda: False)
    monkeypatch.setattr(chart.lazy, "matplotlib", lambda: None)
    results = iteration(1, {"a": {"accuracy": 0.9}})
    files = collect.results_files(results)
    assert not any(name.endswith(".png") for name in files)
    assert chart.MISSING in next(v for k, v in files.items() if k.endswith("results.json")).decode()
    assert "no chart: matplotlib is not installed" in capsys.readouterr().err
    assert chart.missing_note(iteration(1, {"a": {}}), None) is None  # no metrics: nothing is missing


def test_loading_matplotlib_leaves_the_environment_as_it_was() -> None:
    """Its cache variables are set only while it loads: a leg or a brain started later by the same
    process (`wild-ci loop`) sees the user's own."""
    code = (
        "import os\n"
        "os.environ['MPLCONFIGDIR'] = '/users/own'\n"
        "from wild_ci import lazy\n"
        "assert lazy.matplotlib() is not None\n"
        "print(os.environ['MPLCONFIGDIR'], os.environ.get('MPL_IGNORE_SYSTEM_FONTS'))\n"
        "import matplotlib\n"
        "print(matplotlib.get_cachedir())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    own, ignored, cache = done.stdout.split()
    assert (own, ignored) == ("/users/own", "None")
    assert cache.endswith("wild-ci/matplotlib")


def test_a_matplotlibrc_in_the_checkout_changes_nothing(tmp_path) -> None:
    """The collect job runs in the brain's checkout, where matplotlib reads `matplotlibrc` at import:
    the chart is drawn with matplotlib's defaults whatever it says (no usetex, no other look)."""
    pytest.importorskip("matplotlib")
    code = (
        "import hashlib, sys\n"
        "from wild_ci import chart\n"
        "from wild_ci.specs import ExperimentResult, IterationResults\n"
        "results = IterationResults('main', 1, None, [ExperimentResult('a', 'a', 'c', 'succeeded',"
        " metrics={'$x$': 0.5}), ExperimentResult('b', 'b', 'c', 'succeeded', metrics={'$x$': 0.7})])\n"
        "print(hashlib.sha256(chart.metrics_png(results, [])).hexdigest())\n"
    )
    hostile = tmp_path / "hostile"
    plain = tmp_path / "plain"
    hostile.mkdir()
    plain.mkdir()
    (hostile / "matplotlibrc").write_text("text.usetex: True\nfont.size: 40\naxes.facecolor: red\n")
    env = {**os.environ, "PYTHONPATH": str(Path(chart.__file__).parents[1])}
    digests = [
        subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )
        for folder in (hostile, plain)
    ]
    assert all(d.returncode == 0 for d in digests), [d.stderr for d in digests]
    assert digests[0].stdout == digests[1].stdout


@pytest.mark.parametrize(
    "values",
    [
        {"a": 0.5},  # one experiment
        {"a": 0.5, "b": 0.5, "c": 0.5},  # all equal
        {"a": 0.0, "b": 0.0},  # all zero
        {"a": -3.0, "b": 1e12, "c": 2.5e-9},  # magnitudes apart, negative
        {"a": 10.0, "b": 10.000001, "c": 10.000002, "d": -5000.0},  # tiny gaps, one far off
    ],
)
def test_edge_values_are_drawn(values: dict[str, float]) -> None:
    pytest.importorskip("matplotlib")
    results = iteration(1, {i: {"score": v} for i, v in values.items()})
    png = chart.metrics_png(results, [])
    assert png is not None and png.startswith(PNG)
    (data,) = chart.chart_data(results, [])
    low, high = chart.focus([p.value for p in data.points], data.kind)
    assert low < high


def test_a_metric_only_failed_runs_measured_is_drawn_without_a_best() -> None:
    pytest.importorskip("matplotlib")
    results = iteration(1, {"a": {"loss": 0.3}, "b": {"loss": 0.2}}, failed=("a", "b"))
    (data,) = chart.chart_data(results, [])
    assert not any(p.best for p in data.points) and data.progress.iterations == []
    png = chart.metrics_png(results, [])
    assert png is not None and png.startswith(PNG)


def test_a_baselines_echoed_default_is_not_plotted_beside_a_sweep_over_it() -> None:
    """The baseline passes no `lr` but echoes its default; the sweep beside it passes one."""
    results = iteration(
        1,
        {"base": {"lr": 0.01, "accuracy": 0.94}, "s1": {"lr": 0.1, "accuracy": 0.96}},
        parameters={"s1": {"lr": 0.1}},
    )
    assert [c.kind.name for c in chart.chart_data(results, [])] == ["accuracy"]
    later = iteration(2, {"base": {"lr": 0.01, "accuracy": 0.95}})  # lr a parameter in iteration 1
    assert [c.kind.name for c in chart.chart_data(later, [results])] == ["accuracy"]


def test_a_sweeps_ids_keep_the_end_that_tells_them_apart() -> None:
    """Seen on a digits sweep: eight labels read `epochs-x-lr-lr-0-05-epo…`, the same for four runs."""
    ids = [f"epochs-x-lr-lr-0-05-epochs-{e}-seed-{s}" for e in (20, 50) for s in (0, 1)]
    labels = [chart._id_label(i) for i in ids]
    assert len(set(labels)) == 4 and all(len(label) <= chart.MAX_LABEL for label in labels)
    assert labels[3].endswith("-lr-0-05-epochs-50-seed-1") and labels[3].startswith("epoc…")
    assert chart._id_label("short-id") == "short-id"


def test_an_iteration_whose_only_numbers_are_echoed_parameters_is_not_said_to_miss_a_chart(capsys) -> None:
    """A baseline echoing its default lr beside a run given lr: no metric to plot, so no chart is due
    (not 'matplotlib is not installed')."""
    results = iteration(
        1, {"swept": {"lr": 0.1}, "baseline": {"lr": 0.01}}, parameters={"swept": {"lr": 0.1}}
    )
    files = collect.results_files(results)
    assert not any(name.endswith(".png") for name in files)
    assert chart.MISSING not in next(v for k, v in files.items() if k.endswith("results.json")).decode()
    assert "no chart" not in capsys.readouterr().err


def test_a_chart_that_fails_to_draw_costs_no_results(monkeypatch, capsys) -> None:
    """matplotlib failing on load or while drawing (not only missing) leaves the results whole."""

    def broken(*_args: object) -> bytes:
        raise RuntimeError("font cache is damaged")

    monkeypatch.setattr(chart, "_draw", broken)
    files = collect.results_files(iteration(1, {"a": {"accuracy": 0.9}}))
    assert not any(name.endswith(".png") for name in files)
    recorded = next(v for k, v in files.items() if k.endswith("results.json")).decode()
    assert "no chart: it could not be drawn (RuntimeError: font cache is damaged)" in recorded  # #26 item 13
    assert chart.MISSING not in recorded
    assert "the chart could not be drawn (RuntimeError: font cache is damaged)" in capsys.readouterr().err


def test_the_charts_best_so_far_is_the_leaderboards() -> None:
    """One rule for what is ranked: the step line ends where the leaderboard's best is, ties included."""
    from wild_ci import leaderboard

    first = iteration(1, {"a": {"loss": 0.5}, "b": {"loss": 0.2}, "c": {"loss": 0.1}}, failed=("c",))
    second = iteration(2, {"d": {"loss": 0.2}, "e": {"loss": 0.3}})
    (loss,) = chart.chart_data(second, [first])
    best = leaderboard.build([first, second]).metric("loss")
    assert best is not None
    assert (loss.progress.best[-1], loss.progress.best_at) == (best.best.value, (1, "b"))
    assert (best.best.iteration, best.best.id) == (1, "b")


def test_a_group_far_from_the_rest_is_never_drawn_as_outliers() -> None:
    """#24: six random-forest runs (0.19 to 0.87 s) among 24 fast ones were all drawn as "off the
    scale" triangles on a 0 to 0.06 axis. Two far runs are already a group: they stay on the scale."""
    seconds = [0.01 + k * 0.0015 for k in range(24)] + [0.19, 0.25, 0.4, 0.55, 0.7, 0.87]
    kind = kind_of("train_seconds")
    assert chart.diverged(seconds, kind) is None
    low, high = chart.focus(seconds, kind)
    assert low <= 0.01 and high >= 0.87
    assert chart.diverged([0.95, 0.951, 0.952, 0.953, 0.70, 0.702], kind_of("accuracy")) is None


def test_every_run_is_shown_or_named_and_the_same_runs_in_every_panel() -> None:
    """#24: "the best 25 of 30" dropped a different five runs in each panel, silently."""
    metrics = {f"e{n:02d}": {"accuracy": n / 100, "loss": n / 100} for n in range(50)}
    results = iteration(1, metrics)
    accuracy, loss = chart.chart_data(results, [], {"accuracy": Direction.MAX})
    assert [p.id for p in accuracy.points] == [p.id for p in loss.points]  # the same runs
    assert len(accuracy.points) == chart.MAX_POINTS and accuracy.total == 50
    assert accuracy.left_out == loss.left_out == [f"e{n:02d}" for n in range(10)]  # named in the panel
    assert accuracy.chosen_by == "accuracy"
    assert chart.named(accuracy.left_out) == "e00, e01, e02, e03, e04, e05 +4 more"
    few = chart.chart_data(iteration(1, {f"e{n}": {"loss": float(n)} for n in range(30)}), [])[0]
    assert len(few.points) == 30 and few.left_out == []  # 30 runs: every one drawn


def digits_like() -> IterationResults:
    """A digits-like set: SVMs swept over C (two kernels, three seeds), a slow family of forests."""
    runs = []
    for kernel, base in (("rbf", 0.98), ("linear", 0.97)):
        for c in (0.1, 1, 10):
            for seed in range(3):
                runs.append(
                    (
                        {"kernel": kernel, "C": c, "seed": seed},
                        {"accuracy": base + c / 1000 + seed / 1000, "train_seconds": 0.02 + seed / 100},
                    )
                )
    for n in (50, 100, 200):
        for seed in range(2):
            runs.append(
                (
                    {"model": "rf", "n_estimators": n, "seed": seed},
                    {"accuracy": 0.97, "train_seconds": 0.19 + n / 300 + seed / 100},
                )
            )
    experiments = [ExperimentResult(f"run-{k}", f"run {k}", "c", "succeeded", metrics=m, parameters=p)
                   for k, (p, m) in enumerate(runs)]  # fmt: skip
    return IterationResults("main", 1, None, experiments)


def test_a_swept_parameter_is_plotted_as_mean_and_ci_per_other_configuration() -> None:
    results = digits_like()
    sweeps = chart.sweep_data(results, [kind_of("accuracy"), kind_of("train_seconds")])
    first = sweeps[0]
    assert (first.kind.name, first.parameter, first.log_x, first.without) == ("accuracy", "C", True, 6)
    rbf = next(line for line in first.lines if "kernel=rbf" in line.label)
    assert rbf.xs == [0.1, 1.0, 10.0] and rbf.counts == [3, 3, 3]
    values = [0.98 + 0.1 / 1000 + seed / 1000 for seed in range(3)]
    assert rbf.means[0] == pytest.approx(sum(values) / 3)
    assert rbf.halves[0] == pytest.approx(4.303 * 0.001 / 3**0.5, rel=1e-3)  # t(0.975, 2) · s / √n
    assert [(s.kind.name, s.parameter) for s in sweeps] == [
        ("accuracy", "C"), ("train_seconds", "C"),
        ("accuracy", "n_estimators"), ("train_seconds", "n_estimators"),
    ]  # fmt: skip
    assert chart.mean_ci([2.0]) == (2.0, None)


def test_the_digits_like_chart_is_drawn_with_its_parameter_plot() -> None:
    pytest.importorskip("matplotlib")
    results = digits_like()
    png = chart.metrics_png(results, [])
    assert png is not None and png.startswith(PNG)
    seconds = next(c for c in chart.chart_data(results, []) if c.kind.name == "train_seconds")
    low, high = chart.focus([p.value for p in seconds.points], seconds.kind)
    assert all(low <= p.value <= high for p in seconds.points)  # the slow family on the scale


def test_a_sweeps_lines_are_the_configurations_the_results_compare_flags_in_the_command_included() -> None:
    """What the research loop showed: `command: python train.py --model svm` swept over C beside
    `--model logreg` with max-iter=500 was drawn as "(no other parameter)" and "max-iter=500", as if
    the model were the same; the results block calls them `model=svm` and `model=logreg`."""
    runs = []
    for model, extra, cs in (("svm", "", (0.1, 1.0, 10.0)), ("logreg", " --max-iter=500", (0.01, 0.1, 1.0))):
        for c in cs:
            for seed in (1, 2):
                command = f"python train.py --model {model}{extra} --C={c} --seed={seed}"
                parameters: dict[str, object] = {"C": c, "seed": seed}
                if extra:
                    parameters["max-iter"] = 500
                runs.append((command, parameters, {"accuracy": 0.9 + c / 100 + seed / 1000}))
    experiments = [
        ExperimentResult(f"run-{k}", f"run {k}", command, "succeeded", metrics=m, parameters=p)
        for k, (command, p, m) in enumerate(runs)
    ]
    results = IterationResults("main", 2, None, experiments)
    (sweep,) = chart.sweep_data(results, [kind_of("accuracy")])
    labels = sorted(line.label for line in sweep.lines)
    assert labels == ["model=logreg max-iter=500", "model=svm"]  # as the results block names them
    assert all(line.counts == [2, 2, 2] for line in sweep.lines)
    same = [
        ExperimentResult(r.id, r.goal, script, r.status, metrics=r.metrics, parameters=r.parameters)
        for script in ("python a.py", "python b.py")
        for r in experiments[:6]
    ]
    (two,) = chart.sweep_data(IterationResults("main", 2, None, same), [kind_of("accuracy")])
    assert sorted(line.label for line in two.lines) == ["python a.py", "python b.py"]  # told apart


def test_best_so_far_is_the_best_configurations_mean_not_a_lucky_seed() -> None:
    """Seen in a research loop: the chart said "best so far: 0.9889 reached in iteration 1 by
    baseline-rbf-svm-seed-1" (one seed of three) while results.md's best so far was model=svm
    C=1.0 with mean 0.9827 (n 3). The step line follows the best configuration's mean, as the
    results do; a single run is never presented as the finding."""

    def runs(number: int, configs: dict[str, list[float]]) -> IterationResults:
        experiments = [
            ExperimentResult(f"{name}-seed-{seed}", name, f"python train.py {name} --seed={seed}",
                             "succeeded", metrics={"accuracy": value}, parameters={"seed": seed})
            for name, values in configs.items() for seed, value in enumerate(values, 1)
        ]  # fmt: skip
        return IterationResults("main", number, None, experiments)

    first = runs(1, {"--model=svm --C=1.0": [0.988889, 0.974074, 0.985185],
                     "--model=logreg --C=1.0": [0.966667, 0.955556, 0.977778]})  # fmt: skip
    second = runs(2, {"--model=svm --C=10.0": [0.981481, 0.974074, 0.985185]})
    progress = chart.best_so_far([first, second], kind_of("accuracy"))
    svm = (0.988889 + 0.974074 + 0.985185) / 3
    assert progress.best == [pytest.approx(svm), pytest.approx(svm)]
    assert progress.best_at is not None and progress.best_at[0] == 1
    assert progress.label == "model=svm C=1.0 · mean of 3"
    assert progress.values[0][0] == 0.988889  # every run is still a dot
    single = chart.best_so_far(
        [iteration(1, {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.95}})], kind_of("accuracy")
    )
    assert (single.best, single.best_at, single.label) == ([0.95], (1, "b"), "b · a single run")
