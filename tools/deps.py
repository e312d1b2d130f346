"""Development dependencies: refresh the lock, and check the lock and the runner pins against the index.

    python tools/deps.py lock     # rewrite locks/dev.txt (needs the index; uses uv)
    python tools/deps.py check    # what moved on the index since the pins and the lock were written

`lock` resolves pyproject.toml's dependencies with the `test` and `docs` extras, constrained by the
runner pins (wild_ci/pins/*.txt), so the suite tests the very versions runners install. `check` is
not part of CI's pass/fail (it needs the index and its answer changes from day to day): it lists every
pin and locked version that has a newer release, and every runner pin without a wheel (or a pure
Python one) for a Python the runners use. Exit 0 when nothing moved, 1 when something did.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "locks" / "dev.txt"
PINS = ROOT / "wild_ci" / "pins"
LOCK_PYTHON = "3.11"  # the oldest Python the locked tools (matplotlib 3.11, pycparser 3.12) support
RUNNER_PYTHONS = ("3.10", "3.11", "3.12", "3.13")  # ubuntu-22.04 ships 3.10, ubuntu-24.04 3.12
INDEX = os.environ.get("WILD_CI_INDEX", "https://pypi.org/simple")
PIN_LINE = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")


@dataclass(frozen=True)
class Pinned:
    """One `name==version` line of a pin or lock file."""

    source: str
    name: str
    version: str


def pinned(path: Path) -> list[Pinned]:
    found = []
    for line in path.read_text().splitlines():
        match = PIN_LINE.match(line.strip())
        if match:
            found.append(Pinned(path.name, match.group(1), match.group(2)))
    return found


def lock() -> int:
    """Resolve again; the runner pins constrain the result so lock and pins never disagree."""
    uv = shutil.which("uv")
    if uv is None:
        sys.exit("tools/deps.py lock needs uv (pip install uv)")
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "pins.txt"
        constraints.write_text("".join(p.read_text() for p in sorted(PINS.glob("*.txt"))))
        command = [uv, "pip", "compile", str(ROOT / "pyproject.toml"), "--extra", "test", "--extra",
                   "docs", "--universal", "--python-version", LOCK_PYTHON, "--constraint",
                   str(constraints), "--no-header", "--quiet", "--output-file", str(LOCK)]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT)
        written = LOCK.read_text() if done.returncode == 0 else ""
        text = written.replace(str(constraints), "wild_ci/pins/*.txt")  # no temporary path in the lock
    if done.returncode == 0:
        header = (
            "# The development and test environment, locked (pip install -c locks/dev.txt '.[test]').\n"
            "# Written by `python tools/deps.py lock`; do not edit by hand. Runners install\n"
            "# wild_ci/pins/*.txt, which constrain this resolution.\n"
        )
        LOCK.write_text(header + text)
    return done.returncode


def project_files(name: str) -> list[dict]:
    """The index's files of a project (PEP 691's JSON form of the simple API, which every mirror serves)."""
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    request = urllib.request.Request(f"{INDEX}/{name}/", headers=accept)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return [f for f in json.load(response)["files"] if not f.get("yanked")]
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{request.full_url}: {exc.code} {exc.reason}") from exc


def file_version(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def newest(files: list[dict]) -> Version | None:
    """The newest final release (pre-releases and development releases are not a move)."""
    versions = [v for f in files if (v := file_version(f["filename"])) and not v.is_prerelease]
    return max(versions, default=None)


def has_wheel_for(files: list[dict], version: str, python: str) -> bool:
    """A wheel of this version that installs on CPython `python` on x86-64 Linux (a manylinux,
    abi3 or pure-Python one)."""
    interpreter = "cp" + python.replace(".", "")
    for file in files:
        if not file["filename"].endswith(".whl") or file_version(file["filename"]) != Version(version):
            continue
        if not SpecifierSet(file.get("requires-python") or "").contains(python + ".0"):
            continue  # pip refuses it on that Python, --no-deps or not
        for tag in parse_wheel_filename(file["filename"])[3]:
            fits_python = tag.interpreter in (interpreter, "py3") or (
                tag.abi == "abi3"
                and tag.interpreter.startswith("cp")
                and int(tag.interpreter[2:]) <= int(interpreter[2:])
            )
            fits_platform = tag.platform == "any" or (
                tag.platform.startswith("manylinux") and tag.platform.endswith("x86_64")
            )
            if fits_python and fits_platform:
                return True
    return False


def newest_locked() -> list[Pinned]:
    """One entry per locked project: where the lock forks by Python version, its newest version."""
    entries: dict[str, Pinned] = {}
    for entry in pinned(LOCK):
        seen = entries.get(canonicalize_name(entry.name))
        if seen is None or Version(entry.version) > Version(seen.version):
            entries[canonicalize_name(entry.name)] = entry
    return list(entries.values())


def check() -> int:
    moved: list[str] = []
    entries = [p for path in sorted(PINS.glob("*.txt")) for p in pinned(path)] + newest_locked()
    files: dict[str, list[dict]] = {}
    for entry in entries:
        key = canonicalize_name(entry.name)
        if key not in files:
            files[key] = project_files(key)
        latest = newest(files[key])
        if latest is not None and latest > Version(entry.version):
            moved.append(f"{entry.source}: {entry.name} {entry.version} -> {latest}")
        if entry.source != LOCK.name:
            missing = [py for py in RUNNER_PYTHONS if not has_wheel_for(files[key], entry.version, py)]
            if missing:
                moved.append(f"{entry.source}: {entry.name}=={entry.version} has no wheel for "
                             f"Python {', '.join(missing)}")  # fmt: skip
    for line in moved:
        print(line)
    print(f"{len(moved)} change(s) against {len(entries)} pinned or locked versions")
    return 1 if moved else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["lock", "check"])
    return lock() if parser.parse_args().action == "lock" else check()


if __name__ == "__main__":
    sys.exit(main())
