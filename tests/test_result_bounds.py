"""A hostile leg's result.json must not lose the iteration's results: collect reads a leg's
result.json only up to a bound, commits a bounded record of each experiment, and keeps the whole
results.json well under GitHub's 100 MiB per file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git

from wild_ci import collect, execute, report
from wild_ci.engines.github import artifact_paths
from wild_ci.generate import submit
from wild_ci.ledger import open_repo
from wild_ci.specs import COMMITTED_OUTPUTS, IterationResults

BRAIN = b"""<experiments>
- goal: ok
  command: "true"
- goal: broken
  command: "false"
</experiments>
"""


def leg(artifacts: Path, name: str, result: dict, stdout: bytes = b"") -> Path:
    path = artifacts / f"wild-0001-{name}"
    path.mkdir(parents=True)
    (path / "stdout.log").write_bytes(stdout)
    (path / "stderr.log").write_bytes(b"")
    text = json.dumps({"id": name, **result}, ensure_ascii=False)  # as the leg writes it
    (path / "result.json").write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def iteration(make_repo, tmp_path: Path):
    repo = make_repo()
    submission = submit(repo, BRAIN)
    artifacts = tmp_path / "artifacts"
    leg(artifacts, "broken", {"status": "failed", "exit_code": 1}, b"trace\n")
    return repo, submission, artifacts


def committed(repo: Path) -> tuple[bytes, str]:
    text = git(repo, "show", "wild/main:.wild/iterations/0001/results.json")
    markdown = git(repo, "show", "wild/main:.wild/iterations/0001/results.md")
    return text.encode(), markdown


def test_an_oversized_result_json_fails_its_own_experiment_only(iteration, monkeypatch) -> None:
    """Over the read bound nothing of the file is used (not its status, not its renamings): the
    experiment is failed with a note; the other experiment keeps its result."""
    monkeypatch.setattr(artifact_paths, "RESULT_MAX_BYTES", 10_000)
    _repo, submission, artifacts = iteration
    folder = leg(artifacts, "ok", {"status": "succeeded", "exit_code": 0, "note": "x" * 12_000}, b"fine\n")
    (folder / "outputs").mkdir()
    (folder / "outputs" / "a_b").write_text("kept")
    (folder / "result.json").write_text(
        json.dumps(
            {"id": "ok", "status": "succeeded", "renamed_outputs": {"a_b": "a:b"}, "note": "x" * 12_000}
        )
    )
    by_id = {
        r.id: r for r in collect.collect_results(submission.spec, artifacts, submission.commit).experiments
    }
    assert by_id["ok"].status == "failed" and "over the 10000-byte bound" in by_id["ok"].note
    assert by_id["ok"].stdout_tail == "fine" and by_id["ok"].exit_code is None
    assert artifact_paths.restore_leg(folder) == [] and (folder / "outputs" / "a_b").is_file()
    assert by_id["broken"].status == "failed" and by_id["broken"].exit_code == 1


def test_the_committed_record_lists_some_outputs_and_their_count(iteration) -> None:
    """results.json lists at most COMMITTED_OUTPUTS output names with the count, and not the
    renamings, which collect has already used to restore the files."""
    repo, submission, artifacts = iteration
    outputs = [f"outputs/run:{i:05}.json" for i in range(COMMITTED_OUTPUTS + 300)]
    renamed = {
        name.replace(":", "_").removeprefix("outputs/"): name.removeprefix("outputs/") for name in outputs
    }
    leg(
        artifacts,
        "ok",
        {"status": "succeeded", "exit_code": 0, "outputs": outputs, "renamed_outputs": renamed},
    )
    results = collect.collect_results(submission.spec, artifacts, submission.commit)
    collect.commit_locally(open_repo(repo), results)
    text, markdown = committed(repo)
    assert "`outputs/run:00199.json` and 300 more (in the artifact)" in markdown
    ok = json.loads(text)["experiments"][0]
    assert ok["outputs"] == outputs[:COMMITTED_OUTPUTS] and ok["outputs_total"] == len(outputs)
    assert "renamed_outputs" not in ok
    read_back = IterationResults.from_json(json.loads(text)).experiments[0]  # what a brain is shown
    assert report.outputs_text(read_back).endswith(", outputs/run:00199.json and 300 more (in the artifact)")
    assert read_back.to_record()["outputs_total"] == len(outputs)  # committed again: still counted


def test_a_result_json_at_the_field_limits_leaves_a_bounded_results_json(iteration) -> None:
    """A leg's fields near their limits (10,000 outputs, each renamed; 10,000 metrics with names of
    1,000 two-byte characters: 20 MB), under the read bound: results.json stays under
    RESULTS_MAX_BYTES, the experiment keeps its status and, with its record cut, says so; the
    other experiment is whole."""
    repo, submission, artifacts = iteration
    outputs = [f"outputs/{i:05}:" + "n" * 300 for i in range(10_000)]
    result = {
        "status": "succeeded",
        "exit_code": 0,
        "outputs": outputs,
        "renamed_outputs": {name.replace(":", "_"): name for name in outputs},
        "metrics": {f"{i:05}" + "é" * 995: 0.5 for i in range(10_000)},
    }
    folder = leg(artifacts, "ok", result, b"fine\n")
    size = (folder / "result.json").stat().st_size
    assert 25 * 2**20 < size <= 32 * 2**20  # large, and read (artifact_paths.RESULT_MAX_BYTES)
    results = collect.collect_results(submission.spec, artifacts, submission.commit)
    collect.commit_locally(open_repo(repo), results)
    text, _markdown = committed(repo)
    assert len(text) <= 10 * 2**20  # collect.RESULTS_MAX_BYTES: a fifth of where GitHub warns
    stored = json.loads(text)
    ok, broken = stored["experiments"]
    assert ok["status"] == "succeeded" and ok["exit_code"] == 0 and ok["outputs_total"] == 10_000
    assert broken["status"] == "failed" and broken["exit_code"] == 1 and broken["stdout_tail"] == "trace"
    assert any("over its" in note and "ok" in note for note in stored["notes"])


def test_records_over_the_whole_bound_are_cut_largest_first(iteration, monkeypatch) -> None:
    """Over the bound, the largest records are cut to their outcome until the file fits, and a
    note names them; a small record stays whole."""
    monkeypatch.setattr(collect, "RESULTS_MAX_BYTES", 100_000)
    repo, submission, artifacts = iteration
    metrics = {f"metric-{i:04}-" + "m" * 100: float(i) for i in range(2_000)}
    leg(
        artifacts,
        "ok",
        {"status": "succeeded", "exit_code": 0, "metrics": metrics, "note": "mine"},
        b"fine\n",
    )
    results = collect.collect_results(submission.spec, artifacts, submission.commit)
    collect.commit_locally(open_repo(repo), results)
    text, _markdown = committed(repo)
    assert len(text) <= 100_000
    stored = json.loads(text)
    ok, broken = stored["experiments"]
    assert ok["status"] == "succeeded" and ok["metrics"] == {} and ok["stdout_tail"] == ""
    assert (
        ok["note"]
        == "its record was too large for results.json: only its outcome was kept (not its 2000 metrics); mine"
    )
    assert broken["stdout_tail"] == "trace" and broken["exit_code"] == 1
    assert any("the records of 1 experiment(s) were cut to their outcome (ok)" in n for n in stored["notes"])
    assert not collect.commit_locally(open_repo(repo), results).created  # collecting again: the same file


def test_an_honest_leg_lists_output_names_only_up_to_their_cap(tmp_path: Path, monkeypatch) -> None:
    """The executor keeps outputs only while their names together fit MAX_OUTPUT_NAME_CHARS (the
    rest noted, as for its other caps), so an honest leg's result.json stays readable by collect."""
    monkeypatch.setattr(execute, "MAX_OUTPUT_NAME_CHARS", 100)
    workdir, target = tmp_path / "work", tmp_path / "out"
    (workdir / "outputs").mkdir(parents=True)
    for i in range(5):
        (workdir / "outputs" / (f"{i}-" + "n" * 30)).write_text("x")  # 40 characters with outputs/
    kept, _renamed, note = execute._copy_outputs(workdir, {}, [], target, 10**9)
    assert len(kept) == 2 and sorted(p.name for p in (target).rglob("*") if p.is_file()) == sorted(
        Path(k).name for k in kept
    )
    assert note is not None and "3 output file(s) not kept" in note and "100 characters of names" in note
