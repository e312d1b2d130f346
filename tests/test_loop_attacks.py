"""Issue #28 attacked: `wild-ci steer`, the plan, the reflection and the prompt templates, as a
careless user or a hostile brain would use them (each test failed before its fix)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli
from test_loop_lead import DONE, WAITING, ScriptedBrain, committed

from wild_ci import ledger, loop, steering
from wild_ci.config import Config


def test_steer_from_a_file_without_end_reads_only_past_the_limit(make_repo, tmp_path: Path) -> None:
    """`steer --file /dev/zero` read the whole endless file (MemoryError traceback under a memory
    limit, the machine's memory without); a fifo kept written to likewise."""
    repo = make_repo()
    command = f"ulimit -v 1000000; exec {sys.executable} -m wild_ci steer --repo {repo} --file /dev/zero"
    refused = subprocess.run(command, shell=True, capture_output=True, timeout=120, check=False)
    assert refused.returncode == 2, refused.stderr
    assert b"/dev/zero has more than 65,536 bytes" in refused.stderr and b"Traceback" not in refused.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(f"yes guidance > {fifo}", shell=True, stderr=subprocess.DEVNULL)
    try:
        refused = run_cli("steer", "--repo", str(repo), "--file", str(fifo))
    finally:
        writer.kill()
        writer.wait()
    assert refused.returncode == 2 and b"has more than 65,536 bytes" in refused.stderr
    padded = tmp_path / "padded.md"  # refused whole, never cut to its first bytes
    padded.write_text(" " * 60_000 + "the words\n" + "x" * 10_000)
    assert run_cli("steer", "--repo", str(repo), "--file", str(padded)).returncode == 2
    assert steering.queued(ledger.open_repo(repo), "main") == []
