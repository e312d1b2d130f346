"""The `wild-ci` command line: argument wiring, one module per command, one error handler."""

from .app import main

__all__ = ["main"]
