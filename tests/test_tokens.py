"""The --pr token leaves what a same-user leg can read of wild-ci's process (tokens.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


HOLDER = """
import os, sys, time
from wild_ci import tokens
tokens.hide_from_proc()
if sys.argv[1] == "sealed":
    tokens.seal_process()
print(os.getpid(), flush=True)
time.sleep(30)
"""
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become nobody")
@pytest.mark.parametrize("mode", ["sealed", "open"])
def test_a_sealed_process_memory_is_closed_to_its_own_user(mode: str) -> None:
    """Users are not root: as `nobody`, a process holding the token (in os.environ, so in memory)
    and another process of `nobody` that looks for it through /proc/<pid>/mem."""
    env = {**os.environ, "GITHUB_TOKEN": "ghp_" + "7" * 20, "PYTHONPATH": str(Path(__file__).parents[1])}
    holder = subprocess.Popen([*NOBODY, sys.executable, "-c", HOLDER, mode], env=env, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        pid = int(holder.stdout.readline())
        reader = f"""
import re
found = b""
try:
    with open("/proc/{pid}/maps") as maps, open("/proc/{pid}/mem", "rb") as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if "rw" not in line.split()[1]:
                continue
            try:
                mem.seek(start)
                found = found or (re.search(rb"ghp_7{{20}}", mem.read(end - start)) or [b""])[0]
            except (OSError, ValueError, OverflowError):
                pass
    print("read", found.decode() or "nothing")
except PermissionError:
    print("refused")
"""
        done = subprocess.run(
            [*NOBODY, sys.executable, "-c", reader], capture_output=True, text=True, timeout=60
        )
        expected = "refused" if mode == "sealed" else "read ghp_" + "7" * 20
        assert done.stdout.strip() == expected, done.stderr
    finally:
        holder.kill()
        holder.wait()
