"""The execute stage: one leg in a real checkout of an iteration commit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import IDENTITY, git, sleeping, use_backend

from wild_ci import execute as execute_module
from wild_ci import reaper, sandbox
from wild_ci.collect import tail
from wild_ci.config import Config
from wild_ci.execute import execute, experiment_seed, map_project_root
from wild_ci.generate import submit
from wild_ci.specs import LegSettings

ROOT = "/brain/root"


def checkout(make_repo, brain: str, files: dict[str, str] | None = None) -> Path:
    """Submit `brain` and clone the iteration commit, as a runner's checkout would."""
    repo = make_repo(files or {"README.md": "x\n"})
    submit(repo, brain.encode(), config=Config(project_root=ROOT))
    workspace = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    return workspace


def one(goal: str, command: str, extra: str = "") -> str:
    return f"<experiments>\n- goal: {goal}\n  command: {json.dumps(command)}\n{extra}</experiments>\n"


def test_success_with_separate_logs_and_result_json(make_repo, tmp_path: Path) -> None:
    ws = checkout(make_repo, one("hello", "echo out; echo err >&2"))
    result = execute(ws, 1, "hello", tmp_path / "out", mirror=False)
    assert (result.status, result.exit_code) == ("succeeded", 0)
    assert (tmp_path / "out/stdout.log").read_text() == "out\n"
    assert (tmp_path / "out/stderr.log").read_text() == "err\n"
    data = json.loads((tmp_path / "out/result.json").read_text())
    assert data["status"] == "succeeded" and data["exit_code"] == 0
    for key in ("started_at", "finished_at", "duration_s", "runner", "commit", "os", "python"):
        assert data[key] not in (None, ""), key
    assert data["commit"] == git(ws, "rev-parse", "HEAD")


def test_failure_keeps_exit_code_and_stderr(make_repo, tmp_path: Path) -> None:
    ws = checkout(make_repo, one("boom", "echo broken >&2; exit 3"))
    result = execute(ws, 1, "boom", tmp_path / "out", mirror=False)
    assert (result.status, result.exit_code) == ("failed", 3)
    assert "broken" in (tmp_path / "out/stderr.log").read_text()


@pytest.mark.parametrize("backend", ["none", "bubblewrap", "landlock"])
def test_timeout_kills_the_whole_process_group(make_repo, tmp_path: Path, monkeypatch, backend) -> None:
    """In every sandbox mode: a command that ignores SIGTERM is killed, and so is what it started
    (a child that keeps writing a heartbeat)."""
    use_backend(monkeypatch, backend)
    monkeypatch.setattr(execute_module, "KILL_GRACE_S", 1.0)
    command = (
        "trap '' TERM; (sleep 60 & echo $! > child.pid; wait) & "
        "(while :; do date +%s%N > beat; sleep 0.05; done) & sleep 60"
    )
    ws = checkout(make_repo, one("slow", command, "  timeout: 1\n"))
    start = time.monotonic()
    result = execute(ws, 1, "slow", tmp_path / "out", mirror=False)
    assert result.status == "timed_out" and result.sandbox == backend
    assert time.monotonic() - start < 10
    assert result.signal == 9 and result.exit_code is None  # it ignored SIGTERM
    beat = (ws / "beat").read_text()
    time.sleep(0.5)
    assert (ws / "beat").read_text() == beat, "a child of the command still runs after the timeout"
    child = int((ws / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while sleeping(child):
        assert time.monotonic() < deadline, f"process {child} outlived the timeout"
        time.sleep(0.05)


def test_non_utf8_output_is_kept_as_bytes(make_repo, tmp_path: Path) -> None:
    ws = checkout(make_repo, one("bytes", r"printf 'ok \377\376 end\n'"))
    execute(ws, 1, "bytes", tmp_path / "out", mirror=False)
    assert (tmp_path / "out/stdout.log").read_bytes() == b"ok \xff\xfe end\n"
    assert tail(tmp_path / "out/stdout.log") == "ok \ufffd\ufffd end"


def test_outputs_created_or_changed_are_collected(make_repo, tmp_path: Path) -> None:
    files = {"outputs/old.txt": "old\n", "outputs/changed.txt": "v1\n", "README.md": "x\n"}
    command = "echo v2 > outputs/changed.txt; mkdir -p results/deep; echo 1 > results/deep/m.json"
    ws = checkout(make_repo, one("outputs", command), files)
    result = execute(ws, 1, "outputs", tmp_path / "out", mirror=False)
    assert result.outputs == ["outputs/changed.txt", "results/deep/m.json"]
    assert (tmp_path / "out/outputs/results/deep/m.json").read_text() == "1\n"
    assert not (tmp_path / "out/outputs/outputs/old.txt").exists()


def test_identity_environment_and_withheld_tokens(make_repo, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", "secret-token")
    command = 'echo "$WILD_EXPERIMENT_ID $WILD_ITERATION $WILD_SEED ${ACTIONS_RUNTIME_TOKEN:-none}"'
    ws = checkout(make_repo, one("env check", command))
    execute(ws, 1, "env-check", tmp_path / "out", mirror=False)
    assert (tmp_path / "out/stdout.log").read_text().split() == [
        "env-check",
        "0001",
        str(experiment_seed("env-check")),
        "none",
    ]


def test_project_root_is_mapped_onto_the_checkout(make_repo, tmp_path: Path) -> None:
    files = {"sub/data.txt": "payload\n"}
    brain = one("mapped", f"cat {ROOT}/sub/data.txt && pwd", f"  workdir: {ROOT}/sub\n")
    ws = checkout(make_repo, brain, files)
    result = execute(ws, 1, "mapped", tmp_path / "out", mirror=False)
    assert result.status == "succeeded"
    assert (tmp_path / "out/stdout.log").read_text() == f"payload\n{ws.resolve() / 'sub'}\n"
    assert result.command == f"cat {ROOT}/sub/data.txt && pwd"  # as the brain wrote it


def test_map_project_root_only_replaces_whole_path_components() -> None:
    ws = Path("/ws")
    assert map_project_root("cd /p/root && ls /p/root/x", ["/p/root"], ws) == "cd /ws && ls /ws/x"
    assert map_project_root("ls /p/rootless /mnt/p/root", ["/p/root"], ws) == "ls /p/rootless /mnt/p/root"
    assert map_project_root("cat '/real/p/f' /p/root", ["/p/root", "/real/p"], ws) == "cat '/ws/f' /ws"
    # one pass, longest name first: a root inside another maps the longer, nothing maps twice
    assert map_project_root("ls /p/q/x /p/y", ["/p", "/p/q"], ws) == "ls /ws/x /ws/y"
    assert map_project_root("ls /p", ["/p"], Path("/p/p")) == "ls /p/p"


@pytest.mark.parametrize(
    ("text", "mapped"),
    [  # issue 23, reproduction 6: wherever a shell or a tool reads the root as a path of its own
        ("gcc -I/p/root/include -L/p/root/lib x.c", "gcc -I/ws/include -L/ws/lib x.c"),
        ("curl --url file:///p/root/data.csv", "curl --url file:///ws/data.csv"),
        ('ls "${DATA:-/p/root}" ${X:=/p/root/x} ${Y:+/p/root}', 'ls "${DATA:-/ws}" ${X:=/ws/x} ${Y:+/ws}'),
        ("echo [/p/root] {/p/root,/q}", "echo [/ws] {/ws,/q}"),
        ("PATH=/a:/p/root/bin --data=/p/root", "PATH=/a:/ws/bin --data=/ws"),
        # inside a longer name or path: not the root
        (
            "ls x-/p/root /mnt/p/root -Ix/p/root",
            "ls x-/p/root /mnt/p/root -Ix/p/root",
        ),
    ],
)
def test_map_project_root_maps_a_root_glued_to_a_flag_a_url_or_brackets(text: str, mapped: str) -> None:
    assert map_project_root(text, ["/p/root"], Path("/ws")) == mapped


def test_the_leg_maps_the_root_in_setup_and_env_too(make_repo, tmp_path: Path) -> None:
    extra = f"  setup: touch {ROOT}/set-up-here\n  env:\n    DATA: {ROOT}/data\n"
    ws = checkout(make_repo, one("mapped", 'echo "$DATA"', extra))
    result = execute(ws, 1, "mapped", tmp_path / "out", mirror=False)
    assert result.status == "succeeded"
    assert (tmp_path / "out/stdout.log").read_text() == f"{ws.resolve()}/data\n"
    assert (ws / "set-up-here").is_file()


def test_missing_workdir_is_setup_failed(make_repo, tmp_path: Path) -> None:
    ws = checkout(make_repo, one("nowhere", "ls", f"  workdir: {ROOT}/absent\n"))
    result = execute(ws, 1, "nowhere", tmp_path / "out", mirror=False)
    assert result.status == "setup_failed"
    assert "does not exist" in (tmp_path / "out/stderr.log").read_text()


def test_log_cap_keeps_the_beginning_and_the_end(make_repo, tmp_path: Path) -> None:
    command = "yes 0123456789 | head -c 200000; echo FINAL_ACCURACY=0.93"
    ws = checkout(make_repo, one("loud", command))
    execute(ws, 1, "loud", tmp_path / "out", log_cap_bytes=1000, mirror=False)
    data = (tmp_path / "out/stdout.log").read_bytes()
    assert data.startswith(b"0123456789\n")
    assert b"[wild-ci: log truncated at 1000 bytes: " in data
    assert data.endswith(b"FINAL_ACCURACY=0.93\n")
    assert len(data) < 1100
    assert tail(tmp_path / "out/stdout.log").endswith("FINAL_ACCURACY=0.93")


def test_leftover_background_processes_end_with_the_command(make_repo, tmp_path: Path) -> None:
    command = "sleep 60 & echo $! > bg.pid; echo started"  # the child holds stdout open
    ws = checkout(make_repo, one("background", command, "  timeout: 3\n"))
    start = time.monotonic()
    result = execute(ws, 1, "background", tmp_path / "out", mirror=False)
    assert time.monotonic() - start < 8
    assert (result.status, result.exit_code) == ("succeeded", 0)
    assert (tmp_path / "out/stdout.log").read_text() == "started\n"
    child = int((ws / "bg.pid").read_text())
    deadline = time.monotonic() + 5
    while sleeping(child):
        assert time.monotonic() < deadline, f"background process {child} outlived its experiment"
        time.sleep(0.05)


def test_cancelled_leg_still_writes_its_result(make_repo, tmp_path: Path) -> None:
    ws = checkout(make_repo, one("long", "echo started; sleep 60"))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "execute", "--iteration", "1", "--experiment", "long",
         "--out", str(out), "--workspace", str(ws)],
        env={**os.environ, **IDENTITY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not (out / "stdout.log").exists() or b"started" not in (out / "stdout.log").read_bytes():
        assert time.monotonic() < deadline, "the experiment never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    data = json.loads((out / "result.json").read_text())
    assert data["status"] == "cancelled"
    assert (out / "stdout.log").read_text() == "started\n"


def test_metrics_already_in_the_checkout_are_not_this_runs(make_repo, tmp_path: Path) -> None:
    files = {"results/metrics.json": '{"acc": 0.99}', "README.md": "x\n"}
    ws = checkout(make_repo, one("stale", "exit 3"), files)
    result = execute(ws, 1, "stale", tmp_path / "out", mirror=False)
    assert (result.status, result.metrics) == ("failed", {})
    ws2 = checkout_again(
        make_repo, tmp_path, one("fresh", 'echo \'{"acc": 0.5, "big": 1e999}\' > metrics.json')
    )
    assert execute(ws2, 1, "fresh", tmp_path / "out2", mirror=False).metrics == {"acc": 0.5}


def checkout_again(make_repo, tmp_path: Path, brain: str) -> Path:
    repo = make_repo({"README.md": "x\n"}, name="second")
    submit(repo, brain.encode(), config=Config(project_root=ROOT))
    workspace = tmp_path / "workspace2"
    git(tmp_path, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    return workspace


def test_outputs_never_follow_symlinks_out_of_the_workdir(make_repo, tmp_path: Path) -> None:
    command = (
        "ln -s /etc outputs/etc && mkdir -p results && ln -s /etc/hostname results/host.txt "
        '&& echo real > outputs/real.txt && ls "$WILD_OUTPUT_DIR"'
    )
    ws = checkout(make_repo, one("links", command, '  artifacts: ["outputs/etc/host*"]\n'))
    result = execute(ws, 1, "links", tmp_path / "out", mirror=False)
    assert result.status == "succeeded"
    assert result.outputs == ["outputs/real.txt"]


@pytest.mark.e2e  # 100,000 real files: about 20 s
def test_a_100000_file_outputs_folder_is_capped_with_a_notice(make_repo, tmp_path: Path) -> None:
    command = "mkdir -p outputs/many && cd outputs/many && seq 1 100000 | xargs touch"
    ws = checkout(make_repo, one("many files", command, "  timeout: 300\n"))
    start = time.monotonic()
    result = execute(ws, 1, "many-files", tmp_path / "out", mirror=False)
    assert result.status == "succeeded"
    assert len(result.outputs) == 10_000
    assert "90000 output file(s) not kept" in result.note
    assert time.monotonic() - start < 120


# Issue 15, observation 5: a leg records its experiment whatever the experiment did.


def test_an_experiment_that_deletes_its_checkout_is_still_recorded(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """`cd .. && rm -rf "$OLDPWD"`: the leg's files live outside the checkout, and the checkout's
    folder is there again for the runner's next step (the upload starts in it). Without a sandbox:
    in one, the checkout's own folder cannot be removed (test below)."""
    use_backend(monkeypatch, "none")
    command = 'echo kept; echo "$PWD" > ../deleted.txt; cd .. && rm -rf "$OLDPWD"'
    ws = checkout(make_repo, one("vanish", command))
    result = execute(ws, 1, "vanish", tmp_path / "out", mirror=False)
    assert (result.status, result.exit_code) == ("succeeded", 0)
    assert (tmp_path / "out/stdout.log").read_text() == "kept\n"
    assert json.loads((tmp_path / "out/result.json").read_text())["status"] == "succeeded"
    assert ws.is_dir()
    assert "removed its workdir" in (result.note or "")


@pytest.mark.parametrize("backend", ["bubblewrap", "landlock"])
def test_in_a_sandbox_an_experiment_empties_its_checkout_but_keeps_its_folder(
    make_repo, tmp_path: Path, monkeypatch, backend
) -> None:
    """The checkout's parent is not the experiment's: the folder stays, its files may go."""
    use_backend(monkeypatch, backend)
    command = 'echo kept; cd .. && rm -rf "$OLDPWD"; ls -A "$OLDPWD" | grep -vx .git | wc -l'
    ws = checkout(make_repo, one("vanish", command))
    result = execute(ws, 1, "vanish", tmp_path / "out", mirror=False)
    assert result.status == "succeeded" and result.sandbox == backend
    assert (tmp_path / "out/stdout.log").read_text() == "kept\n0\n"
    assert ws.is_dir() and not (ws / "README.md").exists()


def test_metrics_nested_200000_deep_keep_the_status_with_a_note(make_repo, tmp_path: Path) -> None:
    command = "python3 -c \"print('[' * 200000 + ']' * 200000)\" > metrics.json"
    ws = checkout(make_repo, one("deep", command))
    result = execute(ws, 1, "deep", tmp_path / "out", mirror=False)
    assert (result.status, result.metrics) == ("succeeded", {})
    assert "nested deeper" in (result.note or "")


def test_a_pathological_artifacts_glob_is_linear_and_bounded(make_repo, tmp_path: Path, monkeypatch) -> None:
    """`**/**/**/**/**/**/f` over a 30-deep tree: pathlib's glob takes hours; the leg's own walk
    visits each folder once, and a tree too large to walk in time ends with a note."""
    command = "mkdir -p deep/" + "/".join(["d"] * 30) + " && touch deep/" + "/".join(["d"] * 30) + "/f"
    extra = '  artifacts: ["**/**/**/**/**/**/f"]\n  timeout: 2s\n'
    ws = checkout(make_repo, one("globs", command, extra))
    done: list = []
    worker = threading.Thread(
        target=lambda: done.append(execute(ws, 1, "globs", tmp_path / "out", mirror=False))
    )
    worker.daemon = True
    worker.start()
    worker.join(30)
    assert done, "gathering outputs held the leg past its timeout"
    assert done[0].status == "succeeded"
    assert done[0].outputs == ["deep/" + "/".join(["d"] * 30) + "/f"]
    monkeypatch.setattr(execute_module, "GATHER_MAX_ENTRIES", 10)
    ws2 = checkout_again(make_repo, tmp_path, one("globs", command, extra))
    bounded = execute(ws2, 1, "globs", tmp_path / "out2", mirror=False)
    assert bounded.status == "succeeded" and "gathered only in part" in (bounded.note or "")


def test_a_log_the_disk_cannot_hold_still_drains_the_pipe(make_repo, tmp_path: Path, monkeypatch) -> None:
    """A full disk while stdout.log is written: the leg keeps reading the experiment's output (else
    the experiment blocks on a full pipe until its timeout) and records how it ended."""
    real_open = Path.open

    class Full:
        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    def open_(self: Path, mode: str = "r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        return Full(handle) if self.name == "stdout.log" and mode == "wb" else handle

    monkeypatch.setattr(Path, "open", open_)
    command = "python3 -c \"print('x' * 2000000)\"; echo done >&2"
    ws = checkout(make_repo, one("flood", command, "  timeout: 10s\n"))
    result = execute(ws, 1, "flood", tmp_path / "out", mirror=False)
    assert (result.status, result.exit_code) == ("succeeded", 0)
    assert (tmp_path / "out/stderr.log").read_text() == "done\n"


SPIN = "python3 -c 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass'"


@pytest.fixture
def as_a_leg():
    """This process adopts orphans while the test runs, as `wild-ci execute` does (entry of a leg)."""
    assert reaper.become_subreaper()
    yield
    reaper.become_subreaper(False)


@pytest.mark.parametrize("backend", ["none", "bubblewrap", "landlock"])
def test_cpu_time_is_the_command_s_process_tree_beside_its_wall_time(
    make_repo, tmp_path: Path, monkeypatch, backend, as_a_leg
) -> None:
    """A timing study needs CPU time beside wall time: a child that spins counts, a sleep does not,
    and the leg's own set-up (earlier children of the executor) is not the experiment's. Under
    bubblewrap the usage reaches the leg through the namespace's init, which only a subreaper reaps."""
    use_backend(monkeypatch, backend)
    ws = checkout(make_repo, one("spin", f"({SPIN}) & wait; sleep 0.5", "  setup: none\n"))
    result = execute(ws, 1, "spin", tmp_path / "out", mirror=False)
    assert result.status == "succeeded" and result.sandbox == backend
    assert result.cpu_s is not None and 0.5 <= result.cpu_s < result.duration_s
    assert result.cpus is not None and result.cpus >= 1
    assert result.checkout == str(ws.resolve())


def test_cpu_time_is_unknown_rather_than_wrong_where_it_cannot_be_counted(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """Not a subreaper (execute called in-process), bubblewrap's init is reaped by no one here: the
    command's CPU time never arrives, so it is recorded as unknown, never as a near-zero figure."""
    use_backend(monkeypatch, "bubblewrap")
    reaper.become_subreaper(False)
    ws = checkout(make_repo, one("spin", f"({SPIN}) & wait", "  setup: none\n"))
    result = execute(ws, 1, "spin", tmp_path / "out", mirror=False)
    assert result.status == "succeeded" and result.sandbox == "bubblewrap"
    assert result.cpu_s is None


def test_a_leg_under_required_without_a_sandbox_never_runs_and_says_why(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """On a runner (GitHub) no refusal can come before the legs: the leg itself refuses, before set-up."""
    monkeypatch.setenv(sandbox.BACKENDS_ENV, "none")
    repo = make_repo({"README.md": "x\n"})
    config = Config(project_root=ROOT, leg=LegSettings(sandbox="required"))
    submit(repo, one("boxed", "echo ran > ran.txt").encode(), config=config)
    ws = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(ws))
    result = execute(ws, 1, "boxed", tmp_path / "out", mirror=False)
    assert (result.status, result.sandbox) == ("setup_failed", "none")
    assert "sandbox: required, but this machine can make no sandbox" in (result.note or "")
    assert not (ws / "ran.txt").exists()
    recorded = json.loads((tmp_path / "out/result.json").read_text())
    assert (recorded["sandbox"], recorded["status"]) == ("none", "setup_failed")


def test_metrics_written_to_outputs_are_read_like_those_in_results(make_repo, tmp_path: Path) -> None:
    """Seen in a research loop: a train.py that writes outputs/metrics.json (outputs/ is kept, as
    the prompt says) got no metrics and no word about it, while results/metrics.json is read."""
    ws = checkout(
        make_repo, one("out", "mkdir -p outputs && echo '{\"accuracy\": 0.97}' > outputs/metrics.json")
    )
    assert execute(ws, 1, "out", tmp_path / "out", mirror=False).metrics == {"accuracy": 0.97}
