"""End to end through act (issue 18, acceptance 1): an experiment that runs out of GPU memory on
attempt 1 and succeeds on attempt 2 is recorded as succeeded, with its attempts, in results.json,
the context and results.md; the artifact keeps attempt 1's logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, run_cli

from wild_ci import layout
from wild_ci.retries import BACKOFF_ENV

pytestmark = pytest.mark.e2e

OOM = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
TRAIN = f"""\
import json, os, sys
attempt = int(os.environ["WILD_ATTEMPT"])
batch = 64 // attempt  # what a real training would do on a retry
print(f"attempt {{attempt}}: batch size {{batch}}")
if attempt == 1:
    print({OOM!r}, file=sys.stderr)
    sys.exit(1)
json.dump({{"batch": batch}}, open("metrics.json", "w"))
"""


def test_an_oom_on_attempt_1_succeeds_on_attempt_2(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"train.py": TRAIN, "README.md": "x\n"})
    brain = tmp_path / "brain.md"
    brain.write_text(
        "Train, and retry when the GPU runs out of memory.\n\n<experiments>\n"
        '- goal: "train"\n  command: "python3 train.py"\n  retries: 2\n  setup: none\n</experiments>\n'
    )
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, env={BACKOFF_ENV: "0.2"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    [train] = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))["experiments"]
    assert (train["status"], train["exit_code"], train["metrics"]) == ("succeeded", 0, {"batch": 32})
    assert [(a["attempt"], a["status"], a["exit_code"], a["retried_because"]) for a in train["attempts"]] == [
        (1, "failed", 1, "CUDA out of memory"),
        (2, "succeeded", 0, None),
    ]
    assert train["duration_s"] == train["attempts"][1]["duration_s"]
    assert train["stdout_tail"] == "attempt 2: batch size 32"
    said = "succeeded on attempt 2 (CUDA out of memory on attempt 1)"
    assert f"attempts: {said}" in done.stdout.decode()
    assert said in git(repo, "show", "wild/main:.wild/iterations/0001/results.md")
    # the artifact, as it came back from act's artifact server
    leg = Path(git(repo, "rev-parse", "--git-common-dir"))
    leg = (
        (repo / leg if not leg.is_absolute() else leg)
        / "wild-ci/runs/main/0001"
        / layout.RUN_LEGS_DIR
        / "train"
    )
    assert (leg / layout.attempt_dir(1) / layout.STDERR_LOG).read_text() == OOM + "\n"
    assert (leg / layout.attempt_dir(2) / layout.STDOUT_LOG).read_text() == "attempt 2: batch size 32\n"
    assert run_cli("logs", "train", "--repo", str(repo)).stdout == b"attempt 2: batch size 32\n"
    attempt_1 = run_cli("logs", "train", "--attempt", "1", "--stderr", "--repo", str(repo))
    assert attempt_1.stdout == (OOM + "\n").encode()
    assert run_cli("logs", "train", "--attempt", "3", "--repo", str(repo)).returncode == 2
