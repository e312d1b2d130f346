"""End to end through act (issue 23): with `sandbox: auto`, an experiment reaches its checkout and
nothing else of the user's — not the working tree by any path, not a secret in $HOME, not its
checkout's `.git` (bubblewrap) — while a legitimate experiment still runs. Each backend in turn
(`WILD_CI_SANDBOX_BACKENDS`); `required` refuses where none can be made; `off` says it runs without."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import RepoState, backend_or_skip, git, run_cli

from wild_ci import sandbox

pytestmark = pytest.mark.e2e

SECRET = "-----BEGIN FAKE KEY----- do-not-leak"


def fake_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(SECRET + "\n")
    (home / ".netrc").write_text(f"machine example.com password {SECRET}\n")
    return home


def attacks(repo: Path, home: Path) -> list[tuple[str, str]]:
    """(goal, command): each tries to write the user's working tree or read a secret; `; true` so
    the attempt's own failure is not the point — what it left is."""
    parent, name = repo.parent, repo.name
    return [
        ("Through a committed absolute symlink", "touch latest/via-symlink; true"),
        ("From the parent folder", f"cd {parent} && touch {name}/via-parent; true"),
        ("Through a glob", f"for d in {parent}/{name[:-1]}?; do touch $d/via-glob; done; true"),
        ("Through OLDPWD", 'touch "$OLDPWD/via-oldpwd"; true'),
        ("Through the origin remote", 'touch "$(git remote get-url origin)/via-remote"; true'),
        ("Read the SSH key", f"cat ~/.ssh/id_rsa {home}/.ssh/id_rsa {home}/.netrc; true"),
    ]


LEGIT = (
    "mkdir -p ~/.cache/pip && echo cached > ~/.cache/pip/entry && cat ~/.cache/pip/entry && "
    'echo trained > outputs/model.txt && git log -1 --format=%s && echo tmp > "$(mktemp)" && '
    "python3 -c 'print(6*7)'"
)


def brain(repo: Path, home: Path) -> str:
    items = [*attacks(repo, home), ("Write the checkout's git folder", "touch .git/via-git; echo $?"),
             ("Legit", LEGIT)]  # fmt: skip
    lines = ["<experiments>"]
    for goal, command in items:
        lines += [f"- goal: {goal}", f"  command: {json.dumps(command)}"]
    return "\n".join([*lines, "</experiments>", ""])


def make_project(make_repo, config: str = "") -> Path:
    files = {"README.md": "x\n", "runs/keep.txt": "k\n"}
    if config:
        files[".wild/config.yml"] = config
    repo = make_repo(files)
    (repo / "latest").symlink_to(repo / "runs")  # the `ln -s $(pwd)/runs latest` idiom
    git(repo, "add", "latest")
    git(repo, "commit", "--quiet", "-m", "latest")
    return repo


def planted(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in repo.rglob("via-*"))


@pytest.mark.parametrize("backend", ["bubblewrap", "landlock"])
def test_an_experiment_reaches_its_checkout_and_nothing_else(make_repo, tmp_path: Path, backend) -> None:
    backend_or_skip(backend)
    home = fake_home(tmp_path)
    repo = make_project(make_repo)
    before = RepoState.of(repo)
    (tmp_path / "brain.md").write_text(brain(repo, home))
    env = {"HOME": str(home), "OLDPWD": str(repo), sandbox.BACKENDS_ENV: backend}
    done = run_cli("run", str(tmp_path / "brain.md"), "--repo", str(repo), cwd=tmp_path, timeout=900, env=env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    by_goal = {e["goal"]: e for e in data["experiments"]}
    assert {e["sandbox"] for e in data["experiments"]} == {backend}
    assert planted(repo) == [] and RepoState.of(repo) == before
    assert (repo / "runs").is_dir() and sorted(os.listdir(repo / "runs")) == ["keep.txt"]
    assert SECRET not in json.dumps(data), "a secret of $HOME reached the results"
    legit = by_goal["Legit"]
    assert legit["status"] == "succeeded", legit
    assert legit["stdout_tail"].split()[0] == "cached" and legit["stdout_tail"].split()[-1] == "42", legit
    assert "iteration 0001" in legit["stdout_tail"]  # git log in the checkout: the commit's subject
    assert legit["outputs"] == ["outputs/model.txt"]
    wrote_git = by_goal["Write the checkout's git folder"]["stdout_tail"].strip()
    if backend == "bubblewrap":  # Landlock cannot take back part of a writable checkout (docs/safety.md)
        assert wrote_git == "1"
    assert "ran without a sandbox" not in done.stderr.decode(errors="replace")


def test_required_refuses_before_anything_runs_without_a_sandbox(make_repo, tmp_path: Path) -> None:
    repo = make_project(make_repo, "sandbox: required\n")
    (tmp_path / "brain.md").write_text("<experiments>\n- goal: A\n  command: echo hi\n</experiments>\n")
    env = {sandbox.BACKENDS_ENV: "none"}
    done = run_cli("run", str(tmp_path / "brain.md"), "--repo", str(repo), cwd=tmp_path, env=env)
    assert done.returncode == 2
    said = done.stderr.decode(errors="replace")
    assert "sandbox: required, but this machine can make no sandbox" in said
    assert git(repo, "branch", "--list", "wild/*") == ""  # no iteration was made, no leg started


def test_off_runs_without_a_sandbox_and_says_so(make_repo, tmp_path: Path) -> None:
    home = fake_home(tmp_path)
    repo = make_project(make_repo, "sandbox: off\n")
    (tmp_path / "brain.md").write_text(
        "<experiments>\n- goal: Plain\n  command: echo $WILD_SANDBOX; cat ~/.ssh/id_rsa\n</experiments>\n"
    )
    done = run_cli("run", str(tmp_path / "brain.md"), "--repo", str(repo), cwd=tmp_path, timeout=600,
                   env={"HOME": str(home)})  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    line = "the experiment ran without a sandbox: the config says sandbox: off"
    assert line in done.stderr.decode(errors="replace")  # the run's summary
    assert line in done.stdout.decode(errors="replace")  # the brain's context
    assert line in git(repo, "show", "wild/main:.wild/iterations/0001/results.md")
    result = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))["experiments"][0]
    assert (result["status"], result["sandbox"]) == ("succeeded", "none")
    assert SECRET in result["stdout_tail"]  # as today: nothing kept it from the real $HOME
