"""Shared value types: the syntax a value has wherever it is written — in a brain output, in
the config file, or on the command line — so that each is read by one function.

Only the standard library is imported here: config, parse and the CLI all build on this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

# --- durations: `timeout: 2h`, `setup_timeout: 30m`, `--timeout 90s` ----------------------------

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)?\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_TIMEOUT_S = 60 * 60  # an experiment's timeout when neither it nor the config names one
# The longest duration taken (#25 attack): a leg's job renders `timeout-minutes` of its attempts, and
# act reads it as a Go time.Duration (int64 nanoseconds, 292 years), so `timeout: 3000000h` wrapped to
# a deadline already past and every leg of a local run ended at once, `missing`. A year and a day,
# times 6 attempts plus the set-up's, stays far inside that.
MAX_DURATION_S = 366 * 24 * 3600
MAX_DURATION_TEXT = "366 days"


def parse_duration(value: Any) -> int | None:
    """Seconds from a number or a duration like 90s, 30m, 2h; None when it is neither, not positive,
    or over MAX_DURATION_S."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds):
            return None
    else:
        match = DURATION.match(str(value))
        if not match:
            return None
        seconds = float(match.group(1)) * UNIT_SECONDS[(match.group(2) or "s")[0]]
    return max(1, round(seconds)) if 0 < seconds <= MAX_DURATION_S else None


# --- runner labels: `runs_on: [self-hosted, gpu]` ------------------------------------------------

RUNNER_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


# Runners wild-ci's jobs cannot work on, refused when a config, a flag or a brain names them (sources
# in docs/github-conformance.md, "Runners that cannot work"). Labels match case-insensitively.
WINDOWS_LABEL = re.compile(r"^windows(-[A-Za-z0-9_.-]*)?$", re.IGNORECASE)
RETIRED_MACOS_LABEL = re.compile(r"^macos-(10\.15|11|12|13)(-[A-Za-z0-9]+)?$", re.IGNORECASE)


def unsupported_runner(labels: Iterable[str]) -> str | None:
    """Why a job on a runner with these labels could not work (None: nothing known against it)."""
    for label in labels:
        if WINDOWS_LABEL.match(label):
            return (
                f"runner label {label!r}: wild-ci cannot run on Windows runners (its steps are bash "
                "scripts, and a leg needs POSIX process groups, fcntl and resource); use a Linux runner"
            )
        if RETIRED_MACOS_LABEL.match(label):
            return (
                f"runner label {label!r}: GitHub has retired this macOS image, so a job asking for it "
                "never runs; use ubuntu-latest, macos-latest (arm64) or macos-15-intel (x86_64)"
            )
    return None


def runner_labels(value: Any, error: Callable[[str], None]) -> list[str]:
    """`runs_on`: one runner label or a list of them (all must match), e.g. [self-hosted, gpu]."""
    if value is None:
        return []
    labels = [value] if isinstance(value, str) else value
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        error("'runs_on' must be a runner label or a list of labels")
        return []
    bad = [label for label in labels if not RUNNER_LABEL.match(label)]
    if bad:
        error(f"runner label {bad[0]!r} may only use letters, digits, '.', '_' and '-'")
        return []
    refused = unsupported_runner(labels)
    if refused:
        error(refused)
        return []
    return labels


# --- setup: `auto`, `none`, or a command --------------------------------------------------------


def normalize_setup(value: str) -> str:
    """`auto` and `none` in any case are keywords; anything else is a shell command."""
    text = value.strip()
    return text.lower() if text.lower() in ("auto", "none") else text


# --- workflow-safe text --------------------------------------------------------------------------


def workflow_safe(value: str, name: str, error: Any) -> str:
    """Settings rendered into the workflow may hold no expression and no line break."""
    if "${{" in value or "\n" in value or "\r" in value:
        raise error(name, f"{name} may not contain '${{{{' or a line break")
    return value
