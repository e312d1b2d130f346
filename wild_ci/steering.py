"""Steering a running `wild-ci loop`: guidance queued with `wild-ci steer`, and a pause request.

Both live in `layout.steer_dir` (inside .git, out of the working tree the brain edits and each
iteration snapshots), one file per message, written whole (a temporary file renamed) so a loop
reading the queue mid-write never sees half a message. The loop shows every queued message in its
next prompt and deletes exactly those it showed once a turn's output is accepted: a message queued
while that turn ran waits for the next prompt, and a refused turn shows it again.

The iteration's guidance.md names the messages it records (`recorded_file`), so a message whose
iteration is committed is never shown again even when the loop was stopped before it deleted it
(Ctrl-C during the iteration's experiments, a SIGKILL): `queued` leaves it out, `settle` deletes it.

The text is the person's, but it reaches a model's prompt and a terminal: it is shown defused
(`text.visible`) and bounded (`GUIDANCE_SHOWN`), like every text wild-ci passes on.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import git

from . import ledger
from .errors import UsageError
from .layout import GUIDANCE_FILE, loop_lock_file, steer_dir
from .text import visible

MAX_GUIDANCE_BYTES = 64 * 1024  # one message; `steer` refuses more (guidance, not a data file)
GUIDANCE_SHOWN = 8000  # characters of queued guidance a prompt shows, all messages together
PAUSE_FILE = "pause"
MESSAGE_SUFFIX = ".md"


@dataclass(frozen=True)
class Guidance:
    """One queued message: its file (deleted once a turn that showed it is accepted) and its text."""

    path: Path
    text: str


def queue(repo: git.Repo, session: str, text: str) -> Path:
    """Queue one message for `session`'s next prompt; the file it is kept in."""
    text = text.strip()
    if not text:
        raise UsageError("the guidance is empty; nothing was queued")
    data = text.encode("utf-8", errors="replace")
    if len(data) > MAX_GUIDANCE_BYTES:
        raise UsageError(
            f"the guidance has {len(data):,} bytes; at most {MAX_GUIDANCE_BYTES:,} are queued",
            hint="say it in fewer words, or point the brain to a file in the repository",
        )
    folder = steer_dir(repo, ledger.validate_session(session))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns():020d}-{os.getpid()}{MESSAGE_SUFFIX}"
    _write_whole(path, data)
    return path


def queued(repo: git.Repo, session: str) -> list[Guidance]:
    """The messages queued for `session`, oldest first; not those an iteration already records."""
    folder = steer_dir(repo, ledger.validate_session(session))
    if not folder.is_dir():
        return []
    found = []
    recorded = recorded_names(repo, session)
    for path in sorted(p for p in folder.glob(f"*{MESSAGE_SUFFIX}") if p.name not in recorded):
        with contextlib.suppress(FileNotFoundError):  # consumed meanwhile by the loop
            found.append(Guidance(path, path.read_text(encoding="utf-8", errors="replace").strip()))
    return [item for item in found if item.text]


def sessions_steered(repo: git.Repo) -> list[str]:
    """The sessions that have a steering folder (guidance may be queued for them)."""
    root = steer_dir(repo, "main").parent
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [name for name in names if _valid_session(name)]  # a stray folder must not stop `status`


def _valid_session(name: str) -> bool:
    try:
        ledger.validate_session(name)
    except UsageError:
        return False
    return True


RECORD_MARK = "<!-- wild-ci steer: "  # guidance.md's last line: the messages it records, by file name


def recorded_file(items: list[Guidance], shown_text: str) -> bytes:
    """guidance.md for the iteration a prompt with these messages shaped: the text as shown, and
    the messages' names (an HTML comment: invisible where the Markdown is rendered)."""
    names = " ".join(item.path.name for item in items)
    return f"{shown_text}\n\n{RECORD_MARK}{names} -->\n".encode()


def recorded_names(repo: git.Repo, session: str) -> set[str]:
    """The messages the session's iterations record (in their guidance.md) as shown."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    if tip is None:
        return set()
    names: set[str] = set()
    files = ledger.read_iteration_files(repo, tip, ledger.iterations_at(repo, tip), GUIDANCE_FILE)
    for data in files.values():
        for line in data.decode("utf-8", errors="replace").splitlines():
            if line.startswith(RECORD_MARK) and line.endswith("-->"):
                names.update(line[len(RECORD_MARK) : -len("-->")].split())
    return names


def settle(repo: git.Repo, session: str) -> int:
    """Delete the queued messages an iteration already records (its loop stopped before it could);
    how many."""
    folder = steer_dir(repo, ledger.validate_session(session))
    recorded = recorded_names(repo, session) if folder.is_dir() else set()
    done = [path for path in folder.glob(f"*{MESSAGE_SUFFIX}") if path.name in recorded] if recorded else []
    for path in done:
        path.unlink(missing_ok=True)
    return len(done)


def consume(items: list[Guidance]) -> None:
    """The messages a accepted turn showed: deleted, never shown again."""
    for item in items:
        item.path.unlink(missing_ok=True)


def shown(items: list[Guidance], limit: int = GUIDANCE_SHOWN) -> str:
    """The messages as a prompt shows them: defused, in order, at most `limit` characters (the
    latest messages kept whole when all do not fit: the newest word is the person's current one)."""
    texts = [visible(item.text) for item in items]
    kept: list[str] = []
    for text in reversed(texts):
        if sum(len(t) + 2 for t in kept) + len(text) > limit:
            break
        kept.insert(0, text)
    cut = len(texts) - len(kept)
    if not kept and texts:  # the newest alone is over the limit: its start
        kept, cut = [texts[-1][:limit] + " […]"], len(texts) - 1
    note = [f"({cut} earlier message{'s' * (cut != 1)} not shown: over {limit:,} characters)"] if cut else []
    return "\n\n".join(note + kept)


def request_pause(repo: git.Repo, session: str, loop: str) -> Path:
    """Ask `session`'s running loop (`loop`, its lock holder: `pid N`) to stop after its current
    turn. The request names that loop: one starting up clears a request left for an earlier loop,
    but not one sent to it while it started."""
    folder = steer_dir(repo, ledger.validate_session(session))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PAUSE_FILE
    sent = f"for {loop}\nfrom pid {os.getpid()} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
    _write_whole(path, sent.encode())
    return path


def pause_requested(repo: git.Repo, session: str) -> bool:
    return (steer_dir(repo, ledger.validate_session(session)) / PAUSE_FILE).exists()


def pause_for_another_loop(repo: git.Repo, session: str) -> bool:
    """A pause request that is not addressed to this process's loop: left by an earlier one."""
    try:
        first = (steer_dir(repo, ledger.validate_session(session)) / PAUSE_FILE).read_text().split("\n")[0]
    except (OSError, UnicodeDecodeError):
        return False
    return first != f"for pid {os.getpid()}"


def clear_pause(repo: git.Repo, session: str) -> None:
    (steer_dir(repo, ledger.validate_session(session)) / PAUSE_FILE).unlink(missing_ok=True)


def loop_running(repo: git.Repo, session: str) -> str | None:
    """Who drives `session` (`pid N`), or None when no loop does. Read from the loop's lock file
    (its holder writes `pid N` there and empties it when it lets go), never by taking the lock: a
    loop starting that very moment would find it held and refuse to start."""
    try:
        holder = loop_lock_file(repo, ledger.validate_session(session)).read_text().strip()
    except OSError:
        return None
    pid = holder.removeprefix("pid ")
    return holder if pid.isdigit() and _alive(int(pid)) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_whole(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
