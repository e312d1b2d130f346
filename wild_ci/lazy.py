"""Every import that wild-ci defers, in one place, each with its reason. Everything else is
imported at the top of its module; `entry.py` (which command loads what) and `cli/app.py` (a
command's module is loaded when it runs) are the only other places that choose when to load.

Measured on a 2-core runner: PyGithub 0.32 s, matplotlib 0.40 s, requests 0.17 s — more than a
whole `wild-ci execute` start (0.16 s), which every matrix leg pays.
"""

from __future__ import annotations

from types import ModuleType


def pygithub() -> ModuleType:
    """PyGithub: only commands that talk to GitHub load it (`collect` without `--comment` does not)."""
    import github

    return github


def requests() -> ModuleType:
    """PyGithub's HTTP library, for the artifact downloads PyGithub does not do itself."""
    import requests

    return requests


def pyplot() -> ModuleType | None:
    """matplotlib (the optional `charts` extra) for the metrics chart; None when not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    return pyplot


def yaml() -> ModuleType:
    """PyYAML in a leg, for the few projects with an environment.yml (every leg loads environment)."""
    import yaml

    return yaml


def yaml_available() -> bool:
    """Whether PyYAML can be imported (a leg installs it on demand when not)."""
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def uv_binary() -> str | None:
    """The uv binary of the `uv` package wild-ci depends on (None when that package is absent)."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None
