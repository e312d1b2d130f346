"""What an iteration commit takes from the working tree: everything git would add, except what
looks secret, what is too big, and what the user excludes (`snapshot:` in the config file).

The commit is pushed to GitHub and copied into every leg, so a file that only sits in the working
tree (an untracked `.env`, a 200 MB data file) must not reach it by accident. The rules apply to what
the snapshot adds beyond the user's HEAD — untracked files and uncommitted changes — because what is
already committed is already in the history the session branch is built on; a change that is left
out keeps the version in the user's index. Standard library only.

Patterns are globs (`fnmatch`): one without `/` matches a file or folder name anywhere (like a line
of .gitignore), one with `/` matches the whole path from the repository's top, where `*` also
crosses folders (`scratch/*` is everything under `scratch/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate
from functools import lru_cache

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
)  # fmt: skip
NOT_SECRET: tuple[str, ...] = (
    "*.example", "*.sample", "*.template", "*.dist", "*.tmpl", ".env.defaults",
)  # fmt: skip


def matches(path: str, pattern: str) -> bool:
    """Whether a repository path matches a pattern (see the module's docstring)."""
    return _any(path, (pattern,))


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """Two regular expressions for a set of patterns: one for a whole path (patterns with `/`; a
    folder's pattern matches what is under it), one for a single file or folder name."""
    whole, names = [], []
    for pattern in patterns:
        pattern = pattern.strip("/") if pattern.endswith("/") else pattern.lstrip("/")
        if "/" in pattern:
            whole += [translate(pattern), translate(pattern.rstrip("/*") + "/*")]
        else:
            names.append(translate(pattern))
    return (
        re.compile("|".join(whole)) if whole else None,
        re.compile("|".join(names)) if names else None,
    )


def _any(path: str, patterns: tuple[str, ...]) -> bool:
    whole, names = _compiled(patterns)
    if whole and whole.match(path):
        return True
    return names is not None and any(names.match(part) for part in path.split("/"))


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
        if _any(path, SECRET_PATTERNS) and not any(fnmatchcase(name, p) for p in NOT_SECRET):
            return f"looks like a secret; snapshot: include: in {CONFIG_PATH} lets it in"
        if size > self.max_file_bytes:
            return (
                f"{size / MB:.1f} MB, over snapshot.max_file_bytes ({self.max_file_bytes / MB:.0f} MB; "
                "GitHub refuses files over 100 MB)"
            )
        return None


NESTED_REPOSITORY = (
    "a git repository inside yours that is not a submodule: its files are not in the snapshot "
    "(make it a submodule with `git submodule add <url> <path>`, or remove its .git)"
)
OWN_OUTPUT = "wild-ci's own output, redirected into the repository (write it outside the repository)"
