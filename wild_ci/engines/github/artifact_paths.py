"""File paths in an artifact: what upload-artifact refuses, how a leg renames such outputs, and how
they get their names back.

upload-artifact v7 zips files through `@actions/artifact`, whose `validateFilePath` refuses the
*whole* upload when one file's path (relative to the artifact's root) holds `" : < > | * ? \\r \\n`
(actions/toolkit `packages/artifact/src/internal/upload/path-and-artifact-name-validation.ts`
lines 11-21 and 60-82, called from `upload-zip-specification.ts` lines 98-100, before
CreateArtifact; unchanged since 2023, docs/github-conformance.md). An experiment that writes
`outputs/run-2026-01-01T12:00:00.json` would lose its whole artifact — result.json and logs — so
the leg uploads such a file under a name GitHub accepts (`upload_names`), records the original in
result.json (`renamed_outputs`: uploaded name -> original), and whoever unpacks the artifact puts
the original name back (`restore_names`) where that is safe.

Standard library only: the leg (`wild-ci execute`) and the upload stand-in import this module.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...layout import LEG_OUTPUTS_DIR, RESULT_FILE
from ...text import visible

# path-and-artifact-name-validation.ts lines 11-21 (`invalidArtifactFilePathCharacters`), in order,
# with the words the toolkit's message uses for each
REFUSED_PATH_CHARACTERS = {
    '"': 'Double quote "',
    ":": "Colon :",
    "<": "Less than <",
    ">": "Greater than >",
    "|": "Vertical bar |",
    "*": "Asterisk *",
    "?": "Question mark ?",
    "\r": "Carriage return \\r",
    "\n": "Line feed \\n",
}
REPLACEMENT = "_"  # one character for one: a renamed name is no longer than its original
NAME_MAX_BYTES = 255  # a file name (one path component) on Linux, macOS and Windows file systems
RENAMED_FIELD = "renamed_outputs"  # result.json: uploaded name -> original name
SHOWN_IN_NOTE = 5  # names a note lists before "and N more"
MAX_RENAMED = 10_000  # entries of `renamed_outputs` (a leg keeps at most execute.MAX_OUTPUT_FILES files)
MAX_PATH_CHARS = 20_000  # one name in it (specs.RESULT_TEXT_LIMIT)
# a leg's result.json that is read at all: far above what an honest leg writes (its fields are
# bounded: specs.RESULT_FIELD_CHECKS), far below what would stall collect or GitHub's 100 MiB per file
RESULT_MAX_BYTES = 32 * 1024 * 1024


def oversized_result(folder: Path) -> str | None:
    """Why a leg's result.json is not read, when it is larger than `RESULT_MAX_BYTES` (None: it is
    not, or it is not there: reading it says so). The experiment may have written it."""
    try:
        size = (folder / RESULT_FILE).stat().st_size
    except OSError:
        return None
    if size <= RESULT_MAX_BYTES:
        return None
    return f"result.json has {size} bytes, over the {RESULT_MAX_BYTES}-byte bound: nothing in it was used"


def refused_character(path: str) -> str | None:
    """The first character of `path` the toolkit refuses, in the toolkit's order (None: none)."""
    return next((char for char in REFUSED_PATH_CHARACTERS if char in path), None)


def refusal_message(path: str) -> str:
    """The toolkit's error for such a path (lines 70-78), the path shown inert: it is an
    experiment's text, and a line feed in it must not start a line of its own in the log."""
    char = refused_character(path) or ""
    return (
        f"The path for one of the files in artifact is not valid: {visible(path, multiline=False)}. "
        f"Contains the following character: {REFUSED_PATH_CHARACTERS.get(char, '')}"
    )


@dataclass
class UploadNames:
    """How a leg uploads its outputs: the names that had to change, and which of those collided."""

    renamed: dict[str, str] = field(default_factory=dict)  # original file path -> uploaded path
    folders: dict[str, str] = field(default_factory=dict)  # original folder path -> uploaded path
    collided: list[str] = field(default_factory=list)  # originals whose new name took a suffix
    suffixed: set[str] = field(default_factory=set)  # original folders whose new name took one

    def uploaded(self, original: str) -> str:
        return self.renamed.get(original, original)

    def recorded(self, kept: list[str]) -> dict[str, str]:
        """result.json's `renamed_outputs` for the files that were kept: uploaded -> original."""
        return {self.renamed[o]: o for o in kept if o in self.renamed}

    def note(self, kept: list[str]) -> str | None:
        """What the result says when a kept file's new name was taken and got a suffix."""
        kept_set = set(kept)
        collided = [o for o in self.collided if o in kept_set]
        if not collided:
            return None
        shown = ", ".join(f"{_shown(o)} as {_shown(self.renamed[o])}" for o in collided[:SHOWN_IN_NOTE])
        more = len(collided) - SHOWN_IN_NOTE
        return (
            f"{len(collided)} output file(s) whose names GitHub's artifacts refuse were uploaded "
            f"with a suffix, as their plain new name was taken: {shown}"
            + (f" and {more} more" if more > 0 else "")
            + " (result.json renamed_outputs has the original names, which collect restores)"
        )


def upload_names(paths: list[str]) -> UploadNames:
    """Names GitHub accepts for `paths` (relative, `/`-separated): every refused character becomes
    `_`, component by component, so a folder keeps one new name for all its files. A new name that
    another file or folder already has — as it is, or renamed earlier — takes `-2`, `-3`, … before
    its extension. Files and folders whose names need no change keep them, and are claimed first."""
    names = UploadNames()
    owner: dict[str, str] = {}  # uploaded path (a file or a folder) -> the original it stands for
    for path in paths:
        for prefix in _prefixes(path):
            if refused_character(prefix) is None:
                owner.setdefault(prefix, prefix)
    for path in sorted(p for p in paths if refused_character(p) is not None):
        names.renamed[path] = _place(path, owner, names)
    return names


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _place(path: str, owner: dict[str, str], names: UploadNames) -> str:
    """The uploaded path of `path`: its components in turn, each folder placed once for all its files."""
    placed, collided = "", False
    for original in _prefixes(path):
        is_file = original == path
        if refused_character(original) is None:
            placed = original  # a name that needs no change (its folders need none either)
            continue
        if not is_file and original in names.folders:
            placed = names.folders[original]
            collided = collided or original in names.suffixed
            continue
        clean = _cleaned(original.rsplit("/", 1)[-1])
        number = 1
        while owner.setdefault(candidate := _joined(placed, _numbered(clean, number)), original) != original:
            number += 1
        collided = collided or number > 1
        if not is_file:
            names.folders[original] = candidate
            if number > 1:
                names.suffixed.add(original)
        placed = candidate
    if collided:
        names.collided.append(path)
    return placed


def _cleaned(name: str) -> str:
    return "".join(REPLACEMENT if c in REFUSED_PATH_CHARACTERS else c for c in name)


def _joined(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _numbered(name: str, number: int) -> str:
    """`name` with `-number` before its extension (none for 1), within a file name's bytes."""
    if number == 1:
        return name
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension, or a leading dot only (`.cache`)
        stem, dot, extension = name, "", ""
    suffix = f"-{number}{dot}{extension}"
    room = NAME_MAX_BYTES - len(suffix.encode())
    return stem.encode()[: max(room, 1)].decode(errors="ignore") + suffix


def _shown(path: str) -> str:
    """A name in a note, quoted, one line, control characters shown as escapes."""
    return f"'{visible(path, multiline=False)}'"


# --- restoring ----------------------------------------------------------------------------------


def check_renamed(value: Any) -> str | None:
    """Whether result.json's `renamed_outputs` has the shape a leg writes (None: it has)."""
    if not isinstance(value, dict):
        return "must be an object of names"
    if len(value) > MAX_RENAMED:
        return "has too many names"
    for key, name in value.items():
        if not isinstance(name, str) or len(key) > MAX_PATH_CHARS or len(name) > MAX_PATH_CHARS:
            return "must map names to names"
    return None


def restore_leg(folder: Path) -> list[str]:
    """`restore_names` for an unpacked leg artifact, from its own result.json (what the leg
    recorded; an unreadable or malformed record restores nothing and says nothing: collect reports
    on the record)."""
    if oversized_result(folder):
        return []
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    mapping = data.get(RENAMED_FIELD) if isinstance(data, dict) else None
    if not mapping or check_renamed(mapping):
        return []
    return restore_names(folder / LEG_OUTPUTS_DIR, mapping)


def restore_names(root: Path, mapping: dict[str, str]) -> list[str]:
    """Give the files under `root` their original names back: `mapping` is uploaded -> original,
    both relative to `root`. The mapping comes from result.json, which the experiment could have
    written, so each move stays inside `root`: no absolute path, no `..`, never through a symbolic
    link, never over an existing file, and only a move the leg's renaming makes (an original with a
    character GitHub refuses, an uploaded name without one). The artifact's files are listed once,
    and an entry naming no file of it costs no look at the disk: 10,000 entries through a folder
    2,000 deep would otherwise walk that folder 20,000 times (bench/artifact_names_bench.py). A
    move that is refused, or that this file system cannot make (a name it cannot hold), leaves the
    file under its uploaded name. The problems, one line each (a second run finds the files
    restored and says nothing)."""
    if not mapping:
        return []
    try:
        real_root = stat.S_ISDIR(os.lstat(root).st_mode)
    except OSError:
        real_root = False
    if not real_root:
        why = f"{root.name}/ is not a folder of the artifact"
        return [f"{len(mapping)} renamed output file(s) not restored: {why}"]
    files = artifact_files(root)
    problems: list[Problem] = []
    with _Folders(root) as folders:
        for uploaded, original in sorted(mapping.items()):
            problem = _restore_one(folders, files, uploaded, original)
            if problem:
                problems.append(problem)
    if not problems:
        return []
    shown = "; ".join(p.text() for p in problems[:SHOWN_IN_NOTE])
    more = len(problems) - SHOWN_IN_NOTE
    return [
        f"{len(problems)} renamed output file(s) kept their uploaded names: {shown}"
        + (f"; and {more} more" if more > 0 else "")
    ]


@dataclass(frozen=True)
class Problem:
    """Why one entry was not restored; made into text only when the note shows it (the names may
    be 20,000 characters each, and 10,000 of them)."""

    names: tuple[str, ...]
    why: str

    def text(self) -> str:
        return " -> ".join(map(_shown, self.names)) + " " + self.why


def artifact_files(root: Path) -> set[str]:
    """The regular files under `root`, relative, reached through real folders only (a symbolic
    link is neither listed nor followed). Iterative: an artifact's folders may nest thousands deep."""
    found: set[str] = set()
    folders = [""]
    while folders:
        relative = folders.pop()
        try:
            with os.scandir(root / relative if relative else root) as entries:
                for entry in entries:
                    path = _joined(relative, entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(path)
                    elif entry.is_file(follow_symlinks=False):
                        found.add(path)
        except OSError:  # gone, unreadable, or a path longer than the system takes: nothing listed
            continue
    return found


def _restore_one(folders: _Folders, files: set[str], uploaded: str, original: str) -> Problem | None:
    if not (_plain_relative(uploaded) and _plain_relative(original)):
        return Problem((uploaded, original), "is not a name inside the outputs folder")
    if refused_character(original) is None or refused_character(uploaded) is not None:
        return Problem((uploaded, original), "is no renaming a leg makes")
    if uploaded not in files:
        if original in files:
            return None  # restored already
        return Problem((uploaded,), "is not a file of the artifact")
    try:
        problem = _move(folders, uploaded, original)
    except OSError as exc:  # a name this file system cannot hold (too long, not valid here), …
        return Problem((original,), f"cannot be written here ({exc.strerror or exc.__class__.__name__})")
    if problem is None:
        files.discard(uploaded)
        files.add(original)
    return problem


def _plain_relative(path: str) -> bool:
    """A relative path of plain names: no absolute start, no empty, `.` or `..` part, no NUL."""
    parts = path.split("/")
    return bool(path) and "\0" not in path and all(p not in ("", ".", "..") for p in parts)


_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def _move(folders: _Folders, uploaded: str, original: str) -> Problem | None:
    """Rename `uploaded` to `original` within the folders' root, through folder descriptors."""
    source = folders.open(_parent(uploaded), make=False)
    if source is None:
        return Problem((uploaded,), "is not a file of the artifact")
    target = folders.open(_parent(original), make=True)
    if target is None:
        return Problem((original,), "would go through something that is not a folder")
    name, new_name = uploaded.rsplit("/", 1)[-1], original.rsplit("/", 1)[-1]
    if not stat.S_ISREG(os.stat(name, dir_fd=source, follow_symlinks=False).st_mode):
        return Problem((uploaded,), "is not a file of the artifact")
    if _exists(new_name, target):
        return Problem((original,), "exists already")
    os.rename(name, new_name, src_dir_fd=source, dst_dir_fd=target)
    return None


def _parent(relative: str) -> str:
    return relative.rpartition("/")[0]


def _exists(name: str, folder: int) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


class _Folders:
    """Descriptors of folders under a root, each opened from the one before it without following
    a link (one component per call: linear in the depth, and no link swapped in meanwhile is
    followed). The last few are kept: a sorted mapping moves a folder's files one after another."""

    KEPT = 4

    def __init__(self, root: Path) -> None:
        self.root = root
        self.open_ones: dict[str, int] = {}

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *_: object) -> None:
        for descriptor in self.open_ones.values():
            os.close(descriptor)
        self.open_ones.clear()

    def open(self, folder: str, make: bool) -> int | None:
        """`folder` (relative, "" for the root), made where missing when `make`; None when one on
        the way is not a real folder (a file, a link) or, without `make`, is missing."""
        if folder in self.open_ones:
            return self.open_ones[folder]
        descriptor = self._walk(folder, make)
        if descriptor is not None:
            if len(self.open_ones) >= self.KEPT:
                os.close(self.open_ones.pop(next(iter(self.open_ones))))
            self.open_ones[folder] = descriptor
        return descriptor

    def _walk(self, folder: str, make: bool) -> int | None:
        here = os.open(self.root, _FOLDER_FLAGS)
        try:
            for part in folder.split("/") if folder else []:
                inner = self._step(here, part, make)
                os.close(here)
                if inner is None:
                    return None
                here = inner
        except BaseException:
            os.close(here)
            raise
        return here

    @staticmethod
    def _step(here: int, part: str, make: bool) -> int | None:
        try:
            return os.open(part, _FOLDER_FLAGS, dir_fd=here)
        except FileNotFoundError:
            if not make:
                return None
        except NotADirectoryError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
                return None
            raise
        os.mkdir(part, dir_fd=here)
        return os.open(part, _FOLDER_FLAGS, dir_fd=here)
