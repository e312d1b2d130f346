"""Finding the bundled resources (templates, the example) and rendering jinja2 templates.

Resources live in `templates/` and `examples/` at the top of the source tree; the wheel ships them
inside the package (`wild_ci/templates`, `wild_ci/examples`), so both layouts are looked up.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from .errors import PipelineError

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The bundled folder `name`: inside the installed package, else in the source tree."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise PipelineError(
        f"wild-ci's bundled folder {name!r} is missing from {PACKAGE_DIR}", hint="reinstall wild-ci"
    )


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs: every `wild-ci run` renders the workflow and four
    stand-in actions, and every collect job its results, and jinja2 compiles each template anew in
    each process (~15 ms of CPU each). Keyed by template name and checked against the source's
    checksum and the Python version by jinja2. A cache that cannot be read or written is no cache,
    never a failed render."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError, TypeError):  # damaged: compiled again, then replaced
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The user's cache folder (as for matplotlib's, lazy.py), private to them; None if it cannot be made."""
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = base / "wild-ci" / "templates"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # no home folder, or a read-only one
        return None
    return _QuietBytecodeCache(str(folder))


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
