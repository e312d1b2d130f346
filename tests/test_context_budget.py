"""The brain's context holds its budget for any number of experiments and metrics, says what it
cut, keeps every experiment (at least one line), and says so when even that does not fit. Found in
a study (#24): one experiment writing 5,000 metrics gave a 59 KB block for a 20,000 budget, and
`wild-ci context --budget 2000` printed 12,948 characters."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from helpers import Run, git, record_iteration

from wild_ci import ledger, loop
from wild_ci.cli import app
from wild_ci.compare import Standing
from wild_ci.config import Config
from wild_ci.context import at_most_at_once, keep_lines
from wild_ci.report import context_block, fit_context
from wild_ci.specs import ExperimentResult, IterationResults

FORMATS = ("wild-ci", "wild-v2")


def iteration(experiments: list[ExperimentResult], **extra) -> IterationResults:
    return IterationResults("main", 2, "b" * 40, experiments, **extra)


def many_metrics(n: int = 5000) -> IterationResults:
    log = "\n".join(f"step {i} loss {1 / (i + 1)!r}" for i in range(40))
    metrics = {f"m{i:04d}": i * 0.1234567891 for i in range(n)}
    return iteration([ExperimentResult("many", "Many metrics", "python m.py", "succeeded", 0, 3.0,
                                       stdout_tail=log, metrics=metrics)])  # fmt: skip


def many_experiments(n: int = 300) -> IterationResults:
    return iteration([
        ExperimentResult(
            f"exp-{k:03d}", f"Goal {k}", f"python run.py --n={k}", "failed" if k % 5 == 0 else "succeeded",
            1 if k % 5 == 0 else 0, 1.5, stdout_tail="\n".join(f"line {i}" for i in range(40)),
            stderr_tail="Traceback\n  boom" if k % 5 == 0 else "",
            metrics={"acc": k / 1000, "loss": 1 / (k + 1)},
        )
        for k in range(n)
    ])  # fmt: skip


@pytest.fixture(scope="module")
def metrics_5000() -> tuple[IterationResults, Standing]:
    results = many_metrics()
    return results, Standing.of(results, complete=False)  # built once: ranking 5,000 metrics is slow


@pytest.mark.parametrize("context_format", FORMATS)
@pytest.mark.parametrize("budget", [20_000, 6_000, 2_000])
def test_5000_metrics_in_one_experiment_fit_and_the_cut_is_said(
    metrics_5000: tuple[IterationResults, Standing], context_format: str, budget: int
) -> None:
    results, standing = metrics_5000
    assert len(context_block(results, 10**9, context_format, standing)) > 60_000  # before: all of it
    text = context_block(results, budget, context_format, standing)
    assert len(text) <= budget
    shown = len(re.findall(r"\bm\d{4}=", text))
    assert 1 <= shown < 5000
    assert f"… and {5000 - shown:,} more metrics in results.json" in text
    assert f"Shortened to fit {budget:,} characters" in text


@pytest.mark.parametrize("context_format", FORMATS)
def test_300_experiments_each_keep_a_line_within_the_budget(context_format: str) -> None:
    results = many_experiments()
    text = context_block(results, 20_000, context_format)
    assert len(text) <= 20_000
    for k in range(300):  # every experiment: its id, its status, its main metric
        status = "failed" if k % 5 == 0 else "succeeded"
        if context_format == "wild-v2":
            status = "FAILED" if k % 5 == 0 else "PASSED"
        one_line = f"- {k + 1}. exp-{k:03d}: {status}"
        section = (
            f"## {k + 1}. exp-{k:03d}: {status}" if context_format == "wild-ci" else f"Experiment {k + 1}: "
        )
        assert re.search(rf"^{re.escape(one_line)}.* · acc={k / 1000:.6g}$", text, re.M) or section in text, k
    assert "more experiments in one line each (id, status, main metric; the rest of each is cut)" in text


@pytest.mark.parametrize("context_format", FORMATS)
def test_below_the_floor_the_answer_says_so_and_which_budget_would(context_format: str) -> None:
    results = many_experiments()
    answer = context_block(results, 2_000, context_format)
    assert len(answer) <= 2_000
    need = int(re.search(r"a budget of ([\d,]+) holds it", answer).group(1).replace(",", ""))
    assert "do not fit in 2,000 characters" in answer
    fitted = fit_context(results, 2_000, context_format)
    assert not fitted.fits and fitted.floor < need  # the loop's fallback: the floor, saying so
    assert "do not fit in 2,000 characters" in fitted.text and "exp-299" in fitted.text
    enough = context_block(results, need, context_format)
    assert len(enough) <= need and "do not fit" not in enough and "exp-299" in enough


def test_an_output_tail_is_cut_at_line_boundaries_keeping_its_first_and_last_lines() -> None:
    log = "\n".join(f"epoch {i}: loss {1 / (i + 1):.4f}" for i in range(200))
    kept = keep_lines(log, 400)
    lines = kept.split("\n")
    assert lines[0] == "epoch 0: loss 1.0000" and lines[-1] == "epoch 199: loss 0.0050"
    assert all(re.fullmatch(r"epoch \d+: loss [\d.]+", line) for line in lines if not line.startswith("[…"))
    (marker,) = [line for line in lines if line.startswith("[…")]
    assert marker == f"[… {200 - len(lines) + 1} lines cut …]"
    assert keep_lines(log, 10**6) == log


def test_the_context_shows_workdir_env_cpu_time_and_the_brains_paths() -> None:
    """What a timing study needs to tell runs apart (a cached build, shared cores), in the brain's
    own paths: the checkout's `/tmp/wild-ci-run-…` means nothing to it."""
    checkout = "/tmp/wild-ci-run-abc123/hostexecutor"
    traceback = f'Traceback (most recent call last):\n  File "{checkout}/src/train.py", line 3\nValueError: x'
    common = dict(runner="host", cpus=2, checkout=checkout, workdir="src")
    results = iteration(
        [
            ExperimentResult("cached", "Cached", "python t.py", "succeeded", 0, 2.71737239399, cpu_s=5.2,
                             env={"TEXTSTATS_CACHE": "1"}, started_at="2026-01-01T10:00:00+00:00",
                             finished_at="2026-01-01T10:00:03+00:00", metrics={"seconds": 2.7173723939999945},
                             **common),
            ExperimentResult("plain", "Plain", "python t.py", "failed", 1, 3.0, cpu_s=2.9,
                             started_at="2026-01-01T10:00:01+00:00", finished_at="2026-01-01T10:00:04+00:00",
                             stderr_tail=traceback, **common),
        ],
        project_root="/home/me/project",
    )  # fmt: skip
    text = context_block(results)
    assert "Ran 2 experiments on runner host (2 CPU cores), at most 2 at once." in text
    assert "workdir (all): /home/me/project/src" in text
    assert "env: TEXTSTATS_CACHE=1" in text and "env: (none)" in text  # they differ: said per experiment
    assert "## 1. cached: succeeded · 2.7 s, CPU 5.2 s" in text
    assert "seconds=2.71737" in text and "2.7173723939" not in text
    assert 'File "/home/me/project/src/train.py", line 3' in text and "wild-ci-run" not in text


def test_at_most_at_once_reads_start_and_end_times() -> None:
    def leg(start: int, end: int) -> ExperimentResult:
        return ExperimentResult("x", "g", "c", "succeeded", started_at=f"2026-01-01T10:00:{start:02d}+00:00",
                                finished_at=f"2026-01-01T10:00:{end:02d}+00:00")  # fmt: skip

    assert at_most_at_once([leg(0, 10), leg(5, 15), leg(12, 20)]) == 2
    assert at_most_at_once([leg(0, 4), leg(6, 8)]) == 1
    assert at_most_at_once([ExperimentResult("x", "g", "c", "succeeded")]) == 0


def test_an_ordinary_experiment_takes_fewer_characters_than_before() -> None:
    """Re-read as a model reads it: each fact once, ~500 characters per experiment before (#24)."""
    results = iteration([
        ExperimentResult(f"svm-c-{c}-seed-{s}", f"SVM C={c} seed={s}", f"python train.py --C={c} --seed={s}",
                         "succeeded", 0, 1.234, cpu_s=1.1, parameters={"C": c, "seed": s},
                         stdout_tail="loading digits\ntraining\naccuracy 0.9822", runner="host", cpus=2,
                         metrics={"accuracy": 0.982222222222, "n_test": 450})
        for c in (1, 3) for s in range(5)
    ], project_root="/p")  # fmt: skip
    text = context_block(results)
    per_experiment = len(text[text.index("## 1.") :]) / 10
    assert per_experiment < 300, per_experiment
    assert "command: `python train.py`\nparameters: C=1, seed=0\n" in text  # the flags said once


def test_wild_ci_context_holds_the_budget_given_in_an_ordinary_session(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"train.py": "print(1)\n"})
    runs = [Run(f"Train lr={lr}", {"lr": lr}, {"accuracy": 0.9 + lr}) for lr in (0.001, 0.01, 0.1, 0.05)]
    record_iteration(repo, tmp_path / "a1", runs)
    git(repo, "status")  # the session is committed; the working tree untouched
    for budget in (2000, 6000, 10000):
        out = io.StringIO()
        with redirect_stdout(out):
            assert app.main(["context", "--repo", str(repo), "--budget", str(budget)]) == 0
        assert len(out.getvalue()) <= budget, (budget, len(out.getvalue()))


def prompt_values(history: int = 0) -> dict:
    return dict(goal="Make it faster.", session="main", turn=2, max_turns=9, iteration="0003",
                project_root="/p", errors=[], refused=None, best=[],
                history=[f"{n:04d}: 4 experiments: 4 succeeded · summary: " + "tried a thing " * 15
                         for n in range(1, history + 1)])  # fmt: skip


@pytest.mark.parametrize("case", ["5000 metrics", "300 experiments"])
def test_the_loop_prompt_holds_its_budget_and_says_what_was_cut(make_repo, case: str) -> None:
    results = many_metrics() if case == "5000 metrics" else many_experiments()
    standing = Standing.of(results, complete=False)
    config = Config(context_budget=20_000)
    fitted = loop._block_for(results, config, standing)
    answer = loop.Answer(fitted(config.context_budget), results.label, fitted=fitted)
    template = loop.prompt_template(ledger.open_repo(make_repo()), None)
    prompt, over = loop.fitted_prompt(template, 20_000, answer, **prompt_values(history=60))
    assert len(prompt) <= 20_000 and over == ""
    assert "Shortened to fit" in prompt and "earlier iterations not shown)" in prompt
    assert ("more metrics in results.json" if case == "5000 metrics" else "in one line each") in prompt
    assert prompt.count("Best so far") + prompt.count("Best results so far") <= 1


def test_below_the_floor_the_loop_uses_the_floor_and_says_so(make_repo) -> None:
    results = many_experiments()
    config = Config(context_budget=8_000)
    fitted = loop._block_for(results, config, Standing.of(results, complete=False))
    answer = loop.Answer(fitted(config.context_budget), results.label, fitted=fitted)
    template = loop.prompt_template(ledger.open_repo(make_repo()), None)
    prompt, over = loop.fitted_prompt(template, 8_000, answer, **prompt_values())
    assert "raise context_budget to at least" in over  # for the person, on stderr
    assert "These results do not fit in" in prompt and "It is shown whole all the same." in prompt
    assert all(f"exp-{k:03d}" in prompt for k in range(300))


def test_the_history_is_kept_whole_when_the_results_fit(make_repo) -> None:
    """The one-line history works well (#24): it is cut only when the results would be."""
    results = many_experiments(4)
    config = Config(context_budget=20_000)
    fitted = loop._block_for(results, config, Standing.of(results, complete=False))
    answer = loop.Answer(fitted(config.context_budget), results.label, fitted=fitted)
    template = loop.prompt_template(ledger.open_repo(make_repo()), None)
    prompt, over = loop.fitted_prompt(template, 20_000, answer, **prompt_values(history=30))
    assert len(prompt) <= 20_000 and over == "" and "not shown)" not in prompt
    assert all(f"- {n:04d}: 4 experiments" in prompt for n in range(1, 31)) and "Shortened" not in prompt


def test_long_lists_above_the_experiments_are_cut_and_counted() -> None:
    from wild_ci.specs import Diagnostic

    results = iteration(
        [ExperimentResult("a", "A", "python a.py", "succeeded", 0, 1.0, metrics={"acc": 0.9})],
        warnings=[Diagnostic(n, f"unknown key 'k{n}' was ignored") for n in range(300)],
        notes=[f"note {n}: " + "x" * 80 for n in range(300)],
    )
    text = context_block(results, 3_000)
    assert len(text) <= 3_000
    assert "- 1. a: succeeded · acc=0.9" in text or "## 1. a: succeeded" in text
    assert re.search(r"- … and 29\d more in results.json", text)


def test_answers_without_a_budget_of_their_own_cap_their_warnings() -> None:
    from wild_ci.report import nothing_ran_block
    from wild_ci.specs import Diagnostic

    text = nothing_ran_block("main", [Diagnostic(n, "unknown key was ignored") for n in range(1, 101)], None)
    assert text.count("unknown key was ignored") == 20 and "- … and 80 more lines of warnings" in text


def test_wild_ci_context_holds_the_budget_when_the_latest_iteration_has_thousands_of_metrics(
    make_repo, tmp_path: Path
) -> None:
    """#24: `wild-ci context --budget 6000` printed 118,826 characters for such a session."""
    repo = make_repo({"train.py": "print(1)\n"})
    record_iteration(repo, tmp_path / "a1", [Run("Small", {}, {"accuracy": 0.9})])
    many = {f"m{i:04d}": i / 7 for i in range(2000)}
    record_iteration(repo, tmp_path / "a2", [Run("Many", {}, many)])
    out = io.StringIO()
    with redirect_stdout(out):
        assert app.main(["context", "--repo", str(repo), "--budget", "6000"]) == 0
    text = out.getvalue()
    assert len(text) <= 6000 and "more metrics in results.json" in text
