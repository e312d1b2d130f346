"""Stage 1 — parse: read a brain output into validated experiments (see `blocks`)."""

from ..values import normalize_setup, parse_duration, runner_labels
from .blocks import (
    decode_brain_output,
    final_command,
    flag_value,
    parse_brain_output,
    slugify,
)

__all__ = [
    "decode_brain_output",
    "final_command",
    "flag_value",
    "normalize_setup",
    "parse_brain_output",
    "parse_duration",
    "runner_labels",
    "slugify",
]
