"""The error family: every domain error carries the exit code it ends the command with."""

from __future__ import annotations


class WildError(Exception):
    exit_code = 3


class BadInput(WildError):
    exit_code = 2


class PipelineError(WildError):
    exit_code = 1
