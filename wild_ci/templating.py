"""Finding the bundled resources (templates, the example) and rendering jinja2 templates.

Resources live in `templates/` and `examples/` at the top of the source tree; the wheel ships them
inside the package (`wild_ci/templates`, `wild_ci/examples`), so both layouts are looked up.
"""

from __future__ import annotations

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


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
