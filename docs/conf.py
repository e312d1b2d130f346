"""Sphinx configuration for wild-ci's documentation (MyST Markdown pages, the Furo theme).

Build: `python -m sphinx -W -b html docs docs/_build/html` (the test suite does, warnings as errors).
The reference pages come from the code: the CLI from argparse (sphinx-argparse), the experiment
fields from `wild_ci.parse.fields.FIELDS` and the config keys from `wild_ci.config.CONFIG_KEYS`,
inserted where a page says `{wild-ci-fields}` or `{wild-ci-config-keys}`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "wild-ci"
author = "the wild-ci developers"
extensions = ["myst_parser", "sphinxarg.ext"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "wild-ci"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.domains"]  # sphinx-argparse registers a domain MyST cannot resolve "any" links in


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def fields_table() -> str:
    from wild_ci.parse.fields import FIELDS

    rows = ["| key | required | default from the config | what it does |", "|---|---|---|---|"]
    for field in FIELDS:
        config = f"`{field.config}`" if field.config else ""
        required = "yes" if field.required else ""
        rows.append(f"| `{field.key}` | {required} | {config} | {_cell(field.description)} |")
    return "\n".join(rows)


def config_table() -> str:
    from wild_ci.config import CONFIG_KEYS

    rows = ["| key | what it does |", "|---|---|"]
    rows += [f"| `{key}` | {_cell(text)} |" for key, text in CONFIG_KEYS.items()]
    return "\n".join(rows)


GENERATED = {"{wild-ci-fields}": fields_table, "{wild-ci-config-keys}": config_table}


def _insert_generated(_app: object, _docname: str, source: list[str]) -> None:
    for marker, make in GENERATED.items():
        if marker in source[0]:
            source[0] = source[0].replace(marker, make())


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("source-read", _insert_generated)
    return {"parallel_read_safe": True}
