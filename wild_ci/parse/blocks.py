"""Stage 1 — parse: read a brain output into validated experiments.

The brain writes prose with `<experiments>` blocks of YAML items, plus `<promise>`, `<summary>` and
`<plan>` tags. Its text is written by a language model, so every problem becomes a diagnostic
that names the line in the brain output; nothing is dropped silently.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from ..config import Limits
from ..specs import BrainOutput, Diagnostic
from .fast import read_canonical
from .fields import KNOWN_KEYS
from .items import add_item, assign_ids, reject
from .tolerant import Unreadable, read_tolerantly

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)


@dataclass(frozen=True)
class _Tag:
    """One `<name>…</name>` occurrence: where it starts and where its content starts."""

    start: int
    content_start: int
    content: str


def parse_brain_output(text: str, limits: Limits | None = None) -> BrainOutput:
    """Parse a whole brain output; the result carries errors instead of raising."""
    limits = limits or Limits()
    out = BrainOutput()
    quoted = _quoted_spans(text)
    blocks = _find_tags(text, "experiments", quoted)
    for offset in blocks.quoted:
        out.warnings.append(
            Diagnostic(
                _line_of(text, offset),
                "an <experiments> block inside a code span or fenced code block is a "
                "quotation and was ignored; write the block outside code to run it",
            )
        )
    for offset in blocks.recovered:
        out.warnings.append(
            Diagnostic(
                _line_of(text, offset),
                "this <experiments> block starts inside what looked like inline code (an unmatched "
                "backtick before it?); it was used",
            )
        )
    for offset in blocks.unclosed:
        line = _line_of(text, offset)
        message = "this <experiments> block is never closed: add </experiments> after its last item"
        reject(out, None, line, [Diagnostic(line, message)])
    for tag in blocks.tags:
        _parse_block(text, tag, out, limits)
    if len(out.experiments) > limits.max_experiments:
        extra = out.experiments[limits.max_experiments]
        out.errors.append(
            Diagnostic(
                extra.line,
                f"{len(out.experiments)} experiments in one output; the limit is {limits.max_experiments} "
                "(GitHub runs at most 256 legs per matrix)",
            )
        )
    assign_ids(out.experiments)
    out.promise = _last_signal(text, "promise", quoted)
    out.summary = _last_signal(text, "summary", quoted)
    out.plan = _last_signal(text, "plan", quoted)
    if out.promise is not None:
        out.promise = out.promise.upper()
        if out.promise not in ("DONE", "WAITING"):
            out.warnings.append(Diagnostic(None, f"promise {out.promise!r} is neither DONE nor WAITING"))
    return out


def decode_brain_output(data: bytes) -> tuple[str, list[Diagnostic]]:
    """Brain outputs should be UTF-8; bytes that are not are replaced, with a warning."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        text = data.decode("utf-8", errors="replace")
        return text, [Diagnostic(line, "bytes that are not UTF-8 were replaced with U+FFFD")]


# --- blocks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tags:
    tags: list[_Tag]
    quoted: list[int]  # offsets of whole blocks that stand inside code: quotations
    unclosed: list[int]  # offsets of opening tags with no closing tag after them
    recovered: list[int]  # blocks that looked like code only because of a stray backtick


def _find_tags(text: str, name: str, quoted: list[tuple[int, int]]) -> _Tags:
    """Pair each opening tag outside code with the next closing tag. An opening tag inside code
    is skipped, so a quoted mention of the tag cannot swallow the real block that follows."""
    opening = re.compile(rf"<{name}(?=[\s>/])[^>]*>", re.IGNORECASE)  # not <experiments-draft>
    closing = re.compile(rf"</{name}\s*>", re.IGNORECASE)
    found = _Tags([], [], [], [])
    maybe_hidden: list[tuple[re.Match[str], re.Match[str]]] = []
    position = 0
    while (start := opening.search(text, position)) is not None:
        end = closing.search(text, start.end())
        span = _span_at(start.start(), quoted)
        if span is not None:
            if end is not None and end.end() <= span[1]:
                found.quoted.append(start.start())
            elif end is not None and _span_at(end.start(), quoted) is None:
                maybe_hidden.append((start, end))
            position = start.end()
            continue
        if end is None:
            found.unclosed.append(start.start())
            break
        found.tags.append(_Tag(start.start(), start.end(), text[start.end() : end.start()]))
        position = end.end()
    # A block whose closing tag no other block used was only hidden by a stray backtick before it.
    used_ends = {tag.content_start + len(tag.content) for tag in found.tags}
    for start, end in maybe_hidden:
        if end.start() not in used_ends:
            used_ends.add(end.start())
            found.tags.append(_Tag(start.start(), start.end(), text[start.end() : end.start()]))
            found.recovered.append(start.start())
    found.tags.sort(key=lambda tag: tag.start)
    return found


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Offsets covered by fenced code blocks and inline code spans of the surrounding prose.
    As in Markdown, an inline code span may run over line breaks inside one paragraph."""
    spans: list[tuple[int, int]] = []
    offset = 0
    fence: tuple[str, int, int] | None = None  # (char, length, start offset)
    paragraph_start = 0

    def close_paragraph(end: int) -> None:
        if "`" in text[paragraph_start:end]:
            spans.extend(
                (paragraph_start + m.start(), paragraph_start + m.end())
                for m in INLINE_CODE.finditer(text[paragraph_start:end])
            )

    for line in text.splitlines(keepends=True):
        match = FENCE.match(line) if ("`" in line or "~" in line) else None
        if fence is None and match:
            close_paragraph(offset)
            marker = match.group(1)
            fence = (marker[0], len(marker), offset)
        elif fence is not None and match and match.group(1)[0] == fence[0]:
            if len(match.group(1)) >= fence[1] and not line[match.end() :].strip():
                spans.append((fence[2], offset + len(line)))
                fence = None
                paragraph_start = offset + len(line)
        elif fence is None and not line.strip():
            close_paragraph(offset)
            paragraph_start = offset + len(line)
        offset += len(line)
    if fence is not None:
        spans.append((fence[2], len(text)))
    else:
        close_paragraph(len(text))
    return spans


def _span_at(offset: int, spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    return next(((start, end) for start, end in spans if start <= offset < end), None)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class _LineIndex:
    """Line numbers by character offset in O(log n): a YAML block of 10,000 items asks for one per
    key, and counting from the start each time made reading it quadratic."""

    def __init__(self, text: str) -> None:
        self._breaks = [match.start() for match in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_left(self._breaks, offset) + 1


def _last_signal(text: str, name: str, quoted: list[tuple[int, int]]) -> str | None:
    values = [t.content.strip() for t in _find_tags(text, name, quoted).tags]
    return values[-1] if values else None


def _unwrap_fence(content: str) -> str:
    """A fence around the block's YAML is unwrapped; fence lines become spaces, so every line and
    character keeps its position and diagnostics still name the right line."""
    lines = content.split("\n")
    marked = [i for i, line in enumerate(lines) if FENCE.match(line)]
    non_blank = [i for i, line in enumerate(lines) if line.strip()]
    if len(marked) >= 1 and non_blank and marked[0] == non_blank[0]:
        lines[marked[0]] = " " * len(lines[marked[0]])
        if len(marked) >= 2 and marked[-1] == non_blank[-1]:
            lines[marked[-1]] = " " * len(lines[marked[-1]])
    return "\n".join(lines)


def _parse_block(text: str, tag: _Tag, out: BrainOutput, limits: Limits) -> None:
    """One block, read by the fastest reader that understands it; nothing it contains can make
    the parser raise: what cannot be read becomes an error naming the block's line."""
    try:
        _read_block(text, tag, out, limits)
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError) as exc:
        line = _line_of(text, tag.start)
        message = f"the <experiments> block cannot be read: {exc.__class__.__name__}: {str(exc)[:200]}"
        reject(out, None, line, [Diagnostic(line, message)])


def _read_block(text: str, tag: _Tag, out: BrainOutput, limits: Limits) -> None:
    first_line = _line_of(text, tag.content_start)
    content = _unwrap_fence(tag.content)
    if not content.strip():
        return

    lines: _LineIndex | None = None

    def at(mark: yaml.Mark) -> int:
        """YAML also breaks lines at U+0085/U+2028; count lines by character offset as we do."""
        nonlocal lines
        lines = lines or _LineIndex(text)
        return lines.line(tag.content_start + mark.index)

    canonical = read_canonical(content, first_line)
    if canonical is not None:  # the common shape, read exactly as YAML would but much faster
        for values, item_line, key_lines in canonical:
            add_item(values, item_line, key_lines, out, limits)
        return
    try:
        node, data = _load_yaml(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        _parse_tolerantly(content, first_line, at(mark) if mark else first_line, exc, out, limits)
        return
    if data is None or node is None:
        return
    if _uses_aliases(node):
        line = at(node.start_mark)
        message = "YAML anchors and aliases (&name, *name) are not allowed in an <experiments> block"
        reject(out, None, line, [Diagnostic(line, message)])
        return
    if isinstance(data, dict):
        pairs = [(data, node)]
    elif isinstance(data, list):
        pairs = list(zip(data, node.value, strict=True))
    else:
        line = at(node.start_mark)
        message = "an <experiments> block must be a YAML list of items, each '- goal: …' with a 'command: …'"
        reject(out, None, line, [Diagnostic(line, message)])
        return
    for item, item_node in pairs:
        _prefer_json_parameters(item, item_node, content)
        add_item(item, at(item_node.start_mark), _key_lines(item_node, at), out, limits)


def _parse_tolerantly(
    content: str, first_line: int, line: int, exc: yaml.YAMLError, out: BrainOutput, limits: Limits
) -> None:
    """YAML failed: read the block tolerantly, warning about the YAML error and every correction."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    warnings: list[Diagnostic] = []
    try:
        items = read_tolerantly(
            content, first_line, KNOWN_KEYS, lambda n, message: warnings.append(Diagnostic(n, message))
        )
    except Unreadable as unreadable:
        message = (
            f"cannot read the <experiments> block: {unreadable.message} (YAML: {problem} at line {line})"
        )
        reject(out, None, unreadable.line, [Diagnostic(unreadable.line, message)])
        return
    out.warnings.append(Diagnostic(line, f"the block is not valid YAML ({problem}); it was read tolerantly"))
    out.warnings.extend(warnings)
    for item in items:
        add_item(item.values, item.line, item.key_lines, out, limits)


def _uses_aliases(root: yaml.Node) -> bool:
    """An alias makes a node reachable twice; a few hundred bytes of them expand to gigabytes."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
    return False


def _prefer_json_parameters(item: Any, node: yaml.Node, content: str) -> None:
    """Parameters written as a JSON object are read as JSON: YAML 1.1 would turn `1e-05` into a
    string and change what the experiment receives."""
    if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if key.value == "parameters" and isinstance(value, yaml.MappingNode) and value.flow_style:
            try:
                parsed = json.loads(content[value.start_mark.index : value.end_mark.index])
            except ValueError:
                return
            if isinstance(parsed, dict):
                item["parameters"] = parsed
            return


def _load_yaml(content: str) -> tuple[yaml.Node | None, Any]:
    """Compose once (the nodes carry line numbers) and construct from those nodes, with libyaml
    when PyYAML has it: a 10,000-experiment block parses in about a tenth of the pure-Python time."""
    loader = SAFE_LOADER(content)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _key_lines(node: yaml.Node, at: Callable[[yaml.Mark], int]) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): at(key.start_mark) for key, _ in node.value}
