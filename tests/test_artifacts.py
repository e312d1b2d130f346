"""The v4 artifact client's local pieces (the protocol itself is exercised through act end to end)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest

from wild_ci.engines.act.artifacts import (
    ArtifactError,
    Backend,
    collect_files,
    matching,
    unzip,
    validate_name,
    zip_files,
)


def token(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.signature"


def test_backend_ids_come_from_the_token_scope() -> None:
    backend = Backend.from_token(token({"scp": "Actions.GenericRead:x Actions.Results:17:42"}))
    assert (backend.run_id, backend.job_id) == ("17", "42")
    with pytest.raises(ArtifactError):
        Backend.from_token(token({"scp": "Actions.GenericRead:x"}))


def test_zip_round_trip_keeps_hidden_files_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "src/sub").mkdir(parents=True)
    (tmp_path / "src/a.txt").write_bytes(b"a")
    (tmp_path / "src/sub/.hidden").write_bytes(b"h")
    root, files = collect_files(tmp_path / "src", include_hidden=False)
    assert files == [Path("a.txt")]
    root, files = collect_files(tmp_path / "src", include_hidden=True)
    assert unzip(zip_files(root, files), tmp_path / "dst") == ["a.txt", "sub/.hidden"]
    assert (tmp_path / "dst/sub/.hidden").read_bytes() == b"h"


def test_unzip_refuses_entries_that_escape(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.txt", "x")
    with pytest.raises(ArtifactError, match="escapes"):
        unzip(buffer.getvalue(), tmp_path / "dst")
    assert not (tmp_path / "evil.txt").exists()


def test_names_and_patterns() -> None:
    names = ["wild-0001-a", "wild-0001-b", "wild-0002-a"]
    assert matching(names, None, "wild-0001-*") == ["wild-0001-a", "wild-0001-b"]
    assert matching(names, "wild-0002-a", None) == ["wild-0002-a"]
    with pytest.raises(ArtifactError):
        validate_name("bad/name")
