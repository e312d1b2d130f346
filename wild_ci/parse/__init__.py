"""Stage 1 — parse: read a brain output into validated experiments.

`blocks` finds the `<experiments>` blocks and reads them (with `fast` or `tolerant` when YAML is
not needed or fails), `items` validates each item against the table of fields in `fields`, and
`commands` appends the parameters to the command.
"""

from ..values import normalize_setup, parse_duration, runner_labels
from .blocks import decode_brain_output, parse_brain_output
from .commands import final_command, flag_position_problem, flag_value
from .fields import FIELDS, KNOWN_KEYS, Field
from .items import slugify

__all__ = [
    "FIELDS",
    "KNOWN_KEYS",
    "Field",
    "decode_brain_output",
    "final_command",
    "flag_position_problem",
    "flag_value",
    "normalize_setup",
    "parse_brain_output",
    "parse_duration",
    "runner_labels",
    "slugify",
]
