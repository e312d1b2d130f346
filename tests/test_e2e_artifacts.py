"""The artifact stand-ins through the real act binary and its artifact server, and iterations of one
and of many experiments collected by the workflow's own collect job (issue 14, findings 1 and 2).
Sources: tests/test_artifact_contract.py and docs/github-conformance.md."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from helpers import git, play_workflow, run_cli

from wild_ci.engines.act.engine import ACT
from wild_ci.specs import COMMITTED_OUTPUTS

pytestmark = pytest.mark.e2e

UPLOAD = ACT.actions["upload_artifact"].uses
DOWNLOAD = ACT.actions["download_artifact"].uses

# Every check is a step of the workflow: the job fails, and act with it, when one does not hold.
WORKFLOW = f"""
name: contract
on: push
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p "$RUNNER_TEMP/one" "$RUNNER_TEMP/two"
          echo first > "$RUNNER_TEMP/one/f.txt"; echo second > "$RUNNER_TEMP/two/f.txt"
      - uses: {UPLOAD}
        with: {{name: wild-0001-a, path: "${{{{ runner.temp }}}}/one"}}
      - uses: {UPLOAD}
        with: {{name: wild-0001-b, path: "${{{{ runner.temp }}}}/one"}}
      - id: again
        continue-on-error: true
        uses: {UPLOAD}
        with: {{name: wild-0001-a, path: "${{{{ runner.temp }}}}/two"}}
      - if: steps.again.outcome != 'failure'
        run: echo "a second upload of the same name must fail (409) without overwrite"; exit 1
      - uses: {UPLOAD}
        with: {{name: wild-0001-a, path: "${{{{ runner.temp }}}}/two", overwrite: true}}
  down:
    needs: up
    runs-on: ubuntu-latest
    steps:
      - uses: {DOWNLOAD}
        with: {{name: wild-0001-a, path: "${{{{ runner.temp }}}}/by-name"}}
      - run: test "$(cat "$RUNNER_TEMP/by-name/f.txt")" = second
      - uses: {DOWNLOAD}
        with: {{pattern: "wild-0001-b*", path: "${{{{ runner.temp }}}}/one-match"}}
      - run: test "$(cat "$RUNNER_TEMP/one-match/f.txt")" = first
      - uses: {DOWNLOAD}
        with: {{pattern: "wild-0001-*", path: "${{{{ runner.temp }}}}/several"}}
      - run: |
          test "$(cat "$RUNNER_TEMP/several/wild-0001-a/f.txt")" = second
          test -f "$RUNNER_TEMP/several/wild-0001-b/f.txt"
      - uses: {DOWNLOAD}
        with: {{pattern: "wild-0001-*", path: "${{{{ runner.temp }}}}/merged", merge-multiple: true}}
      - run: test -f "$RUNNER_TEMP/merged/f.txt" && test ! -e "$RUNNER_TEMP/merged/wild-0001-a"
"""


def test_the_stand_ins_behave_as_the_pinned_versions_under_act(make_repo, tmp_path: Path) -> None:
    """download-artifact v8: a name, or a pattern that matches one artifact, extracts straight into
    `path`; several, one folder each; `merge-multiple`, all into `path`. upload-artifact v7: a name
    the run has is refused (409) unless `overwrite: true`, which replaces it. act's own server
    replaces an artifact silently, so the stand-in checks first."""
    repo = make_repo({".github/workflows/contract.yml": WORKFLOW})
    done = play_workflow(repo, repo / ".github/workflows/contract.yml", tmp_path)
    lines = [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]
    failed = [line.get("msg") for line in lines if line.get("stepResult") == "failure"]
    assert done.returncode == 0, (failed, done.stdout.decode()[-4000:], done.stderr.decode()[-2000:])
    said = "\n".join(str(line.get("msg", "")) for line in lines)
    assert "(409) Conflict: an artifact with this name already exists on the workflow run" in said


def downloads(log: str) -> list[str]:
    """What the collect job's download step said it extracted, and where (act's --json log)."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [str(m).strip() for line in lines if "downloaded artifact" in str(m := line.get("msg", ""))]


def run_iteration(make_repo, tmp_path: Path, brain: str) -> tuple[dict, list[str]]:
    repo = make_repo()
    (tmp_path / "brain.md").write_text(brain)
    done = run_cli("run", str(tmp_path / "brain.md"), "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    stored = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/results.json"))
    log = (repo / ".git/wild-ci/runs/main/0001/act.log").read_text(errors="replace")
    return {e["id"]: e for e in stored["experiments"]}, downloads(log)


def test_a_one_experiment_iteration_is_collected_by_the_workflow(make_repo, tmp_path: Path) -> None:
    """Acceptance 1: the collect job's download gets the one artifact straight in its `path`, as
    download-artifact v8 does, and still records the experiment as succeeded."""
    by_id, said = run_iteration(
        make_repo, tmp_path, "<experiments>\n- goal: Only one\n  command: echo alone\n</experiments>\n"
    )
    assert by_id["only-one"]["status"] == "succeeded"
    assert by_id["only-one"]["stdout_tail"] == "alone"
    (line,) = said
    assert line.startswith("downloaded artifact wild-0001-only-one:")
    assert line.endswith("/wild-artifacts")  # straight into path


def test_a_many_experiment_iteration_is_collected_by_the_workflow(make_repo, tmp_path: Path) -> None:
    by_id, said = run_iteration(
        make_repo,
        tmp_path,
        "<experiments>\n- goal: First\n  command: echo 1\n- goal: Second\n  command: echo 2\n"
        "- goal: Third\n  command: echo 3\n</experiments>\n",
    )
    assert {i: e["status"] for i, e in by_id.items()} == dict.fromkeys(
        ("first", "second", "third"), "succeeded"
    )
    assert len(said) == 3 and all(s.endswith(s.split()[2].rstrip(":")) for s in said)  # one folder each


def test_an_output_named_with_a_colon_comes_back_succeeded_under_its_own_name(
    make_repo, tmp_path: Path
) -> None:
    """Issue 25 finding 1, through act: upload-artifact's toolkit refuses `:` and a line feed in a
    path (docs/github-conformance.md), and so does the stand-in, so the leg uploads the files under
    names GitHub accepts; the experiment is `succeeded`, and its files are back under their own
    names, with their content, in the run's legs folder."""
    command = (
        "printf '{\"loss\": 0.5}' > outputs/run-2026-01-01T12:00:00.json; "
        "printf 'two lines' > outputs/$'line\\nfeed.txt'"
    )
    brain = f"<experiments>\n- goal: Stamped\n  command: {json.dumps(command)}\n</experiments>\n"
    by_id, _said = run_iteration(make_repo, tmp_path, brain)
    stamped = by_id["stamped"]
    assert stamped["status"] == "succeeded", stamped
    originals = ["outputs/line\nfeed.txt", "outputs/run-2026-01-01T12:00:00.json"]
    assert sorted(stamped["outputs"]) == originals
    assert "renamed_outputs" not in stamped  # used at collect to restore the names, not committed
    run_dir = tmp_path / "project/.git/wild-ci/runs/main/0001"
    assert json.loads((run_dir / "legs/stamped/result.json").read_text())["renamed_outputs"] == {
        "outputs/line_feed.txt": "outputs/line\nfeed.txt",
        "outputs/run-2026-01-01T12_00_00.json": "outputs/run-2026-01-01T12:00:00.json",
    }
    (archive,) = (run_dir / "artifacts").glob("*/wild-0001-stamped/*.zip")
    with zipfile.ZipFile(archive) as zipped:  # what act's server received: names GitHub accepts
        assert all(not set(name) & set('":<>|*?\r\n') for name in zipped.namelist())
    leg = run_dir / "legs/stamped/outputs"
    assert (leg / "outputs/run-2026-01-01T12:00:00.json").read_text() == '{"loss": 0.5}'
    assert (leg / "outputs/line\nfeed.txt").read_text() == "two lines"
    assert not (leg / "outputs/run-2026-01-01T12_00_00.json").exists()


def test_many_renamed_outputs_are_restored_and_committed_as_a_bounded_list(make_repo, tmp_path: Path) -> None:
    """A hostile result.json (found by an attack): the names of an experiment's outputs were all
    committed, twice when renamed, so enough of them pushed results.json past GitHub's 100 MiB.
    Through act: 250 outputs named with `:` all come back under their own names, and results.json
    lists COMMITTED_OUTPUTS of them with their count and no renamings."""
    command = 'for i in $(seq 1 250); do echo $i > "outputs/run:$i.txt"; done'
    brain = f"<experiments>\n- goal: Many\n  command: {json.dumps(command)}\n</experiments>\n"
    by_id, _said = run_iteration(make_repo, tmp_path, brain)
    many = by_id["many"]
    assert many["status"] == "succeeded", many
    assert len(many["outputs"]) == COMMITTED_OUTPUTS and many["outputs_total"] == 250
    assert "renamed_outputs" not in many
    leg = tmp_path / "project/.git/wild-ci/runs/main/0001/legs/many/outputs/outputs"
    assert sorted(p.name for p in leg.iterdir()) == sorted(f"run:{i}.txt" for i in range(1, 251))
