"""The project root and the user's real repository in an experiment's text.

A brain names the project by absolute paths on its machine. `map_project_root` puts the project's
place in the checkout in their stead (the leg does it). `names_real_tree` is the generator's check
that what is left after mapping does not still reach the user's repository: a command that does
would run in the user's working tree (under act's host mode the leg runs on the same machine).

Only the standard library is imported here: every leg loads this module.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

# what may follow a mapped root: the end, a separator, a quote, an operator, the end of a
# `${X:-root}` or a `[root]`, a list's comma (not a name character)
_ROOT_END = r"(?=$|[/\s'\";&|)<>`:}\],=])"
# what may precede it: the start, a space, a quote, an operator, `=`, `:`, `,`, `[`, `{`; a
# one-letter flag glued to it (`-I/root`, `-L/root`); `file://`; a `${X:-/root}` default (also `:=`,
# `:+`, `:?`). Never a name character, `.`, `/` or `-` otherwise: a root inside a longer path
# (`/mnt/p/root`, `x-/p/root`) is not the root.
_ROOT_START = (
    r"(?:(?<![^\s'\"=:;&|(<>`,\[{@])"
    r"|(?<=(?<![^\s'\"=])-[A-Za-z])"
    r"|(?<=file://)"
    r"|(?<=:[-=+?]))"
)
# an absolute path (or one under the home folder) in shell text: up to a separator or an operator
_PATH = re.compile(r"(?:~|\$HOME\b|\$\{HOME\})?/(?:\\.|[^\s'\"`;&|()<>{},=:*?\[\]])*")


def map_project_root(text: str, roots: Iterable[str], target: Path | str) -> str:
    """Replace the brain's project root (a path on its machine, under any of its names) with the
    project's place in the checkout. Only whole path components match: `/p/root` maps in
    `cd /p/root/x`, not in `/p/rootless` or `/mnt/p/root`. One pass, longest name first, so a
    name inside another (`/p` and `/p/q`) maps the longer, and a mapped path is never mapped again.
    A root is mapped wherever a shell or a tool reads it as a path of its own: glued to a one-letter
    flag (`-I/p/root/include`), after `file://`, as a `${X:-/p/root}` default, in `[/p/root]`."""
    names = sorted({r.rstrip("/") for r in roots if r.rstrip("/")}, key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(_ROOT_START + "(?:" + "|".join(map(re.escape, names)) + ")" + _ROOT_END)
    return pattern.sub(lambda _m: str(target), text)


def repository_names(given: str | Path, top: str | Path) -> list[str]:
    """The names of the repository's top: as git reports it, resolved, and as the user reached it
    (`given`, a path inside the repository, maybe through a symlink: its ancestor that is the top)."""
    real_top = os.path.realpath(top)
    names = [os.path.abspath(top), real_top]
    here = os.path.abspath(given)
    while True:
        if os.path.realpath(here) == real_top:
            names.insert(0, here)
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return list(dict.fromkeys(names))


def given_path(path: str | Path) -> str:
    """`path` made absolute the way the user reached it: a relative path from the shell's $PWD
    (which keeps a symlinked name) when $PWD is this process's working folder."""
    text = os.fspath(path)
    if os.path.isabs(text):
        return posixpath.normpath(text)
    pwd = os.environ.get("PWD", "")
    if pwd and os.path.isabs(pwd):
        try:
            if os.path.samefile(pwd, "."):
                return posixpath.normpath(posixpath.join(pwd, text))
        except OSError:
            pass
    return os.path.abspath(text)


def names_real_tree(text: str, names: Iterable[str], home: str | None = None) -> str | None:
    """What in `text` (an experiment's command, set-up or environment value, already mapped) still
    names the real repository whose top has `names`; None when nothing does. A name counts as a
    whole path component, inside quotes, backslash-escaped, or as any absolute path (also under `~`
    or `$HOME`, also a whole quoted string) that leads into the repository once `.`, `..`, `//` and
    symlinks are resolved. A check, not a sandbox: a path the shell builds from pieces at run time
    (`$(printf …)`, variables) is not seen."""
    names = [n.rstrip("/") for n in names if n.rstrip("/")]
    if not names:
        return None
    real_tops = [os.path.realpath(n).rstrip("/") for n in names]
    home = home if home is not None else os.path.expanduser("~")
    literal = re.compile("(?:" + "|".join(map(re.escape, names)) + r")(?![\w.\-])")
    unescaped = re.sub(r"\\(.)", r"\1", text)
    unquoted = unescaped.replace("'", "").replace('"', "")
    at_home = _HOME_ANYWHERE.sub(lambda _m: home, unquoted)
    normalised = _SLASHES.sub("/", _ONE_DOT.sub("/", at_home))
    for variant in dict.fromkeys([text, unescaped, unquoted, normalised]):
        if match := literal.search(variant):
            return match.group(0)
    paths = [m.group(0) for variant in (text, unescaped) for m in _PATH.finditer(variant)]
    paths += [m.group(1) or m.group(2) for m in _QUOTED.finditer(text)]
    for path in dict.fromkeys(paths):
        expanded = _HOME.sub(lambda _m: home, re.sub(r"\\(.)", r"\1", path))
        if not expanded.startswith("/"):
            continue
        real = os.path.realpath(posixpath.normpath(expanded))
        if any(real == top or real.startswith(top + "/") for top in real_tops):
            return path
    return None


_SLASHES = re.compile(r"/{2,}")
_ONE_DOT = re.compile(r"/\.(?=/|$|[\s;&|)<>`])")
_HOME = re.compile(r"^(?:~|\$HOME|\$\{HOME\})(?=/)")
_HOME_ANYWHERE = re.compile(r"(?<![\w/$])(?:~|\$HOME\b|\$\{HOME\})(?=/)")
_QUOTED = re.compile(r"'((?:~|/)[^']*)'|\"((?:~|/|\$HOME|\$\{HOME\})[^\"]*)\"")
