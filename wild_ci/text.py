r"""Text from a brain or an experiment, made safe to show on a terminal, in Markdown or in the context.

Such text is data wherever wild-ci shows it: it must not move the cursor, clear a screen, set a
window title, ring a bell, reorder what is around it, or end up as rich markup. `visible` replaces
every character that a terminal or an editor would *interpret* with its Python escape, so it shows up
literally and the change is plain to see:

* C0 controls (U+0000 to U+001F) and DEL: `\x1b`, `\x07`, `\x00`, `\r`... except the line break and the
  tab in multi-line text (a log tail), which stay; `\r\n` counts as a line break.
* C1 controls (U+0080 to U+009F, among them the one-character CSI `\x9b` and OSC `\x9d`): `\x9b`.
* The line and paragraph separators U+2028 and U+2029, line breaks to some editors and renderers
  but not to a terminal: `\u2028`.
* Bidirectional embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069), which can
  make text display in an order other than its own ("Trojan Source"): `\u202e`. Marks (U+200E,
  U+200F), zero-width characters and emoji joiners stay: they reorder nothing beyond themselves.
* Lone surrogates (U+D800 to U+DFFF, from bytes that were not UTF-8 decoded with `surrogateescape`),
  which no encoder can write: `\udcff`.

The escapes use only letters, digits and a backslash, so they cannot close a Markdown fence, start
rich markup or split a table cell. A backslash already in the text is left alone, so `\x1b` typed
out by an experiment and an escaped ESC look the same: what matters is that neither is an escape.

On top of that, whatever reaches rich goes in a `rich.text.Text`, which never reads markup
(`[/data]` stays `[/data]`); no brain or experiment text is passed to rich as a plain string.
Standard library only: the leg loads `errors`, which uses this module.
"""

from __future__ import annotations

import json
import re
from typing import Any

_INTERPRETED = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_MULTILINE = re.compile(f"[{_INTERPRETED}]")  # keeps \n and \t
_ONE_LINE = re.compile(f"[{_INTERPRETED}\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    named = {9: "\\t", 10: "\\n", 13: "\\r"}.get(code)
    return named or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str, multiline: bool = True) -> str:
    """`text` with every character a terminal would interpret shown as its escape (see the module).
    Multi-line text keeps its line breaks (`\\r\\n` becomes `\\n`) and tabs; one-line text escapes
    them too."""
    text = str(text)
    if multiline:
        return _MULTILINE.sub(_escape, text.replace("\r\n", "\n"))
    return _ONE_LINE.sub(_escape, text)


def last_line(text: str, limit: int = 200) -> str:
    """What a terminal would leave on screen of one line of output that redraws itself with `\\r`
    (a progress bar): the last non-empty part, made visible, its end kept."""
    parts = [part for part in text.split("\r") if part.strip()]
    return visible((parts[-1] if parts else "").strip(), multiline=False)[-limit:]


def is_visible(text: str, multiline: bool = True) -> bool:
    """Whether `text` holds nothing `visible` would escape (for tests and assertions)."""
    return (_MULTILINE if multiline else _ONE_LINE).search(text.replace("\r\n", "\n")) is None


def json_text(data: Any) -> str:
    """`data` as indented JSON for a terminal or a script (`--json`): readable non-ASCII text kept,
    and every character `visible` escapes written as its JSON escape (`\\u009b`), so the output
    holds no raw control, bidi override or lone surrogate and still parses to the same data."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _MULTILINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)  # in strings only: the rest is ASCII
