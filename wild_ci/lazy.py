"""Every import that wild-ci defers, in one place, each with its reason. Everything else is
imported at the top of its module; `entry.py` (which command loads what) and `cli/app.py` (a
command's module is loaded when it runs) are the only other places that choose when to load.

Measured on a 2-core runner: PyGithub 0.32 s, matplotlib 0.40 s (its Figure and Agg canvas),
requests 0.17 s — more than a whole `wild-ci execute` start (0.16 s), which every matrix leg pays.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType


def pygithub() -> ModuleType:
    """PyGithub: only commands that talk to GitHub load it (`collect` without `--comment` does not)."""
    import github

    return github


def requests() -> ModuleType:
    """PyGithub's HTTP library, for the artifact downloads PyGithub does not do itself."""
    import requests

    return requests


def matplotlib() -> ModuleType | None:
    """matplotlib (a dependency: the metrics chart) loaded to draw files only — its Figure and the
    Agg canvas, never pyplot, which looks for a GUI backend; None when it is not installed.

    Its font cache goes in wild-ci's own cache folder and lists only the fonts matplotlib ships
    (`MPL_IGNORE_SYSTEM_FONTS`): on a fresh runner (every GitHub collect job) the first import
    builds that cache, and a scan of every system font would cost seconds where this costs ~0.1 s;
    the chart also looks the same on every machine, and the user's own matplotlib cache is never
    written with a partial list. The two variables are set only while matplotlib loads, so nothing
    started later (a leg, a brain command) inherits them."""
    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wild-ci" / "matplotlib"
    except RuntimeError:  # no home folder: matplotlib picks a temporary one
        cache = Path(os.environ.get("TMPDIR") or "/tmp") / f"wild-ci-matplotlib-{os.getuid()}"
    saved = {name: os.environ.get(name) for name in ("MPLCONFIGDIR", "MPL_IGNORE_SYSTEM_FONTS")}
    os.environ.update(MPLCONFIGDIR=str(cache), MPL_IGNORE_SYSTEM_FONTS="1")
    try:
        import matplotlib
        import matplotlib.backends.backend_agg
        import matplotlib.figure
        import matplotlib.font_manager  # builds (or reads) the font cache now, under these variables
    except ImportError:
        return None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return matplotlib


def matplotlib_available() -> bool:
    """Whether matplotlib is installed, without loading it (0.4 s)."""
    return importlib.util.find_spec("matplotlib") is not None


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
