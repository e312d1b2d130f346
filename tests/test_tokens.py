"""The --pr token leaves what a same-user leg can read of wild-ci's process (tokens.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from wild_ci.engines.act.runs import _act_environment

SCRIPT = """
import os
from wild_ci import tokens
print(tokens.hide_from_proc())
seen = [e for e in open(f"/proc/{os.getpid()}/environ", "rb").read().split(b"\\0") if b"ghp_" in e]
print(seen, os.environ["GITHUB_TOKEN"])
"""


def test_the_token_is_blanked_in_proc_environ_and_kept_in_os_environ() -> None:
    env = {**os.environ, "GITHUB_TOKEN": "ghp_secret1", "GH_TOKEN": "ghp_secret2"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    names, seen = done.stdout.splitlines()
    assert sorted(eval(names)) == ["GH_TOKEN", "GITHUB_TOKEN"]
    assert seen == "[] ghp_secret1"


def test_act_and_its_jobs_get_no_token(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_x")
    monkeypatch.setenv("GH_TOKEN", "ghp_y")
    env = _act_environment(tmp_path)
    assert "GITHUB_TOKEN" not in env and "GH_TOKEN" not in env and env["PATH"] == os.environ["PATH"]
