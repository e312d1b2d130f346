"""The engine seam: both engines implement the interface, and generate renders through it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from helpers import git

from wild_ci import generate
from wild_ci.config import Config
from wild_ci.engines.act.engine import ACT
from wild_ci.engines.base import Engine, RunnerEnvironment, WorkflowTooLarge
from wild_ci.engines.github.engine import GITHUB
from wild_ci.specs import Experiment, IterationSpec


def spec(n: int = 2) -> IterationSpec:
    experiments = [Experiment(f"e-{i}", f"goal {i}", "true", "true", i + 1) for i in range(n)]
    return IterationSpec("main", 1, "/p", experiments)


@pytest.mark.parametrize("engine", [GITHUB, ACT], ids=lambda e: e.name)
def test_both_engines_satisfy_the_interface(engine: Engine) -> None:
    assert isinstance(engine, Engine)
    assert isinstance(engine.runner, RunnerEnvironment)
    assert engine.limits.max_matrix_legs == 256
    assert set(engine.actions) == {"checkout", "upload_artifact", "download_artifact", "cache"}
    workflow = yaml.safe_load(engine.render_workflow(spec(), Config()))
    steps = workflow["jobs"]["experiment"]["steps"]
    assert steps[0]["uses"] == engine.actions["checkout"].uses


def test_github_shards_at_its_matrix_limit_and_act_parallels_by_the_machine() -> None:
    many = spec(GITHUB.limits.max_matrix_legs + 1)
    jobs = yaml.safe_load(GITHUB.render_workflow(many, Config()))["jobs"]
    assert [len(jobs[j]["strategy"]["matrix"]["experiment"]) for j in ("experiment", "experiment-2")] == [
        256,
        1,
    ]
    assert "max-parallel" not in jobs["experiment"]["strategy"]
    local = yaml.safe_load(ACT.render_workflow(spec(), Config()))["jobs"]["experiment"]["strategy"]
    assert local["max-parallel"] >= 1
    assert set(ACT.standins) == set(ACT.actions)  # every pinned action has a local stand-in


def test_the_runner_environment_is_read_through_the_engine() -> None:
    runner = GITHUB.runner
    environ = {"GITHUB_SHA": "abc", "RUNNER_NAME": "r1", "GITHUB_STEP_SUMMARY": "/s"}
    assert (runner.commit(environ), runner.runner_name(environ)) == ("abc", "r1")
    assert runner.step_summary_path(environ) == "/s" and runner.step_summary_path({}) is None
    assert runner.stop_commands("t") == "::stop-commands::t" and runner.resume_commands("t") == "::t::"
    assert runner.push_auth("https://github.com/o/r", {"GITHUB_TOKEN": "x"}) == {}  # not on a runner
    on_runner = {"GITHUB_TOKEN": "x", "GITHUB_ACTIONS": "true"}
    auth = runner.push_auth("https://github.com/o/r", on_runner)
    assert auth["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert "GITHUB_TOKEN" in runner.withheld and ACT.runner is runner  # act sets GitHub's variables


class FakeEngine:
    name = "fake"
    limits = GITHUB.limits
    actions = GITHUB.actions
    runner = GITHUB.runner

    def __init__(self, text: str = "name: fake\n", too_large: bool = False) -> None:
        self.text, self.too_large, self.calls = text, too_large, 0

    def render_workflow(self, spec: IterationSpec, config: Config) -> str:
        self.calls += 1
        if self.too_large:
            raise WorkflowTooLarge("too large for the fake engine")
        return self.text


def test_generate_renders_the_committed_workflow_through_the_engine(
    make_repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    fake = FakeEngine()
    assert isinstance(fake, Engine)
    monkeypatch.setattr(generate, "ENGINE", fake)
    brain = b'<experiments>\n- goal: "g"\n  command: "true"\n</experiments>\n'
    submission = generate.submit(repo, brain)
    assert submission is not None and fake.calls == 1
    committed = git(repo, "show", f"{submission.commit}:.github/workflows/wild-experiments.yml")
    assert committed == "name: fake"
    with pytest.raises(generate.InvalidBrainOutput, match="too large for the fake engine"):
        generate.render_workflow(submission.spec, Config(), FakeEngine(too_large=True))


def test_the_runner_description_stays_light() -> None:
    """Every leg loads it: importing it must not load PyGithub, git, yaml or jinja2."""
    code = (
        "import sys, wild_ci.engines.github.runner, wild_ci.engines.base; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('github', 'git', 'yaml', 'jinja2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
