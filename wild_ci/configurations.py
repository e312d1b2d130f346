"""What a run *is*, for comparing numbers: its configuration, without the keys that only replicate it.

Two runs are the same **configuration** when they ran the same command with the same flags, the same
`env` and the same code, whatever their seeds. Concretely:

* **the command** is the experiment's command as it ran (the brain's text with its `parameters`
  appended as `--key=value` flags), with the replicate flags taken off its last line. The flags on
  that line — `--key=value`, and `--key value` where the next word is not itself a flag — are the
  configuration's *flags*, compared as their text (`--lr=0.1` and `--lr=0.10` differ: the brain
  wrote them differently). Flags written inside `command` (`python train.py --scale=false`) count
  exactly like `parameters`.
* **replicate keys** are `seed` and whatever the config's `replicates:` adds: runs that differ only
  there are replicates of one configuration, whose spread is the noise.
* **env** is the experiment's `env:` mapping (as the spec has it).
* **the code** is the iteration's snapshot without wild-ci's own files (`IterationResults.code`, the
  hash of the snapshot's tree without `.wild/`): a command run again after the brain edited the
  code is a different configuration. Iterations recorded before wild-ci kept that hash (None) are
  each their own code.

The goal's wording plays no part: the brain rewords goals from one iteration to the next.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from .specs import ExperimentResult, IterationResults

DEFAULT_REPLICATE_KEYS = ("seed",)


@dataclass(frozen=True)
class Flag:
    """One `--key=value` / `--key value` / `--switch` of a command's last line."""

    key: str
    value: str | None  # None: a bare switch
    words: tuple[str, ...]  # the words it took on the line


@dataclass(frozen=True)
class Configuration:
    """A configuration's identity (`key`) and what a person is shown of it."""

    key: str
    command: str  # the command without its replicate flags
    flags: dict[str, str | None] = field(default_factory=dict)  # without the replicate keys
    env: dict[str, str] = field(default_factory=dict)
    code: str | None = None

    def label(self, limit: int = 80) -> str:
        """`C=1 scale=false` (and `env X=1`): the flags, else the command's last line."""
        parts = [key if value is None else f"{key}={value}" for key, value in self.flags.items()]
        parts += [f"env {name}={value}" for name, value in self.env.items()]
        text = " ".join(parts) or (self.command.strip().splitlines() or [""])[-1]
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _words(line: str) -> list[str] | None:
    try:
        return shlex.split(line, posix=True)
    except ValueError:  # an open quote, a heredoc: not plain shell words
        return None


def _flags_at(words: list[str]) -> list[tuple[int, Flag]]:
    """Each flag of `words` with the index of its first word."""
    found: list[tuple[int, Flag]] = []
    index = 0
    while index < len(words):
        word = words[index]
        start = index
        if word.startswith("--") and len(word) > 2:
            key, equals, value = word[2:].partition("=")
            if equals:
                found.append((start, Flag(key, value, (word,))))
            elif index + 1 < len(words) and not words[index + 1].startswith("-"):
                index += 1
                found.append((start, Flag(key, words[index], (word, words[index]))))
            else:
                found.append((start, Flag(key, None, (word,))))
        index += 1
    return found


def command_flags(line: str) -> list[Flag]:
    """The flags of a command line, in order; [] when the line is not plain shell words (then only
    the whole text identifies the configuration)."""
    words = _words(line)
    return [flag for _, flag in _flags_at(words)] if words is not None else []


def _without_replicates(command: str, replicate_keys: Collection[str]) -> tuple[str, list[Flag]]:
    """The command as compared — its last line's words without the replicate flags, the flags in
    sorted order (`--lr=0.1 --epochs=5` is `--epochs=5 --lr=0.1`) — and that line's other flags."""
    lines = command.rstrip().split("\n")
    words = _words(lines[-1])
    if words is None:
        return command.rstrip(), []
    flags = _flags_at(words)
    in_flags = {i for start, flag in flags for i in range(start, start + len(flag.words))}
    kept = [flag for _, flag in flags if flag.key not in replicate_keys]
    plain = [word for i, word in enumerate(words) if i not in in_flags]
    ordered = sorted((flag.words for flag in kept), key=lambda words: words[0])
    lines[-1] = " ".join(
        [*plain, *(word for words in ordered for word in words)]
    )  # an identity, not a command
    return "\n".join(lines), kept


def configuration_of(
    result: ExperimentResult, code: str | None, replicate_keys: Collection[str] = DEFAULT_REPLICATE_KEYS
) -> Configuration:
    command, flags = _without_replicates(result.command, replicate_keys)
    env = dict(sorted(result.env.items()))
    identity = json.dumps([command, env, code], ensure_ascii=False, separators=(",", ":"))
    return Configuration(identity, command, {f.key: f.value for f in flags}, env, code)


def replicate_keys_of(iterations: Collection[IterationResults]) -> tuple[str, ...]:
    """`seed` and the replicate keys the iterations were submitted with (the config's `replicates:`)."""
    keys = dict.fromkeys(DEFAULT_REPLICATE_KEYS)
    for results in iterations:
        keys.update(dict.fromkeys(results.replicate_keys))
    return tuple(keys)


def run_key(result: ExperimentResult) -> str:
    """The same run in another iteration, for a change (±): the same command and flags, seed
    included, and the same env — whatever the goal says and whatever the code became (the change
    *is* what the code did)."""
    command, _ = _without_replicates(result.command, ())
    return json.dumps([command, sorted(result.env.items())], ensure_ascii=False)


def mapping_text(values: Mapping[str, str | None]) -> str:
    return " ".join(key if value is None else f"{key}={value}" for key, value in values.items())
