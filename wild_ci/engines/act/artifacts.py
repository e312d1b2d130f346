"""A client for the GitHub Actions artifact service, v4 (the "results" twirp API).

`wild-ci run` replaces actions/upload-artifact and actions/download-artifact with small local
stand-ins (act cannot fetch the real ones without network); those stand-ins call this client, which
talks to act's artifact server on 127.0.0.1 with the same requests the official toolkit sends.
Written by hand because no maintained Python client for this API exists.
"""

from __future__ import annotations

import binascii
import fnmatch
import hashlib
import io
import json
import os
import socket
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ...errors import PipelineError, run_guarded
from ..github.artifact_paths import REFUSED_PATH_CHARACTERS, refusal_message, refused_character

if TYPE_CHECKING:
    from typing import Any

SERVICE = "twirp/github.actions.results.api.v1.ArtifactService"
CHUNK_BYTES = 8 * 1024 * 1024
FORBIDDEN_NAME_CHARS = {*REFUSED_PATH_CHARACTERS, "\\", "/"}  # toolkit lines 23-27
URLSAFE = str.maketrans("-_", "+/")  # base64url -> base64


class ArtifactError(PipelineError):
    pass


class Backend:
    """The run and job the runtime token was issued for (claim `scp` = Actions.Results:RUN:JOB).
    A plain class, as this module uses only what loads fast: every leg starts it (dataclasses
    alone costs ~20 ms of a leg's CPU)."""

    __slots__ = ("job_id", "run_id")

    def __init__(self, run_id: str, job_id: str) -> None:
        self.run_id = run_id
        self.job_id = job_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Backend) and (self.run_id, self.job_id) == (other.run_id, other.job_id)

    def __hash__(self) -> int:
        return hash((self.run_id, self.job_id))

    def __repr__(self) -> str:
        return f"Backend(run_id={self.run_id!r}, job_id={self.job_id!r})"

    @classmethod
    def from_token(cls, token: str) -> Backend:
        try:
            payload = token.split(".")[1].translate(URLSAFE)
            claims = json.loads(binascii.a2b_base64(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError) as exc:  # binascii.Error is a ValueError
            raise ArtifactError("ACTIONS_RUNTIME_TOKEN is not a JWT") from exc
        for scope in str(claims.get("scp", "")).split():
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "Actions.Results":
                return cls(run_id=parts[1], job_id=parts[2])
        raise ArtifactError("ACTIONS_RUNTIME_TOKEN has no Actions.Results scope")


class ArtifactClient:
    def __init__(self, results_url: str, token: str, timeout_s: float = 60.0) -> None:
        self.base = results_url.rstrip("/") + "/" + SERVICE
        self.token = token
        self.backend = Backend.from_token(token)
        self.timeout_s = timeout_s

    def upload(self, name: str, root: Path, files: list[Path], overwrite: bool = False) -> int:
        """Zip `files` (paths relative to `root`) and upload them as artifact `name`, in the order
        upload-artifact v7 and its toolkit take the steps: `overwrite` deletes an earlier artifact
        of that name (`src/upload/upload-artifact.ts` lines 68-70); the name, then every file's
        path, is checked (toolkit `upload-artifact.ts` lines 54-60: one refused path fails the
        whole upload, `validate_paths`); only then is the artifact created, and a name the run
        already has is refused as GitHub refuses it (409 Conflict). act's server would silently
        replace it instead."""
        existing = self.list_names()
        if overwrite and name in existing:
            self._call("DeleteArtifact", {"name": name})
        validate_name(name)
        validate_paths(files)
        archive = zip_files(root, files)
        if name in existing and not overwrite:
            raise ArtifactError(
                f"Failed to CreateArtifact: Received non-retryable error: Failed request: (409) "
                f"Conflict: an artifact with this name already exists on the workflow run ({name})",
                hint="upload with `overwrite: true` to replace it",
            )
        created = self._call("CreateArtifact", {"name": name, "version": 4})
        url = created.get("signedUploadUrl") or created.get("signed_upload_url")
        if not url:
            raise ArtifactError(f"CreateArtifact for {name!r} returned no upload URL")
        for offset in range(0, max(len(archive), 1), CHUNK_BYTES):
            comp = "block" if offset == 0 else "appendBlock"
            self._send("PUT", f"{url}&comp={comp}", archive[offset : offset + CHUNK_BYTES])
        digest = hashlib.sha256(archive).hexdigest()
        self._call(
            "FinalizeArtifact",
            {"name": name, "size": str(len(archive)), "hash": f"sha256:{digest}"},
        )
        return len(archive)

    def list_names(self) -> list[str]:
        try:
            listed = self._call("ListArtifacts", {})
        except ArtifactError:
            return []  # act drops the connection when the run has no artifacts yet
        return sorted(a["name"] for a in listed.get("artifacts", []))

    def download(self, name: str, destination: Path) -> list[str]:
        signed = self._call("GetSignedArtifactURL", {"name": name})
        url = signed.get("signedUrl") or signed.get("signed_url")
        if not url:
            raise ArtifactError(f"no download URL for artifact {name!r}")
        data = self._send("GET", url, None)
        if not data:
            raise ArtifactError(f"artifact {name!r} is empty or does not exist")
        return unzip(data, destination)

    def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {
            "workflow_run_backend_id": self.backend.run_id,
            "workflow_job_run_backend_id": self.backend.job_id,
            **body,
        }
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        raw = self._open("POST", f"{self.base}/{method}", json.dumps(body).encode(), headers)
        return json.loads(raw) if raw.strip() else {}

    def _send(self, verb: str, url: str, data: bytes | None) -> bytes:
        headers = {"x-ms-blob-type": "BlockBlob"} if verb == "PUT" else {}
        return self._open(verb, url, data, headers)

    def _open(self, verb: str, url: str, data: bytes | None, headers: dict[str, str]) -> bytes:
        try:
            status, body = http_request(verb, url, data, headers, self.timeout_s)
        except (OSError, ValueError) as exc:  # refused, reset, timed out, or not HTTP at all
            raise ArtifactError(f"{verb} {url}: {exc}") from exc
        if status >= 300:
            raise ArtifactError(f"{verb} {url}: HTTP {status}")
        return body


def http_request(
    verb: str, url: str, data: bytes | None, headers: dict[str, str], timeout_s: float
) -> tuple[int, bytes]:
    """One HTTP/1.1 request to act's artifact server on loopback, over a connection of its own:
    status and body. Written on a socket because urllib.request and http.client load the email
    package and ssl (~40 ms of every leg's CPU) for a plain-HTTP server on 127.0.0.1; only
    `http://` is spoken. A connection closed before a whole response is a ConnectionError."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs are supported (act's artifact server), not {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = data or b""
    fields = {"Host": parts.netloc, "Connection": "close", "Content-Length": str(len(body)), **headers}
    lines = [f"{verb} {target} HTTP/1.1", *(f"{key}: {value}" for key, value in fields.items())]
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        received = bytearray()
        while chunk := sock.recv(1 << 16):
            received += chunk
    return parse_response(bytes(received))


def parse_response(raw: bytes) -> tuple[int, bytes]:
    """Status and body of a whole HTTP/1.1 response (Content-Length, chunked, or up to the close)."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    if not separator:
        raise ConnectionError("the server closed the connection without a whole response")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ConnectionError(f"not an HTTP response: {status_line[:80]!r}")
    found = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        found[key.strip().lower()] = value.strip()
    if found.get("transfer-encoding", "").lower() == "chunked":
        return int(fields[1]), dechunk(rest)
    if "content-length" in found:
        length = int(found["content-length"])
        if len(rest) < length:
            raise ConnectionError(f"the response ended after {len(rest)} of {length} bytes")
        return int(fields[1]), rest[:length]
    return int(fields[1]), rest


def dechunk(raw: bytes) -> bytes:
    """The body of a chunked transfer encoding (RFC 9112 section 7.1); trailers are ignored."""
    body, position = bytearray(), 0
    while True:
        end = raw.find(b"\r\n", position)
        if end < 0:
            raise ConnectionError("a chunked response ended early")
        size = int(raw[position:end].split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        start = end + 2
        if len(raw) < start + size:
            raise ConnectionError("a chunked response ended early")
        body += raw[start : start + size]
        position = start + size + 2


def validate_name(name: str) -> None:
    bad = sorted(set(name) & FORBIDDEN_NAME_CHARS)
    if not name or bad:
        raise ArtifactError(f"artifact name {name!r} is empty or contains {bad}")


def validate_paths(files: list[Path]) -> None:
    """upload-artifact's toolkit refuses the whole upload when one file's path, relative to the
    artifact's root, holds a character of `REFUSED_PATH_CHARACTERS` (`validateFilePath`,
    `path-and-artifact-name-validation.ts` lines 60-82, called for each file by
    `upload-zip-specification.ts` lines 98-100; docs/github-conformance.md)."""
    for relative in files:
        upload_path = "/" + relative.as_posix()  # the toolkit checks `file.replace(rootDirectory, '')`
        if refused_character(upload_path) is not None:
            raise ArtifactError(refusal_message(upload_path))


def collect_files(path: Path, include_hidden: bool) -> tuple[Path, list[Path]]:
    """The root and files an upload of `path` covers (a file, or a folder's files)."""
    if path.is_file():
        return path.parent, [Path(path.name)]
    if not path.is_dir():
        return path, []
    files = []
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if not file.is_file():
            continue
        if not include_hidden and any(part.startswith(".") for part in relative.parts):
            continue
        files.append(relative)
    return path, files


def zip_files(root: Path, files: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            archive.write(root / relative, relative.as_posix())
    return buffer.getvalue()


def unzip(data: bytes, destination: Path) -> list[str]:
    """Extract, refusing entries that would land outside `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    names = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            relative = PurePosixPath(info.filename)
            if relative.is_absolute() or ".." in relative.parts:
                raise ArtifactError(f"artifact entry {info.filename!r} escapes the destination")
            if info.is_dir():
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            names.append(relative.as_posix())
    return names


def matching(names: list[str], name: str | None, pattern: str | None) -> list[str]:
    """The artifacts a download covers: the one named, else those the pattern matches, else all
    (download-artifact `src/download-artifact.ts`: `getArtifact(name)`, else `listArtifacts` filtered
    by `new Minimatch(pattern)`). Artifact names hold no `/`, so fnmatch's `*` and `?` match as
    minimatch's do."""
    if name:
        return [n for n in names if n == name]
    if pattern:
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def destination_of(root: Path, artifact: str, named: bool, merge: bool, count: int) -> Path:
    """Where download-artifact v5+ extracts one artifact (`src/download-artifact.ts`, v8.0.1 lines
    189-194): straight into `path` when it was asked for by name, when `merge-multiple` is set, or
    when only one artifact matched ("This change also applies to patterns that only match a single
    artifact", README); else into `path/<artifact name>/`."""
    return root if named or merge or count == 1 else root / artifact


def download_path(raw: str) -> Path:
    """`path`, defaulting to the workspace, `~` expanded (`src/download-artifact.ts` lines 45-51)."""
    if not raw:
        raw = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    if raw.startswith("~"):
        raw = raw.replace("~", str(Path.home()), 1)
    return Path(raw).resolve()


def standin_upload(client: ArtifactClient) -> int:
    """upload-artifact v7 (`src/upload/upload-artifact.ts`): no files → warn / error / ignore;
    hidden files only when asked; an existing name → 409 unless `overwrite`."""
    name = os.environ.get("WILD_ARTIFACT_NAME", "") or "artifact"
    target = Path(os.environ.get("WILD_ARTIFACT_PATH") or ".")
    include_hidden = os.environ.get("WILD_ARTIFACT_INCLUDE_HIDDEN", "false") == "true"
    overwrite = os.environ.get("WILD_ARTIFACT_OVERWRITE", "false") == "true"
    root, files = collect_files(target, include_hidden)
    if not files:
        policy = os.environ.get("WILD_ARTIFACT_IF_NO_FILES", "warn")
        message = f"No files were found with the provided path: {target}. No artifacts will be uploaded."
        if policy == "error":
            print(f"::error::{message}")
            return 1
        print(message if policy == "ignore" else f"::warning::{message}")
        return 0
    size = client.upload(name, root, files, overwrite=overwrite)
    print(f"uploaded artifact {name}: {len(files)} file(s), {size} bytes zipped")
    return 0


def standin_download(client: ArtifactClient) -> int:
    """download-artifact v8 (`src/download-artifact.ts`): a name that does not exist fails the
    step; a pattern that matches nothing downloads nothing and succeeds; each artifact lands where
    `destination_of` says."""
    name = os.environ.get("WILD_ARTIFACT_NAME", "")
    pattern = os.environ.get("WILD_ARTIFACT_PATTERN", "")
    merge = os.environ.get("WILD_ARTIFACT_MERGE", "false") == "true"
    root = download_path(os.environ.get("WILD_ARTIFACT_PATH", ""))
    names = matching(client.list_names(), name, pattern)
    if name and not names:
        print(f"::error::Unable to download artifact(s): Artifact '{name}' not found")
        return 1
    failed = 0
    for artifact in names:  # one bad artifact must not cost the others
        destination = destination_of(root, artifact, bool(name), merge, len(names))
        try:
            unpacked = client.download(artifact, destination)
        except (ArtifactError, zipfile.BadZipFile) as exc:
            failed += 1
            print(f"::warning::artifact {artifact} could not be downloaded: {exc}")
            continue
        print(f"downloaded artifact {artifact}: {len(unpacked)} file(s) into {destination}")
    print(f"Total of {len(names)} artifact(s) downloaded")
    return 1 if failed else 0


def run_standin(action: str) -> int:
    """The local stand-ins for upload-artifact and download-artifact: their inputs arrive as
    environment variables, and act provides ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN."""
    missing = [v for v in ("ACTIONS_RESULTS_URL", "ACTIONS_RUNTIME_TOKEN") if not os.environ.get(v)]
    if missing:
        raise ArtifactError(
            f"{' and '.join(missing)} not set: the stand-ins run inside a job that act started"
        )
    client = ArtifactClient(os.environ["ACTIONS_RESULTS_URL"], os.environ["ACTIONS_RUNTIME_TOKEN"])
    return standin_upload(client) if action == "upload" else standin_download(client)


def main(argv: list[str] | None = None) -> int:
    """`python -m wild_ci.engines.act.artifacts upload|download`: the stand-ins start this, not the whole CLI,
    because every leg runs one and the standard library is all it needs."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["upload"], ["download"]):
        print("usage: python -m wild_ci.engines.act.artifacts upload|download", file=sys.stderr)
        return 2
    return run_guarded(lambda: run_standin(args[0]))


if __name__ == "__main__":
    sys.exit(main())
