"""What a sandboxed command may touch, decided by wild-ci from the leg's own paths and the user's
config — never from the brain's text.

The policy is an allow-list, the same for every backend: the system and the environments
read-only, the checkout and a few private folders writable, everything else absent. bubblewrap
builds a file system of exactly that; Landlock refuses access to the rest (docs/safety.md says
what each can and cannot do).

Every leg loads this module: it imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# The system: what a command needs to run at all. Missing ones are skipped, symlinks (merged /usr)
# followed by the backend.
SYSTEM_ROOTS = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix", "/snap",
    "/var/lib", "/run/systemd/resolve",  # /etc/resolv.conf points there on Ubuntu
)  # fmt: skip
# Folders of $HOME that hold credentials; never visible, even under a path the config lets in
# (bubblewrap covers them; Landlock cannot, docs/safety.md).
SECRET_STORES = (
    ".ssh", ".aws", ".azure", ".gnupg", ".config/gh", ".config/gcloud", ".config/hub", ".netrc",
    ".git-credentials", ".docker", ".kube", ".huggingface", ".cache/huggingface/token", ".kaggle",
    ".pypirc", ".local/share/keyrings", ".password-store", ".npmrc", ".config/git/credentials",
)  # fmt: skip
# Where a command's environment points at the real $HOME or the user's shell; dropped inside.
DROPPED_ENV = (
    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    "OLDPWD", "PWD", "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS", "GNUPGHOME",
)  # fmt: skip
GPU_CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


@dataclass(frozen=True)
class Policy:
    """One sandbox: paths are absolute and resolved (a symlink cannot lead out of them)."""

    writable: tuple[str, ...]
    read_only: tuple[str, ...]
    home: str  # the private $HOME, an empty folder on disk for this leg
    tmp: str  # the private /tmp, another
    real_home: str | None = None  # where $HOME is inside (bubblewrap); None: `home` itself
    protected: tuple[str, ...] = ()  # read-only inside a writable path (the checkout's .git)
    hidden: tuple[str, ...] = ()  # absent even inside a granted path (bubblewrap only)
    network: bool = True
    devices: tuple[str, ...] = ()  # device nodes reachable (the leg's GPUs)

    def widened(self, *writable: str | Path) -> Policy:
        """The same policy with more writable paths (the environment build's own folder)."""
        more = _resolved(writable)
        return dataclasses.replace(self, writable=_unique([*self.writable, *more]))

    def readable(self, *paths: str | Path) -> Policy:
        """The same policy with more read-only paths (the tool that runs, when outside the rest)."""
        return dataclasses.replace(self, read_only=_unique([*self.read_only, *_resolved(paths)]))


def leg_policy(
    checkout: Path,
    scratch: Path,
    environ: Mapping[str, str],
    read_only: Iterable[str | Path] = (),
    writable: Iterable[str | Path] = (),
    hidden: Iterable[str | Path] = (),
    network: bool = True,
    devices: Iterable[str] = (),
) -> Policy:
    """The policy of one leg: its checkout writable but for its `.git`, the git objects it borrows
    (alternates) and the interpreters and tools on PATH read-only, a private HOME and /tmp under
    `scratch` (which the caller creates and removes)."""
    home, tmp = scratch / "home", scratch / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    real_home = environ.get("HOME") or None
    checkout = Path(os.path.realpath(checkout))
    system = [p for p in SYSTEM_ROOTS if os.path.lexists(p)]  # as named: /bin may be a symlink
    readable = [
        *python_prefixes(),
        *tool_paths(environ.get("PATH", ""), real_home),
        *git_object_dirs(checkout),
        *read_only,
    ]
    secrets = [os.path.join(real_home, name) for name in SECRET_STORES] if real_home else []
    return Policy(
        writable=_unique([str(checkout), *(p for p in _resolved(writable) if os.path.exists(p))]),
        read_only=_unique([*system, *filter(_reachable, _resolved(readable))]),
        home=str(home),
        tmp=str(tmp),
        real_home=real_home if real_home and os.path.isabs(real_home) and real_home != "/" else None,
        protected=_unique(_resolved([checkout / ".git"])) if (checkout / ".git").exists() else (),
        hidden=_unique([*_resolved(hidden), *(s for s in secrets if os.path.lexists(s))]),
        network=network,
        devices=tuple(devices),
    )


def python_prefixes() -> list[str]:
    """The running interpreter's installation and virtualenv (wild-ci's own Python)."""
    return [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]


def tool_paths(path: str, home: str | None) -> list[str]:
    """What the commands on PATH need: each PATH folder; a virtualenv's folder and the Python it
    was made from (`pyvenv.cfg`); a version manager's root (pyenv's shims run its versions)."""
    found: list[str] = []
    for entry in filter(os.path.isabs, path.split(os.pathsep)):
        real = os.path.realpath(entry)
        if not os.path.isdir(real) or real == "/" or real == home:
            continue
        found.append(real)
        parent = os.path.dirname(real)
        config = os.path.join(parent, "pyvenv.cfg")
        if os.path.isfile(config):
            found += [parent, *_venv_base(config)]
        if os.path.basename(real) == "shims" and os.path.isdir(os.path.join(parent, "versions")):
            found.append(parent)
        if os.path.basename(parent) == "plugins":  # pyenv-virtualenv's shims: pyenv's root
            found.append(os.path.dirname(parent))
    return found


def _venv_base(config: str) -> list[str]:
    try:
        lines = Path(config).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return [os.path.dirname(os.path.realpath(value.strip()))]
    return []


def git_object_dirs(checkout: Path) -> list[str]:
    """The object folders a checkout reads through `objects/info/alternates`, transitively (a
    `git clone --shared` chain ends in the user's own `.git/objects`): read-only inside, so git
    works in the leg and nothing of the user's repository can be changed."""
    gitdir = _gitdir(checkout)
    if gitdir is None:
        return []
    found: list[str] = [str(gitdir)]
    queue = [gitdir / "objects"]
    while queue:
        objects = queue.pop()
        real = os.path.realpath(objects)
        if real in found:
            continue
        found.append(real)
        try:
            lines = (Path(real) / "info" / "alternates").read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                queue.append(Path(line) if os.path.isabs(line) else Path(real) / line)
    return found[1:] if str(gitdir).startswith(str(checkout) + os.sep) else found


def _gitdir(checkout: Path) -> Path | None:
    """`.git` as a folder, or the folder a `.git` file (worktree, submodule) names."""
    dot_git = checkout / ".git"
    if dot_git.is_dir():
        return Path(os.path.realpath(dot_git))
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text.removeprefix("gitdir:").strip())
    return Path(os.path.realpath(target if target.is_absolute() else checkout / target))


def gpu_devices(ids: Iterable[int] | None) -> list[str]:
    """Device nodes of the GPUs a leg holds (`/dev/nvidiaN` and the shared control nodes); every
    NVIDIA node when the leg does not manage GPUs (None); none for `gpus: 0` ([])."""
    if ids is None:
        return sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/nvidia-caps/*"))
    chosen = list(ids)
    if not chosen:
        return []
    nodes = [f"/dev/nvidia{i}" for i in chosen] + [f"/dev/{name}" for name in GPU_CONTROL_NODES]
    return [node for node in nodes if os.path.exists(node)] + sorted(glob.glob("/dev/nvidia-caps/*"))


def _reachable(path: str) -> bool:
    """This user can read it (a PATH entry under another user's 0700 home is left out, not an error)."""
    return os.access(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0))


def _resolved(paths: Iterable[str | Path]) -> list[str]:
    return [os.path.realpath(p) for p in paths if os.path.isabs(p)]


def _unique(paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(paths))
