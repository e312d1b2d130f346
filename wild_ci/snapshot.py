"""What an iteration commit takes from the working tree: everything git would add, except what
looks secret, what is too big, and what the user excludes (`snapshot:` in the config file).

The commit is pushed to GitHub and copied into every leg, so a file that only sits in the working
tree (an untracked `.env`, a 200 MB data file) must not reach it by accident. The rules apply to what
the snapshot adds beyond the user's HEAD — untracked files and uncommitted changes — because what is
already committed is already in the history the session branch is built on; a change that is left
out keeps the version in the user's index. Standard library only.

Patterns are globs (`fnmatch`): one without `/` matches a file or folder name anywhere (like a line
of .gitignore), one with `/` matches the whole path from the repository's top, where `*` also
crosses folders (`scratch/*` is everything under `scratch/`); as in .gitignore, a leading `/`
anchors a name at the top (`/build`) and a leading `**/` also matches at the top (`**/x`).
Secret-looking names match whatever their case (a case-insensitive file system, a brain writing
`.ENV`). The text of small files is read for
well-known token shapes (`secret_rules.json`, gitleaks' rules, each cited there).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import translate
from functools import lru_cache
from pathlib import Path

from .layout import CONFIG_PATH

MB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 50 * MB  # GitHub warns about files over 50 MB and refuses those over 100 MB
DEFAULT_MAX_TOTAL_BYTES = 500 * MB  # what one iteration may add; GitHub refuses pushes over 2 GB

# What secret scanners look for by file name: gitleaks' and trufflehog's path rules and GitHub's
# secret scanning (private keys, credential stores, dotenv files, cloud and package-manager
# credentials, Terraform state). A name here is left out; a template of one is not.
SECRET_PATTERNS: tuple[str, ...] = (
    ".env", ".env.*", "*.env",                      # dotenv files (and .envrc, below)
    ".envrc",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.p8", "*.ppk", "*.asc", "*.gpg",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",  # SSH keys (and their .pub, harmless but paired)
    ".netrc", "_netrc", ".pgpass", ".git-credentials", ".pypirc", ".npmrc", ".yarnrc.yml", ".dockercfg",
    "credentials", "credentials*.json", "client_secret*.json", "service-account*.json",
    "*.kdbx", "*.keychain", "*.tfstate", "*.tfstate.*", "*.tfvars",
    "secrets.yml", "secrets.yaml", "secrets.json", "*.secret", "*.secrets",
    ".env-*", ".env_*",                              # dotenv variants (issue #26)
    "kubeconfig", "**/.kube/config", "**/.docker/config.json", "application_default_credentials.json",
    "**/gh/hosts.yml", "**/huggingface/token", "**/.huggingface/token", "kaggle.json",
    "**/.streamlit/secrets.toml", "secret.json", "secret.yml",
    "secret.yaml", "credentials.yml", "credentials.yaml", "credentials.toml", ".htpasswd", ".s3cfg",
    ".boto", "token.json", ".gitcookies",
)  # fmt: skip
NOT_SECRET: tuple[str, ...] = (
    "*.example", "*.sample", "*.template", "*.dist", "*.tmpl", ".env.defaults",
    "*[-_]example", "*[-_]sample", "*[-_]template",  # .env-example, .env_sample
)  # fmt: skip


SCAN_MAX_BYTES = 1024 * 1024  # files up to this size are read for token shapes; bigger ones are data
RULES_FILE = Path(__file__).with_name("secret_rules.json")


def matches(path: str, pattern: str) -> bool:
    """Whether a repository path matches a pattern (see the module's docstring)."""
    return _any(path, (pattern,))


@lru_cache(maxsize=64)
def _compiled(
    patterns: tuple[str, ...], ignore_case: bool = False
) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """Two regular expressions for a set of patterns: one for a whole path (patterns with `/`; a
    folder's pattern matches what is under it), one for a single file or folder name."""
    whole, names = [], []
    for pattern in patterns:
        anchored = pattern.startswith("/")  # .gitignore: `/x` is the top's x only
        pattern = pattern.strip("/") if pattern.endswith("/") else pattern.lstrip("/")
        anywhere = pattern.startswith("**/")  # .gitignore: in every folder, the top one too
        while pattern.startswith("**/"):
            pattern = pattern[3:]
        if "/" in pattern or (anchored and not anywhere):
            for prefix in ("", "*/") if anywhere else ("",):
                whole += [translate(prefix + pattern), translate(prefix + pattern.rstrip("/*") + "/*")]
        else:
            names.append(translate(pattern))
    flags = re.IGNORECASE if ignore_case else 0
    return (
        re.compile("|".join(whole), flags) if whole else None,
        re.compile("|".join(names), flags) if names else None,
    )


def _any(path: str, patterns: tuple[str, ...], ignore_case: bool = False) -> bool:
    whole, names = _compiled(patterns, ignore_case)
    if whole and whole.match(path):
        return True
    return names is not None and any(names.match(part) for part in path.split("/"))


@dataclass(frozen=True)
class TokenRule:
    """One token shape: what it is called in a finding, its regex, and where the regex comes from."""

    name: str
    regex: re.Pattern[str]
    source: str


@lru_cache(maxsize=1)
def token_rules() -> tuple[TokenRule, ...]:
    """The rules of `secret_rules.json`, compiled once."""
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return tuple(TokenRule(r["name"], re.compile(r["regex"]), r["source"]) for r in data["rules"])


def content_reason(path: str, data: bytes) -> str | None:
    """Why a file's text keeps it out of the snapshot (a token shape, named with its line), or
    None. A file with a NUL byte in its first 8 KiB is binary and not read: token shapes in a model
    or an archive would be chance, and a leg needs those files."""
    if b"\0" in data[:8192]:
        return None
    text = data.decode("utf-8", "replace")
    for rule in token_rules():
        found = rule.regex.search(text)
        if found:
            line = text.count("\n", 0, found.start()) + 1
            return (
                f"holds what looks like a {rule.name} (line {line}); snapshot: include: in {CONFIG_PATH} "
                "lets it in"
            )
    return None


@dataclass(frozen=True)
class SnapshotRules:
    """`snapshot:` in the config file. `include` lets in what the built-in rules (secret-looking
    names, `max_file_bytes`) would leave out; `exclude` leaves out more and wins over `include`."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES

    def reason_to_leave_out(self, path: str, size: int) -> str | None:
        """Why `path` (`size` bytes) stays out of the snapshot, or None when it goes in."""
        if _any(path, self.exclude):
            return "excluded by snapshot.exclude"
        if _any(path, self.include):
            return None
        name = path.rsplit("/", 1)[-1]
        if _any(path, SECRET_PATTERNS, ignore_case=True) and not _any(name, NOT_SECRET, ignore_case=True):
            return f"looks like a secret; snapshot: include: in {CONFIG_PATH} lets it in"
        if size > self.max_file_bytes:
            return (
                f"{size / MB:.1f} MB, over snapshot.max_file_bytes ({self.max_file_bytes / MB:.0f} MB; "
                "GitHub refuses files over 100 MB)"
            )
        return None

    def reason_by_content(self, path: str, size: int, read: Callable[[], bytes]) -> str | None:
        """Why the text of `path` keeps it out (`content_reason`), for a file the name rules let
        in; `read` is only called for a file up to `SCAN_MAX_BYTES` that `include` does not name."""
        if size > SCAN_MAX_BYTES or _any(path, self.exclude) or _any(path, self.include):
            return None
        return content_reason(path, read())


NESTED_REPOSITORY = (
    "a git repository inside yours that is not a submodule: its files are not in the snapshot "
    "(make it a submodule with `git submodule add <url> <path>`, or remove its .git)"
)
IGNORED_AT_HEAD = (
    "ignored by your HEAD's .gitignore, whose rule the working tree's .gitignore no longer has "
    "(a rule can be added there, not removed: commit the change to .gitignore to let it in)"
)
SYMLINKED_FOLDER = (
    "a symlink (or a file) where wild-ci writes a folder of the iteration: left out of the iteration "
    "commit (make it a real folder to have its files there)"
)
OWN_OUTPUT = "wild-ci's own output, redirected into the repository (write it outside the repository)"
