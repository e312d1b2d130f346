"""How an experiment's parameters reach its program: appended to the command's last line as
shell-quoted `--key=value` flags, and the reasons that would not work for a given command."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any


def final_command(command: str, parameters: dict[str, Any]) -> str:
    """Append `--key=value` flags to the command's last line, each quoted for the shell."""
    if not parameters:
        return command
    flags = " ".join(shlex.quote(f"--{key}={flag_value(value)}") for key, value in parameters.items())
    return f"{command.rstrip()} {flags}"


def flag_position_problem(command: str) -> str | None:
    """Why `--key=value` flags appended to the command's last line would not reach its program
    (a comment, a trailing operator, an open quote), or None when they would. Quotes are followed
    over the whole command: a quoted argument may span lines."""
    text = command.rstrip()
    last_line_start = text.rfind("\n") + 1
    quote: str | None = None
    escaped = in_comment = False
    for index, char in enumerate(text):
        if in_comment:
            in_comment = char != "\n"
        elif escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            if index >= last_line_start:
                return "the last line of the command ends in a comment; put the comment on its own line"
            in_comment = True
    if quote or escaped:
        return "the command has an open quote or ends with a backslash"
    last = text[last_line_start:]
    if last.rstrip().endswith((";", "&", "|", "(", "{")):
        return "the last line of the command ends with an operator; end it with the program to run"
    if _ends_in_heredoc(command):
        return "the command ends inside a here-document; flags there would not reach the program"
    if last.split() and last.split()[-1] in ("done", "fi", "esac", "}", ")", "then", "do", "else"):
        return "the command ends a shell block; end it with the program to run"
    return None


HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def _ends_in_heredoc(command: str) -> bool:
    """Whether the command's last line is the body or the terminator of a here-document."""
    terminator: str | None = None
    lines = command.rstrip().split("\n")
    for index, line in enumerate(lines):
        if terminator is not None:
            if line.strip() == terminator:
                terminator = None
                if index == len(lines) - 1:
                    return True
            continue
        match = HEREDOC.search(line.replace("<<<", ""))
        if match:
            terminator = match.group(2)
    return terminator is not None


def flag_value(value: Any) -> str:
    """Strings as written; numbers, booleans, null, lists and mappings as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
