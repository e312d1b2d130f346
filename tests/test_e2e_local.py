"""End to end through the real act binary (host mode, no Docker, no network) and real git repos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import IDENTITY, UNSANDBOXED, RepoState, git, run_cli, writable_for_tests

pytestmark = pytest.mark.e2e

THREE = """I want three facts.
<experiments>
- goal: Read the edited config
  command: "cat config.txt"
- goal: Fail loudly
  command: "echo 'something broke' >&2; exit 3"
- goal: Write the answer
  command: "mkdir -p outputs && echo 42 > outputs/answer.txt"
</experiments>
<promise>WAITING</promise>
"""


def results_at(repo: Path, rev: str, iteration: int) -> dict:
    return json.loads(git(repo, "show", f"{rev}:.wild/iterations/{iteration:04d}/results.json"))


def quick_and_slow(started: Path) -> str:
    """A brain output: one experiment that ends at once, one that touches `started`, then waits."""
    return (
        "<experiments>\n- goal: quick\n  command: echo quick\n"
        f"- goal: slow\n  command: echo begun; touch {started}; sleep 120; echo never\n</experiments>\n"
    )


def start_run_until(brain_text: str, repo: Path, tmp_path: Path, marker: Path) -> subprocess.Popen:
    """`wild-ci run` in the background, returned once the experiment touched `marker`."""
    brain = tmp_path / "brain.md"
    brain.write_text(brain_text)
    process = subprocess.Popen(
        [sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
        cwd=tmp_path, env={**os.environ, **IDENTITY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and process.poll() is None, "the experiment never started"
        time.sleep(0.1)
    return process


def test_run_sees_uncommitted_edits_and_leaves_the_repo_untouched(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"config.txt": "committed\n"})
    (repo / "config.txt").write_text("uncommitted edit\n")
    before = RepoState.of(repo)
    brain = tmp_path / "brain.md"
    brain.write_text(THREE)

    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert RepoState.of(repo) == before
    out = done.stdout.decode()
    assert out.startswith("<experiment_results") and out.rstrip().endswith("</experiment_results>")

    results = results_at(repo, "wild/main", 1)
    experiments = results["experiments"]
    assert [e["status"] for e in experiments] == ["succeeded", "failed", "succeeded"]
    assert [e["exit_code"] for e in experiments] == [0, 3, 0]
    assert experiments[0]["stdout_tail"] == "uncommitted edit"
    assert "something broke" in experiments[1]["stderr_tail"]
    assert experiments[2]["outputs"] == ["outputs/answer.txt"]
    assert git(repo, "log", "-1", "--format=%s", "wild/main").startswith(
        "wild: results of main iteration 0001"
    )
    iteration_commit = git(repo, "rev-parse", "wild/main^")
    assert "wild: main iteration 0001" in git(repo, "log", "-1", "--format=%s", iteration_commit)
    assert "| ❌ failed | `fail-loudly` |" in git(repo, "show", "wild/main:.wild/iterations/0001/results.md")

    # the artifacts stay where wild-ci said, outside the work tree
    assert "each experiment's logs and outputs" in done.stderr.decode()
    run_dir = repo / ".git" / "wild-ci" / "runs" / "main" / "0001"
    assert sorted(p.name for p in (run_dir / "artifacts").glob("*/*")) == [
        "wild-0001-fail-loudly",
        "wild-0001-read-the-edited-config",
        "wild-0001-write-the-answer",
    ]
    assert (run_dir / "legs/write-the-answer/outputs/outputs/answer.txt").read_text() == "42\n"
    assert (run_dir / "legs/fail-loudly/stderr.log").read_text() == "something broke\n"

    # a second run makes iteration 0002 on top of the first one's results
    (repo / "config.txt").write_text("second edit\n")
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert results_at(repo, "wild/main", 2)["experiments"][0]["stdout_tail"] == "second edit"
    history = git(repo, "log", "--format=%s", "wild/main").splitlines()
    assert history[:4] == [
        "wild: results of main iteration 0002 [skip ci]",
        "wild: main iteration 0002 (3 experiments)",
        "wild: results of main iteration 0001 [skip ci]",
        "wild: main iteration 0001 (3 experiments)",
    ]

    latest = run_cli("context", "--repo", str(repo))
    assert latest.returncode == 0 and 'iteration="0002"' in latest.stdout.decode()
    first = run_cli("context", "--repo", str(repo), "--iteration", "1")
    assert 'iteration="0001"' in first.stdout.decode() and "uncommitted edit" in first.stdout.decode()


def test_lost_legs_timeouts_and_crashes_are_reported(make_repo, tmp_path: Path) -> None:
    repo = make_repo(UNSANDBOXED)  # in a sandbox neither its executor nor wild-out is within reach
    brain = tmp_path / "brain.md"
    brain.write_text(
        "<experiments>\n"
        "- goal: Too slow\n  command: echo begun; sleep 60\n  timeout: 2\n"
        "- goal: Executor crashes\n  command: echo partial; sleep 1; kill -9 $PPID\n"
        '- goal: Leg vanishes\n  command: rm -rf "${RUNNER_TEMP:-$PWD/../tmp}/wild-out"; kill -9 $PPID\n'
        "- goal: Fine\n  command: echo fine\n"
        "</experiments>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    by_id = {e["id"]: e for e in results_at(repo, "wild/main", 1)["experiments"]}
    assert by_id["too-slow"]["status"] == "timed_out"
    assert by_id["too-slow"]["stdout_tail"] == "begun"
    assert by_id["executor-crashes"]["status"] == "cancelled"
    assert by_id["executor-crashes"]["stdout_tail"] == "partial"
    # It deleted its output folder and killed its executor: nothing to upload (missing), with a note.
    # It came back `cancelled` now and then, when a log pump created its file in the folder while
    # rm was emptying it (#26 item 18; forced in test_execute_races.py): the pumps create nothing now.
    assert by_id["leg-vanishes"]["status"] == "missing"
    assert by_id["leg-vanishes"]["note"]
    assert by_id["fine"]["status"] == "succeeded"


def test_when_the_collect_job_cannot_push_the_host_collects(make_repo, tmp_path: Path) -> None:
    """The collect job pushes to wild-ci's staging repository, never the user's (issue 23): a git
    template (GIT_TEMPLATE_DIR, which the clone wild-ci makes it from reads) gives it a hook that
    refuses the push."""
    repo = make_repo()
    hook = tmp_path / "template" / "hooks" / "pre-receive"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\necho 'pushes are refused here' >&2\nexit 1\n")
    hook.chmod(0o755)
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: one\n  command: echo one\n</experiments>\n")
    refuse = {"GIT_TEMPLATE_DIR": str(hook.parent.parent)}
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path, env=refuse)
    assert done.returncode == 1
    assert "collect job did not commit the results; wild-ci collected the results on the host" in (
        done.stderr.decode()
    )
    assert results_at(repo, "wild/main", 1)["experiments"][0]["stdout_tail"] == "one"
    assert done.stdout.decode().startswith("<experiment_results")


def test_bad_brain_output_runs_nothing(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: no command here\n</experiments>\n")
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 2
    assert b"brain.md:2: error: 'command' is required" in done.stderr
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_demo_runs_the_bundled_example(tmp_path: Path) -> None:
    done = run_cli("demo", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "train-the-baseline-with-a-moderate-learning-rate: succeeded" in out
    assert "check-that-the-data-validator-rejects-malformed: failed" in out
    assert "outputs: outputs/answer.txt" in out


def test_a_run_stopped_midway_still_records_every_experiment(make_repo, tmp_path: Path) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # the marker file
    started = tmp_path / "started"
    process = start_run_until(quick_and_slow(started), repo, tmp_path, started)
    time.sleep(1.0)  # let the quick one upload its artifact
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    by_id = {e["id"]: e for e in results_at(repo, "wild/main", 1)["experiments"]}
    assert by_id["quick"]["status"] == "succeeded"
    assert by_id["slow"]["status"] == "cancelled" and by_id["slow"]["stdout_tail"] == "begun"


def test_actrc_files_cannot_change_the_run(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".actrc": "--matrix experiment:other\n", "README.md": "x\n"})
    home = tmp_path / "home"
    home.mkdir()
    (home / ".actrc").write_text("--matrix experiment:elsewhere\n")
    brain = tmp_path / "brain.md"
    brain.write_text('<experiments>\n- goal: hello\n  command: echo "$HOME"\n</experiments>\n')
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "run", str(brain), "--repo", str(repo)],
        cwd=tmp_path, env={**os.environ, **IDENTITY, "HOME": str(home)}, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    result = results_at(repo, "wild/main", 1)["experiments"][0]
    assert result["status"] == "succeeded"
    assert result["stdout_tail"] == str(home)  # the experiment still sees the user's real HOME


def test_experiments_never_write_into_the_users_tree_via_a_symlink(make_repo, tmp_path: Path) -> None:
    real = make_repo()
    link = tmp_path / "link"
    link.symlink_to(real)
    before = RepoState.of(real)
    brain = tmp_path / "brain.md"
    brain.write_text(
        f"<experiments>\n- goal: write\n  command: cd {link} && echo x > new.txt && cd {real} && ls\n"
        "</experiments>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(link), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert RepoState.of(real) == before
    listing = results_at(real, "wild/main", 1)["experiments"][0]["stdout_tail"].split()
    assert listing == ["README.md", "new.txt", "outputs"]  # outputs/ is made by the leg


def test_a_fenced_request_tells_the_brain_why_nothing_ran(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = tmp_path / "brain.md"
    brain.write_text(
        "```\n<experiments>\n- goal: g\n  command: ls\n</experiments>\n```\n<promise>WAITING</promise>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    # committed as an iteration without a run (#16): the ledger keeps what the brain wrote
    assert out.startswith('<experiment_results session="main" iteration="0001">\nNo experiments were run.')
    assert "line 2: an <experiments> block inside a code span or fenced code block" in out
    assert out.endswith("Your promise was WAITING.\n</experiment_results>\n")
    assert git(repo, "ls-tree", "--name-only", "wild/main:.wild/iterations/0001").split() == [
        "brain.md",
        "experiments.json",
    ]


def test_runner_labels_per_experiment_map_to_host_mode(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".wild/config.yml": "runner_labels: [[self-hosted, gpu]]\n"})
    brain = tmp_path / "brain.md"
    brain.write_text(
        "<experiments>\n- goal: On the GPU box\n  command: echo gpu\n  runs_on: [self-hosted, gpu]\n"
        "- goal: Anywhere\n  command: echo cpu\n</experiments>\n"
    )
    done = run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    by_id = {e["id"]: e for e in results_at(repo, "wild/main", 1)["experiments"]}
    assert by_id["on-the-gpu-box"]["stdout_tail"] == "gpu" and by_id["anywhere"]["stdout_tail"] == "cpu"
    import yaml

    workflow = yaml.safe_load(git(repo, "show", "wild/main:.github/workflows/wild-experiments.yml"))
    # one matrix job per set of runner labels; act ran both, and the collect job waited for both
    shards = {name: job for name, job in workflow["jobs"].items() if name not in ("collect", "gate")}
    assert {
        name: (job["runs-on"], job["strategy"]["matrix"]["experiment"]) for name, job in shards.items()
    } == {
        "experiment": (["self-hosted", "gpu"], ["on-the-gpu-box"]),
        "experiment-2": (["ubuntu-latest"], ["anywhere"]),
    }
    assert workflow["jobs"]["collect"]["needs"] == ["gate", "experiment", "experiment-2"]


def test_a_second_run_of_the_same_session_is_refused(make_repo, tmp_path: Path) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # the marker file
    started = tmp_path / "started"
    brain_text = f"<experiments>\n- goal: slow\n  command: touch {started}; sleep 8\n</experiments>\n"
    first = start_run_until(brain_text, repo, tmp_path, started)
    second = run_cli("run", str(tmp_path / "brain.md"), "--repo", str(repo), cwd=tmp_path)
    assert second.returncode == 1
    assert b"a wild-ci run of session 'main' is already in progress (pid " in second.stderr
    assert first.wait(timeout=120) == 0
    assert git(repo, "log", "--format=%s", "wild/main").count("iteration") == 2  # one iteration only


def test_act_killed_with_sigkill_still_leaves_every_result(make_repo, tmp_path: Path) -> None:
    repo = make_repo(writable_for_tests(tmp_path))  # the marker file
    started = tmp_path / "started"
    process = start_run_until(quick_and_slow(started), repo, tmp_path, started)
    time.sleep(1.0)
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    acts = [pid for pid in children if "act" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")[0]]
    assert len(acts) == 1, children
    os.kill(int(acts[0]), signal.SIGKILL)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "act was killed (signal 9)" in err.decode()
    by_id = {e["id"]: e for e in results_at(repo, "wild/main", 1)["experiments"]}
    assert by_id["quick"]["status"] == "succeeded"
    assert by_id["slow"]["status"] in ("cancelled", "missing")
    assert by_id["slow"]["stdout_tail"] == "begun"
    assert subprocess.run(["pgrep", "-f", f"touch {started}; sleep 120"], capture_output=True).stdout == b""


def test_status_show_and_logs_read_the_ledger(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"config.txt": "v\n"})
    brain = tmp_path / "brain.md"
    brain.write_text(THREE)
    assert run_cli("run", str(brain), "--repo", str(repo), cwd=tmp_path).returncode == 0
    status = json.loads(run_cli("status", "--repo", str(repo), "--json").stdout)
    assert status["sessions"] == [{
        "session": "main", "branch": "wild/main",
        "iterations": [{"iteration": 1, "experiments": 3, "state": "collected",
                        "counts": {"succeeded": 2, "failed": 1}, "promise": "WAITING"}],
        "conclusion": None,  # no DONE yet
        "guidance": [],  # nothing queued with `wild-ci steer`
    }]  # fmt: skip
    text = run_cli("status", "--repo", str(repo)).stdout.decode()
    assert "0001  3 experiment(s)  collected: 2 succeeded, 1 failed · promise WAITING" in text
    shown = run_cli("show", "--repo", str(repo)).stdout.decode()
    assert "fail-loudly" in shown and "3 experiments: 2 succeeded, 1 failed" in shown
    assert json.loads(run_cli("show", "--repo", str(repo), "--json").stdout)["iteration"] == 1
    assert run_cli("logs", "fail-loudly", "--repo", str(repo), "--stderr").stdout == b"something broke\n"
    assert run_cli("logs", "read-the-edited-config", "--repo", str(repo)).stdout == b"v\n"
    unknown = run_cli("logs", "nope", "--repo", str(repo))
    assert unknown.returncode == 2 and b"known: read-the-edited-config" in unknown.stderr
