"""GPUs (issue 18): knowing them, sharing them between legs, asking for them — without a GPU.

A fake `nvidia-smi` (tests/fixtures/bin/nvidia-smi) stands in for NVIDIA's: FAKE_NVIDIA_SMI_GPUS
sets how many, FAKE_NVIDIA_SMI_BUSY which are in use by "another process", FAKE_NVIDIA_SMI_MODE
makes it fail, hang or talk nonsense.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import git
from rich.console import Console

from wild_ci import gpus
from wild_ci.cli.results import results_view
from wild_ci.config import Config, ConfigError, parse_config
from wild_ci.engines.act.engine import ACT
from wild_ci.engines.act.progress import ProgressTracker
from wild_ci.execute import execute
from wild_ci.generate import InvalidBrainOutput, submit
from wild_ci.parse import parse_brain_output
from wild_ci.report import context_block, results_markdown
from wild_ci.specs import Experiment, ExperimentResult, IterationResults, IterationSpec, LegSettings

FAKE_BIN = Path(__file__).parent / "fixtures" / "bin"
ROOT = "/brain/root"


@pytest.fixture
def fake_smi(monkeypatch, tmp_path: Path) -> Path:
    """The fake nvidia-smi first on PATH, 2 idle GPUs, a private lock folder; returns its call log."""
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    for name in ("FAKE_NVIDIA_SMI_BUSY", "FAKE_NVIDIA_SMI_MODE", gpus.POOL_ENV, gpus.VISIBLE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_NVIDIA_SMI_GPUS", "2")
    monkeypatch.setenv(gpus.LOCKS_ENV, str(tmp_path / "gpu-locks"))
    log = tmp_path / "smi-calls.log"
    monkeypatch.setenv("FAKE_NVIDIA_SMI_LOG", str(log))
    return log


@pytest.fixture
def no_smi(monkeypatch, tmp_path: Path) -> None:
    """A PATH without any nvidia-smi."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    for name in (gpus.POOL_ENV, gpus.VISIBLE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(gpus.LOCKS_ENV, str(tmp_path / "gpu-locks"))


# --- knowing the GPUs ---------------------------------------------------------------------------


def test_nvidia_smi_answers_are_parsed_values_it_cannot_give_are_none() -> None:
    text = "0, GPU-aa, 100, 16384, 5\n1, GPU-bb, [N/A], [N/A], [Not Supported]\nNo devices\n, ,\n"
    first, second = gpus.parse_nvidia_smi(text)
    assert first == gpus.Gpu(0, "GPU-aa", 100.0, 16384.0, 5.0)
    assert second == gpus.Gpu(1, "GPU-bb", None, None, None)
    assert not second.busy(10) and not first.busy(10)
    assert gpus.Gpu(2, None, 9000, 16384).busy(10)


def test_the_fake_reports_four_gpus_some_busy(fake_smi: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_GPUS", "4")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_BUSY", "1,3")
    reading = gpus.query_nvidia_smi()
    assert reading.ok and [g.index for g in reading.gpus] == [0, 1, 2, 3]
    assert [g.index for g in reading.gpus if g.busy(10)] == [1, 3]
    assert reading.gpus[2].uuid == "GPU-fake-2"


@pytest.mark.parametrize(
    ("mode", "problem"),
    [("fail", "nvidia-smi failed (exit 9): NVIDIA-SMI has failed"), ("garbage", "nvidia-smi listed no GPU")],
)
def test_a_failing_nvidia_smi_means_no_gpus_and_says_why(fake_smi: Path, monkeypatch, mode, problem) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_MODE", mode)
    reading = gpus.query_nvidia_smi()
    assert not reading.gpus and reading.problem is not None and reading.problem.startswith(problem)
    assert gpus.detect_pool().ids == ()


def test_a_hanging_nvidia_smi_is_cut_off(fake_smi: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_MODE", "hang")
    start = time.monotonic()
    reading = gpus.query_nvidia_smi(timeout_s=0.5)
    assert time.monotonic() - start < 3
    assert reading.problem == "nvidia-smi did not answer within 0.5 s"


def test_no_nvidia_smi_no_gpus(no_smi: None) -> None:
    pool = gpus.detect_pool()
    assert pool.ids == () and "not on PATH" in pool.describe()


def test_the_pool_override_wins_and_cuda_visible_devices_limits_it(fake_smi: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_GPUS", "4")
    assert gpus.detect_pool().ids == (0, 1, 2, 3)
    assert gpus.detect_pool(configured=[1, 2]).ids == (1, 2)
    monkeypatch.setenv(gpus.POOL_ENV, "3, 0")
    assert gpus.detect_pool(configured=[1, 2]).ids == (3, 0)  # the machine's own setting wins
    monkeypatch.setenv(gpus.VISIBLE_ENV, "0,1")
    assert gpus.detect_pool().ids == (0,)
    monkeypatch.delenv(gpus.POOL_ENV)
    monkeypatch.setenv(gpus.VISIBLE_ENV, "")
    assert gpus.detect_pool().ids == ()  # an empty CUDA_VISIBLE_DEVICES hides every GPU
    monkeypatch.setenv(gpus.VISIBLE_ENV, "GPU-fake-2,GPU-fake-0")
    assert gpus.detect_pool().ids == (0, 2)
    monkeypatch.setenv(gpus.VISIBLE_ENV, "1,-1,3")  # CUDA stops at the first entry it cannot use
    pool = gpus.detect_pool()
    assert pool.ids == (1,) and "'-1' names no GPU" in pool.describe()
    monkeypatch.setenv(gpus.VISIBLE_ENV, "7,2")  # no GPU 7: CUDA shows none
    assert gpus.detect_pool().ids == ()
    monkeypatch.setenv(gpus.VISIBLE_ENV, "GPU-nosuch")
    assert gpus.detect_pool().ids == ()


def test_uuids_in_cuda_visible_devices_without_nvidia_smi_show_nothing(no_smi: None, monkeypatch) -> None:
    monkeypatch.setenv(gpus.POOL_ENV, "0,1")
    monkeypatch.setenv(gpus.VISIBLE_ENV, "GPU-aaaa")
    assert gpus.detect_pool().ids == ()  # not "all of them": the user meant to restrict


@pytest.mark.parametrize("garbage", ["0,x", "a", "0,,1", "-1", "0,0", "1.5"])
def test_garbage_in_wild_ci_gpus_is_an_error(no_smi: None, monkeypatch, garbage: str) -> None:
    monkeypatch.setenv(gpus.POOL_ENV, garbage)
    with pytest.raises(gpus.GpuSettingError, match="WILD_CI_GPUS="):
        gpus.detect_pool()


# --- sharing them -------------------------------------------------------------------------------


def _pool(*ids: int) -> gpus.Pool:
    return gpus.Pool(tuple(ids), "test", gpus.Reading(problem="not measured"))


def test_two_allocations_are_disjoint_and_a_third_waits_until_its_timeout(tmp_path: Path) -> None:
    pool, root = _pool(0, 1), tmp_path / "locks"
    first = gpus.acquire(1, pool, 1, "a", root=root)
    second = gpus.acquire(1, pool, 1, "b", root=root)
    assert sorted(first.ids + second.ids) == [0, 1]
    told: list[str] = []
    start = time.monotonic()
    with pytest.raises(
        gpus.GpuWaitTimedOut, match=r"waited the whole 0.8s timeout .* held by other legs: 0, 1"
    ):
        gpus.acquire(1, pool, 0.8, "c", told.append, root=root)
    assert 0.7 < time.monotonic() - start < 3
    assert told == ["held by other legs: 0, 1"]
    first.release()
    third = gpus.acquire(1, pool, 1, "c", root=root)
    assert third.ids == first.ids
    assert (root / f"gpu-{third.ids[0]}.lock").read_text() == "c"
    assert gpus.acquire(0, pool, 1, "nothing", root=root).ids == []
    with pytest.raises(gpus.GpuUnavailable, match="asks for 3 GPUs; this machine has GPUs 0, 1"):
        gpus.acquire(3, pool, 1, "d", root=root)


def test_all_or_nothing_a_two_gpu_request_does_not_keep_half(tmp_path: Path) -> None:
    pool, root = _pool(0, 1), tmp_path / "locks"
    one = gpus.acquire(1, pool, 1, "a", root=root)
    with pytest.raises(gpus.GpuWaitTimedOut):
        gpus.acquire(2, pool, 0.3, "b", root=root)
    other = gpus.acquire(1, pool, 0.1, "c", root=root)  # the free one was not kept by the 2-GPU try
    assert other.ids != one.ids


def test_busy_gpus_are_skipped_and_nvidia_smi_runs_only_when_locks_are_free(
    fake_smi: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_GPUS", "4")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_BUSY", "0,2")
    pool = gpus.detect_pool()
    got = gpus.acquire(2, pool, 1, "a")
    assert got.ids == [1, 3]
    calls = len(fake_smi.read_text().splitlines())
    with pytest.raises(gpus.GpuWaitTimedOut, match="in use by other processes: 0"):
        gpus.acquire(1, pool, 0.4, "b", busy_percent=10)
    kept = gpus.acquire(1, pool, 0.4, "c", busy_percent=95)  # a higher threshold
    assert kept.ids == [0]
    got.release()
    assert len(fake_smi.read_text().splitlines()) > calls
    held = [gpus.acquire(1, pool, 1, name, busy_percent=100) for name in "def"]
    assert sorted(i for h in held for i in h.ids) == [1, 2, 3]
    start_calls = len(fake_smi.read_text().splitlines())
    with pytest.raises(gpus.GpuWaitTimedOut):  # every lock held: waiting costs no nvidia-smi
        gpus.acquire(1, pool, 1.2, "g", busy_percent=100)
    assert len(fake_smi.read_text().splitlines()) == start_calls


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from wild_ci import gpus
    pool = gpus.Pool(tuple(int(i) for i in sys.argv[2].split(",")), "test", gpus.Reading(problem="x"))
    held = gpus.acquire(1, pool, 30, sys.argv[3], root=Path(sys.argv[1]))
    start = time.time()
    print("got", held.ids[0], flush=True)
    time.sleep(float(sys.argv[4]))
    end = time.time()
    held.release()
    print(held.ids[0], start, end, flush=True)
    """
)


def _holder(root: Path, ids: str, name: str, hold_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), ids, name, str(hold_s)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip


def test_processes_never_share_a_gpu(tmp_path: Path) -> None:
    root = tmp_path / "locks"
    processes = [_holder(root, "0,1", f"p{n}", 0.4) for n in range(5)]
    spans: dict[int, list[tuple[float, float]]] = {}
    for process in processes:
        out, _ = process.communicate(timeout=60)
        gpu, start, end = out.splitlines()[-1].split()
        spans.setdefault(int(gpu), []).append((float(start), float(end)))
    for intervals in spans.values():
        intervals.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(intervals))
    assert sum(len(v) for v in spans.values()) == 5


def test_a_holder_killed_with_sigkill_releases_its_gpu(tmp_path: Path) -> None:
    root = tmp_path / "locks"
    holder = _holder(root, "0", "doomed", 300)
    assert holder.stdout is not None and holder.stdout.readline().startswith("got 0")
    with pytest.raises(gpus.GpuWaitTimedOut):
        gpus.acquire(1, _pool(0), 0.3, "next", root=root)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert gpus.acquire(1, _pool(0), 2, "next", root=root).ids == [0]


def test_a_lock_file_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    """An experiment (or another user of a shared lock folder) that puts a symlink where a lock
    file goes must not make the next leg truncate and overwrite the file it points to."""
    root, victim = tmp_path / "locks", tmp_path / "victim"
    root.mkdir()
    victim.write_text("precious\n")
    (root / "gpu-0.lock").symlink_to(victim)
    with pytest.raises(OSError):
        gpus.acquire(1, _pool(0), 0.3, "next", root=root)
    assert victim.read_text() == "precious\n"


def test_lock_files_can_be_shared_by_users_of_one_folder(tmp_path: Path, monkeypatch) -> None:
    """The README has runners of several users share one lock folder: a lock file one of them made
    must be usable by the others (mode 0666 whatever the umask), and one they may only read still
    locks (flock needs no write access)."""
    root = tmp_path / "locks"
    old = os.umask(0o022)
    try:
        gpus.acquire(1, _pool(0), 1, "a", root=root).release()
    finally:
        os.umask(old)
    assert (root / "gpu-0.lock").stat().st_mode & 0o777 == 0o666
    real_open = os.open

    def refused(path, flags, *args):  # as for another user's 0644 file
        if str(path).endswith(".lock") and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refused)
    first = gpus.acquire(1, _pool(0), 1, "b", root=root)
    assert first.ids == [0]
    with pytest.raises(gpus.GpuWaitTimedOut):
        gpus.acquire(1, _pool(0), 0.3, "c", root=root)


def test_a_deleted_lock_file_does_not_hand_its_gpu_out_twice(tmp_path: Path) -> None:
    """An experiment that cleans ~/.cache (or the lock folder) while it holds a GPU must not let the
    next leg take the same GPU beside it."""
    root = tmp_path / "locks"
    first = gpus.acquire(1, _pool(0, 1), 1, "a", root=root)
    (root / f"gpu-{first.ids[0]}.lock").unlink()
    second = gpus.acquire(1, _pool(0, 1), 1, "b", root=root)
    assert second.ids != first.ids
    shutil.rmtree(root)  # the whole folder, during the wait of a third leg: it waits, and gets one
    with pytest.raises(gpus.GpuWaitTimedOut):
        gpus.acquire(1, _pool(0, 1), 0.6, "c", root=root)
    first.release()
    assert gpus.acquire(1, _pool(0, 1), 1, "c", root=root).ids == first.ids


def test_the_lock_folder_is_shared_and_configurable(tmp_path: Path) -> None:
    assert gpus.lock_root({gpus.LOCKS_ENV: "/x/locks"}) == Path("/x/locks")
    assert gpus.lock_root({"HOME": "/home/u"}) == Path("/home/u/.cache/wild-ci/gpu-locks")
    assert gpus.lock_root({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/wild-ci/gpu-locks")


# --- asking for them: the field, the config, submit -----------------------------------------------


def _brain(*items: str) -> str:
    return "<experiments>\n" + "".join(items) + "</experiments>\n"


def _item(goal: str, extra: str = "") -> str:
    return f"- goal: {goal}\n  command: python train.py\n{extra}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "'gpus' must be a whole number of GPUs"),
        ("1.5", "'gpus' must be a whole number of GPUs"),
        ("true", "'gpus' must be a whole number of GPUs"),
        ("two", "'gpus' must be a whole number of GPUs"),
        ("[0, 1]", "'gpus' must be a whole number of GPUs"),
        ("65", "'gpus' asks for 65 GPUs; at most 64"),
    ],
)
def test_invalid_gpus_values_are_errors_with_their_line(value: str, message: str) -> None:
    out = parse_brain_output(_brain(_item("ok"), _item("bad", f"  gpus: {value}\n")))
    assert [e.line for e in out.errors] == [6]
    assert out.errors[0].message.startswith(message)
    assert [e.id for e in out.experiments] == ["ok"]


def test_gpus_values_that_are_fine() -> None:
    out = parse_brain_output(
        _brain(_item("a", "  gpus: 2\n"), _item("b", '  gpus: "1"\n'), _item("c", "  gpus: 0\n"), _item("d"))
    )
    assert out.ok, out.errors
    assert [e.gpus for e in out.experiments] == [2, 1, 0, None]


def test_gpu_config_keys_and_their_errors() -> None:
    config = parse_config(
        "gpus_per_experiment: 1\ngpus: [0, 2]\ngpu_busy_percent: 25\ngpu_runs_on: [self-hosted, gpu]\n"
        "gpu_runner_gpus: 4\n",
        "c.yml",
    )
    assert config.leg.gpus_per_experiment == 1 and config.leg.gpu_pool == (0, 2)
    assert config.leg.gpu_busy_percent == 25 and config.gpu_runner_gpus == 4
    assert config.gpu_runs_on == ("gpu", "self-hosted")
    assert frozenset(["self-hosted", "gpu"]) in config.allowed_label_sets()
    for text, line, message in [
        (
            "timeout: 1h\ngpus_per_experiment: -1\n",
            2,
            "gpus_per_experiment must be a whole number from 0 to 64",
        ),
        ("gpus_per_experiment: true\n", 1, "gpus_per_experiment must be a whole number"),
        ("gpus: [0, x]\n", 1, "gpus must be a list of GPU numbers"),
        ("gpus: [0, 0]\n", 1, "gpus must be a list of GPU numbers"),
        ("gpus: 2\n", 1, "gpus must be a list of GPU numbers"),
        ("gpu_busy_percent: 101\n", 1, "gpu_busy_percent must be a number from 0 to 100"),
        ("gpu_runs_on: [windows-latest]\n", 1, "runner label 'windows-latest'"),
        ("gpu_runs_on: 3\n", 1, "gpu_runs_on must be a runner label or a list of labels"),
        ("gpu_runner_gpus: 0\n", 1, "gpu_runner_gpus must be a positive whole number"),
    ]:
        with pytest.raises(ConfigError, match=f"c.yml:{line}: {message}"):
            parse_config(text, "c.yml")


def test_on_github_gpus_need_a_gpu_runner_set_and_get_it(make_repo) -> None:
    repo = make_repo()
    brain = _brain(_item("cpu"), _item("train", "  gpus: 2\n"))
    with pytest.raises(InvalidBrainOutput) as caught:
        submit(repo, brain.encode(), config=Config(project_root=ROOT))
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.line == 4 and "set gpu_runs_on in .wild/config.yml" in diagnostic.message
    config = parse_config("gpu_runs_on: [self-hosted, gpu]\ngpu_runner_gpus: 1\n", "c")
    with pytest.raises(InvalidBrainOutput, match="asks for 2 GPUs; a gpu_runs_on runner has 1"):
        submit(repo, brain.encode(), config=Config(project_root=ROOT, **_gpu_settings(config)))
    config = parse_config("gpu_runs_on: [self-hosted, gpu]\ngpus_per_experiment: 0\n", "c")
    done = submit(repo, brain.encode(), config=Config(project_root=ROOT, **_gpu_settings(config)))
    assert done is not None
    cpu, train = done.spec.experiments
    assert (cpu.runs_on, train.runs_on) == ([], ["gpu", "self-hosted"])
    assert 'runs-on: ["gpu", "self-hosted"]' in git(
        repo, "show", "wild/main:.github/workflows/wild-experiments.yml"
    )
    wrong = _brain(_item("train", "  gpus: 1\n  runs_on: ubuntu-latest\n"))
    with pytest.raises(InvalidBrainOutput, match="runs_on \\[ubuntu-latest\\] is not the GPU runner set"):
        submit(repo, wrong.encode(), config=Config(project_root=ROOT, **_gpu_settings(config)))


def _gpu_settings(config: Config) -> dict:
    return {"leg": config.leg, "gpu_runs_on": config.gpu_runs_on, "gpu_runner_gpus": config.gpu_runner_gpus}


def test_locally_more_gpus_than_the_machine_has_is_refused_with_the_line(make_repo, fake_smi: Path) -> None:
    repo = make_repo()
    brain = _brain(_item("fits", "  gpus: 2\n"), _item("too many", "  gpus: 3\n"))
    with pytest.raises(InvalidBrainOutput) as caught:
        submit(repo, brain.encode(), config=Config(project_root=ROOT), local=True)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.line == 5
    assert diagnostic.message == ("gpus: 3 asks for more GPUs than this machine has: GPUs 0, 1 (nvidia-smi)")


def test_locally_gpu_legs_stay_in_the_one_matrix_job(make_repo, fake_smi: Path) -> None:
    config = Config(project_root=ROOT, gpu_runs_on=("gpu", "self-hosted"))
    done = submit(
        make_repo(), _brain(_item("cpu"), _item("gpu", "  gpus: 1\n")).encode(), config=config, local=True
    )
    assert done is not None and [e.runs_on for e in done.spec.experiments] == [[], []]


def test_cpu_only_submits_start_no_nvidia_smi(make_repo, fake_smi: Path) -> None:
    repo = make_repo()
    assert submit(repo, _brain(_item("cpu")).encode(), config=Config(project_root=ROOT), local=True)
    assert not fake_smi.exists()


# --- the leg --------------------------------------------------------------------------------------

RECORD = 'echo "cvd=${CUDA_VISIBLE_DEVICES-unset} wild=${WILD_GPUS-unset}"'


def _checkout(make_repo, brain: str, config: Config | None = None) -> Path:
    repo = make_repo({"README.md": "x\n"})
    submit(repo, brain.encode(), config=config or Config(project_root=ROOT))
    workspace = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    return workspace


def _leg_brain(*items: tuple[str, str]) -> str:
    return _brain(
        *(f"- goal: {goal}\n  command: {json.dumps(RECORD)}\n  setup: none\n{extra}" for goal, extra in items)
    )


def test_a_leg_gets_its_gpus_and_says_so(
    make_repo, fake_smi: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(gpus.VISIBLE_ENV, "1,0")  # the starting environment's limit: both
    config = parse_config("gpu_runs_on: [self-hosted, gpu]\n", "c")
    ws = _checkout(make_repo, _leg_brain(("two", "  gpus: 2\n"), ("none", "  gpus: 0\n"), ("as-is", "")),
                   Config(project_root=ROOT, gpu_runs_on=config.gpu_runs_on))  # fmt: skip
    result = execute(ws, 1, "two", tmp_path / "two")
    assert (result.status, result.gpus) == ("succeeded", [0, 1])
    assert result.gpu_wait_s is not None and result.gpu_wait_s < 1
    assert (tmp_path / "two/stdout.log").read_text() == "cvd=0,1 wild=0,1\n"
    assert json.loads((tmp_path / "two/result.json").read_text())["gpus"] == [0, 1]
    printed = capsys.readouterr().out
    assert "wild-ci: experiment two got GPUs 0,1 after waiting" in printed
    fake_smi.unlink()
    hidden = execute(ws, 1, "none", tmp_path / "none", mirror=False)
    assert (hidden.gpus, hidden.gpu_wait_s) == ([], None)
    assert (tmp_path / "none/stdout.log").read_text() == "cvd= wild=\n"
    assert not fake_smi.exists()  # gpus: 0 hides them without asking nvidia-smi
    untouched = execute(ws, 1, "as-is", tmp_path / "as-is", mirror=False)
    assert untouched.gpus is None
    assert (tmp_path / "as-is/stdout.log").read_text() == "cvd=1,0 wild=unset\n"
    assert not fake_smi.exists()


def test_a_leg_that_asks_for_more_than_the_machine_has_fails_before_set_up(
    make_repo, fake_smi: Path, tmp_path: Path
) -> None:
    config = Config(project_root=ROOT, gpu_runs_on=("gpu",))
    ws = _checkout(make_repo, _leg_brain(("big", "  gpus: 3\n  setup: echo never > setup-ran\n")), config)
    result = execute(ws, 1, "big", tmp_path / "big", mirror=False)
    assert result.status == "setup_failed"
    assert result.note == "the experiment asks for 3 GPUs; this machine has GPUs 0, 1 (nvidia-smi)"
    assert not (ws / "setup-ran").exists()


def test_a_leg_waits_within_its_timeout_then_times_out(
    make_repo, fake_smi: Path, tmp_path: Path, capsys
) -> None:
    config = Config(project_root=ROOT, gpu_runs_on=("gpu",))
    ws = _checkout(make_repo, _leg_brain(("wait", "  gpus: 1\n  timeout: 1s\n")), config)
    held = [gpus.acquire(1, gpus.detect_pool(), 1, "other") for _ in range(2)]
    result = execute(ws, 1, "wait", tmp_path / "wait")
    assert (result.status, result.exit_code, result.duration_s) == ("timed_out", None, 0.0)
    assert result.note is not None and result.note.startswith(
        "never ran: waited the whole 1s timeout for 1 free GPU"
    )
    assert "wild-ci: experiment wait waiting for 1 GPU (held by other legs: 0, 1)" in capsys.readouterr().out
    for allocation in held:
        allocation.release()
    done = execute(ws, 1, "wait", tmp_path / "again", mirror=False)
    assert done.status == "succeeded" and done.gpus == [0]


def test_garbage_wild_ci_gpus_on_the_runner_fails_the_leg_with_a_note(
    make_repo, fake_smi: Path, tmp_path: Path, monkeypatch
) -> None:
    ws = _checkout(
        make_repo, _leg_brain(("one", "  gpus: 1\n")), Config(project_root=ROOT, gpu_runs_on=("gpu",))
    )
    monkeypatch.setenv(gpus.POOL_ENV, "zero")
    result = execute(ws, 1, "one", tmp_path / "one", mirror=False)
    assert (
        result.status == "setup_failed" and result.note is not None and "WILD_CI_GPUS='zero'" in result.note
    )


# --- the record -----------------------------------------------------------------------------------


def test_result_json_gpus_are_checked_and_old_files_still_read() -> None:
    experiment = Experiment(id="e", goal="g", command="c", run="c", line=1)
    base = {"id": "e", "status": "succeeded", "stdout_bytes": 0, "stderr_bytes": 0}
    assert ExperimentResult.from_leg_json(base, experiment).gpus is None  # written before GPUs
    good = ExperimentResult.from_leg_json({**base, "gpus": [0, 3], "gpu_wait_s": 2.5}, experiment)
    assert (good.status, good.gpus, good.gpu_wait_s) == ("succeeded", [0, 3], 2.5)
    for bad in ([0, 0], ["0"], [-1], [True], "0", [0] * 100):
        result = ExperimentResult.from_leg_json({**base, "gpus": bad}, experiment)
        assert result.status == "failed" and "gpus must be" in (result.note or "")
    result = ExperimentResult.from_leg_json({**base, "gpu_wait_s": -1}, experiment)
    assert result.status == "failed"


def test_results_md_and_the_context_say_which_gpus() -> None:
    results = IterationResults(
        session="main", iteration=1, commit=None,
        experiments=[
            ExperimentResult(
                id="train", goal="g", command="c", status="succeeded", gpus=[0, 1], gpu_wait_s=12.0
            ),
            ExperimentResult(id="cpu", goal="g", command="c", status="succeeded"),
        ],
    )  # fmt: skip
    context = context_block(results)
    assert "GPUs: 0, 1 (waited 12.0 s for them)" in context
    assert context.count("GPU") == 1
    assert "GPUs: 0, 1 (waited 12.0 s for them)" in results_markdown(results)
    wild_v2 = context_block(results, context_format="wild-v2")
    assert (
        "- **Status:** PASSED · GPUs: 0, 1 (waited 12.0 s for them)" in wild_v2 and wild_v2.count("GPU") == 1
    )


def test_old_experiments_json_and_leg_settings_still_load() -> None:
    spec = IterationSpec.from_json(
        {"session": "s", "iteration": 1, "project_root": "/p", "leg": {"setup": "auto"}}
    )
    assert spec.leg.gpus_per_experiment is None and spec.leg.gpu_pool is None
    again = IterationSpec.from_json(json.loads(json.dumps(IterationSpec(
        session="s", iteration=1, project_root="/p", experiments=[],
        leg=LegSettings(gpus_per_experiment=1, gpu_pool=(0, 2)),
    ).to_json())))  # fmt: skip
    assert again.leg == LegSettings(gpus_per_experiment=1, gpu_pool=(0, 2))
    newer = IterationSpec.from_json(
        {"session": "s", "iteration": 1, "project_root": "/p", "leg": {"setup": "none", "from_the_future": 1}}
    )
    assert newer.leg.setup == "none"  # a newer wild-ci's setting is left out, not a damaged record


# --- the run: parallelism, timeouts, progress -----------------------------------------------------


def _spec(*gpu_counts: int | None, default: int | None = None) -> IterationSpec:
    experiments = [
        Experiment(id=f"e{n}", goal="g", command="c", run="c", line=n, gpus=count, timeout_s=600)
        for n, count in enumerate(gpu_counts)
    ]
    return IterationSpec(session="s", iteration=1, project_root="/p", experiments=experiments,
                         leg=LegSettings(gpus_per_experiment=default))  # fmt: skip


def test_local_parallelism_leaves_the_cores_to_cpu_legs(monkeypatch, fake_smi: Path) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI_GPUS", "4")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    cpu_only = ACT.render_workflow(_spec(None, 0, None), Config())
    assert "max-parallel: 2\n" in cpu_only
    mixed = ACT.render_workflow(_spec(None, 1, 2, 1), Config())
    assert "max-parallel: 5\n" in mixed  # 2 cores for CPU legs + one slot per GPU leg, which may wait
    assert "max-parallel: 6\n" in ACT.render_workflow(_spec(None, None, None, None, default=1), Config())
    assert "max-parallel: 3\n" in ACT.render_workflow(_spec(1, 1), Config(max_parallel=3))


def test_local_parallelism_adds_no_more_gpu_slots_than_the_machine_has_gpus(
    monkeypatch, fake_smi: Path
) -> None:
    """A sweep of 40 one-GPU legs on a 2-GPU machine: 2 more slots, not 40 legs waiting at once."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert "max-parallel: 4\n" in ACT.render_workflow(_spec(*[1] * 40), Config())
    monkeypatch.setenv(gpus.POOL_ENV, "0")
    assert "max-parallel: 3\n" in ACT.render_workflow(_spec(*[1] * 40), Config())


def test_a_gpu_legs_step_timeout_leaves_room_for_its_wait() -> None:
    cpu = ACT.render_workflow(_spec(None), Config())
    gpu = ACT.render_workflow(_spec(1), Config())
    assert (
        "timeout-minutes: 41\n" in cpu and "timeout-minutes: 51\n" in cpu
    )  # 10 min + 30 min set-up, + 1; job +10
    assert (
        "timeout-minutes: 51\n" in gpu and "timeout-minutes: 61\n" in gpu
    )  # and up to 10 min waiting for GPUs


def test_the_live_view_shows_the_wait_and_the_gpus() -> None:
    tracker = ProgressTracker(["train"])

    def line(text: str, now: float) -> None:
        event = {"jobID": "experiment", "matrix": {"experiment": "train"}, "raw_output": True,
                 "msg": text, "step": "Run the experiment"}  # fmt: skip
        tracker.feed(json.dumps(event), now)

    line("setting up", 0.0)
    # the leg's state comes from its executor's lines in the progress channel (#26 item 14)
    tracker.feed_progress("wild-ci: experiment train waiting for 1 GPU (held by other legs: 0, 1)", 1.0)
    leg = tracker.legs["train"]
    assert (leg.state, leg.waiting_for) == ("running", "1 GPU")
    tracker.feed_progress("wild-ci: experiment train got GPU 1 after waiting 4.5s", 5.5)
    assert (leg.waiting_for, leg.gpus, leg.elapsed(7.5)) == (None, "1", 2.0)
    assert leg.last_line == "setting up"


def test_a_leg_sigkilled_while_its_experiment_runs_frees_the_gpu(
    make_repo, fake_smi: Path, tmp_path: Path
) -> None:
    """SIGKILL gives the leg no chance to release anything: the kernel drops its flock."""
    config = Config(project_root=ROOT, gpu_runs_on=("gpu",))
    pid_file = tmp_path / "experiment.pid"
    command = json.dumps(f"echo $$ > {pid_file}; exec sleep 60")
    ws = _checkout(
        make_repo, _brain(f"- goal: hold\n  command: {command}\n  setup: none\n  gpus: 2\n"), config
    )
    leg = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "execute", "--iteration", "1", "--experiment", "hold",
         "--out", str(tmp_path / "out"), "--workspace", str(ws)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip
    try:
        assert leg.stdout is not None
        assert any("got GPUs 0,1 after" in line for line in iter(leg.stdout.readline, ""))
        with pytest.raises(gpus.GpuWaitTimedOut):
            gpus.acquire(1, gpus.detect_pool(), 0.3, "next")
        leg.send_signal(signal.SIGKILL)
        leg.wait(timeout=10)
        assert gpus.acquire(2, gpus.detect_pool(), 2, "next").ids == [0, 1]
    finally:
        leg.kill()
        leg.wait(timeout=10)
        if pid_file.exists():  # the experiment the killed leg could not end
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_leg_cancelled_while_waiting_records_it(make_repo, fake_smi: Path, tmp_path: Path) -> None:
    config = Config(project_root=ROOT, gpu_runs_on=("gpu",))
    ws = _checkout(make_repo, _leg_brain(("patient", "  gpus: 1\n")), config)
    held = [gpus.acquire(1, gpus.detect_pool(), 1, "other") for _ in range(2)]
    leg = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "execute", "--iteration", "1", "--experiment", "patient",
         "--out", str(tmp_path / "out"), "--workspace", str(ws)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip
    assert leg.stdout is not None
    assert any("waiting for 1 GPU" in line for line in iter(leg.stdout.readline, ""))
    leg.send_signal(signal.SIGTERM)
    assert leg.wait(timeout=20) == 0
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    assert (data["status"], data["note"], data["gpus"]) == (
        "cancelled",
        "the leg was cancelled waiting for GPUs",
        None,
    )
    for allocation in held:
        allocation.release()


def test_a_lock_folder_that_cannot_be_made_fails_the_leg_with_a_note(
    make_repo, fake_smi: Path, tmp_path: Path, monkeypatch
) -> None:
    ws = _checkout(
        make_repo, _leg_brain(("one", "  gpus: 1\n")), Config(project_root=ROOT, gpu_runs_on=("gpu",))
    )
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(gpus.LOCKS_ENV, str(tmp_path / "a-file" / "locks"))
    result = execute(ws, 1, "one", tmp_path / "one", mirror=False)
    assert result.status == "setup_failed"
    assert result.note is not None and "the GPU lock folder cannot be used (Not a directory" in result.note


def test_show_has_a_gpus_column_only_when_some_experiment_had_gpus() -> None:
    def shown(results: IterationResults, width: int) -> str:
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(results_view(results, width))
        return console.export_text()

    trained = ExperimentResult(
        id="train", goal="g", command="c", status="succeeded", gpus=[0, 1], gpu_wait_s=3.0
    )
    cpu = ExperimentResult(id="cpu", goal="g", command="c", status="succeeded")
    both = IterationResults(session="main", iteration=1, commit=None, experiments=[trained, cpu])
    wide = shown(both, 140)
    assert "gpus" in wide and "0, 1 (waited 3.0 s for them)" in wide
    assert "gpus" not in shown(
        IterationResults(session="main", iteration=1, commit=None, experiments=[cpu]), 140
    )
    assert "GPUs: 0, 1 (waited 3.0 s for them)" in shown(both, 80)


def test_a_retried_leg_keeps_its_gpu_across_attempts_and_frees_it_after(
    make_repo, fake_smi: Path, tmp_path: Path, monkeypatch
) -> None:
    """GPUs and retries together: the back-off does not hand the GPU to another leg (an OOM retry
    that lost its GPU would wait again), both attempts see the same one, and it is free after."""
    monkeypatch.setenv("WILD_CI_RETRY_BACKOFF", "0.2")
    command = (
        'echo "attempt=$WILD_ATTEMPT cvd=$CUDA_VISIBLE_DEVICES"; '
        'if [ "$WILD_ATTEMPT" = 1 ]; then echo "RuntimeError: CUDA out of memory." >&2; exit 1; fi'
    )
    ws = _checkout(make_repo, _brain(f"- goal: oom\n  command: {json.dumps(command)}\n  setup: none\n"
                                     "  gpus: 1\n  retries: 1\n"),
                   Config(project_root=ROOT, gpu_runs_on=("gpu", "self-hosted")))  # fmt: skip
    taken: list[list[int]] = []

    def try_during_the_back_off(line: str) -> None:  # progress lines come through _announce
        if "retrying" in line or "attempt 2" in line:
            rival = gpus.LegGpus(2, "rival", None, 10.0)
            rival.check()
            with pytest.raises(gpus.GpuUnavailable):
                rival.take(0, lambda _line: None)  # both GPUs at once: impossible while one is held
            taken.append([])

    monkeypatch.setattr("wild_ci.execute._announce", try_during_the_back_off)
    result = execute(ws, 1, "oom", tmp_path / "out", mirror=False)
    assert result.status == "succeeded" and len(result.attempts) == 2
    assert result.gpus is not None and len(result.gpus) == 1
    first = (tmp_path / "out/attempt-1/stdout.log").read_text()
    second = (tmp_path / "out/stdout.log").read_text()
    assert first == f"attempt=1 cvd={result.gpus[0]}\n" and second == f"attempt=2 cvd={result.gpus[0]}\n"
    assert taken, "no announcement between the attempts was seen"
    after = gpus.LegGpus(2, "after", None, 10.0)
    after.check()
    after.take(0, lambda _line: None)  # both free again
    after.release()


def test_a_gpus_value_of_thousands_of_digits_is_an_error_on_its_line() -> None:
    digits = "1" * 5000  # int() refuses more than 4,300 digits: it was the whole block's error
    item = f'- goal: g\n  command: echo\n  gpus: "{digits}"\n'
    out = parse_brain_output(f"<experiments>\n{item}</experiments>\n")
    assert [e.line for e in out.errors] == [4] and len(out.errors[0].message) < 200
    assert "at most 64" in out.errors[0].message


@pytest.mark.parametrize("text", ["²", "1²", "０"])
def test_digits_that_int_refuses_are_errors_not_crashes(text: str) -> None:
    """`str.isdigit` is true for `²`, which `int` refuses: a brain's `gpus: "²"` is an error on its
    line, and so is such a WILD_CI_GPUS; a CUDA_VISIBLE_DEVICES entry ends the list there."""
    out = parse_brain_output(f'<experiments>\n- goal: g\n  command: echo\n  gpus: "{text}"\n</experiments>\n')
    assert [e.line for e in out.errors] == [4] and "'gpus' must be a whole number" in out.errors[0].message
    with pytest.raises(gpus.GpuSettingError):
        gpus.parse_ids(text, gpus.POOL_ENV)
    assert gpus.visible_ids(f"0,{text}", ())[0] == [0]
    assert gpus.parse_nvidia_smi(f"{text}, GPU-x, 1, 2, 3\n") == ()
