"""The README's promise: a fresh virtualenv, `pip install .` (not editable), then the main job from
a folder outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SOURCE = Path(__file__).resolve().parent.parent


def test_fresh_install_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # only the new virtualenv: no PYTHONPATH, no other environment's scripts on PATH
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    env["TMPDIR"] = str(tmp_path)  # where the demo makes its repository
    done = subprocess.run(
        ["wild-ci", "demo"], cwd=outside, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<experiment_results")
    assert "3 experiments: 2 succeeded, 1 failed" in done.stdout
    assert list(outside.iterdir()) == []  # the demo made its repository elsewhere
