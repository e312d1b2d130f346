"""End to end through act (issue 18): legs on one machine share its GPUs without colliding.

The machine has no GPU: the fake nvidia-smi (tests/fixtures/bin) reports two, and every leg, started
by act exactly as on a runner, takes its GPU from the shared pool.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git

from wild_ci import gpus
from wild_ci.layout import RUN_LEGS_DIR

pytestmark = pytest.mark.e2e

FAKE_BIN = Path(__file__).parent / "fixtures" / "bin"
# what each experiment records: the GPUs it was given and when it held them
RECORD = (
    'echo "$CUDA_VISIBLE_DEVICES $WILD_GPUS $(date +%s.%N)" > "$WILD_OUTPUT_DIR/span.txt"; sleep 1; '
    'date +%s.%N >> "$WILD_OUTPUT_DIR/span.txt"; cat "$WILD_OUTPUT_DIR/span.txt"'
)


def run(repo: Path, brain: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "brain.md"
    path.write_text(brain)
    env = {k: v for k, v in os.environ.items() if k not in (gpus.VISIBLE_ENV, gpus.POOL_ENV)}
    env.update(IDENTITY)
    env.update(
        {
            "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}",
            "FAKE_NVIDIA_SMI_GPUS": "2",
            gpus.LOCKS_ENV: str(tmp_path / "gpu-locks"),
            "WILD_CI_ENV_CACHE": str(tmp_path / "envs"),
            **extra,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", "run", str(path), "--repo", str(repo)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_six_one_gpu_legs_on_two_gpus_never_share_one_and_run_two_at_a_time(
    make_repo, tmp_path: Path
) -> None:
    repo = make_repo()
    items = "".join(
        f"- goal: Train {n}\n  command: {json.dumps(RECORD)}\n  gpus: 1\n  setup: none\n" for n in range(6)
    )
    done = run(repo, f"<experiments>\n{items}</experiments>\n", tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    legs = git(repo, "rev-parse", "--git-common-dir")
    spans: list[tuple[int, float, float]] = []
    for result in data["experiments"]:
        assert result["status"] == "succeeded", result
        assert result["outputs"] == ["outputs/span.txt"]
        folder = (repo / legs).resolve() / "wild-ci" / "runs" / "main" / "0001" / RUN_LEGS_DIR / result["id"]
        first, end = (folder / "outputs" / "outputs" / "span.txt").read_text().splitlines()
        visible, told, start = first.split()
        assert visible == told and [int(visible)] == result["gpus"]  # what the leg set is what it records
        assert result["gpu_wait_s"] >= 0 and result["duration_s"] < 10
        spans.append((int(visible), float(start), float(end)))
    assert {gpu for gpu, _, _ in spans} == {0, 1}
    for (gpu_a, start_a, end_a), (gpu_b, start_b, end_b) in itertools.combinations(spans, 2):
        if gpu_a == gpu_b:  # one GPU: one experiment at a time
            assert end_a <= start_b or end_b <= start_a, spans
    most = max(sum(1 for _, s, e in spans if s <= t < e) for _, t, _ in spans)
    assert most == 2, spans  # two at a time: both GPUs busy at once, never three experiments
    assert sum(1 for r in data["experiments"] if r["gpu_wait_s"] > 0.3) >= 2  # the others waited
    assert "waiting for 1 GPU" in done.stderr  # the live view showed the wait
    context = done.stdout
    assert context.count("GPU: 0") + context.count("GPU: 1") == 6


def test_more_gpus_than_the_machine_has_is_refused_before_anything_runs(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = (
        "<experiments>\n- goal: fits\n  command: 'true'\n  gpus: 2\n"
        "- goal: big\n  command: 'true'\n  gpus: 3\n</experiments>\n"
    )
    done = run(repo, brain, tmp_path)
    assert done.returncode == 2
    assert (
        "brain.md:5: error: gpus: 3 asks for more GPUs than this machine has: GPUs 0, 1 (nvidia-smi)"
        in done.stderr
    )
    assert "nothing was committed" in done.stderr
    done = run(repo, brain, tmp_path, CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 2 and "fits" not in git(repo, "branch", "--list")
    assert "brain.md:2: error: gpus: 2 asks for more GPUs than this machine has: no GPU" in done.stderr


def test_cuda_visible_devices_of_the_starting_environment_limits_the_legs(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    items = "".join(
        f"- goal: Train {n}\n  command: {json.dumps(RECORD)}\n  gpus: 1\n  setup: none\n" for n in range(2)
    )
    done = run(repo, f"<experiments>\n{items}</experiments>\n", tmp_path, CUDA_VISIBLE_DEVICES="GPU-fake-1")
    assert done.returncode == 0, done.stderr
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    assert [r["gpus"] for r in data["experiments"]] == [[1], [1]]
    assert [r["stdout_tail"].split()[:2] for r in data["experiments"]] == [["1", "1"], ["1", "1"]]
