"""`.wild/config.yml`: project defaults, validated with errors that name the line; flags win."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import git, run_cli

from wild_ci.config import Config, ConfigError, Limits, load_config
from wild_ci.snapshot import SnapshotRules


def write_config(repo: Path, text: str) -> None:
    (repo / ".wild").mkdir(exist_ok=True)
    (repo / ".wild" / "config.yml").write_text(text)


def commit_config(repo: Path, text: str) -> None:
    """The config as a user keeps it: committed (wild-ci reads it from HEAD)."""
    write_config(repo, text)
    git(repo, "add", ".wild/config.yml")
    git(repo, "commit", "--quiet", "-m", "config")


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_config(tmp_path) == Config()


def test_every_setting_is_read(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "project_root: /home/r/proj/\ntimeout: 2h\nruns_on: gpu\nmax_parallel: 2\n"
        "install_spec: wild-ci==9\nlimits:\n  max_experiments: 10\n  max_command_chars: 100\n"
        "trigger: pull_request\nrunner_labels: [[self-hosted, gpu], big-cpu]\n",
    )
    config = load_config(tmp_path)
    assert config == Config(
        project_root="/home/r/proj",
        timeout_s=7200,
        runs_on="gpu",
        max_parallel=2,
        install_spec="wild-ci==9",
        limits=Limits(max_experiments=10, max_command_chars=100),
        trigger="pull_request",
        runner_labels=(("gpu", "self-hosted"), ("big-cpu",)),
    )
    assert config.with_overrides(runs_on="cpu", timeout_s=None).runs_on == "cpu"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("runs_on: x\ntimeot: 3\n", 2, "unknown setting 'timeot'"),
        ("project_root: relative/path\n", 1, "absolute path"),
        ("max_parallel: 0\n", 1, "positive whole number"),
        ("timeout: soon\n", 1, "duration"),
        ("trigger: pull-request\n", 1, "trigger must be one of: push, pull_request"),
        ("timeout: 1h\nrunner_labels: gpu\n", 2, "runner_labels must be a list of label sets"),
        ("runner_labels: [[gpu, '${{ x }}']]\n", 1, "runner_labels must be a list of label sets"),
        ("runs_on: [unclosed\n", 2, "not valid YAML"),
        ("timeout: 1h\nsnapshot:\n  exclude: 3\n", 2, "snapshot.exclude must be a list of globs"),
        ("snapshot:\n  max_file_bytes: 0\n", 1, "snapshot.max_file_bytes must be a positive whole number"),
        ("snapshot:\n  includes: []\n", 1, "unknown snapshot setting 'includes'"),
        ("snapshot: all\n", 1, "snapshot must be a mapping"),
        ("timeout: 1h\ncontext_format: wild-v3\n", 2, "context_format must be one of: wild-ci, wild-v2"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert f"config.yml:{line}:" in str(caught.value)
    assert message in str(caught.value)


def test_cli_uses_the_config_and_flags_win(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    commit_config(repo, "project_root: /brain/root\nruns_on: from-config\n")
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: g\n  command: ls\n  workdir: /brain/root\n</experiments>\n")
    done = run_cli("submit", str(brain), "--repo", str(repo), "--runs-on", "from-flag")
    assert done.returncode == 0, done.stderr
    workflow = yaml.safe_load(git(repo, "show", "wild/main:.github/workflows/wild-experiments.yml"))
    assert workflow["jobs"]["experiment"]["runs-on"] == ["from-flag"]
    assert workflow["jobs"]["collect"]["runs-on"] == "from-flag"
    assert git(repo, "show", "wild/main:.wild/config.yml").startswith("project_root: /brain/root")


def test_cli_reports_a_bad_config_with_exit_2(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    commit_config(repo, "max_parallel: many\n")
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: g\n  command: ls\n</experiments>\n")
    done = run_cli("submit", str(brain), "--repo", str(repo))
    assert done.returncode == 2
    assert b"HEAD:.wild/config.yml:1: max_parallel must be a positive whole number" in done.stderr


def test_only_the_committed_config_counts(make_repo, tmp_path: Path) -> None:
    """The brain edits the working tree: its config must not reach the workflow."""
    repo = make_repo()
    write_config(repo, 'install_spec: "evil ${{ secrets.DEPLOY_KEY }}"\nruns_on: brain-picked\n')
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: g\n  command: ls\n</experiments>\n")
    done = run_cli("submit", str(brain), "--repo", str(repo))
    assert done.returncode == 0, done.stderr
    workflow = git(repo, "show", "wild/main:.github/workflows/wild-experiments.yml")
    assert "secrets" not in workflow and "brain-picked" not in workflow
    assert git(repo, "ls-tree", "wild/main", ".wild/config.yml") == ""


def test_settings_that_reach_the_workflow_hold_no_expressions(tmp_path: Path) -> None:
    write_config(tmp_path, 'install_spec: "x ${{ secrets.A }}"\n')
    with pytest.raises(ConfigError, match="may not contain"):
        load_config(tmp_path)
    write_config(tmp_path, 'runs_on: "${{ github.event.head_commit.message }}"\n')
    with pytest.raises(ConfigError):
        load_config(tmp_path)


def test_the_context_budget_is_configurable(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".wild/config.yml": "context_budget: 1500\n"})
    from wild_ci import collect
    from wild_ci.generate import submit
    from wild_ci.ledger import open_repo

    items = "".join(f"- goal: g{n}\n  command: c\n" for n in range(3))
    submission = submit(repo, f"<experiments>\n{items}</experiments>\n".encode())
    artifacts = tmp_path / "artifacts"
    for n in range(3):
        leg = artifacts / f"wild-0001-g{n}"
        leg.mkdir(parents=True)
        (leg / "result.json").write_text('{"id": "x", "goal": "g", "command": "c", "status": "succeeded"}')
        (leg / "stdout.log").write_text("y" * 3000)
    collect.commit_locally(open_repo(repo), collect.collect_results(submission.spec, artifacts, None))
    done = run_cli("context", "--repo", str(repo))
    assert done.returncode == 0 and len(done.stdout.decode()) <= 1500
    wider = run_cli("context", "--repo", str(repo), "--budget", "100000")
    assert len(wider.stdout.decode()) > 9000


def test_the_context_format_comes_from_the_config_and_the_flag_wins(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".wild/config.yml": "context_format: wild-v2\n"})
    from wild_ci import collect
    from wild_ci.generate import submit
    from wild_ci.ledger import open_repo

    submission = submit(repo, b"<experiments>\n- goal: g0\n  command: c\n</experiments>\n")
    leg = tmp_path / "artifacts" / "wild-0001-g0"
    leg.mkdir(parents=True)
    (leg / "result.json").write_text('{"id": "g0", "goal": "g0", "command": "c", "status": "succeeded"}')
    (leg / "stdout.log").write_text("hello")
    collected = collect.collect_results(submission.spec, tmp_path / "artifacts", None)
    collect.commit_locally(open_repo(repo), collected)
    v2 = run_cli("context", "--repo", str(repo)).stdout.decode()
    assert v2.startswith("## Results from Previous Experiments\n") and "- **Status:** PASSED" in v2
    default = run_cli("context", "--repo", str(repo), "--format", "wild-ci").stdout.decode()
    assert default.startswith("<experiment_results") and "Results from Previous" not in default
    wrong = run_cli("context", "--repo", str(repo), "--format", "v2")
    assert wrong.returncode == 2 and b"invalid choice" in wrong.stderr


def test_the_snapshot_section_is_read(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "snapshot:\n  include: ['.env.test']\n  exclude: scratch/*\n"
        "  max_file_bytes: 1000\n  max_total_bytes: 5000\n",
    )
    assert load_config(tmp_path).snapshot == SnapshotRules(
        include=(".env.test",), exclude=("scratch/*",), max_file_bytes=1000, max_total_bytes=5000
    )


@pytest.mark.parametrize(
    ("text", "mode"),
    [("", "auto"), ("sandbox: required\n", "required"), ("sandbox: off\n", "off"), ("sandbox: 'off'", "off")],
)
def test_the_sandbox_mode_is_read(tmp_path: Path, text: str, mode: str) -> None:
    """Issue 23: `sandbox: off` (YAML reads a bare `off` as false) turns the text check's warning
    about the real tree back into a refusal."""
    write_config(tmp_path, text)
    assert load_config(tmp_path).sandbox == mode


def test_an_unknown_sandbox_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sandbox must be one of: auto, required, off"):
        write_config(tmp_path, "sandbox: maybe\n")
        load_config(tmp_path)
