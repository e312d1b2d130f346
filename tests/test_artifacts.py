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
    http_request,
    matching,
    parse_response,
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


def test_responses_are_read_by_length_by_chunks_or_to_the_close() -> None:
    assert parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") == (200, b"{}")
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    assert parse_response(chunked) == (200, b"abcde")
    assert parse_response(b"HTTP/1.0 404 Not Found\r\n\r\nno such artifact") == (404, b"no such artifact")


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # act's server drops the connection (ListArtifacts before any upload)
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ],
)
def test_a_cut_or_foreign_response_is_a_connection_error(raw: bytes) -> None:
    with pytest.raises(ConnectionError):
        parse_response(raw)


def test_the_client_speaks_plain_http_only() -> None:
    with pytest.raises(ValueError, match="only http://"):
        http_request("GET", "https://example.invalid/x", None, {}, 1.0)
