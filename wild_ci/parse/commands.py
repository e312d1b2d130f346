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


_SHELL = re.compile(r"[\\'\"`()#<]")
_SPECIAL: dict[str | None, re.Pattern[str]] = {  # per context, the characters that can change it
    None: _SHELL,
    "(": _SHELL,
    "'": re.compile("'"),
    "$'": re.compile(r"[\\']"),
    '"': re.compile(r'[\\"`]|\$[$(]'),  # `$$(`: the PID, then a plain "("
    "`": re.compile(r"[\\`]"),
}


def open_quote(command: str) -> tuple[str, int] | None:
    """The quote bash would find unclosed in the command — `'`, `"` or a backtick — and the
    command's line (1-based) where it opens, or None. Followed as bash reads: a `#` at the start
    of a word begins a comment, a backslash escapes outside single quotes, `$'…'` takes
    backslash escapes, `$(…)` inside double quotes starts afresh, and the body of a
    here-document (`<<EOF` … `EOF`) is data, not shell. One pass over the command."""
    lines = command.split("\n")
    stack: list[tuple[str, int]] = []  # open contexts: "'", "$'", '"', "`", "(" with their line
    pending: list[tuple[bool, str]] = []  # here-documents (`<<-`, terminator) starting next line
    number = 0
    while number < len(lines):
        line = lines[number]
        index = 0
        escaped = -1
        while True:
            kind = stack[-1][0] if stack else None
            special = _SPECIAL[kind].search(line, index)  # jump to the next character that matters
            if special is None:
                break
            index = special.start()
            char = line[index]
            if kind == "'":
                stack.pop()
            elif kind in ("$'", '"', "`") and char == "\\":
                index += 1
            elif kind in ("$'", "`"):
                stack.pop()
            elif kind == '"':
                if char == '"':
                    stack.pop()
                elif line.startswith("$$", index):
                    index += 2
                    continue
                else:  # a backtick or $( inside double quotes: shell again, quotes start afresh
                    stack.append((char if char == "`" else "(", number))
                    index += 1 if char == "`" else 2
                    continue
            elif char == "\\":
                index += 1
                escaped = index  # an escaped blank does not end a word
            elif char in "'\"`":
                stack.append(("$'" if char == "'" and index and line[index - 1] == "$" else char, number))
            elif char == "(":
                stack.append(("(", number))
            elif char == ")":
                if kind == "(":
                    stack.pop()
            elif char == "#":
                if index == 0 or (line[index - 1] in " \t;&|()" and escaped != index - 1):
                    break
            elif line.startswith("<<", index) and not line.startswith("<<<", index):
                word = _heredoc_word(line, index)
                if word is not None:
                    pending.append(word[0])
                    index = word[1]
                    continue
            index += 1
        number += 1
        if pending and (not stack or stack[-1][0] == "("):
            for strip_tabs, terminator in pending:  # skip each body, in order, to its terminator
                while (
                    number < len(lines)
                    and (lines[number].lstrip("\t") if strip_tabs else lines[number]) != terminator
                ):
                    number += 1
                number += 1
            pending = []
    quote = next(((kind, line) for kind, line in stack if kind != "("), None)
    return None if quote is None else (quote[0][-1], quote[1] + 1)


def _heredoc_word(line: str, index: int) -> tuple[tuple[bool, str], int] | None:
    """At `<<`: (whether `<<-` strips tabs, the terminator), and where the word ends. The
    terminator is the whole shell word after `<<`, its quotes and backslashes removed, as bash
    reads it (`<<'EOF'x` ends at a line `EOFx`)."""
    index += 2
    strip_tabs = line.startswith("-", index)
    index += strip_tabs
    while index < len(line) and line[index] in " \t":
        index += 1
    word: list[str] = []
    start = index
    while index < len(line) and line[index] not in " \t;&|()<>":
        char = line[index]
        if char == "`" or line.startswith("$(", index):  # part of the word, never run: kept as is
            close = line.find("`" if char == "`" else ")", index + 1)
            if close < 0:
                return None
            word.append(line[index : close + 1])
            index = close + 1
        elif char in "'\"":
            close = line.find(char, index + 1)
            if close < 0:
                return None  # an open quote: the scanner reports it
            word.append(line[index + 1 : close])
            index = close + 1
        elif char == "\\" and index + 1 < len(line):
            word.append(line[index + 1])
            index += 2
        else:
            word.append(char)
            index += 1
    if index == start:
        return None
    return (strip_tabs, "".join(word)), index


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
