"""Races between a leg's executor and its experiment, forced (#26 item 18)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from helpers import git, use_backend

from wild_ci import execute as execute_module
from wild_ci.config import Config
from wild_ci.execute import execute
from wild_ci.generate import submit


def test_nothing_is_made_in_an_artifact_folder_the_experiment_is_deleting(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """The e2e leg that deletes its output folder and kills its executor came back `cancelled`
    instead of `missing` now and then, on a loaded machine. The cause: the log pumps opened (and so
    created) stdout.log and stderr.log in threads started after the experiment; one that opened its
    file while `rm -rf` was emptying the folder made rm's last `rmdir` fail, and the upload step
    then found a folder without result.json (`cancelled`). Forced here: the pumps open their files
    only once the experiment has emptied the folder, before it removes it."""
    use_backend(monkeypatch, "none")  # in a sandbox the artifact folder is out of its reach
    out = tmp_path / "out"
    slow = execute_module._Sink

    class LateSink(slow):  # type: ignore[valid-type, misc]
        def __init__(self, path: Path) -> None:
            deadline = time.monotonic() + 10
            while (path.parent / "result.json").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            super().__init__(path)

    monkeypatch.setattr(execute_module, "_Sink", LateSink)
    command = (
        f"rm -rf {out}/* {out}/.[!.]*; sleep 1; "
        f"if rmdir {out}; then echo removed; else ls -A {out}; fi > state.txt"
    )
    repo = make_repo({"README.md": "x\n"})
    brain = f"<experiments>\n- goal: vanish\n  command: {json.dumps(command)}\n</experiments>\n"
    submit(repo, brain.encode(), config=Config(project_root="/brain/root"))
    workspace = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    result = execute(workspace, 1, "vanish", out, mirror=False)
    assert result.status == "succeeded"
    assert (workspace / "state.txt").read_text() == "removed\n"
