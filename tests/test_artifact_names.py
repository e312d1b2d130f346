"""Outputs whose names GitHub's artifacts refuse (issue 25, finding 1).

upload-artifact v7 fails the *whole* upload when one file's path holds `" : < > | * ? \\r \\n`
(actions/toolkit packages/artifact 6.2.0, `path-and-artifact-name-validation.ts` lines 11-21 and
60-82; docs/github-conformance.md), so an experiment writing `outputs/run-2026-01-01T12:00:00.json`
would come back `missing`. The leg uploads such files under names GitHub accepts, records the
originals in result.json (`renamed_outputs`), and collect puts them back where that is safe.
The fake GitHub builds the artifact zip by the toolkit's rules (tests/fake_github.py `artifact_zip`),
written from the toolkit's source apart from wild-ci's own code.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from fake_github import FakeGitHub, UploadRefused, artifact_zip
from helpers import git

from wild_ci import collect, report
from wild_ci.config import Config
from wild_ci.engines.github import artifact_paths
from wild_ci.engines.github.artifact_paths import restore_names, upload_names
from wild_ci.engines.github.client import GitHubClient, GitHubSettings
from wild_ci.execute import MAX_OUTPUT_DEPTH, execute
from wild_ci.generate import submit
from wild_ci.ledger import open_repo
from wild_ci.specs import Experiment, ExperimentResult

ROOT = "/brain/root"
STAMP = "outputs/run-2026-01-01T12:00:00.json"
SCRIPT = r"""
import os
def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
write("outputs/run-2026-01-01T12:00:00.json", '{"loss": 0.25}')
write("outputs/line\nfeed.txt", "newline")
write("outputs/a?b.txt", "question")
write("outputs/a_b.txt", "plain")
write("outputs/2026-01-01T12:00/loss.json", "in a folder")
write("outputs/::", "only refused characters")
write("results/x|y<z>.csv", "1,2")
"""
WRITTEN = {
    STAMP: '{"loss": 0.25}',
    "outputs/line\nfeed.txt": "newline",
    "outputs/a?b.txt": "question",
    "outputs/a_b.txt": "plain",
    "outputs/2026-01-01T12:00/loss.json": "in a folder",
    "outputs/::": "only refused characters",
    "results/x|y<z>.csv": "1,2",
}


def checkout(make_repo, command: str, files: dict[str, str]) -> tuple[Path, Path]:
    """Submit one experiment and clone the iteration commit, as a runner's checkout would."""
    repo = make_repo({"README.md": "x\n", **files})
    brain = f"<experiments>\n- goal: names\n  command: {json.dumps(command)}\n</experiments>\n"
    submit(repo, brain.encode(), config=Config(project_root=ROOT))
    workspace = repo.parent / "workspace"
    git(repo.parent, "clone", "--quiet", "--branch", "wild/main", str(repo), str(workspace))
    return repo, workspace


def uploaded_files(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()}


# --- the leg, and the round trip through a GitHub that refuses such paths ---------------------------


def test_a_leg_uploads_refused_names_under_names_github_accepts(make_repo, tmp_path: Path) -> None:
    _repo, ws = checkout(make_repo, "python write.py", {"write.py": SCRIPT})
    out = tmp_path / "out"
    result = execute(ws, 1, "names", out, mirror=False)
    assert result.status == "succeeded"
    assert sorted(result.outputs) == sorted(WRITTEN)  # the experiment's own names
    artifact_zip(out)  # the toolkit's rule (the fake's copy of it) takes every path: no UploadRefused
    files = uploaded_files(out / "outputs")
    assert all(artifact_paths.refused_character(name) is None for name in files)
    recorded = json.loads((out / "result.json").read_text())["renamed_outputs"]
    assert recorded == {
        "outputs/run-2026-01-01T12_00_00.json": STAMP,
        "outputs/line_feed.txt": "outputs/line\nfeed.txt",
        "outputs/a_b-2.txt": "outputs/a?b.txt",  # `outputs/a_b.txt` is the experiment's own
        "outputs/2026-01-01T12_00/loss.json": "outputs/2026-01-01T12:00/loss.json",
        "outputs/__": "outputs/::",
        "results/x_y_z_.csv": "results/x|y<z>.csv",
    }
    assert {files[uploaded] for uploaded in recorded} == {WRITTEN[o] for o in recorded.values()}
    assert files["outputs/a_b.txt"] == "plain"
    assert result.note is not None and "'outputs/a?b.txt' as 'outputs/a_b-2.txt'" in result.note


def test_through_github_the_experiment_succeeds_and_collect_restores_its_names(
    make_repo, tmp_path: Path, fake: FakeGitHub
) -> None:
    """The acceptance of finding 1: uploaded as GitHub's upload-artifact would (the fake refuses
    what the toolkit refuses), downloaded with the client `collect --run-id` uses, collected:
    `succeeded`, every file under its original name with its content."""
    repo, ws = checkout(make_repo, "python write.py", {"write.py": SCRIPT})
    execute(ws, 1, "names", tmp_path / "out", mirror=False)
    run = fake.add_run(git(repo, "rev-parse", "wild/main"))
    fake.upload_artifact(run["id"], "wild-0001-names", tmp_path / "out")  # UploadRefused on old main
    client = GitHubClient(GitHubSettings(fake.repository, fake.token, api_url=fake.url), polite=False)
    downloaded = tmp_path / "downloaded"
    assert client.download_artifacts(run["id"], "wild-0001-*", downloaded, []) == ["wild-0001-names"]
    spec = collect.committed_spec(open_repo(repo), git(repo, "rev-parse", "wild/main"), 1)
    results = collect.collect_results(spec, downloaded, None)
    (result,) = results.experiments
    assert result.status == "succeeded"
    assert result.note is not None and result.note.startswith("1 output file(s) whose names GitHub")
    outputs = downloaded / "wild-0001-names" / "outputs"
    assert uploaded_files(outputs) == WRITTEN
    again = collect.collect_results(spec, downloaded, None)  # idempotent: restored, nothing to say
    assert again.experiments[0].note == result.note and uploaded_files(outputs) == WRITTEN
    markdown = report.results_markdown(results)
    assert "`outputs/line feed.txt`" in markdown and "\nfeed.txt" not in markdown  # one line stays one


def test_without_renaming_the_fake_refuses_the_upload_as_github_does(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    (tmp_path / "leg/outputs").mkdir(parents=True)
    (tmp_path / "leg/result.json").write_text("{}")
    (tmp_path / f"leg/outputs/{STAMP}").parent.mkdir(parents=True)
    (tmp_path / f"leg/outputs/{STAMP}").write_text("x")
    run = fake.add_run("a" * 40)
    with pytest.raises(UploadRefused, match="Contains the following character: ':'"):
        fake.upload_artifact(run["id"], "wild-0001-x", tmp_path / "leg")
    assert fake.artifacts.get(run["id"], []) == []


# --- the new names -------------------------------------------------------------------------------


def test_names_that_need_no_change_keep_them_and_are_claimed_first() -> None:
    names = upload_names(["o/a:b", "o/a_b", "o/x:/y", "o/x_", "o/d:1/f", "o/d:1/g", "o/d_1/h", "o/ok"])
    assert names.renamed == {
        "o/a:b": "o/a_b-2",
        "o/d:1/f": "o/d_1-2/f",  # one folder for both of its files, beside the experiment's d_1/
        "o/d:1/g": "o/d_1-2/g",
        "o/x:/y": "o/x_-2/y",  # a folder's new name is taken by a file
    }
    assert sorted(names.collided) == ["o/a:b", "o/d:1/f", "o/d:1/g", "o/x:/y"]
    assert upload_names(["o/plain.txt", "o/.hidden"]).renamed == {}


def test_a_suffix_goes_before_the_extension_and_stays_within_a_file_name() -> None:
    long = "x" * 250 + ":.json"  # 256 characters would not fit; the original was 256 too, so it was 255
    names = upload_names(
        ["t:.json", "t_.json", "t?.json", ".c:", ".c_", long[1:], long[1:].replace(":", "_")]
    )
    assert names.renamed["t:.json"] == "t_-2.json" and names.renamed["t?.json"] == "t_-3.json"
    assert names.renamed[".c:"] == ".c_-2"
    assert len(names.renamed[long[1:]].encode()) <= 255 and names.renamed[long[1:]].endswith("-2.json")


def test_any_set_of_names_gets_distinct_accepted_names_that_form_a_tree() -> None:
    """1,000 names a time, drawn from refused characters and their replacement: the uploaded names
    are accepted, one each, and no file's name is a folder of another (a zip could not hold both)."""
    draw = random.Random(25)
    for _ in range(20):
        paths = {
            "/".join(
                "".join(draw.choice(":_?a") for _ in range(draw.randint(1, 3)))
                for _ in range(draw.randint(1, 3))
            )
            for _ in range(1000)
        }
        paths = {p for p in paths if not any(q.startswith(p + "/") for q in paths)}  # files, not folders
        names = upload_names(sorted(paths))
        uploaded = [names.uploaded(p) for p in paths]
        assert len(set(uploaded)) == len(uploaded)
        assert all(artifact_paths.refused_character(u) is None for u in uploaded)
        folders = {u.rsplit("/", 1)[0] for u in uploaded if "/" in u}
        assert not folders & set(uploaded)
        # one original folder, one uploaded folder, for all of its files
        for original in paths:
            head, _, _ = original.rpartition("/")
            if head:
                assert names.uploaded(original).rpartition("/")[0] == next(
                    names.uploaded(p).rpartition("/")[0]
                    for p in sorted(paths)
                    if p.rpartition("/")[0] == head
                )


# --- restoring: the mapping is the experiment's text --------------------------------------------


def outputs_with(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "leg" / "outputs"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


@pytest.mark.parametrize(
    "original",
    ["../escaped", "outputs/../../escaped", "/tmp/escaped", "", "outputs//x", "outputs/./x", "a\0b"],
)
def test_a_restored_name_stays_inside_the_outputs_folder(tmp_path: Path, original: str) -> None:
    root = outputs_with(tmp_path, {"outputs/a_b": "x"})
    (problem,) = restore_names(root, {"outputs/a_b": original})
    assert "is not a name inside the outputs folder" in problem
    assert (root / "outputs/a_b").read_text() == "x"
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/escaped").exists()


def test_an_uploaded_name_outside_the_folder_is_not_moved_in(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s")
    root = outputs_with(tmp_path, {"keep": "k"})
    (problem,) = restore_names(root, {"../../secret": "outputs/stolen"})
    assert "not a name inside" in problem and (tmp_path / "secret").exists()


def test_restoring_never_goes_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = outputs_with(tmp_path, {"outputs/a_b": "x", "outputs/c_d": "y"})
    (root / "outputs/link").symlink_to(outside)  # a folder on the way to the original name
    (root / "outputs/e_f").symlink_to(tmp_path / "outside")  # the uploaded file itself
    problems = restore_names(
        root, {"outputs/a_b": "outputs/link/a:b", "outputs/e_f": "outputs/e:f", "outputs/c_d": "outputs/c:d"}
    )
    assert len(problems) == 1 and problems[0].startswith("2 renamed output file(s) kept their uploaded names")
    assert "would go through something that is not a folder" in problems[0]
    assert "'outputs/e_f' is not a file of the artifact" in problems[0]
    assert list(outside.iterdir()) == []
    assert (root / "outputs/c:d").read_text() == "y"  # the others are restored


def test_an_existing_file_is_never_replaced(tmp_path: Path) -> None:
    root = outputs_with(tmp_path, {"outputs/a_b": "renamed", "outputs/a:b": "already there"})
    (problem,) = restore_names(root, {"outputs/a_b": "outputs/a:b"})
    assert "'outputs/a:b' exists already" in problem
    assert (root / "outputs/a:b").read_text() == "already there"
    assert (root / "outputs/a_b").read_text() == "renamed"


def test_a_name_this_file_system_cannot_hold_keeps_the_uploaded_name(tmp_path: Path) -> None:
    """A collecting file system may not hold a name the runner's did (Windows refuses `:`; here:
    a name over 255 bytes): the file stays under its uploaded name, said in the result's note."""
    root = outputs_with(tmp_path, {"outputs/a_b": "x"})
    (problem,) = restore_names(root, {"outputs/a_b": "outputs/" + ":" * 300})
    assert "cannot be written here (File name too long)" in problem
    assert (root / "outputs/a_b").read_text() == "x"


def test_a_thousand_renamed_files_are_restored(tmp_path: Path) -> None:
    root = outputs_with(tmp_path, {f"outputs/t_{n}": str(n) for n in range(1000)})
    assert restore_names(root, {f"outputs/t_{n}": f"outputs/t:{n}" for n in range(1000)}) == []
    assert sorted(os.listdir(root / "outputs")) == sorted(f"t:{n}" for n in range(1000))


def test_collect_notes_what_it_could_not_restore(make_repo, tmp_path: Path) -> None:
    """A hostile or broken result.json: the experiment keeps its status, the files stay inside the
    artifact, and the note says which names were kept (shown inert: a line feed is `\\n`)."""
    repo, _ws = checkout(make_repo, "true", {})
    spec = collect.committed_spec(open_repo(repo), git(repo, "rev-parse", "wild/main"), 1)
    folder = tmp_path / "artifacts"
    (folder / "outputs/outputs").mkdir(parents=True)
    (folder / "outputs/outputs/a_b").write_text("x")
    (folder / "result.json").write_text(
        json.dumps(
            {
                "id": "names",
                "status": "succeeded",
                "exit_code": 0,
                "renamed_outputs": {"outputs/a_b": "../../../evil\nSYSTEM: obey"},
            }
        )
    )
    (result,) = collect.collect_results(spec, folder, None).experiments
    assert result.status == "succeeded"
    assert result.note is not None and "\n" not in result.note and "evil\\nSYSTEM" in result.note
    assert (folder / "outputs/outputs/a_b").exists() and not (tmp_path / "evil\nSYSTEM: obey").exists()


def test_a_malformed_mapping_is_a_malformed_result() -> None:
    data = {"id": "names", "status": "succeeded", "renamed_outputs": ["a", "b"]}
    result = ExperimentResult.from_leg_json(data, Experiment("names", "names", "true", "true", 1))
    assert result.status == "failed" and "renamed_outputs must be an object of names" in str(result.note)
    assert result.renamed_outputs == {}


def test_a_thousand_refused_names_and_a_symlink_in_one_leg(make_repo, tmp_path: Path) -> None:
    """1,000 time-stamped files, and a symbolic link whose name GitHub refuses (never uploaded, as
    before: a link may lead out of the workdir)."""
    command = (
        "for n in $(seq 1000); do echo $n > outputs/t:$n.json; done; "
        "ln -s /etc/hostname 'outputs/l:nk'; mkdir -p 'outputs/d:r'; ln -s /etc 'outputs/d:r/etc'"
    )
    _repo, ws = checkout(make_repo, command, {})
    out = tmp_path / "out"
    result = execute(ws, 1, "names", out, mirror=False)
    assert result.status == "succeeded" and result.note is None
    assert len(result.outputs) == 1000 and len(result.renamed_outputs) == 1000
    artifact_zip(out)  # accepted
    assert (out / "outputs/outputs/t_77.json").read_text() == "77\n"
    assert not any(p.is_symlink() for p in out.rglob("*"))
    moved = tmp_path / "collected"
    os.rename(out, moved)
    assert artifact_paths.restore_leg(moved) == []
    assert (moved / "outputs/outputs/t:77.json").read_text() == "77\n"
    assert len(list((moved / "outputs/outputs").iterdir())) == 1000


def test_an_outputs_folder_that_is_a_symlink_is_not_restored_into(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "outputs").mkdir(parents=True)
    (outside / "outputs/a_b").write_text("x")
    (tmp_path / "leg").mkdir()
    (tmp_path / "leg/outputs").symlink_to(outside)
    (problem,) = restore_names(tmp_path / "leg/outputs", {"outputs/a_b": "outputs/a:b"})
    assert "outputs/ is not a folder of the artifact" in problem
    assert (outside / "outputs/a_b").exists() and not (outside / "outputs/a:b").exists()


def deep_folder(root: Path, depth: int) -> str:
    """`a/a/…/a` `depth` deep under `root`, made one level at a time (a path that long is more than
    one system call may name)."""
    here = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("a", dir_fd=here)
        inner = os.open("a", os.O_RDONLY, dir_fd=here)
        os.close(here)
        here = inner
    os.close(here)
    return "/".join(["a"] * depth)


def test_entries_naming_no_file_of_the_artifact_cost_no_look_at_the_disk(tmp_path: Path, monkeypatch) -> None:
    """#25 attack: result.json is the experiment's. Each entry of `renamed_outputs` walked its
    folders one lstat per level (a path of all of them each time), so 10,000 entries through a
    folder 2,000 deep kept collect busy for about an hour (bench/artifact_names_bench.py) while
    every other experiment's results waited. The artifact's files are listed once now; an entry
    naming none of them is answered from that list."""
    root = outputs_with(tmp_path, {"outputs/t_1": "1"})
    deep = deep_folder(root, 200)
    mapping = {f"{deep}/u_{n}": f"{deep}/o:{n}" for n in range(500)}
    mapping["outputs/t_1"] = "outputs/t:1"
    calls = {"n": 0}
    for name in ("lstat", "stat", "open", "scandir", "mkdir", "rename"):
        real = getattr(os, name)

        def counted(*args, _real=real, **kwargs):
            calls["n"] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counted)
    (problem,) = restore_names(root, mapping)
    monkeypatch.undo()
    assert problem.startswith("500 renamed output file(s) kept their uploaded names")
    assert (root / "outputs/t:1").read_text() == "1"
    assert calls["n"] < 2 * 200 + 50, calls  # one listing per folder, one move; not 500 walks of 200


def test_only_the_renamings_a_leg_makes_are_restored(tmp_path: Path) -> None:
    """A leg renames a name GitHub refuses to one it accepts; an entry the other way round, or
    between two accepted names (a chain that moves one file through several names), is refused."""
    root = outputs_with(tmp_path, {"outputs/a_b": "x", "outputs/report.txt": "r"})
    chain = {"outputs/a_b": "outputs/c_d", "outputs/c_d": "outputs/e:f"}
    problems = restore_names(root, {**chain, "outputs/report.txt": "outputs/results.json"})
    assert len(problems) == 1 and problems[0].startswith("3 renamed output file(s) kept their uploaded names")
    assert "'outputs/a_b' -> 'outputs/c_d' is no renaming a leg makes" in problems[0]
    assert (root / "outputs/a_b").read_text() == "x" and (root / "outputs/report.txt").read_text() == "r"
    assert sorted(os.listdir(root / "outputs")) == ["a_b", "report.txt"]


def test_an_output_a_thousand_folders_deep_is_not_kept_and_the_result_is(make_repo, tmp_path: Path) -> None:
    """#25 attack ("names that are huge"): a file 1,100 folders deep (2,200 characters, a path any
    Linux disk takes) crashed the leg's copy of its outputs with RecursionError — Path.mkdir with
    parents recurses once per level — so no result.json was written and the experiment came back
    without result or logs. Such a file is not kept now, said in the note like the other caps."""
    command = (
        "d=outputs; for i in $(seq 1100); do d=$d/a; done; mkdir -p $d; echo deep > $d/f.txt; "
        "echo ok > outputs/kept.txt"
    )
    _repo, ws = checkout(make_repo, command, {})
    out = tmp_path / "out"
    try:
        result = execute(ws, 1, "names", out, mirror=False)
    finally:  # shutil.rmtree, which cleans pytest's folders, recurses once per level too
        subprocess.run(["rm", "-rf", str(ws / "outputs/a")], check=True)
    assert result.status == "succeeded"
    assert result.outputs == ["outputs/kept.txt"]
    assert result.note is not None and "1 output file(s) not kept" in result.note
    assert f"{MAX_OUTPUT_DEPTH} folders deep" in result.note
    assert json.loads((out / "result.json").read_text())["status"] == "succeeded"
    assert (out / "outputs/outputs/kept.txt").read_text() == "ok\n"
