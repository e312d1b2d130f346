"""The Landlock backend: the kernel refuses the command every path the policy does not grant.

Landlock (Linux 5.13+) needs no namespace and no privilege, so it works where user namespaces are
refused (Ubuntu 24.04's AppArmor restriction, containers). The rules are built in wild-ci's own
process; the child only turns on no_new_privs and restricts itself between fork and exec (two
system calls, `preexec`). What it cannot do — hide a path inside a granted one (the checkout's
`.git`), give a private /tmp or PID namespace, cut UDP — is written in docs/safety.md.

Every leg loads this module: it imports only the standard library.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .policy import Policy

NAME = "landlock"
# System call numbers: the same on every architecture Linux gave them to together (444-446).
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

# Access rights (include/uapi/linux/landlock.h) and the ABI that brought each.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a rule on a file may hold
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2  # ABI 6: no signals to processes outside
DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
                "/dev/ptmx", "/dev/pts", "/dev/shm")  # fmt: skip
READ_ONLY_SYSTEM = ("/proc", "/sys")


class LandlockError(OSError):
    """The kernel refused to build or apply the rules."""


@dataclass(frozen=True)
class Ruleset:
    """A ruleset file descriptor made in the parent, applied in the child (then closed in both)."""

    fd: int

    def preexec(self) -> Callable[[], None]:
        """What the child runs between fork and exec: system calls only (no allocation, no lock)."""
        libc, fd = _libc(), self.fd

        def restrict() -> None:
            if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(RESTRICT_SELF, fd, 0) != 0:
                os._exit(126)  # never run the command unconfined

        return restrict

    def close(self) -> None:
        os.close(self.fd)


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.syscall.restype = ctypes.c_long
    return _LIBC


def abi_version() -> int:
    """The Landlock ABI the kernel offers; 0 when it has none (or is not Linux)."""
    if platform.system() != "Linux":
        return 0
    version = _libc().syscall(CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(0, int(version))


def build(policy: Policy, abi: int) -> Ruleset:
    """The rules of `policy`, as a ruleset descriptor."""
    handled_fs = ABI_FS[max(v for v in ABI_FS if v <= abi)]
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 and not policy.network else 0
    scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0
    attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    buffer = ctypes.create_string_buffer(attr[:size], size)
    fd = _libc().syscall(CREATE_RULESET, buffer, ctypes.c_size_t(size), 0)
    if fd < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    ruleset = Ruleset(int(fd))
    try:
        for path in (*policy.read_only, *READ_ONLY_SYSTEM):
            _allow(ruleset.fd, path, READ_RIGHTS & handled_fs)
        _allow(ruleset.fd, "/dev", READ_DIR)  # listed; its nodes granted one by one
        for path in (*DEVICE_FILES, *policy.devices):
            _allow(ruleset.fd, path, handled_fs & ~(MAKE_CHAR | MAKE_BLOCK))
        for path in (*policy.writable, policy.home, policy.tmp):
            _allow(ruleset.fd, path, handled_fs & ~(MAKE_CHAR | MAKE_BLOCK))
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def _allow(ruleset_fd: int, path: str, rights: int) -> None:
    """Grant `rights` beneath `path` (a file's own rights only, for a file); a missing path is
    skipped: there is nothing to reach."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            rights &= FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        if _libc().syscall(ADD_RULE, ruleset_fd, RULE_PATH_BENEATH, rule, 0) != 0:
            code = ctypes.get_errno()
            if code not in (errno.ENOENT,):
                raise LandlockError(code, f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
