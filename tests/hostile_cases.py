"""The hostile corpus (tests/hostile/cases.json): text a language model might write, each case
either runs exactly as written or is refused with a clear error."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

CASES_FILE = Path(__file__).parent / "hostile" / "cases.json"


@dataclass(frozen=True)
class HostileCase:
    name: str
    payload: str
    outcome: str  # runs | refused
    where: str = "command"  # for refused cases: command | parameter | raw (a whole item)
    message: str = ""

    def brain_item(self) -> str:
        """One `<experiments>` item carrying the payload in the goal, the command and a parameter.
        Fields are JSON strings (valid YAML double-quoted scalars), as a careful brain writes."""
        if self.where == "raw":
            return self.payload
        if self.outcome == "refused" and self.where == "command":
            return f"- goal: {self.name}\n  command: {json.dumps(self.payload)}\n"
        if self.outcome == "refused":
            parameter = json.dumps(self.payload)
            return f'- goal: {self.name}\n  command: echo\n  parameters: {{"x": {parameter}}}\n'
        command = f"printf '%s' {shlex.quote(self.payload)}"
        return (
            f"- goal: {quoted(self.name + ' ' + self.payload[:40])}\n"
            f"  command: {quoted(command)}\n"
            f'  parameters: {{"x": {quoted(self.payload)}}}\n'
        )

    def expected_stdout(self) -> bytes:
        """printf '%s' repeats its format for the appended flag: payload, then --x=payload."""
        return (self.payload + "--x=" + self.payload).encode()


def quoted(text: str) -> str:
    """A YAML double-quoted scalar holding `text` exactly: JSON escapes, with the characters YAML
    reads as line breaks (U+0085, U+2028, U+2029) escaped too, and everything else as written."""
    body = json.dumps(text, ensure_ascii=False)
    for char in ("\x85", "\u2028", "\u2029"):
        body = body.replace(char, f"\\u{ord(char):04x}")
    return body


def load_cases() -> list[HostileCase]:
    cases = []
    for raw in json.loads(CASES_FILE.read_text(encoding="utf-8")):
        payload = raw["payload"]
        if isinstance(payload, dict):
            payload = payload["repeat"] * payload["times"]
        cases.append(HostileCase(raw["name"], payload, raw["outcome"], raw.get("where", "command"),
                                 raw.get("message", "")))  # fmt: skip
    return cases
