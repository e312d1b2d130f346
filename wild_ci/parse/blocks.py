"""Stage 1 — parse: read a brain output into validated experiments.

The brain writes prose with `<experiments>` blocks of YAML items, plus `<promise>`, `<summary>` and
`<plan>` tags, and, answering `wild-ci loop`'s reflection prompt, `<reflection>` and `<continue>`.
Its text is written by a language model, so every problem becomes a diagnostic that names the line
in the brain output; nothing is dropped silently.
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
from .fields import KNOWN_KEYS, MAPPING_KEYS
from .items import add_item, assign_ids, reject, writable_goal
from .safe_yaml import AliasesRefused, load_yaml
from .tolerant import Unreadable, read_tolerantly

MAX_QUOTATION_WARNINGS = 20  # one per quotation up to here, then one for the rest
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
BACKTICK_RUN = re.compile(r"`+")
SINGLE_BACKTICK_SPAN = re.compile(r"`[^`]+`")
FIRST_BULLET = re.compile(r"^( *)[-*](?: |$)", re.MULTILINE)
JSON_MAPPINGS = ("parameters", "sweep")  # item keys whose JSON flow mapping is read as JSON
CONTINUE_YES = ("yes", "true")  # `<continue>`: the answers that resume the loop; anything else ends it


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
    lines = _LineIndex(text)
    quoted = _quoted_spans(text)
    blocks = _find_tags(text, "experiments", quoted)
    for offset in blocks.quoted[:MAX_QUOTATION_WARNINGS]:
        out.warnings.append(
            Diagnostic(
                lines.line(offset),
                "an <experiments> block inside a code span or fenced code block is a "
                "quotation and was ignored; write the block outside code to run it",
            )
        )
    if len(blocks.quoted) > MAX_QUOTATION_WARNINGS:
        more = len(blocks.quoted) - MAX_QUOTATION_WARNINGS
        out.warnings.append(Diagnostic(None, f"{more} more quoted <experiments> blocks were ignored"))
    for offset in blocks.recovered:
        out.warnings.append(
            Diagnostic(
                lines.line(offset),
                "this <experiments> block starts inside what looked like inline code (an unmatched "
                "backtick before it?); it was used",
            )
        )
    for offset in blocks.unclosed:
        line = lines.line(offset)
        message = "this <experiments> block is never closed: add </experiments> after its last item"
        reject(out, None, line, [Diagnostic(line, message)])
    for tag in blocks.tags:
        _parse_block(text, lines, tag, out, limits)
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
    quoted_plans = _find_tags(text, "plan", quoted).quoted if out.plan is None else []
    if quoted_plans:  # the brain's plan would vanish from its next prompt without a word
        out.warnings.append(
            Diagnostic(
                lines.line(quoted_plans[-1]),
                "this <plan> is inside a code span or fenced code block: a quotation, so it was not "
                "kept as your plan; write <plan>…</plan> outside code",
            )
        )
    out.reflection = _last_signal(text, "reflection", quoted)
    answer = _last_signal(text, "continue", quoted)
    out.continues = None if answer is None else answer.strip().lower() in CONTINUE_YES
    if out.promise is not None:
        out.promise = out.promise.upper()
        if out.promise not in ("DONE", "WAITING"):
            out.warnings.append(Diagnostic(None, f"promise {out.promise!r} is neither DONE nor WAITING"))
    return out


UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_brain_output(data: bytes) -> tuple[str, Diagnostic | None]:
    """The text of a brain output, or an error naming the line of its first byte that is not UTF-8
    text: a changed byte would change a command, so nothing is replaced. A UTF-8 byte order mark
    is dropped; a NUL byte (UTF-16, a binary file) is not text."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if data.startswith(UTF16_BOMS):
        return "", Diagnostic(1, "the brain output is UTF-16 (it starts with a UTF-16 byte order mark); "
                              "save it as UTF-8")  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", _not_text(data, exc.start, f"byte 0x{data[exc.start]:02x} is not UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        return "", _not_text(data, nul, "a NUL byte (a binary file, or UTF-16 without a byte order mark?)")
    return text, None


def _not_text(data: bytes, offset: int, what: str) -> Diagnostic:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return Diagnostic(
        data.count(b"\n", 0, offset) + 1,
        f"the brain output is not UTF-8 text: {what} (column {column}); nothing was replaced, "
        "save it as UTF-8",
    )


# --- blocks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tags:
    tags: list[_Tag]
    quoted: list[int]  # offsets of whole blocks that stand inside code: quotations
    unclosed: list[int]  # offsets of opening tags with no closing tag after them
    recovered: list[int]  # blocks that looked like code only because of a stray backtick


def _find_tags(text: str, name: str, quoted: _Spans) -> _Tags:
    """Pair each opening tag outside code with the next closing tag. An opening tag inside code
    is skipped, so a quoted mention of the tag cannot swallow the real block that follows.
    Linear in the text: openings, closings and code spans are each walked once, in order."""
    opening = re.compile(rf"<{name}(?=[\s>/])[^<>]*>", re.IGNORECASE)  # not <experiments-draft>
    closings = [m.span() for m in re.finditer(rf"</{name}\s*>", text, re.IGNORECASE)]
    spans = quoted.spans
    found = _Tags([], [], [], [])
    maybe_hidden: list[tuple[int, int, tuple[int, int]]] = []  # (start, content start, closing)
    position = closing_index = span_index = 0
    for start, content_start in (m.span() for m in opening.finditer(text)):
        if start < position:
            continue
        while closing_index < len(closings) and closings[closing_index][0] < content_start:
            closing_index += 1
        end = closings[closing_index] if closing_index < len(closings) else None
        while span_index < len(spans) and spans[span_index][1] <= start:
            span_index += 1
        span = spans[span_index] if span_index < len(spans) and spans[span_index][0] <= start else None
        if span is not None:
            if end is not None and end[1] <= span[1]:
                found.quoted.append(start)
            elif end is not None and quoted.at(end[0]) is None:
                maybe_hidden.append((start, content_start, end))
            continue
        if end is None:
            found.unclosed.append(start)
            break
        found.tags.append(_Tag(start, content_start, text[content_start : end[0]]))
        position = end[1]
    # A block whose closing tag no other block used was only hidden by a stray backtick before it.
    used_ends = {tag.content_start + len(tag.content) for tag in found.tags}
    for start, content_start, end in maybe_hidden:
        if end[0] not in used_ends:
            used_ends.add(end[0])
            found.tags.append(_Tag(start, content_start, text[content_start : end[0]]))
            found.recovered.append(start)
    found.tags.sort(key=lambda tag: tag.start)
    return found


class _Spans:
    """Sorted, non-overlapping (start, end) offsets of code; `at` finds the one holding an offset
    by bisection."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self._starts = [start for start, _ in self.spans]

    def at(self, offset: int) -> tuple[int, int] | None:
        index = bisect.bisect_right(self._starts, offset) - 1
        if index >= 0 and offset < self.spans[index][1]:
            return self.spans[index]
        return None


def _quoted_spans(text: str) -> _Spans:
    """Offsets covered by fenced code blocks and inline code spans of the surrounding prose.
    As in Markdown, an inline code span may run over line breaks inside one paragraph."""
    spans: list[tuple[int, int]] = []
    offset = 0
    fence: tuple[str, int, int] | None = None  # (char, length, start offset)
    paragraph_start = 0

    def close_paragraph(end: int) -> None:
        if text.find("`", paragraph_start, end) >= 0:
            spans.extend(code_spans(text, paragraph_start, end))

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
    return _Spans(spans)


def code_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """CommonMark's inline code spans in text[start:end], in linear time: a run of n backticks
    opens a span that the next run of exactly n backticks closes; a run that nothing closes is
    literal text. One backward pass links each run to the next run of its length."""
    end = len(text) if end is None else end
    if text.find("``", start, end) < 0:  # single backticks only: they pair in order
        return [m.span() for m in SINGLE_BACKTICK_SPAN.finditer(text, start, end)]
    runs = [m.span() for m in BACKTICK_RUN.finditer(text, start, end)]
    following = [0] * len(runs)  # index of the next run of the same length, 0 when none
    last: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        run_start, run_end = runs[index]
        following[index] = last.get(run_end - run_start, 0)
        last[run_end - run_start] = index
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(runs):
        closer = following[index]
        if closer:
            spans.append((runs[index][0], runs[closer][1]))
            index = closer + 1
        else:
            index += 1
    return spans


class _LineIndex:
    """Line numbers by character offset in constant time: the count of line breaks before every
    4,096th character is kept, and a query counts the rest (at most 4 KiB). A block of 10,000
    items asks for one line per key, and 100,000 quoted tags one each: counting from the start
    made both quadratic; a list of every break's offset costs seconds and 200 MB at 5 MiB."""

    STEP = 4096

    def __init__(self, text: str) -> None:
        self._text = text
        self._counts = [0]
        for start in range(0, len(text), self.STEP):
            self._counts.append(self._counts[-1] + text.count("\n", start, start + self.STEP))

    def line(self, offset: int) -> int:
        offset = max(0, min(offset, len(self._text)))
        block = offset // self.STEP
        return self._counts[block] + self._text.count("\n", block * self.STEP, offset) + 1


def _last_signal(text: str, name: str, quoted: _Spans) -> str | None:
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


def _parse_block(text: str, lines: _LineIndex, tag: _Tag, out: BrainOutput, limits: Limits) -> None:
    """One block, read by the fastest reader that understands it; nothing it contains can make
    the parser raise: what cannot be read becomes an error naming the block's line."""
    try:
        _read_block(text, lines, tag, out, limits)
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError) as exc:
        line = lines.line(tag.start)
        message = f"the <experiments> block cannot be read: {exc.__class__.__name__}: {str(exc)[:200]}"
        reject(out, None, line, [Diagnostic(line, message)])


def _read_block(text: str, lines: _LineIndex, tag: _Tag, out: BrainOutput, limits: Limits) -> None:
    first_line = lines.line(tag.content_start)
    content = _unwrap_fence(tag.content)
    if not content.strip():
        return

    def at(mark: yaml.Mark) -> int:
        """YAML also breaks lines at U+0085/U+2028; count lines by character offset as we do."""
        return lines.line(tag.content_start + mark.index)

    items = _count_items(content)
    if len(out.experiments) + items > limits.max_experiments:  # refused before reading it: 5 MiB of
        line = lines.line(tag.start)  # items would take seconds to validate, for an error anyway
        message = (
            f"{len(out.experiments) + items} experiments in one output; the limit is "
            f"{limits.max_experiments} (this block has {items} items; it was not read)"
        )
        reject(out, None, line, [Diagnostic(line, message)])
        return

    canonical = read_canonical(content, first_line)
    if canonical is not None:  # the common shape, read exactly as YAML would but much faster
        for values, item_line, key_lines in canonical:
            add_item(values, item_line, key_lines, out, limits)
        return
    try:
        node, data = load_yaml(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        _parse_tolerantly(content, first_line, at(mark) if mark else first_line, exc, out, limits)
        return
    except AliasesRefused as refused:
        line = at(refused.node.start_mark)
        message = "YAML anchors and aliases (&name, *name) are not allowed in an <experiments> block"
        reject(out, None, line, [Diagnostic(line, message)])
        return
    if data is None or node is None:
        return
    if isinstance(data, dict):
        pairs = [(data, node)]
        line = at(node.start_mark)
        out.warnings.append(Diagnostic(line, "the block is a mapping, not a list of items; it was read as "
                                       "one item: start each item with '- goal: …'"))  # fmt: skip
    elif isinstance(data, list):
        pairs = list(zip(data, node.value, strict=True))
    else:
        line = at(node.start_mark)
        message = "an <experiments> block must be a YAML list of items, each '- goal: …' with a 'command: …'"
        reject(out, None, line, [Diagnostic(line, message)])
        return
    for item, item_node in pairs:
        _warn_repeated_keys(item_node, at, out)
        _prefer_json_parameters(item, item_node, content)
        add_item(item, at(item_node.start_mark), _key_lines(item_node, at), out, limits)


def _count_items(content: str) -> int:
    """How many items a block has, counted as bullets at the first bullet's indent."""
    first = FIRST_BULLET.search(content)
    if first is None:
        return 0
    bullet = re.compile(rf"^{re.escape(first.group(1))}[-*](?: |$)", re.MULTILINE)
    return sum(1 for _ in bullet.finditer(content))


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
        if item.broken:  # never guessed into a command: the brain rewrites the value
            goal = item.values.get("goal")
            errors = [Diagnostic(broken.line, broken.message) for broken in item.broken]
            reject(out, writable_goal(goal), item.line, errors)
        else:
            add_item(item.values, item.line, item.key_lines, out, limits)


def _prefer_json_parameters(item: Any, node: yaml.Node, content: str) -> None:
    """Parameters (and a sweep) written as a JSON object are read as JSON: YAML 1.1 would turn
    `1e-05` into a string and change what the experiment receives."""
    if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if key.value in JSON_MAPPINGS and isinstance(value, yaml.MappingNode) and value.flow_style:
            try:
                parsed = json.loads(content[value.start_mark.index : value.end_mark.index])
            except ValueError:
                continue
            if isinstance(parsed, dict):
                item[key.value] = parsed


def _warn_repeated_keys(node: yaml.Node, at: Callable[[yaml.Mark], int], out: BrainOutput) -> None:
    """YAML and JSON keep the last of a repeated key without a word; a brain that merged two sweeps
    would lose the first list of values silently. Each repeat (of an item's key, or of a key of its
    parameters, sweep or env, compared as the text they become) is a warning on its line."""
    if not isinstance(node, yaml.MappingNode):
        return
    mappings = [("", node)] + [
        (f"{key.value}.", value)
        for key, value in node.value
        if key.value in MAPPING_KEYS and isinstance(value, yaml.MappingNode)
    ]
    for prefix, mapping in mappings:
        seen: set[str] = set()
        for key, _value in mapping.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
            if name is None:
                continue
            if name in seen:
                message = f"{prefix}{name!r} is given twice; the last one was used"
                out.warnings.append(Diagnostic(at(key.start_mark), message))
            seen.add(name)


def _key_lines(node: yaml.Node, at: Callable[[yaml.Mark], int]) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): at(key.start_mark) for key, _ in node.value}
