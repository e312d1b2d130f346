"""#25 finding 8: a leg that may run longer than its runners let a job run (GitHub: 6 h on its own
runners, 5 days on self-hosted ones) renders no more than that, stops its experiment in time for the
upload, and says so in result.json and results.md."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_execute import checkout, one

from wild_ci import execute as execute_module
from wild_ci import layout, retries
from wild_ci.config import Config
from wild_ci.engines.act.engine import ACT
from wild_ci.engines.github.workflow import STOP_RESERVE_S, install_script, render_workflow
from wild_ci.execute import execute
from wild_ci.report import results_markdown
from wild_ci.specs import Experiment, ExperimentResult, IterationResults, IterationSpec

LONG = "  timeout: 2h\n  retries: 3\n  retry_on: [timeout]\n"


def long_spec() -> IterationSpec:
    """2 h, 4 attempts on a hosted runner, and the same on a self-hosted one."""
    experiments = [
        Experiment(id=i, goal=i, command="c", run="c", line=1, timeout_s=7200, retries=3, runs_on=labels)
        for i, labels in (("hosted", None), ("own-box", ["self-hosted", "big"]))
    ]
    return IterationSpec("main", 1, "/p", experiments)


def minutes_of(job: dict) -> list[int]:
    return [job["timeout-minutes"], *(s["timeout-minutes"] for s in job["steps"] if "timeout-minutes" in s)]


def test_a_hosted_leg_past_six_hours_renders_at_most_360_minutes_and_stops_in_time() -> None:
    """It rendered `timeout-minutes: 523` (GitHub would end the job at 360 with nothing uploaded)."""
    workflow = yaml.safe_load(render_workflow(long_spec(), Config()))
    hosted, own = workflow["jobs"]["experiment"], workflow["jobs"]["experiment-2"]
    assert hosted["runs-on"] == ["ubuntu-latest"] and own["runs-on"] == ["self-hosted", "big"]
    assert hosted["timeout-minutes"] == 360
    assert hosted["env"] == {layout.JOB_LIMIT_ENV: str(360 * 60 - STOP_RESERVE_S)}
    # a self-hosted runner allows 5 days: the legs keep what they need, and no early stop
    assert own["timeout-minutes"] > 500 and "env" not in own
    # the step (shared by both matrix jobs) allows the attempts: the executor stops a hosted one first
    step = next(s for s in hosted["steps"] if s["name"] == layout.EXPERIMENT_STEP)
    assert step["timeout-minutes"] == own["timeout-minutes"] - 10


def test_a_hosted_leg_within_six_hours_is_not_cut() -> None:
    spec = IterationSpec("main", 1, "/p", [Experiment(id="e", goal="e", command="c", run="c", line=1)])
    job = yaml.safe_load(render_workflow(spec, Config()))["jobs"]["experiment"]
    assert max(minutes_of(job)) < 360 and "env" not in job


def test_a_self_hosted_leg_past_five_days_is_cut_to_five_days() -> None:
    spec = long_spec()
    spec.default_timeout_s = 0
    for experiment in spec.experiments:
        experiment.timeout_s = 30 * 3600  # 30 h, 4 attempts
    workflow = yaml.safe_load(render_workflow(spec, Config()))
    own = workflow["jobs"]["experiment-2"]
    assert own["timeout-minutes"] == 5 * 24 * 60
    assert own["env"] == {layout.JOB_LIMIT_ENV: str(5 * 24 * 3600 - STOP_RESERVE_S)}
    step = next(s for s in own["steps"] if s["name"] == layout.EXPERIMENT_STEP)
    assert step["timeout-minutes"] <= 5 * 24 * 60


def test_act_renders_the_timeouts_the_legs_ask_for() -> None:
    """act ends no job after 6 h: `wild-ci run` of a long leg is not cut."""
    job = yaml.safe_load(ACT.render_workflow(long_spec(), Config()))["jobs"]["experiment"]
    assert job["timeout-minutes"] > 500 and "env" not in job


def run_leg_install(tmp_path: Path, limit: str | None) -> dict[str, str]:
    """The leg's install step as a runner runs it (WILD_CI_LOCAL: no pip), with the job's env."""
    github_env = tmp_path / "github-env"
    github_env.write_text("")
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_ENV": str(github_env),
           "WILD_CI_LOCAL": "/x/wild-ci", "WILD_CI_SPEC": ""}  # fmt: skip
    if limit is not None:
        env[layout.JOB_LIMIT_ENV] = limit
    subprocess.run(["bash", "-e", "-c", install_script("leg")], env=env, check=True, cwd=tmp_path)
    return dict(line.split("=", 1) for line in github_env.read_text().splitlines())


def test_the_leg_install_step_notes_when_the_experiment_must_stop(tmp_path: Path) -> None:
    before = time.time()
    values = run_leg_install(tmp_path, "600")
    assert before + 600 - 1 <= float(values[layout.LEG_DEADLINE_ENV]) <= time.time() + 600 + 1
    assert layout.LEG_DEADLINE_ENV not in run_leg_install(tmp_path, None)


def test_an_attempt_is_stopped_before_the_jobs_limit_and_the_results_say_so(
    make_repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute_module, "KILL_GRACE_S", 1.0)
    ws = checkout(make_repo, one("long", "sleep 60; echo late", "  timeout: 2h\n"))
    monkeypatch.setenv(layout.LEG_DEADLINE_ENV, str(time.time() + 2))
    result = execute(ws, 1, "long", tmp_path / "out", mirror=False)
    assert result.status == "timed_out" and result.duration_s is not None and result.duration_s < 15
    assert result.cut_attempt == 1
    assert re.search(r"^attempt 1 was stopped after [0-2]s, before its 7200s timeout", result.note or "")
    assert "6 h" in result.note and "uploaded" in result.note
    data = json.loads((tmp_path / "out" / layout.RESULT_FILE).read_text())
    assert data["cut_attempt"] == 1
    kept = ExperimentResult.from_leg_json(data, execute_module.load_spec(ws, 1).experiment("long"))
    assert kept.cut_attempt == 1 and kept.note == result.note
    markdown = results_markdown(IterationResults("main", 1, None, [kept]))
    assert "before its 7200s timeout, to end before the job's time limit" in markdown


def test_no_attempt_starts_too_close_to_the_jobs_limit(
    make_repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute_module, "KILL_GRACE_S", 1.0)
    monkeypatch.setenv(retries.BACKOFF_ENV, "0")
    ws = checkout(make_repo, one("long", "sleep 60", LONG))
    monkeypatch.setenv(layout.LEG_DEADLINE_ENV, str(time.time() + 2))
    result = execute(ws, 1, "long", tmp_path / "out", mirror=False)
    assert [(a.attempt, a.status, a.retried_because) for a in result.attempts] == [(1, "timed_out", None)]
    assert result.cut_attempt == 1
    assert result.note and "attempt 2 was not started (timed out on attempt 1)" in result.note


def test_without_a_deadline_the_timeout_is_the_experiments() -> None:
    assert retries.time_left_s({}) is None
    assert retries.time_left_s({layout.LEG_DEADLINE_ENV: "soon"}) is None
    assert retries.time_left_s({layout.LEG_DEADLINE_ENV: "inf"}) is None
    assert retries.attempt_budget(60, None) == retries.Budget(60)
    assert retries.attempt_budget(60, 600.0) == retries.Budget(60)
    assert retries.attempt_budget(600, 59.5) == retries.Budget(59, cut=True)
    assert retries.attempt_budget(600, -5.0) == retries.Budget(1, cut=True)


def test_a_leg_cannot_claim_an_impossible_cut_attempt() -> None:
    experiment = Experiment(id="e", goal="e", command="c", run="c", line=1)
    data = {"id": "e", "status": "timed_out", "stdout_bytes": 0, "stderr_bytes": 0, "cut_attempt": 99}
    assert ExperimentResult.from_leg_json(data, experiment).cut_attempt is None


@pytest.mark.e2e
@pytest.mark.parametrize("variable", [layout.LEG_DEADLINE_ENV, layout.JOB_LIMIT_ENV])
def test_a_local_run_ignores_job_limit_variables_left_in_the_shell(
    make_repo, tmp_path: Path, variable: str
) -> None:
    """#25 attack (who sets WILD_CI_LEG_DEADLINE?): on GitHub only the leg's install step, for a job
    cut to its runners' limit. Under act every job inherits act's environment, so a value left in the
    user's shell (copied from a CI log, or a `wild-ci run` inside a cut leg's experiment) cut every
    local attempt to a second, "stopped … to end before the job's time limit on its runner" — a
    limit act does not have. act's environment is without them now."""
    from helpers import git, run_cli

    repo = make_repo({"README.md": "x\n"})
    brain = tmp_path / "brain.md"
    brain.write_text(
        '<experiments>\n- goal: "t"\n  command: "sleep 3; echo done"\n  setup: none\n</experiments>\n'
    )
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, env={variable: "1"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    [t] = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))["experiments"]
    assert (t["status"], t.get("note"), t.get("cut_attempt")) == ("succeeded", None, None)


def test_a_runner_scale_set_named_in_self_hosted_labels_gets_the_self_hosted_limit() -> None:
    """#25 attack (a self-hosted label mix): a self-hosted runner need not carry the `self-hosted`
    label — an Actions Runner Controller scale set is targeted by its name alone and "does not
    support the self-hosted label" (GitHub Docs, *Using self-hosted runners in a workflow*). Such a
    job was taken for GitHub-hosted: cut to 360 minutes, its 10-hour experiment stopped at 5 h 50,
    and wild-ci offered no way to say otherwise. `self_hosted_labels` in the config says so."""
    experiments = [
        Experiment(id=i, goal=i, command="c", run="c", line=1, timeout_s=10 * 3600, runs_on=labels)
        for i, labels in (("scale-set", ["arc-gpu"]), ("hosted", None))
    ]
    spec = IterationSpec("main", 1, "/p", experiments)
    config = Config(runner_labels=(("arc-gpu",),), self_hosted_labels=("arc-gpu",))
    jobs = yaml.safe_load(render_workflow(spec, config))["jobs"]
    by_labels = {tuple(job["runs-on"]): job for name, job in jobs.items() if name.startswith("experiment")}
    assert by_labels[("arc-gpu",)]["timeout-minutes"] > 600 and "env" not in by_labels[("arc-gpu",)]
    assert by_labels[("ubuntu-latest",)]["timeout-minutes"] == 360  # the hosted one is still cut
    unnamed = yaml.safe_load(render_workflow(spec, Config(runner_labels=(("arc-gpu",),))))["jobs"]
    assert [j["timeout-minutes"] for j in unnamed.values() if j.get("runs-on") == ["arc-gpu"]] == [360]


def test_self_hosted_labels_is_read_from_the_config(tmp_path: Path) -> None:
    from wild_ci.config import ConfigError, load_config

    (tmp_path / ".wild").mkdir()
    (tmp_path / ".wild/config.yml").write_text("self_hosted_labels: [ARC-GPU, big-box]\n")
    assert load_config(tmp_path).self_hosted_labels == ("arc-gpu", "big-box")
    (tmp_path / ".wild/config.yml").write_text("self_hosted_labels: ['${{ x }}']\n")
    with pytest.raises(ConfigError, match="self_hosted_labels"):
        load_config(tmp_path)
