"""What the iteration commit takes from the working tree (#13, observations 2 and 3): no secrets, no
huge files, no output of the run itself; submodules in the legs at their commits; a warning for a
nested repository that is not a submodule. End to end through `python -m wild_ci run` and act."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git, run_cli

pytestmark = pytest.mark.e2e


def committed_paths(repo: Path, rev: str = "wild/main") -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", rev).splitlines())


def spec_at(repo: Path, iteration: int = 1) -> dict:
    return json.loads(git(repo, "show", f"wild/main:.wild/iterations/{iteration:04d}/experiments.json"))


def results_at(repo: Path, iteration: int = 1) -> dict:
    return json.loads(git(repo, "show", f"wild/main:.wild/iterations/{iteration:04d}/results.json"))


def brain(tmp_path: Path, command: str) -> Path:
    path = tmp_path / "brain.md"
    path.write_text(f"<experiments>\n- goal: look\n  command: {json.dumps(command)}\n</experiments>\n")
    return path


def test_secrets_and_huge_files_stay_out_and_are_named(make_repo, tmp_path: Path) -> None:
    """Acceptance 3: an untracked .env and a 60 MB untracked file are not in wild/main, both are
    named on stderr, in experiments.json and in the brain's context, and the run still happens."""
    repo = make_repo({"README.md": "# project\n"})
    (repo / ".env").write_text("secret=hunter2\n")
    (repo / ".env.example").write_text("secret=\n")
    (repo / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    subprocess.run(["truncate", "-s", "60M", str(repo / "data.bin")], check=True)
    (repo / "small.txt").write_text("kept\n")

    done = run_cli("run", str(brain(tmp_path, "ls -a")), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()

    paths = committed_paths(repo)
    assert {".env", "id_rsa", "data.bin"}.isdisjoint(paths)
    assert {"small.txt", ".env.example", "README.md"} <= paths
    stderr = done.stderr.decode()
    for name in (".env", "id_rsa", "data.bin"):
        assert f"left out of the snapshot: {name} (" in stderr, stderr
    left_out = {item["path"]: item["reason"] for item in spec_at(repo)["left_out"]}
    assert set(left_out) == {".env", "id_rsa", "data.bin"}
    assert "secret" in left_out[".env"] and "MB" in left_out["data.bin"]
    context = done.stdout.decode()
    assert ".env" in context and "data.bin" in context and "not in the snapshot" in context
    result = results_at(repo)["experiments"][0]
    assert result["status"] == "succeeded"
    assert "small.txt" in result["stdout_tail"] and "data.bin" not in result["stdout_tail"]


def test_the_config_can_let_a_file_in_and_keep_another_out(make_repo, tmp_path: Path) -> None:
    config = "snapshot:\n  include: ['.env.test']\n  exclude: ['scratch/**']\n  max_file_bytes: 1000\n"
    repo = make_repo({".wild/config.yml": config})
    (repo / ".env.test").write_text("FIXTURE=1\n")
    (repo / "scratch").mkdir()
    (repo / "scratch" / "a.txt").write_text("scratch\n")
    (repo / "medium.txt").write_text("x" * 2000)

    done = run_cli("submit", str(brain(tmp_path, "true")), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    paths = committed_paths(repo)
    assert ".env.test" in paths
    assert {"scratch/a.txt", "medium.txt"}.isdisjoint(paths)
    reasons = {item["path"]: item["reason"] for item in spec_at(repo)["left_out"]}
    assert set(reasons) == {"scratch/a.txt", "medium.txt"}


def test_output_redirected_into_the_repository_is_not_committed(make_repo, tmp_path: Path) -> None:
    """`wild-ci run brain.md > next-prompt.txt` inside the repository: the file the shell opened for
    wild-ci's own output is not part of the iteration it runs."""
    repo = make_repo()
    with open(repo / "next-prompt.txt", "wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "wild_ci", "run", str(brain(tmp_path, "ls")), "--repo", str(repo)],
            cwd=repo, stdout=out, stderr=subprocess.PIPE, env={**os.environ, **IDENTITY}, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert "next-prompt.txt" not in committed_paths(repo)
    assert (repo / "next-prompt.txt").read_text().startswith("<experiment_results")


def with_submodule(make_repo, files: dict[str, str] | None = None) -> tuple[Path, str]:
    """A repository with the submodule `lib` (a real local one); upstream has moved on since."""
    library = make_repo({"lib.py": "VERSION = 1\n"}, name="library")
    repo = make_repo(files)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "--quiet", str(library), "lib")
    git(repo, "commit", "--quiet", "-m", "add lib")
    pinned = git(repo, "-C", "lib", "rev-parse", "HEAD")
    (library / "lib.py").write_text("VERSION = 2\n")
    git(library, "commit", "--quiet", "-am", "v2")
    return repo, pinned


def test_a_submodule_is_in_the_legs_at_its_committed_commit(make_repo, tmp_path: Path) -> None:
    repo, pinned = with_submodule(make_repo)
    done = run_cli("run", str(brain(tmp_path, "cat lib/lib.py")), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert git(repo, "rev-parse", "wild/main:lib") == pinned
    result = results_at(repo)["experiments"][0]
    assert result["status"] == "succeeded", result
    assert result["stdout_tail"] == "VERSION = 1"
    workflow = git(repo, "show", "wild/main:.github/workflows/wild-experiments.yml")
    assert "submodules: recursive" in workflow


def test_a_submodule_is_in_the_legs_under_the_pull_request_trigger(make_repo, tmp_path: Path, fake) -> None:
    """With `ref:` (the pull_request trigger) act runs the checkout stand-in, which must do what
    actions/checkout does with `submodules: recursive`."""
    repo, _ = with_submodule(make_repo, {".wild/config.yml": "trigger: pull_request\n"})
    env = {**os.environ, **IDENTITY, "GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repository,
           "GITHUB_API_URL": fake.url}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "run", str(brain(tmp_path, "cat lib/lib.py")), "--repo", str(repo),
         "--pr", "7"], cwd=tmp_path, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    result = results_at(repo)["experiments"][0]
    assert (result["status"], result["stdout_tail"]) == ("succeeded", "VERSION = 1"), result


def test_a_submodule_that_cannot_be_checked_out_gets_a_clear_warning(make_repo, tmp_path: Path) -> None:
    repo, _ = with_submodule(make_repo)
    git(repo, "submodule", "deinit", "--quiet", "--force", "lib")  # not here, and its url is gone
    subprocess.run(["rm", "-rf", str(tmp_path / "library"), str(repo / ".git" / "modules")], check=True)
    done = run_cli("run", str(brain(tmp_path, "ls lib")), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert "wild-ci: warning: submodule lib is not in the legs (its folder is empty)" in done.stderr.decode()


def test_a_nested_repository_that_is_not_a_submodule_gets_a_warning(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    nested = repo / "vendor" / "thing"
    nested.mkdir(parents=True)
    git(nested, "init", "--quiet")
    (nested / "x.txt").write_text("x\n")
    git(nested, "add", "x.txt")
    git(nested, "commit", "--quiet", "-m", "x")

    done = run_cli("run", str(brain(tmp_path, "ls -a")), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    stderr = done.stderr.decode()
    assert "vendor/thing" in stderr and "not a submodule" in stderr, stderr
    assert "vendor/thing" not in committed_paths(repo)
    assert any(item["path"] == "vendor/thing" for item in spec_at(repo)["left_out"])
    assert "vendor/thing" in done.stdout.decode()
    workflow = git(repo, "show", "wild/main:.github/workflows/wild-experiments.yml")
    assert "submodules:" not in workflow
