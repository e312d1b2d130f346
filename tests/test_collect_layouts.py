"""Collect reads the artifacts whatever layout download-artifact v5+ gives them (pinned v8.0.2):
one artifact straight into `path`, several in one folder each, `merge-multiple` all into `path`
(tests/test_artifact_contract.py holds the sources). Each leg is identified by what it uploaded:
its folder's name *and* its result.json, or, with no folder, its result.json; a layout no download
makes is reported, not guessed (docs/github-conformance.md, "download-artifact: where artifacts
land")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git

from wild_ci import collect
from wild_ci.generate import submit

ONE = b"<experiments>\n- goal: only\n  command: 'true'\n</experiments>\n"
MANY = (
    b"<experiments>\n"
    + b"".join(b"- goal: %s\n  command: 'true'\n" % g for g in (b"a", b"b", b"c"))
    + b"</experiments>\n"
)


def leg_files(folder: Path, experiment_id: str, status: str = "succeeded") -> None:
    """What a leg uploads: its logs and result.json at the artifact's top."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stdout.log").write_text(f"{experiment_id} says hi\n")
    (folder / "stderr.log").write_text("")
    result = {"id": experiment_id, "status": status, "exit_code": 0 if status == "succeeded" else 1}
    (folder / "result.json").write_text(json.dumps(result))


def collect_cli(repo: Path, commit: str, artifacts: Path) -> dict[str, dict]:
    """`wild-ci collect --iteration 1 --artifacts DIR`, as the collect job runs it."""
    env = {**os.environ, **IDENTITY, "WILD_COMMIT": commit}
    env.pop("GITHUB_SHA", None)
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "collect", "--repo", str(repo), "--iteration", "1",
         "--artifacts", str(artifacts)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    return {e["id"]: e for e in stored["experiments"]}


def test_a_one_experiment_iteration_downloaded_straight_into_path_succeeds(make_repo, tmp_path: Path) -> None:
    """The pattern matched one artifact, so download-artifact v8 put its files in `path` itself
    (issue 14, finding 1: today this collects as "1 missing")."""
    repo = make_repo()
    submission = submit(repo, ONE)
    leg_files(tmp_path / "artifacts", "only")
    by_id = collect_cli(repo, submission.commit, tmp_path / "artifacts")
    assert by_id["only"]["status"] == "succeeded"
    assert by_id["only"]["stdout_tail"] == "only says hi"


def test_a_many_experiment_iteration_in_one_folder_each_succeeds(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    submission = submit(repo, MANY)
    for experiment_id in ("a", "b", "c"):
        leg_files(tmp_path / "artifacts" / f"wild-0001-{experiment_id}", experiment_id)
    by_id = collect_cli(repo, submission.commit, tmp_path / "artifacts")
    assert {i: e["status"] for i, e in by_id.items()} == dict.fromkeys("abc", "succeeded")
    assert by_id["b"]["stdout_tail"] == "b says hi"


def test_when_one_leg_of_many_came_back_its_files_are_read_from_path(make_repo, tmp_path: Path) -> None:
    """Only one artifact matched (the other legs' runners died): it is in `path` itself, and its
    result.json says whose it is; the others are missing, not given its result."""
    repo = make_repo()
    submission = submit(repo, MANY)
    leg_files(tmp_path / "artifacts", "b")
    by_id = collect_cli(repo, submission.commit, tmp_path / "artifacts")
    assert {i: e["status"] for i, e in by_id.items()} == {"a": "missing", "b": "succeeded", "c": "missing"}
    assert by_id["b"]["stdout_tail"] == "b says hi"


def test_merged_artifacts_are_read_by_the_result_json_that_survived(make_repo, tmp_path: Path) -> None:
    """`merge-multiple: true` extracts every artifact into `path`, later ones over earlier ones: one
    leg's files survive (the workflow never merges; a user's own download might)."""
    repo = make_repo()
    submission = submit(repo, MANY)
    for experiment_id in ("a", "c"):  # c extracted last, over a
        leg_files(tmp_path / "artifacts", experiment_id, "failed" if experiment_id == "c" else "succeeded")
    by_id = collect_cli(repo, submission.commit, tmp_path / "artifacts")
    assert {i: e["status"] for i, e in by_id.items()} == {"a": "missing", "b": "missing", "c": "failed"}


def test_a_merged_one_experiment_iteration_succeeds(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    submission = submit(repo, ONE)
    leg_files(tmp_path / "artifacts", "only")
    (tmp_path / "artifacts/outputs").mkdir()
    (tmp_path / "artifacts/outputs/answer.txt").write_text("42")
    by_id = collect_cli(repo, submission.commit, tmp_path / "artifacts")
    assert by_id["only"]["status"] == "succeeded"


def test_a_flat_artifact_that_names_another_experiment_is_not_used(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    submission = submit(repo, ONE)
    leg_files(tmp_path / "artifacts", "someone-else")
    results = collect.collect_results(submission.spec, tmp_path / "artifacts", submission.commit)
    (only,) = results.experiments
    assert only.status == "failed"
    assert "names 'someone-else', not 'only'" in (only.note or "")


def test_a_flat_artifact_of_no_experiment_in_a_many_experiment_iteration_is_reported(
    make_repo, tmp_path: Path
) -> None:
    repo = make_repo()
    submission = submit(repo, MANY)
    leg_files(tmp_path / "artifacts", "intruder")
    results = collect.collect_results(submission.spec, tmp_path / "artifacts", submission.commit)
    assert [r.status for r in results.experiments] == ["missing"] * 3
    assert results.notes == [
        f"one artifact's files came back straight into {tmp_path / 'artifacts'}, and its result.json "
        "names no experiment of the iteration, so they were not used"
    ]


@pytest.mark.parametrize("top", ["a", "c"])
def test_a_mixed_layout_is_reported_not_guessed(make_repo, tmp_path: Path, top: str) -> None:
    """Leg files at the top of the folder *and* leg folders: no download makes that (it would be one
    artifact whose own content holds another leg's folder), so none of them is read."""
    repo = make_repo()
    submission = submit(repo, MANY)
    leg_files(tmp_path / "artifacts", top)
    leg_files(tmp_path / "artifacts/wild-0001-b", "b")
    results = collect.collect_results(submission.spec, tmp_path / "artifacts", submission.commit)
    by_id = {r.id: r for r in results.experiments}
    assert all(r.status == "missing" for r in results.experiments)
    for concerned in sorted({top, "b"}):
        assert "was not guessed" in (by_id[concerned].note or "")
    assert len(results.notes) == 1 and "wild-0001-b" in results.notes[0]
