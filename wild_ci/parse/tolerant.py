"""The tolerant reader: an `<experiments>` block that YAML cannot read, read as the brain meant it.

Language models slip in predictable ways: unquoted values containing `: ` or ` #`, keys indented
unevenly, `*` for bullets, tabs, quotes that YAML will not unescape. This reader accepts those, and
every correction it makes is reported as a warning on its line, so the brain learns the right form.
What it still cannot read raises `Unreadable` with the line and what was expected there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .fields import MAPPING_KEYS
from .safe_yaml import PURE_LOADER

ITEM_START = re.compile(r"^(?P<indent> *)(?P<bullet>[-*])(?: +(?P<rest>.*))?$")
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_-]*) *:(?: +(?P<value>.*)| *)$")
BLOCK_INDICATOR = re.compile(r"^[|>](?:[+-]?[1-9]?|[1-9][+-])(?:\s+#.*)?$")
YAML_TAG = re.compile(r"^!\S")  # `! cmd` (bash negation) is not a tag; `!!str`, `!x` are

Warn = Callable[[int, str], None]


class Unreadable(ValueError):
    """Raised with the brain-output line where reading stopped and what was expected there."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class RawField:
    key: str
    line: int
    indent: int
    inline: str
    block: list[tuple[int, str]] = field(default_factory=list)  # (line number, raw text)


class BrokenValue(ValueError):
    """A value whose own text is broken (an unmatched quote, JSON that is not): unlike a layout
    slip, no reading of it is safe to run, so its item is refused with this line and message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class RawItem:
    """One item as read: its values, the line of its bullet, the line of each key, and the
    values it could not read (`BrokenValue`s: the item is refused)."""

    line: int
    values: dict[str, Any] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)
    broken: list[BrokenValue] = field(default_factory=list)


def read_tolerantly(content: str, first_line: int, known_keys: tuple[str, ...], warn: Warn) -> list[RawItem]:
    """Read a block's items; `first_line` is the brain-output line of the content's first line."""
    items: list[tuple[int, list[RawField]]] = []
    current: list[RawField] | None = None
    key_indent: int | None = None
    for offset, raw in enumerate(content.split("\n")):
        number = first_line + offset
        line = _expand_tabs(raw, number, warn)
        stripped = line.strip()
        last = current[-1] if current else None
        opens_block = last is not None and (not last.inline or BLOCK_INDICATOR.match(last.inline))
        if last is not None and opens_block and (not stripped or _indent(line) > last.indent):
            last.block.append((number, line))  # inside a block scalar or a nested mapping
            continue
        if not stripped or stripped.startswith("#"):
            continue
        start = ITEM_START.match(line)
        if start and (start["rest"] is None or KEY_LINE.match(" " * len(start["indent"]) + start["rest"])):
            if start["bullet"] == "*":
                warn(number, "a '*' bullet was read as '-'")
            current = []
            items.append((number, current))
            key_indent = None
            if start["rest"] is None:
                continue
            line = " " * (len(start["indent"]) + 2) + start["rest"]
        key = KEY_LINE.match(line)
        if current is None:
            if key is None:
                raise Unreadable(number, "expected an item starting with '- goal: …' here")
            warn(number, "the block has no '- ' bullet; read it as one item")
            current = []
            items.append((number, current))
        indent = _indent(line)
        if key is not None and (key["key"] in known_keys or key_indent is None or indent <= key_indent):
            if key_indent is not None and indent != key_indent:
                warn(number, f"'{key['key']}' is indented unlike the item's other keys")
            key_indent = indent if key_indent is None else key_indent
            current.append(RawField(key["key"], number, indent, (key["value"] or "").strip()))
        elif current and indent > current[-1].indent:
            current[-1].block.append((number, line))  # a value continued on more-indented lines
        elif current:
            warn(number, "this line is not 'key: value' nor a continuation of one; it was ignored")
        else:
            raise Unreadable(number, "expected 'key: value' (goal, command, workdir, parameters) here")
    return [_item(line, fields, warn) for line, fields in items]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _expand_tabs(line: str, number: int, warn: Warn) -> str:
    leading = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in leading:
        warn(number, "tabs in indentation were read as spaces")
        return leading.expandtabs(2) + line[len(leading) :]
    return line


def _item(line: int, fields: list[RawField], warn: Warn) -> RawItem:
    item = RawItem(line)
    for raw in fields:
        if raw.key in item.values:
            warn(raw.line, f"'{raw.key}' is given twice; the last one was used")
        item.key_lines[raw.key] = raw.line
        try:
            item.values[raw.key] = _value(raw, warn)
        except BrokenValue as broken:
            item.broken.append(broken)
    return item


def _value(raw: RawField, warn: Warn) -> Any:
    if BLOCK_INDICATOR.match(raw.inline):
        return _block_scalar(raw)
    if not raw.inline:
        text = _dedent([text for _, text in raw.block])
        if raw.key in MAPPING_KEYS:
            return _mapping_block(raw, text, warn)
        return " ".join(part.strip() for part in text.split("\n") if part.strip())
    rest = " ".join(text.strip() for _, text in raw.block if text.strip())
    if rest and raw.inline[0] in "\"'" and not _closed_quote(raw.inline):
        # a quoted value that goes on over more lines, folded as YAML folds it
        return _inline(RawField(raw.key, raw.line, raw.indent, f"{raw.inline} {rest}"), warn)
    value = _inline(raw, warn)
    if rest:  # a plain value continued on more-indented lines, folded as YAML does
        value = f"{value} {rest}"
    return value


def _closed_quote(text: str) -> bool:
    return len(text) >= 2 and text[-1] == text[0] and not (text[0] == '"' and text.endswith('\\"'))


def _inline(raw: RawField, warn: Warn) -> Any:
    text = raw.inline
    if YAML_TAG.match(text):
        raise Unreadable(raw.line, f"YAML tags ({text.split()[0]}) are not allowed in '{raw.key}'")
    if text[0] in "\"'":
        try:
            value = load_without_aliases(text)
            if isinstance(value, str):
                return value
        except yaml.YAMLError:
            pass
        if len(text) >= 2 and text[-1] == text[0]:
            if text[0] == "'":
                warn(raw.line, f"the quotes around '{raw.key}' were removed")
                return text[1:-1].replace("''", "'")
            warn(raw.line, f"'{raw.key}' has escapes YAML cannot read: \\\" and \\\\ were unescaped, "
                 "other backslashes kept")  # fmt: skip
            return re.sub(r'\\(["\\])', r"\1", text[1:-1])
        raise BrokenValue(raw.line, f"'{raw.key}' has an unmatched quote; close it (nothing was run)")
    if text[0] in "{[":
        for load in (json.loads, load_without_aliases):
            try:
                return load(text)
            except (ValueError, yaml.YAMLError):
                continue
        kind = "list" if text[0] == "[" else "mapping"
        raise BrokenValue(raw.line, f"'{raw.key}' starts like a JSON {kind} but is not one; close it, "
                          "or quote the value (nothing was run)")  # fmt: skip
    if ": " in text or " #" in text:
        warn(raw.line, f"the unquoted value of '{raw.key}' contains ': ' or ' #'; read literally "
             "(quote such values)")  # fmt: skip
    return text


def _block_scalar(raw: RawField) -> str:
    lines = _dedent([text for _, text in raw.block]).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if raw.inline.startswith("|"):
        return "\n".join(lines)
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        else:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)


def _mapping_block(raw: RawField, text: str, warn: Warn) -> Any:
    try:
        value = load_without_aliases(text)
        if isinstance(value, dict):
            return value
    except yaml.YAMLError:
        pass
    mapping: dict[str, Any] = {}
    for number, line in raw.block:
        if not line.strip():
            continue
        key, sep, value = line.strip().partition(":")
        if not sep:
            raise Unreadable(number, f"expected 'name: value' inside '{raw.key}'")
        try:
            mapping[key.strip()] = load_without_aliases(value.strip()) if value.strip() else None
        except yaml.YAMLError:
            mapping[key.strip()] = value.strip()
    warn(raw.line, f"'{raw.key}' is not a valid YAML mapping; read line by line")
    return mapping


class _NoAliasLoader(PURE_LOADER):
    """The brain's YAML rules (safe_yaml), refusing aliases, which can expand a few bytes into
    gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def load_without_aliases(text: str) -> Any:
    return yaml.load(text, Loader=_NoAliasLoader)


def _dedent(lines: list[str]) -> str:
    widths = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return "\n".join(line[cut:] for line in lines)
