"""Shared fixtures: real git repositories in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git

from wild_ci import sandbox


@pytest.fixture(autouse=True)
def fresh_sandbox_probe():
    """The sandbox probe is cached per process: a test that hides backends must not leak into the next."""
    sandbox._probe_all.cache_clear()
    yield
    sandbox._probe_all.cache_clear()


@pytest.fixture
def make_repo(tmp_path: Path):
    """A git repository with one commit; files given as {path: text}."""

    def make(files: dict[str, str] | None = None, name: str = "project") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        for path, text in (files or {"README.md": "# project\n"}).items():
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "-m", "initial")
        return repo

    return make


@pytest.fixture
def fake():
    """A local stand-in for GitHub's REST API on 127.0.0.1 (tests/fake_github.py)."""
    from fake_github import FakeGitHub

    server = FakeGitHub()
    server.start()
    yield server
    server.stop()
