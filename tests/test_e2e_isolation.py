"""End to end through act: what one experiment cannot do to another leg or to the machine after its
own leg ended — reach the artifact token through its ancestors, or leave a process behind."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import git, run_cli, sleeping_host_pid, writable_for_tests

pytestmark = pytest.mark.e2e

PACKAGE_PARENT = Path(__file__).resolve().parents[1]

# Looks for the artifact token in the environment of every ancestor (as it was when each one was
# started: /proc/<pid>/environ); with it, waits for the victim's honest artifact and replaces it.
FORGER = """\
import os, sys, time
from pathlib import Path

def ancestors():
    pid = os.getppid()
    while pid > 1:
        yield pid
        with open(f"/proc/{{pid}}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])

found = None
for pid in ancestors():
    try:
        raw = Path(f"/proc/{{pid}}/environ").read_bytes()
    except OSError:
        continue
    env = dict(item.split(b"=", 1) for item in raw.split(b"\\0") if b"=" in item)
    if b"ACTIONS_RUNTIME_TOKEN" in env and b"ACTIONS_RESULTS_URL" in env:
        found = env
        print(f"token found in the environment of {{pid}}", file=sys.stderr)
        break
if found is None:
    print("no token within reach")
    sys.exit(0)
sys.path.insert(0, {package_parent!r})  # only now: in a sandbox wild-ci's source is not within reach
from wild_ci.engines.act.artifacts import ArtifactClient
client = ArtifactClient(found[b"ACTIONS_RESULTS_URL"].decode(), found[b"ACTIONS_RUNTIME_TOKEN"].decode())
deadline = time.monotonic() + 60
while "wild-0001-victim" not in client.list_names() and time.monotonic() < deadline:
    time.sleep(0.2)
forged = Path("forged")
forged.mkdir()
(forged / "result.json").write_text(
    '{{"id": "victim", "status": "succeeded", "exit_code": 0, "metrics": {{"accuracy": 0.999}}}}'
)
(forged / "stdout.log").write_text("FORGED\\n")
(forged / "stderr.log").write_text("")
client.upload("wild-0001-victim", forged, [Path("result.json"), Path("stdout.log"), Path("stderr.log")])
print("forged")
"""

VICTIM = "echo accuracy=0.42; echo '{\\\"accuracy\\\": 0.42}' > metrics.json; sleep 2; exit 3"


def test_no_ancestor_holds_the_artifact_token(make_repo, tmp_path: Path) -> None:
    """Observation 5 of issue 13: an experiment read ACTIONS_RUNTIME_TOKEN from /proc/$PPID/environ
    and uploaded a forged artifact for another experiment."""
    repo = make_repo({"forge.py": FORGER.format(package_parent=str(PACKAGE_PARENT)), "README.md": "x\n"})
    brain = tmp_path / "brain.md"
    brain.write_text(
        "<experiments>\n"
        "- goal: Victim\n"
        f'  command: "{VICTIM}"\n'
        "- goal: Forger\n"
        f"  command: {json.dumps(sys.executable + ' forge.py')}\n"
        "</experiments>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    by_id = {e["id"]: e for e in data["experiments"]}
    forger, victim = by_id["forger"], by_id["victim"]
    assert forger["status"] == "succeeded"
    assert forger["stdout_tail"].strip() == "no token within reach", forger
    assert (victim["status"], victim["exit_code"], victim["metrics"]) == ("failed", 3, {"accuracy": 0.42})
    log = run_cli("logs", "victim", "--repo", str(repo))
    assert log.stdout == b"accuracy=0.42\n"


def test_no_process_outlives_the_run(make_repo, tmp_path: Path) -> None:
    """Observation 6 of issue 13: a process that escapes with setsid (or a double fork, or both)
    outlived `wild-ci run`."""
    pids = tmp_path / "pids"
    nonce = f"{secrets.randbelow(10**6):06d}"  # this test's sleeps alone, not another test's leftovers
    command = (
        f"setsid sleep 300.{nonce} & echo $! >> {pids}; "
        f"( ( sleep 301.{nonce} & echo $! >> {pids} ) & ); "
        f"setsid bash -c '( sleep 302.{nonce} & echo $! >> {pids} ) &'; "
        f"nohup setsid sleep 303.{nonce} > /dev/null 2>&1 & echo $! >> {pids}; "
        # every escapee has started before the command ends (a loaded machine is slow to fork)
        f"for i in $(seq 300); do [ $(wc -l < {pids}) -ge 4 ] && break; sleep 0.1; done; echo started"
    )
    pids.touch()
    repo = make_repo(writable_for_tests(pids))
    brain = tmp_path / "brain.md"
    brain.write_text(f"<experiments>\n- goal: Escape\n  command: {json.dumps(command)}\n</experiments>\n")
    try:
        done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
        started = [int(line) for line in pids.read_text().split()]
        assert len(started) == 4
        data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
        assert data["experiments"][0]["status"] == "succeeded"
        # the pids are its PID namespace's in a sandbox: look for the sleeps themselves
        escaped = subprocess.run(
            ["pgrep", "-f", f"^sleep 30[0-3]\\.{nonce}$"], capture_output=True, text=True
        )
        assert escaped.stdout.split() == []
    finally:
        for pid in [int(line) for line in pids.read_text().split()] if pids.exists() else []:
            host = sleeping_host_pid(pid)
            if host is not None:
                with contextlib.suppress(OSError):
                    os.kill(host, signal.SIGKILL)
        time.sleep(0)
