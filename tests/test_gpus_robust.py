"""Issue #26, items 5-6: the GPU lock folder is one absolute folder for every leg, and nvidia-smi's
answer is read within bounds and with each GPU once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from wild_ci import gpus
from wild_ci.engines.act import runs

FAKE_BIN = Path(__file__).parent / "fixtures" / "bin"


@pytest.fixture
def fake_smi(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    for name in ("FAKE_NVIDIA_SMI_BUSY", "FAKE_NVIDIA_SMI_LOG", gpus.POOL_ENV, gpus.VISIBLE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(gpus.LOCKS_ENV, str(tmp_path / "gpu-locks"))


def test_a_relative_lock_folder_is_refused_in_a_leg() -> None:
    with pytest.raises(gpus.GpuSettingError, match="absolute"):
        gpus.lock_root({gpus.LOCKS_ENV: "gpu-locks"})


def test_a_tilde_lock_folder_is_expanded_with_the_home_given() -> None:
    assert gpus.lock_root({gpus.LOCKS_ENV: "~/locks", "HOME": "/home/u"}) == Path("/home/u/locks")
    assert gpus.lock_root({gpus.LOCKS_ENV: "~", "HOME": "/home/u"}) == Path("/home/u")


def test_the_local_run_hands_every_leg_one_absolute_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(gpus.LOCKS_ENV, "gpu-locks")
    command = runs.act_command("act", tmp_path, tmp_path / "w.yml", tmp_path, tmp_path, {}, tmp_path, [])
    assert f"{gpus.LOCKS_ENV}={tmp_path / 'gpu-locks'}" in command
    monkeypatch.setenv(gpus.LOCKS_ENV, "~/locks")
    monkeypatch.setenv("HOME", str(tmp_path))
    command = runs.act_command("act", tmp_path, tmp_path / "w.yml", tmp_path, tmp_path, {}, tmp_path, [])
    assert f"{gpus.LOCKS_ENV}={tmp_path / 'locks'}" in command


def test_a_gpu_listed_twice_is_one_gpu(fake_smi: None, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_MODE", "twice")
    assert [gpu.index for gpu in gpus.query_nvidia_smi().gpus] == [0]
    pool = gpus.detect_pool()
    assert pool.ids == (0,)
    assert any("twice" in note for note in pool.notes), pool.notes


def test_an_endless_answer_is_cut_off_by_size(fake_smi: None, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_MODE", "flood")
    start = time.monotonic()
    reading = gpus.query_nvidia_smi(timeout_s=5.0)
    assert time.monotonic() - start < 4
    assert reading.problem is not None and "larger than" in reading.problem
