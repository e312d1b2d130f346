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


def open_quote(command: str) -> tuple[str, int] | None:
    """The quote bash would find unclosed in the command — `'`, `"` or a backtick — and the
    command's line (1-based) where it opens, or None. Followed as bash reads: a `#` at the start
    of a word begins a comment, a backslash escapes outside single quotes, `$'…'` takes
    backslash escapes, `$(…)` inside double quotes starts afresh, and the body of a
    here-document (`<<EOF` … `EOF`) is data, not shell. One pass over the command."""
    lines = command.split("\n")
    stack: list[tuple[str, int]] = []  # open contexts: "'", "$'", '"', "`", "(" with their line
    pending: list[str] = []  # here-document terminators whose bodies start on the next line
    number = 0
    while number < len(lines):
        line = lines[number]
        index = 0
        while index < len(line):
            char = line[index]
            kind = stack[-1][0] if stack else None
            if kind == "'":
                if char == "'":
                    stack.pop()
            elif kind in ("$'", '"', "`") and char == "\\":
                index += 1
            elif kind == "$'":
                if char == "'":
                    stack.pop()
            elif kind == '"':
                if char == '"':
                    stack.pop()
                elif char == "`" or line.startswith("$(", index):
                    stack.append((char if char == "`" else "(", number))
                    index += 1 if char == "`" else 2
                    continue
            elif kind == "`" and char == "`":
                stack.pop()
            elif char == "\\":
                index += 1
            elif char in "'\"`":
                stack.append(("$'" if char == "'" and index and line[index - 1] == "$" else char, number))
            elif char == "(":
                stack.append(("(", number))
            elif char == ")":
                if kind == "(":
                    stack.pop()
            elif char == "#" and (index == 0 or line[index - 1] in " \t;&|()"):
                break
            elif char == "<" and line.startswith("<<", index) and not line.startswith("<<<", index):
                match = HEREDOC.match(line, index)
                if match:
                    pending.append(match.group(2))
                    index = match.end()
                    continue
            index += 1
        number += 1
        if pending and (not stack or stack[-1][0] == "("):
            for terminator in pending:  # skip each body, in order, up to its terminator line
                while number < len(lines) and lines[number].strip() != terminator:
                    number += 1
                number += 1
            pending = []
    quote = next(((kind, line) for kind, line in stack if kind != "("), None)
    return None if quote is None else (quote[0][-1], quote[1] + 1)


HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")  # no `<<'A B'`, rare


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
