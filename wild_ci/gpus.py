"""GPUs on one machine: which there are, and legs that take disjoint sets of them.

An experiment asks for `gpus: N` (or gets the config's `gpus_per_experiment`). Its leg then

* finds the machine's pool (`detect_pool`): `nvidia-smi` where it exists (index, uuid, memory in
  use), or the ids in `$WILD_CI_GPUS` or the config's `gpus:` (those win over nvidia-smi), limited
  by the `CUDA_VISIBLE_DEVICES` of the environment wild-ci started in, read as CUDA reads it;
* takes N of them (`acquire`): one lock file per GPU in a folder every leg of the machine shares
  (`lock_root`), `fcntl.flock` on each. A GPU whose lock another leg holds is taken, one whose
  memory is more than `gpu_busy_percent` used is in use by some other process and skipped too.
  Without N free GPUs the leg waits (polling; what it waits for is printed, for the live view),
  at most its experiment's timeout;
* runs the experiment with `CUDA_VISIBLE_DEVICES` and `WILD_GPUS` set to those ids, and releases
  them when the command has ended.

No experiment asks for GPUs and the config sets no default: none of this runs, no nvidia-smi is
started, the experiment's environment is what it always was. `gpus: 0` hides every GPU.

Only the standard library (and errors.py) is imported: every leg loads this module.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import random
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .errors import BadInput
from .layout import RESULT_MARKER

POOL_ENV = "WILD_CI_GPUS"  # ids of this machine's GPUs that wild-ci may hand out, e.g. 0,1
LOCKS_ENV = "WILD_CI_GPU_LOCKS"  # the folder of lock files, shared by every leg on the machine
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
LEG_ENV = "WILD_GPUS"  # what the experiment is told it has, the same ids
NVIDIA_SMI = "nvidia-smi"
QUERY = ("--query-gpu=index,uuid,memory.used,memory.total,utilization.gpu", "--format=csv,noheader,nounits")
NVIDIA_SMI_TIMEOUT_S = 10.0  # a driver in trouble can hang nvidia-smi; a leg must not hang with it
NVIDIA_SMI_MAX_BYTES = 1024 * 1024  # its answer: ~60 bytes a GPU; a flood is cut, not parsed
MAX_GPUS = 64  # per experiment: more is a mistake, not a machine
DEFAULT_BUSY_PERCENT = 10.0  # memory in use by others above which a GPU is not handed out
POLL_S = 0.5  # between tries while every lock is held (a try costs a few system calls)
POLL_MAX_S = 5.0  # backing off when free locks were found but their GPUs were busy (nvidia-smi ran)


class GpuSettingError(BadInput):
    """A GPU setting of the machine (`WILD_CI_GPUS`) is not a list of GPU numbers."""


class GpuUnavailable(Exception):
    """The leg cannot have the GPUs its experiment asks for; the message says why."""


class GpuWaitTimedOut(GpuUnavailable):
    """The GPUs did not become free within the experiment's timeout."""


# --- knowing the GPUs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gpu:
    """One line of nvidia-smi's answer; a value it could not give (`[N/A]`) is None."""

    index: int
    uuid: str | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    utilization_percent: float | None = None

    def busy(self, percent: float) -> bool:
        """Another process holds more than `percent` of its memory (unknown memory: not busy)."""
        if self.memory_used_mib is None or not self.memory_total_mib:
            return False
        return self.memory_used_mib * 100 / self.memory_total_mib > percent


@dataclass(frozen=True)
class Reading:
    """nvidia-smi's answer: the GPUs it lists, or why there is none (not installed, failed, hung)."""

    gpus: tuple[Gpu, ...] = ()
    problem: str | None = None
    repeated: tuple[int, ...] = ()  # indexes it listed more than once (counted once)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def by_index(self) -> dict[int, Gpu]:
        return {gpu.index: gpu for gpu in self.gpus}


def parse_nvidia_smi(text: str) -> tuple[Gpu, ...]:
    """The GPUs in nvidia-smi's CSV answer (no header, no units); a line that is not one is skipped."""
    gpus = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if not _digits(parts[0]):
            continue
        parts += [""] * (5 - len(parts))
        uuid = parts[1] if parts[1].startswith(("GPU-", "MIG-")) else None
        gpus.append(Gpu(int(parts[0]), uuid, _number(parts[2]), _number(parts[3]), _number(parts[4])))
    return tuple(gpus)


def once_each(gpus: Sequence[Gpu]) -> tuple[tuple[Gpu, ...], tuple[int, ...]]:
    """Each index once (its first line), and the indexes listed again: a GPU counted twice passed
    the `gpus: 2` check on one GPU, and its leg then waited for itself until its timeout."""
    seen: dict[int, Gpu] = {}
    repeated: list[int] = []
    for gpu in gpus:
        if gpu.index in seen:
            repeated += [] if gpu.index in repeated else [gpu.index]
        else:
            seen[gpu.index] = gpu
    return tuple(seen.values()), tuple(repeated)


def _digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also says yes to `²`, which `int` refuses."""
    return text.isascii() and text.isdigit()


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None  # [N/A], [Not Supported]
    return value if value >= 0 else None


def query_nvidia_smi(timeout_s: float = NVIDIA_SMI_TIMEOUT_S) -> Reading:
    """Ask nvidia-smi, for at most `timeout_s`: a hung driver costs the leg seconds, not its life."""
    program = shutil.which(NVIDIA_SMI)
    if program is None:
        return Reading(problem="nvidia-smi is not on PATH")
    try:
        process = subprocess.Popen(
            [program, *QUERY], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return Reading(problem=f"nvidia-smi could not start: {exc.strerror}")
    out, problem = _read_answer(process, time.monotonic() + timeout_s, timeout_s)
    if problem:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)  # a process stuck in the driver may not even die
        return Reading(problem=problem)
    if process.returncode != 0:
        said = out.decode(errors="replace").strip().splitlines()
        why = f": {said[0][:200]}" if said else ""
        return Reading(problem=f"nvidia-smi failed (exit {process.returncode}){why}")
    gpus, repeated = once_each(parse_nvidia_smi(out.decode(errors="replace")))
    return Reading(gpus=gpus, repeated=repeated) if gpus else Reading(problem="nvidia-smi listed no GPU")


def _read_answer(
    process: subprocess.Popen[bytes], deadline: float, timeout_s: float
) -> tuple[bytes, str | None]:
    """nvidia-smi's output (stdout and stderr) to its end and its exit, within `deadline` and
    NVIDIA_SMI_MAX_BYTES — a 150 MB answer took 73 s and 3.8 GB to parse — or a problem."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = bytearray()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"", f"nvidia-smi did not answer within {timeout_s:g} s"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
            if len(data) > NVIDIA_SMI_MAX_BYTES:
                return b"", f"nvidia-smi's answer is larger than {NVIDIA_SMI_MAX_BYTES // 1024} KiB; not read"
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return b"", f"nvidia-smi did not answer within {timeout_s:g} s"
    finally:
        process.stdout.close()
    return bytes(data), None


def parse_ids(text: str, name: str) -> list[int]:
    """GPU numbers separated by commas (`0,1,3`), as `WILD_CI_GPUS` holds them."""
    parts = [part.strip() for part in text.split(",")]
    if not all(_digits(part) for part in parts) or len(set(parts)) != len(parts):
        raise GpuSettingError(
            f"{name}={text!r} is not a list of GPU numbers separated by commas (e.g. 0,1), each once",
            hint=f"fix or unset {name}",
        )
    return [int(part) for part in parts]


def visible_ids(value: str, known: Sequence[Gpu]) -> tuple[list[int], str | None]:
    """The GPU indexes a `CUDA_VISIBLE_DEVICES` value lets through, read as CUDA reads it: numbers
    or (prefixes of) `GPU-…` uuids, and the list ends at the first entry that is neither or names no
    GPU (CUDA ignores the rest); an empty value hides every GPU. Also what was cut, for the notes."""
    ids: list[int] = []
    for entry in (part.strip() for part in value.split(",")) if value.strip() else ():
        if _digits(entry) and (not known or int(entry) in {gpu.index for gpu in known}):
            ids.append(int(entry))
            continue
        matches = [
            gpu.index for gpu in known if entry.startswith("GPU-") and (gpu.uuid or "").startswith(entry)
        ]
        if len(matches) != 1:
            return (
                ids,
                f"{VISIBLE_ENV} entry {entry!r} names no GPU that nvidia-smi lists: the list ends there",
            )
        ids.append(matches[0])
    return ids, None


@dataclass(frozen=True)
class Pool:
    """The GPUs legs on this machine may take, and how they were found (for messages)."""

    ids: tuple[int, ...]
    source: str
    reading: Reading = field(default_factory=Reading)
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        have = f"GPU{'s' * (len(self.ids) != 1)} {', '.join(map(str, self.ids))}" if self.ids else "no GPU"
        return "; ".join([f"{have} ({self.source})", *self.notes])


def detect_pool(configured: Sequence[int] | None = None, env: Mapping[str, str] | None = None) -> Pool:
    """This machine's pool: `$WILD_CI_GPUS`, else the config's `gpus:`, else nvidia-smi's GPUs; then
    only those the starting environment's `CUDA_VISIBLE_DEVICES` shows. nvidia-smi is asked in any
    case when it exists, for the uuids and the memory in use."""
    env = os.environ if env is None else env
    reading = query_nvidia_smi()
    given = (env.get(POOL_ENV) or "").strip()
    notes: list[str] = []
    if given:
        ids, source = parse_ids(given, POOL_ENV), f"{POOL_ENV}={given}"
    elif configured is not None:
        ids, source = list(configured), "the config's gpus:"
    else:
        ids = [gpu.index for gpu in reading.gpus]
        source = "nvidia-smi" if reading.ok else reading.problem or "nvidia-smi"
    visible = env.get(VISIBLE_ENV)
    if visible is not None:
        allowed, cut = visible_ids(visible, reading.gpus)
        ids = [i for i in ids if i in allowed]
        source += f", limited by {VISIBLE_ENV}={visible!r}"
        notes += [cut] if cut else []
    if reading.repeated:
        listed = ", ".join(map(str, reading.repeated))
        notes.append(
            f"nvidia-smi listed GPU{'s' * (len(reading.repeated) != 1)} {listed} twice; counted once"
        )
    return Pool(tuple(dict.fromkeys(ids)), source, reading, tuple(notes))


# --- sharing them -------------------------------------------------------------------------------


def lock_root(env: Mapping[str, str] | None = None, relative_to: Path | None = None) -> Path:
    """The lock files' folder: `$WILD_CI_GPU_LOCKS`, else beside the environment cache in the user's
    cache folder. Every leg that may share a GPU must use the same folder (runners of one machine
    under different users: set `WILD_CI_GPU_LOCKS` to one folder they can all write).

    `~` is expanded (with the `HOME` given); a relative folder is taken from `relative_to` where
    the host resolves it once before the legs start, and refused otherwise: each leg would resolve
    it in its own checkout, one lock folder per leg, and two legs would hold GPU 0 together."""
    env = os.environ if env is None else env
    configured = env.get(LOCKS_ENV)
    if configured:
        folder = _expand_home(configured, env)
        if folder.is_absolute():
            return folder
        if relative_to is not None:
            return relative_to.absolute() / folder
        raise GpuSettingError(
            f"{LOCKS_ENV}={configured!r} is not an absolute folder: every leg must share one lock folder",
            hint=f"set {LOCKS_ENV} to an absolute path (or ~/…)",
        )
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "wild-ci" / "gpu-locks"


def _expand_home(text: str, env: Mapping[str, str]) -> Path:
    """`~` and `~/x` with the environment's HOME (the leg's, not this process's); `~user` as the
    system says."""
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        return Path(home + text[1:])
    return Path(text).expanduser() if text.startswith("~") else Path(text)


class Lock:
    """One GPU's lock as a leg holds it: the open lock file (its flock) and, on Linux, a socket
    bound to the GPU's name in the abstract namespace. Closing it releases both."""

    def __init__(self, handle: IO[str], guard: socket.socket | None = None) -> None:
        self.handle = handle
        self.guard = guard

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        if self.guard is not None:
            with contextlib.suppress(OSError):
                self.guard.close()


_OPEN_FLAGS = os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
LOCK_FILE_MODE = 0o666  # a folder shared by the runners of several users: each may lock every file


def _open_lock_file(path: Path) -> tuple[IO[str], bool]:
    """The lock file, opened without following a symbolic link (a link planted where a lock file
    goes must not make a leg truncate what it points to), and only if it is a regular file; read
    and write, or read only when that is all this user may (another user's file: flock needs no
    more). Also whether it may be written."""
    try:
        fd, writable = os.open(path, os.O_RDWR | _OPEN_FLAGS, LOCK_FILE_MODE), True
    except PermissionError:
        fd, writable = os.open(path, os.O_RDONLY | _OPEN_FLAGS, LOCK_FILE_MODE), False
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if status.st_uid == os.geteuid() and stat.S_IMODE(status.st_mode) != LOCK_FILE_MODE:
            with contextlib.suppress(OSError):  # the umask narrowed it: others could not open it
                os.fchmod(fd, LOCK_FILE_MODE)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "r+" if writable else "r", encoding="utf-8"), writable
    except BaseException:
        os.close(fd)
        raise


def _guard(root: Path, gpu: int) -> socket.socket | None:
    """A second hold on the GPU that no file operation can undo: a Unix socket bound to a name in
    Linux's abstract namespace, one per (lock folder, GPU). An experiment that deletes the lock
    files (cleaning ~/.cache) would otherwise let the next leg lock a new file of the same name and
    take a GPU that is in use. The kernel frees the name when the socket is closed or its process
    ends, as it does the flock. Raises BlockingIOError when another leg holds the name; None where
    there is no abstract namespace (not Linux) or no Unix socket may be made."""
    if not sys.platform.startswith("linux"):
        return None
    folder = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:32]
    try:
        guard = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        guard.bind(f"\0wild-ci-gpu-lock/{folder}/{gpu}")
    except OSError as exc:
        guard.close()
        if exc.errno == errno.EADDRINUSE:
            raise BlockingIOError(errno.EADDRINUSE, "held") from exc
        return None
    return guard


def try_lock(root: Path, gpu: int, holder: str) -> Lock | None:
    """GPU `gpu`'s lock, or None when another process holds it.

    The lock is an `fcntl.flock` on `gpu-<n>.lock`, held by the open file: the kernel releases it
    when the file is closed or its process ends, however it ends (SIGKILL, a crash, a runner that
    vanished), so a dead leg never keeps a GPU. The descriptor is not inheritable, so a process the
    experiment leaves behind does not hold the lock either. The folder is made again if it was
    removed, and a lock file removed while its GPU is held does not free the GPU (`_guard`). The
    file holds the holder's description, for messages only: the lock is the flock, not the text."""
    root.mkdir(parents=True, exist_ok=True)
    handle, writable = _open_lock_file(root / f"gpu-{gpu}.lock")
    guard = None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        guard = _guard(root, gpu)
    except BlockingIOError:
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise
    if writable:
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            handle.write(holder)
            handle.flush()
    return Lock(handle, guard)


@dataclass
class Allocation:
    """GPUs a leg holds until `release` (or the end of its process)."""

    ids: list[int]
    waited_s: float = 0.0
    handles: list[Lock] = field(default_factory=list, repr=False)

    def variables(self) -> dict[str, str]:
        """The experiment's view: only its GPUs, numbered as nvidia-smi numbers them (PCI order)."""
        ids = ",".join(map(str, self.ids))
        return {VISIBLE_ENV: ids, LEG_ENV: ids, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}

    def release(self) -> None:
        handles, self.handles = self.handles, []
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()

    def __enter__(self) -> Allocation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


@dataclass
class _Round:
    """What one try found: the GPUs it got, and why it did not get more."""

    taken: list[tuple[int, Lock]] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # locked by another leg
    busy: list[int] = field(default_factory=list)  # memory in use by another process
    measured: bool = False  # nvidia-smi was asked

    def release(self) -> None:
        for _gpu, handle in self.taken:
            handle.close()
        self.taken = []

    def why(self) -> str:
        parts = []
        if self.held:
            parts.append(f"held by other legs: {', '.join(map(str, self.held))}")
        if self.busy:
            parts.append(f"in use by other processes: {', '.join(map(str, self.busy))}")
        return "; ".join(parts) or "none free"


def _try_once(
    count: int, pool: Pool, root: Path, holder: str, busy_percent: float, measure: Callable[[], Reading]
) -> _Round:
    """Lock free GPUs until `count` are held; only then ask nvidia-smi which of them are busy (so
    legs that wait on each other's locks never start it), and drop those."""
    found = _Round()
    readings: dict[int, Gpu] | None = None  # nvidia-smi's answer, once `count` locks were free
    try:
        for gpu in pool.ids:
            if len(found.taken) == count:
                break
            handle = try_lock(root, gpu, holder)
            if handle is None:
                found.held.append(gpu)
                continue
            found.taken.append((gpu, handle))
            if readings is None and len(found.taken) == count and pool.reading.ok:
                found.measured = True
                now = measure()
                readings = now.by_index() if now.ok else {}
            for taken_gpu, taken_handle in list(found.taken) if readings else ():
                reading = readings.get(taken_gpu) if readings else None
                if reading is not None and reading.busy(busy_percent):
                    found.busy.append(taken_gpu)
                    found.taken.remove((taken_gpu, taken_handle))
                    taken_handle.close()
    except BaseException:
        found.release()
        raise
    if len(found.taken) < count:
        found.release()
    return found


def acquire(
    count: int,
    pool: Pool,
    timeout_s: float,
    holder: str,
    on_wait: Callable[[str], None] = lambda _why: None,
    busy_percent: float = DEFAULT_BUSY_PERCENT,
    root: Path | None = None,
    measure: Callable[[], Reading] = query_nvidia_smi,
) -> Allocation:
    """Take `count` GPUs of `pool`, waiting up to `timeout_s` for them (`on_wait(why)` once, when
    the first try fails). Raises GpuUnavailable when the pool is too small to ever have them,
    GpuWaitTimedOut when they were not free in time. Locks are taken all at once or not at all, so
    two legs that each hold half of what they need never wait on each other."""
    if count <= 0:
        return Allocation([])
    if count > len(pool.ids):
        raise GpuUnavailable(
            f"the experiment asks for {count} GPU{'s' * (count != 1)}; this machine has {pool.describe()}"
        )
    root = root or lock_root()
    root.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    deadline = start + timeout_s
    interval = POLL_S
    told = False
    while True:
        found = _try_once(count, pool, root, holder, busy_percent, measure)
        if len(found.taken) == count:
            ids = [gpu for gpu, _handle in found.taken]
            return Allocation(ids, round(time.monotonic() - start, 3), [h for _gpu, h in found.taken])
        if not told:
            on_wait(found.why())
            told = True
        left = deadline - time.monotonic()
        if left <= 0:
            raise GpuWaitTimedOut(
                f"waited the whole {timeout_s:g}s timeout for {count} free GPU{'s' * (count != 1)} of "
                f"{pool.describe()}: {found.why()}"
            )
        interval = min(interval * 1.5, POLL_MAX_S) if found.measured else POLL_S
        time.sleep(min(left, interval * random.uniform(0.8, 1.2)))


# --- what a leg does ----------------------------------------------------------------------------


def requested(experiment_gpus: int | None, default: int | None) -> int | None:
    """How many GPUs an experiment gets: its own `gpus:`, else the config's default; None: the
    experiment's environment is left as it is (GPUs not managed)."""
    return experiment_gpus if experiment_gpus is not None else default


@dataclass
class LegGpus:
    """The GPUs of one leg, from its request to their release. `count` None: nothing is done."""

    count: int | None
    experiment_id: str
    configured_pool: Sequence[int] | None = None
    busy_percent: float = DEFAULT_BUSY_PERCENT
    pool: Pool | None = None
    allocation: Allocation | None = None

    def check(self) -> None:
        """Before the leg sets anything up: raise GpuUnavailable if this machine can never give the
        experiment what it asks for (a bad WILD_CI_GPUS too: that is this machine's fault)."""
        if not self.count:
            return
        try:
            self.pool = detect_pool(self.configured_pool)
        except GpuSettingError as exc:
            raise GpuUnavailable(str(exc)) from exc
        if self.count > len(self.pool.ids):
            raise GpuUnavailable(
                f"the experiment asks for {self.count} GPU{'s' * (self.count != 1)}; this machine has "
                f"{self.pool.describe()}"
            )

    def take(self, timeout_s: float, announce: Callable[[str], None]) -> None:
        """Wait for the GPUs (at most `timeout_s`), saying so in the job log for the live view."""
        if self.count is None:
            return
        if self.count == 0:
            self.allocation = Allocation([])
            return
        assert self.pool is not None, "check() first"
        marker = f"{RESULT_MARKER} {self.experiment_id}"  # the live view reads these lines

        def waiting(why: str) -> None:
            announce(f"{marker} waiting for {self.count} GPU{'s' * (self.count != 1)} ({why})")

        holder = f"pid {os.getpid()} experiment {self.experiment_id}\n"
        try:
            self.allocation = acquire(self.count, self.pool, timeout_s, holder, waiting, self.busy_percent)
        except OSError as exc:  # the lock folder cannot be made or written: say which, fail the leg
            where = f" {exc.filename}" if exc.filename else ""
            raise GpuUnavailable(
                f"the GPU lock folder cannot be used ({exc.strerror}{where}); see {LOCKS_ENV}"
            ) from exc
        ids = ",".join(map(str, self.allocation.ids))
        noun = "GPUs" if len(self.allocation.ids) > 1 else "GPU"
        announce(f"{marker} got {noun} {ids} after waiting {self.allocation.waited_s}s")

    def variables(self) -> dict[str, str]:
        """What the experiment's environment gets: its GPUs, or (gpus: 0) none at all."""
        if self.allocation is None:
            return {}
        if not self.allocation.ids:
            return {VISIBLE_ENV: "", LEG_ENV: ""}
        return self.allocation.variables()

    @property
    def ids(self) -> list[int] | None:
        return None if self.allocation is None else list(self.allocation.ids)

    @property
    def waited_s(self) -> float | None:
        return None if self.allocation is None or not self.allocation.ids else self.allocation.waited_s

    def release(self) -> None:
        if self.allocation is not None:
            self.allocation.release()
