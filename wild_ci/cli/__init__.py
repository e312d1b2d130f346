"""The `wild-ci` command line: argument wiring, one module per command, one error handler."""

from .main import main

__all__ = ["main"]
