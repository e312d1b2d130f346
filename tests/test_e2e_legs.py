"""End to end through act: what every leg does — environments, logs, outputs, metrics, timeouts."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from helpers import IDENTITY, git, sleeping

pytestmark = pytest.mark.e2e


def wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel, so environments build offline (UV_OFFLINE=1) from a local file."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n",
        "tinypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
        "tinypkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }

    def record(name: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{name},sha256={digest},{len(data)}"

    rows = [record(n, d) for n, d in files.items()] + ["tinypkg-0.1.dist-info/RECORD,,"]
    path = folder / "tinypkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("tinypkg-0.1.dist-info/RECORD", "\n".join(rows) + "\n")
    return path


def run(
    repo: Path, brain: str, tmp_path: Path, path_first: Path | None = None
) -> subprocess.CompletedProcess:
    """`wild-ci run`; `path_first`: a folder put first on PATH (a clone's own activated .venv)."""
    path = tmp_path / "brain.md"
    path.write_text(brain)
    env = {**os.environ, **IDENTITY, "WILD_CI_ENV_CACHE": str(tmp_path / "envs"), "UV_OFFLINE": "1"}
    if path_first is not None:
        env["PATH"] = os.pathsep.join([str(path_first), env.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "wild_ci", "run", str(path), "--repo", str(repo)],
        cwd=tmp_path, env=env, capture_output=True, timeout=600,
    )  # fmt: skip


def results(repo: Path) -> dict[str, dict]:
    data = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    return {e["id"]: e for e in data["experiments"]}


def test_four_legs_share_one_environment_built_from_requirements(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"requirements.txt": "./vendor/tinypkg-0.1-py3-none-any.whl\n", "README.md": "x\n"})
    (repo / "vendor").mkdir()
    wheel(repo / "vendor")
    items = "".join(
        f"- goal: Import the package {n}\n"
        '  command: python -c "import sys, tinypkg; print(tinypkg.VALUE, sys.prefix)"\n'
        for n in range(4)
    )
    done = run(repo, f"<experiments>\n{items}</experiments>\n", tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    legs = results(repo)
    assert [leg["status"] for leg in legs.values()] == ["succeeded"] * 4, [
        leg["stderr_tail"] for leg in legs.values()
    ]
    built = [leg for leg in legs.values() if not leg["environment"]["reused"]]
    assert len(built) == 1  # one leg built it; the other three waited and reused it
    (shared,) = {leg["environment"]["path"] for leg in legs.values()}
    assert [leg["stdout_tail"] for leg in legs.values()] == [f"42 {shared}"] * 4
    assert sorted(p.name for p in (tmp_path / "envs").iterdir() if p.is_dir()) == [
        Path(built[0]["environment"]["path"]).name
    ]


def test_a_clone_with_its_own_venv_reuses_the_environment(make_repo, tmp_path: Path) -> None:
    """Two clones of one project, each run from its own activated .venv (a copy of one python3):
    the second reuses the environment the first built (it was built again: the key held the
    python3 path)."""
    repo = make_repo(
        {"requirements.txt": "./vendor/tinypkg-0.1-py3-none-any.whl\n", ".gitignore": ".venv/\n"}
    )
    (repo / "vendor").mkdir()
    wheel(repo / "vendor")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "vendor the wheel")
    clone = tmp_path / "elsewhere" / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
    brain = (
        '<experiments>\n- goal: Import the package\n  command: python -c "import tinypkg"\n</experiments>\n'
    )
    environments = []
    for checkout in (repo, clone):
        venv = checkout / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)], check=True)
        done = run(checkout, brain, tmp_path, path_first=venv / "bin")
        assert done.returncode == 0, done.stderr.decode()
        (leg,) = results(checkout).values()
        assert leg["status"] == "succeeded", leg["stderr_tail"]
        environments.append(leg["environment"])
    assert [e["reused"] for e in environments] == [False, True]
    assert environments[0]["key"] == environments[1]["key"]


def test_setup_failures_commands_and_none(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"requirements.txt": "./vendor/absent-1.0-py3-none-any.whl\n"})
    brain = (
        "<experiments>\n"
        "- goal: Needs the broken environment\n  command: python -c 'print(1)'\n"
        "- goal: Skips set-up\n  command: echo plain\n  setup: none\n"
        "- goal: Own set-up command\n  command: cat prepared.txt\n  setup: echo prepared > prepared.txt\n"
        "</experiments>\n"
    )
    done = run(repo, brain, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    legs = results(repo)
    broken = legs["needs-the-broken-environment"]
    assert broken["status"] == "setup_failed"
    assert "absent-1.0-py3-none-any.whl" in broken["stderr_tail"]
    assert (legs["skips-set-up"]["status"], legs["skips-set-up"]["stdout_tail"]) == ("succeeded", "plain")
    own = legs["own-set-up-command"]
    assert (own["status"], own["stdout_tail"]) == ("succeeded", "prepared")


def test_a_100_mb_print_is_capped_and_keeps_its_end(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".wild/config.yml": "max_log_bytes: 1000000\n"})
    command = (
        "python3 -c \"import sys; line = 'x' * 1023 + chr(10); "
        "[sys.stdout.write(line) for _ in range(100 * 1024)]; print('THE END')\""
    )
    done = run(
        repo, f"<experiments>\n- goal: Flood\n  command: {json.dumps(command)}\n</experiments>\n", tmp_path
    )
    assert done.returncode == 0, done.stderr.decode()
    flood = results(repo)["flood"]
    assert flood["status"] == "succeeded"
    assert flood["stdout_tail"].endswith("THE END")
    assert 900_000 < flood["stdout_bytes"] < 1_001_000
    log = (repo / ".git/wild-ci/runs/main/0001/legs/flood/stdout.log").read_bytes()
    assert b"[wild-ci: log truncated at 1000000 bytes: " in log and log.endswith(b"THE END\n")
    assert (repo / ".git/wild-ci/runs/main/0001/act.log").stat().st_size < 10_000_000


def test_outputs_artifacts_and_metrics_are_reported(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    command = (
        "mkdir -p outputs results checkpoints && echo plot > outputs/plot.txt && "
        "echo weights > checkpoints/model.bin && "
        'echo \'{"loss": 0.25, "accuracy": 0.9, "note": "text is ignored"}\' > results/metrics.json'
    )
    brain = (
        f"<experiments>\n- goal: Train\n  command: {json.dumps(command)}\n"
        '  artifacts: ["checkpoints/*.bin"]\n</experiments>\n'
    )
    done = run(repo, brain, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    train = results(repo)["train"]
    assert train["metrics"] == {"loss": 0.25, "accuracy": 0.9}
    assert sorted(train["outputs"]) == ["checkpoints/model.bin", "outputs/plot.txt", "results/metrics.json"]
    assert "metrics: loss=0.25, accuracy=0.9" in done.stdout.decode()
    results_md = git(repo, "show", "wild/main:.wild/iterations/0001/results.md")
    assert "| experiment | loss ↓? | accuracy ↑? |" in results_md  # "note" is text: not a metric
    assert "| ✅ `train` | 0.25 | 0.9 |" in results_md
    assert "![metrics of iteration 0001](metrics.png)" in results_md  # the chart, made by the collect job
    png = subprocess.run(["git", "show", "wild/main:.wild/iterations/0001/metrics.png"], cwd=repo,
                         capture_output=True, check=True).stdout  # fmt: skip
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    leg = repo / ".git/wild-ci/runs/main/0001/legs/train"
    assert (leg / "outputs/checkpoints/model.bin").read_text() == "weights\n"
    assert "each experiment's logs and outputs" in done.stderr.decode()


def test_timeout_leaves_no_process_behind(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = "<experiments>\n- goal: Sleepy\n  command: sleep 60 & echo $! > /dev/stderr; wait\n  timeout: 3\n"
    start = time.monotonic()
    done = run(repo, brain + "</experiments>\n", tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert time.monotonic() - start < 30
    sleepy = results(repo)["sleepy"]
    assert sleepy["status"] == "timed_out" and sleepy["duration_s"] < 10
    child = int(sleepy["stderr_tail"].strip())
    assert not sleeping(child)  # its pid is its PID namespace's under bubblewrap: sleeping() finds it


def test_the_context_says_how_they_ran_in_the_brains_own_paths(make_repo, tmp_path: Path) -> None:
    """#24: the context showed no env, no CPU time, not that legs shared the cores, and tracebacks
    named the throw-away checkout (`/tmp/wild-ci-run-…/hostexecutor/train.py`)."""
    script = "import os, time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    script += "raise ValueError(os.environ.get('CACHE'))\n"
    repo = make_repo({"src/train.py": script})
    brain = (
        "<experiments>\n"
        "- goal: Cached\n  command: python3 train.py\n  workdir: src\n  setup: none\n  env: {CACHE: '1'}\n"
        "- goal: Plain\n  command: python3 train.py\n  workdir: src\n  setup: none\n"
        "</experiments>\n"
    )
    done = run(repo, brain, tmp_path)
    context = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    root = str(repo.resolve())  # the project root the brain sees
    assert f"workdir (all): {root}/src" in context
    assert "env: CACHE=1" in context and "env: (none)" in context
    assert re.search(r"Ran 2 experiments on runner \S+ \(\d+ CPU cores\), at most [12] at once\.", context)
    assert re.search(r"## 1\. cached: failed · exit 1 · [\d.]+ s, CPU [\d.]+ s", context), context
    assert f'File "{root}/src/train.py"' in context and "wild-ci-run" not in context
    cpu = results(repo)["cached"]["cpu_s"]
    assert cpu >= 0.25  # the command's own CPU time, recorded by the leg
