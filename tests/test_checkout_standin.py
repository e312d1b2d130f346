"""The local checkout stand-in gives the history actions/checkout gives (pinned v7.0.1): `fetch-depth`
read as `src/input-helper.ts` lines 123-126 read it (`Math.floor(Number(input || '1'))`, and 0 —
all history, every branch and tag — when that is NaN or below 0; default 1 in `action.yml` lines
74-76), and at a depth N > 0 only the event's ref, N commits deep, no tags
(`src/git-source-provider.ts` lines 212-219). Its script is run here as act runs it, under bash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import IDENTITY, git

from wild_ci.engines.github.workflow import PINNED_ACTIONS
from wild_ci.templating import render


def checkout(source: Path, workspace: Path, depth: str, ref: str = "") -> Path:
    action = yaml.safe_load(render("actions/checkout/action.yml.j2", action=PINNED_ACTIONS["checkout"],
                                   source=str(source)))  # fmt: skip
    script = action["runs"]["steps"][0]["run"]
    env = {**os.environ, **IDENTITY, "GITHUB_WORKSPACE": str(workspace),
           "GITHUB_REF": "refs/heads/wild/main", "GITHUB_SHA": git(source, "rev-parse", "wild/main"),
           "WILD_CHECKOUT_SOURCE": str(source), "WILD_CHECKOUT_REF": ref,
           "WILD_CHECKOUT_SUBMODULES": "false", "WILD_CHECKOUT_DEPTH": depth}  # fmt: skip
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=env, check=True)
    return workspace


@pytest.fixture
def source(make_repo) -> Path:
    """Four commits on wild/main, a tag and another branch: what the runs' source clone may hold."""
    repo = make_repo()
    for n in (1, 2, 3):
        (repo / f"f{n}").write_text(f"{n}\n")
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "-m", f"commit {n}")
    git(repo, "tag", "v1", "HEAD~1")
    git(repo, "checkout", "--quiet", "-b", "wild/main")
    return repo


ONE = ["refs/heads/wild/main"]
ALL = ["refs/heads/wild/main", "refs/tags/v1"]  # the other branches went with the removed remote


@pytest.mark.parametrize(
    ("depth", "commits", "refs"),
    [("", 1, ONE), ("1", 1, ONE), ("2", 2, ONE), ("2.9", 2, ONE), ("0", 4, ALL), ("-1", 4, ALL),
     ("deep", 4, ALL)],
)  # fmt: skip
def test_fetch_depth_is_read_as_the_pinned_checkout_reads_it(
    source: Path, tmp_path: Path, depth: str, commits: int, refs: list[str]
) -> None:
    workspace = checkout(source, tmp_path / "ws", depth)
    assert git(workspace, "rev-parse", "--is-shallow-repository") == ("true" if commits < 4 else "false")
    assert int(git(workspace, "rev-list", "--count", "HEAD")) == commits
    assert git(workspace, "for-each-ref", "--format=%(refname)").splitlines() == refs
    assert git(workspace, "rev-parse", "HEAD") == git(source, "rev-parse", "wild/main")
    assert git(workspace, "remote") == ""  # still no remote to push to


def test_an_explicit_ref_is_checked_out_detached_at_depth_1(source: Path, tmp_path: Path) -> None:
    head = git(source, "rev-parse", "wild/main~1")  # the pull_request trigger's head commit
    workspace = checkout(source, tmp_path / "ws", "", ref=head)
    assert git(workspace, "rev-parse", "HEAD") == head
    assert int(git(workspace, "rev-list", "--count", "HEAD")) == 1
    assert git(workspace, "for-each-ref") == ""  # detached: no branch, no tag
