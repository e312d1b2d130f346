"""No survivors (reaper.py): what an experiment starts ends with its leg, even after setsid or a
double fork. Each case runs in a fresh Python process, as the leg's executor does: a subreaper
must not be the test runner itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import IDENTITY, alive, sleeping
from test_execute import checkout, one

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")

ROOT = Path(__file__).resolve().parents[1]


def kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def in_fresh_process(body: str) -> dict:
    """Run `body` (which sets `report`) in a new interpreter; its JSON report."""
    code = f"import json, os, subprocess, sys, time\nsys.path.insert(0, {str(ROOT)!r})\n"
    code += "from wild_ci import reaper\n" + textwrap.dedent(body) + "\nprint(json.dumps(report))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


ESCAPE = """
def escape(shell):
    '''Start `shell` under bash; the pids it prints, once bash has exited.'''
    out = subprocess.run(["bash", "-c", shell], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, check=True, timeout=10).stdout
    return [int(word) for word in out.split()]

def parent(pid):
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])
"""


def test_orphans_of_setsid_and_double_forks_are_adopted_and_ended() -> None:
    report = in_fresh_process(
        ESCAPE
        + """
subreaper = reaper.become_subreaper()
pids = escape("setsid sleep 300 > /dev/null & echo $!; ( ( sleep 301 > /dev/null & echo $! ) & )")
time.sleep(0.2)
adopted = [parent(pid) == os.getpid() for pid in pids]
ended = reaper.end_descendants(grace_s=1.0)
report = {"subreaper": subreaper, "pids": pids, "adopted": adopted, "ended": ended,
          "left": sorted(reaper.descendants())}
"""
    )
    try:
        assert report["subreaper"] is True
        assert report["adopted"] == [True, True]
        assert sorted(report["ended"]) == sorted(report["pids"]) and report["left"] == []
        assert [pid for pid in report["pids"] if alive(pid)] == []
    finally:
        kill_leftovers(report["pids"])


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    report = in_fresh_process(
        ESCAPE
        + """
reaper.become_subreaper()
pids = escape("setsid bash -c 'trap \\"\\" TERM; echo $$; while :; do sleep 0.1; done' > /tmp/.reaper-$$ &"
              " sleep 0.3; cat /tmp/.reaper-$$; rm /tmp/.reaper-$$")
start = time.monotonic()
reaper.end_descendants(grace_s=0.5)
report = {"pids": pids, "seconds": time.monotonic() - start, "left": sorted(reaper.descendants())}
"""
    )
    try:
        assert report["left"] == [] and 0.5 <= report["seconds"] < 5
        assert not alive(report["pids"][0])
    finally:
        kill_leftovers(report["pids"])


def test_spared_processes_are_left_alone_and_nothing_else_is() -> None:
    report = in_fresh_process(
        """
reaper.become_subreaper()
kept = subprocess.Popen(["sleep", "300"])
spare = reaper.descendants()
other = subprocess.Popen(["sleep", "301"])
ended = reaper.end_descendants(spare, grace_s=1.0)
report = {"kept": kept.pid, "kept_alive": kept.poll() is None, "other": other.pid, "ended": ended}
kept.kill()
kept.wait()
"""
    )
    assert report["kept_alive"] and report["ended"] == [report["other"]]


def test_nothing_to_end_costs_one_scan() -> None:
    report = in_fresh_process(
        """
start = time.perf_counter()
ended = reaper.end_descendants()
report = {"ended": ended, "ms": (time.perf_counter() - start) * 1000}
"""
    )
    assert report["ended"] == [] and report["ms"] < 500


def test_a_leg_ends_what_its_experiment_left_outside_its_group(make_repo, tmp_path: Path) -> None:
    """`wild-ci execute` as a leg starts it: survivors of setsid and of a double fork (both
    holding the leg's stdout) are gone when it exits, and the result came after them."""
    command = "setsid sleep 300 & echo $! >> pids; setsid bash -c '( sleep 301 & echo $! >> pids ) &'"
    command += "; for i in $(seq 300); do [ $(wc -l < pids) -ge 2 ] && break; sleep 0.1; done; echo ok"
    ws = checkout(make_repo, one("escape", command))
    out = tmp_path / "out"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "execute", "--iteration", "1", "--experiment", "escape",
         "--out", str(out), "--workspace", str(ws)],
        env={**os.environ, **IDENTITY}, capture_output=True, timeout=60,
    )  # fmt: skip
    pids = [int(word) for word in (ws / "pids").read_text().split()]
    try:
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - start < 20
        assert len(pids) == 2 and [pid for pid in pids if sleeping(pid)] == []
        data = json.loads((out / "result.json").read_text())
        assert (data["status"], data["exit_code"]) == ("succeeded", 0)
        assert (out / "stdout.log").read_text() == "ok\n"
    finally:
        kill_leftovers(pids)
