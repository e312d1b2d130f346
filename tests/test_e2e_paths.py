"""The user's working tree, end to end (#13 observation 1): `wild-ci run` from a subfolder, with a
brain whose commands name the repository's real top, never touches the real tree. Each command
either runs in the checkout (mapped) or is refused with its line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import git, run_cli

from wild_ci.parse import parse_brain_output

pytestmark = pytest.mark.e2e


def tree_state(repo: Path) -> tuple[dict[str, str], str]:
    """A hash of every file of the working tree (outside .git) and `git status --porcelain`."""
    files = {
        path.relative_to(repo).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }
    return files, git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored")


def test_a_run_from_a_subfolder_never_writes_into_the_real_tree(make_repo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the legs run on this machine, with this HOME
    # `sandbox: off`: nothing but the text check stands between these commands and the tree, so
    # the unmapped ones are refused (under auto they are warned about and left to the sandbox)
    repo = make_repo(
        {"sub/deeper/keep.txt": "k\n", "README.md": "r\n", ".wild/config.yml": "sandbox: off\n"},
        name="my project",
    )
    deeper = repo / "sub" / "deeper"
    link = tmp_path / "link-to-project"
    link.symlink_to(repo)
    top = str(repo)
    brain = tmp_path / "brain.md"
    items = [
        ("mapped top", f"cd '{top}' && touch LEAK && test -f sub/deeper/keep.txt"),
        ("mapped top with a slash", f'cd "{top}/" && touch LEAK2 && test -f README.md'),
        ("mapped inside a substitution", f'cd "$(echo "{top}/sub")" && touch LEAK3 && test -d deeper'),
        ("unmapped symlink name", f"cd '{link}' && touch LEAK4"),
        ("unmapped double slash", f"cd '{repo.parent}//{repo.name}' && touch LEAK5"),
        ("unmapped dot segment", f"touch '{repo.parent}/./{repo.name}/LEAK6'"),
        ("unmapped under home", f"touch ~/'{repo.name}'/LEAK7 \"$HOME/{repo.name}/LEAK8\""),
    ]
    text = "<experiments>\n" + "".join(
        f"- goal: {goal}\n  command: {json.dumps(cmd)}\n" for goal, cmd in items
    )
    brain.write_text(text + "</experiments>\n")
    parsed = parse_brain_output(brain.read_text())
    lines = {e.goal: e.line for e in parsed.experiments}
    assert len(lines) == len(items)
    before = tree_state(repo)

    done = run_cli("run", str(brain), "--skip-invalid", cwd=deeper, timeout=900)

    stderr = done.stderr.decode(errors="replace")
    assert tree_state(repo) == before, stderr[-3000:]
    assert not list(repo.rglob("LEAK*"))
    assert done.returncode == 0, stderr[-3000:]
    refused = [goal for goal, _ in items if goal.startswith("unmapped")]
    for goal in refused:
        line = next(x for x in stderr.splitlines() if f"brain.md:{lines[goal]}: skipped:" in x)
        assert "would run in your working tree" in line, goal
    legs = repo / ".git/wild-ci/runs/main/0001/legs"
    ran = {json.loads(p.read_text())["goal"]: json.loads(p.read_text()) for p in legs.glob("*/result.json")}
    assert sorted(ran) == ["mapped inside a substitution", "mapped top", "mapped top with a slash"]
    assert all(r["status"] == "succeeded" for r in ran.values()), ran
