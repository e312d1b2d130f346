"""The runner's file commands, kept as they were before the experiment ran.

A runner gives each step files (`$GITHUB_ENV`, `$GITHUB_PATH`, `$GITHUB_OUTPUT`, `$GITHUB_STATE`,
`$GITHUB_STEP_SUMMARY`) and reads them when the step's process ends: a line in `$GITHUB_ENV` is set for
every later step of the job (the upload step, which holds the artifact token), `$GITHUB_PATH` is put
in front of their PATH (docs/github-conformance.md cites the runner's sources). The experiment does
not inherit those variables (execute.WITHHELD_ENV), but without a kernel sandbox a same-user
experiment can still find the paths in an ancestor's /proc/<pid>/environ and write to them. So the
executor, which runs the experiment inside this step, saves each file before the experiment starts
and puts it back, byte for byte, after every process of the experiment has ended and before the step
ends: what the experiment wrote there never reaches the runner.

Only the standard library is imported here: every leg loads this module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# the variables that name a step's file commands (the runner's FileCommandManager)
FILE_COMMANDS = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY")
MAX_SAVED_BYTES = 16 * 1024 * 1024  # a step summary is 1 MiB at most on GitHub; more is not ours


@dataclass(frozen=True)
class SavedFile:
    """One file command's file as the step had it before the experiment: its bytes, or None when
    it did not exist (then it must not exist afterwards either)."""

    path: Path
    data: bytes | None

    @classmethod
    def of(cls, path: Path) -> SavedFile:
        try:
            if path.is_symlink() or not path.is_file():
                return cls(path, None)
            with path.open("rb") as handle:
                return cls(path, handle.read(MAX_SAVED_BYTES))
        except OSError:
            return cls(path, None)

    def restore(self) -> bool:
        """Put the file back as it was; whether it had changed. A replacement (a symlink to a file
        the experiment controls) is replaced in turn, through a new file renamed over the path."""
        if SavedFile.of(self.path) == self and not self.path.is_symlink():
            return False
        if self.data is None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return True
        descriptor, temporary = tempfile.mkstemp(prefix=".wild-ci-", dir=self.path.parent)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(self.data)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return True


def saved(environ: Mapping[str, str]) -> list[SavedFile]:
    """The step's file-command files, as they are now."""
    return [SavedFile.of(Path(environ[name])) for name in FILE_COMMANDS if environ.get(name)]


@contextlib.contextmanager
def kept_as_they_were(environ: Mapping[str, str]) -> Iterator[list[str]]:
    """Around the experiment: afterwards, each file-command file holds what it held before. Yields
    a list that names, on exit, the files that had been changed (for a note)."""
    files = saved(environ)
    changed: list[str] = []
    try:
        yield changed
    finally:
        for file in files:
            with contextlib.suppress(OSError):
                if file.restore():
                    changed.append(file.path.name)
