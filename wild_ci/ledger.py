"""Git is the ledger: the session branch `wild/<session>` and the commits wild-ci puts on it.

Everything here builds commits with plumbing and a temporary index, so the user's working tree,
index, HEAD and checked-out branch are never touched. Branch updates compare-and-swap the old tip,
so two writers cannot silently overwrite each other.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import IO

import git
from gitdb import IStream

from .errors import BadInput, PipelineError, UsageError
from .layout import (
    CONFIG_PATH,
    ITERATIONS_DIR,
    SPEC_FILE,
    WILD_DIR,
    WORKFLOW_PATH,
    WORKFLOWS_DIR,
    iteration_file,
)
from .snapshot import IGNORED_AT_HEAD, MB, NESTED_REPOSITORY, OWN_OUTPUT, SYMLINKED_FOLDER, SnapshotRules
from .specs import LeftOut

SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ZERO_OID = "0" * 40
FALLBACK_IDENTITY = {"name": "wild-ci", "email": "wild-ci@localhost"}


class LedgerError(PipelineError):
    """A git-level problem the user must fix (not a repository, branch checked out, …)."""


def open_repo(path: str | os.PathLike[str]) -> git.Repo:
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise LedgerError(f"{path} is not inside a git repository") from exc
    if repo.bare:
        raise LedgerError(f"{path} is a bare repository; wild-ci needs a working tree")
    return repo


def work_tree(repo: git.Repo) -> Path:
    """The repository's working tree (`open_repo` refuses bare repositories, so there is one)."""
    if repo.working_tree_dir is None:
        raise LedgerError(f"{repo.git_dir} is a bare repository; wild-ci needs a working tree")
    return Path(repo.working_tree_dir)


def validate_session(session: str) -> str:
    if not SESSION_NAME.match(session) or ".." in session or session.endswith((".lock", ".")):
        raise UsageError(
            f"session name {session!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(at most 63 characters, starting with a letter or digit)"
        )
    return session


def branch_name(session: str) -> str:
    return f"wild/{validate_session(session)}"


def resolve(repo: git.Repo, rev: str) -> str | None:
    """The commit a revision names, or None when it does not exist."""
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}")
    except git.GitCommandError:
        return None


def is_ancestor(repo: git.Repo, ancestor: str, descendant: str) -> bool:
    """Whether `descendant` contains `ancestor` (both revisions): a fast-forward is possible."""
    return repo.is_ancestor(repo.commit(ancestor), repo.commit(descendant))


def branch_tip(repo: git.Repo, branch: str) -> str | None:
    return resolve(repo, f"refs/heads/{branch}")


def adopt_remote_branch(repo: git.Repo, branch: str) -> str | None:
    """A fresh clone has `origin/wild/<session>` but no local branch: the session goes on from the
    remote's iterations (the local branch is created there) instead of starting again at 0001.
    `origin` first, then the other remotes in name order; None when no remote has the branch."""
    remotes = sorted(r.name for r in repo.remotes)
    for name in sorted(remotes, key=lambda r: r != "origin"):
        tip = resolve(repo, f"refs/remotes/{name}/{branch}")
        if tip is not None:
            update_branch(repo, branch, tip, None, f"wild-ci: continue the session from {name}/{branch}")
            return tip
    return None


def read_file(repo: git.Repo, rev: str, path: str) -> bytes | None:
    """A file's bytes at a revision, or None when it is not there."""
    try:
        blob = repo.commit(rev).tree / path
    except (KeyError, ValueError, git.BadName):
        return None
    if blob.type != "blob":
        return None
    return blob.data_stream.read()


def iterations_at(repo: git.Repo, rev: str | None) -> list[int]:
    """Iteration numbers present under `layout.ITERATIONS_DIR` at a revision, ascending."""
    if rev is None:
        return []
    try:
        tree = repo.commit(rev).tree / ITERATIONS_DIR
    except KeyError:
        return []
    return sorted(int(t.name) for t in tree.trees if t.name.isdigit())


def read_iteration_files(repo: git.Repo, rev: str, iterations: Sequence[int], name: str) -> dict[int, bytes]:
    """The file `name` of each of the given iterations at a revision (those that have it). The
    iterations folder's tree is parsed once: reading the files one by one (`read_file`) parses it
    for each, which grows with the square of the iterations (6 s for 500 instead of 0.3 s)."""
    try:
        tree = repo.commit(rev).tree / ITERATIONS_DIR
    except (KeyError, ValueError, git.BadName):
        return {}
    folders = {int(t.name): t for t in tree.trees if t.name.isdigit()}
    found = {}
    for number in iterations:
        try:
            blob = folders[number] / name
        except KeyError:
            continue
        if blob.type == "blob":
            found[number] = blob.data_stream.read()
    return found


def session_branches(repo: git.Repo) -> list[str]:
    """Every local `wild/<session>` branch."""
    return repo.git.for_each_ref("--format=%(refname:short)", "refs/heads/wild/").split()


def latest_iteration(repo: git.Repo, tip: str) -> int:
    iterations = iterations_at(repo, tip)
    if not iterations:
        raise LedgerError("the session branch has no iterations")
    return iterations[-1]


def iteration_commit(repo: git.Repo, tip: str, iteration: int) -> str:
    """The commit that added the iteration's experiments.json: the one its workflow runs on."""
    path = iteration_file(iteration, SPEC_FILE)
    found = repo.git.log("--format=%H", "--diff-filter=A", "-1", tip, "--", path)
    if not found:
        raise LedgerError(f"iteration {iteration} is not on the session branch")
    return found.strip()


def iteration_commits(repo: git.Repo, tip: str) -> dict[int, str]:
    """Every iteration's commit (the one that added its experiments.json) at `tip`, in one `git log`
    (`iteration_commit` for each would walk the history once per iteration)."""
    output = repo.git.log(
        "--format=%H", "--diff-filter=A", "--name-only", tip, "--", f"{ITERATIONS_DIR}/*/{SPEC_FILE}"
    )
    found: dict[int, str] = {}
    commit = None
    for line in output.splitlines():
        if re.fullmatch(r"[0-9a-f]{40}", line):
            commit = line
        elif line and commit is not None:
            folder = line.removeprefix(f"{ITERATIONS_DIR}/").split("/")[0]
            if folder.isdigit():
                found.setdefault(int(folder), commit)  # the newest first: the one the branch holds
    return found


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int | None  # lines; None for a binary file
    removed: int | None


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree: what a root commit changed from


@dataclass(frozen=True)
class CodeChanges:
    files: list[FileChange]  # the first `counted` files changed, with their lines
    total: int  # the files changed in all


def code_changes(repo: git.Repo, commit: str, counted: int | None = None) -> CodeChanges:
    """The files an iteration's commit changed in the code since its parent (the iteration before,
    or the commit the session started from): the brain's edits, without wild-ci's own files. Lines
    are counted for the first `counted` files only (all when None): counting reads every changed
    blob, 1 s a prompt for a brain that rewrote 10,000 files (bench/loop_history_bench.py), where
    the names alone are a comparison of trees."""
    parents = repo.commit(commit).parents
    base = parents[0].hexsha if parents else EMPTY_TREE
    names = repo.git.diff(
        "--name-only", "--no-renames", "-z", base, commit, "--", ".",
        f":(exclude){WILD_DIR}", f":(exclude){WORKFLOW_PATH}",
    )  # fmt: skip
    paths = [path for path in names.split("\0") if path]
    shown = paths if counted is None else paths[:counted]
    if not shown:
        return CodeChanges([], len(paths))
    output = repo.git.diff(
        "--numstat", "--no-renames", "-z", base, commit, "--", *(f":(literal){path}" for path in shown)
    )
    changes = []
    for record in output.split("\0"):
        parts = record.split("\t", 2)
        if len(parts) == 3:
            added, removed, path = parts
            changes.append(FileChange(path, _count(added), _count(removed)))
    return CodeChanges(changes, len(paths))


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def checked_out_in(repo: git.Repo, branch: str) -> str | None:
    """The worktree that has `branch` checked out, if any (moving it would change their files)."""
    output = repo.git.worktree("list", "--porcelain")
    worktree = None
    for line in output.splitlines():
        if line.startswith("worktree "):
            worktree = line.removeprefix("worktree ")
        elif line == f"branch refs/heads/{branch}":
            return worktree
    return None


@contextmanager
def writing(repo: git.Repo) -> Iterator[None]:
    """git could not write the objects or the tree of a commit: a full disk, a read-only or foreign-
    owned .git, a damaged repository. The user's fault or the machine's, so git's own words and exit
    1, not a traceback (a wrong git invocation shows up here too, with git's message naming it)."""
    try:
        yield
    except git.GitCommandError as exc:
        stderr = re.sub(r"^\s*stderr:\s*'|'\s*$", "", exc.stderr or "")
        said = "; ".join(line.strip() for line in stderr.splitlines() if line.strip()) or str(exc)
        raise LedgerError(
            f"git could not write to {repo.git_dir}: {said}",
            hint="free space or fix permissions on the repository, then retry",
        ) from exc


def store_blob(repo: git.Repo, data: bytes) -> str:
    with writing(repo):
        sha = repo.odb.store(IStream("blob", len(data), BytesIO(data))).hexsha
    return sha.decode() if isinstance(sha, bytes) else sha


@contextmanager
def temporary_index(repo: git.Repo, seed_from_real_index: bool = False) -> Iterator[dict[str, str]]:
    """An environment with GIT_INDEX_FILE pointing at a throw-away index.

    Seeding it from a copy of the user's index keeps git's stat cache, so `git add -A` only
    re-hashes files that changed; the user's own index file is only read.
    """
    with tempfile.TemporaryDirectory(prefix="wild-ci-index-") as tmp:
        index = Path(tmp) / "index"
        real = Path(repo.git_dir) / "index"
        if seed_from_real_index and real.is_file():
            shutil.copyfile(real, index)
        yield {"GIT_INDEX_FILE": str(index)}


def add_files(repo: git.Repo, env: Mapping[str, str], files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        sha = store_blob(repo, data)
        with writing(repo):
            repo.git.update_index("--add", "--cacheinfo", f"100644,{sha},{path}", env=env)


def identity_env(repo: git.Repo) -> dict[str, str]:
    """Author/committer for wild-ci's commits: the repo's configured user, else 'wild-ci'."""
    reader = repo.config_reader()
    env: dict[str, str] = {}
    for key in ("name", "email"):
        value = reader.get_value("user", key, default="")
        for role in ("AUTHOR", "COMMITTER"):
            var = f"GIT_{role}_{key.upper()}"
            if not os.environ.get(var):
                env[var] = str(value) if value else FALLBACK_IDENTITY[key]
    return env


def commit_tree(repo: git.Repo, tree: str, parent: str | None, message: str) -> str:
    """The message goes through a file, not `-m`: one argument may hold at most 128 KiB on Linux."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".msg") as handle:
        handle.write(message)
        handle.flush()
        args = [tree, "-F", handle.name]
        if parent:
            args += ["-p", parent]
        with writing(repo):
            return repo.git.commit_tree(*args, env=identity_env(repo))


def update_branch(repo: git.Repo, branch: str, new: str, old: str | None, reason: str) -> None:
    """Move the branch from `old` to `new`, failing if someone else moved it meanwhile."""
    try:
        repo.git.update_ref("-m", reason, f"refs/heads/{branch}", new, old or ZERO_OID)
    except git.GitCommandError as exc:
        said = str(exc.stderr or "")
        lock = re.search(r"Unable to create '([^']+\.lock)': File exists", said)
        if lock:  # a git process was killed while it moved a ref: running again cannot help
            raise LedgerError(
                f"branch {branch} could not be updated: the lock file {lock.group(1)} is in the way; "
                f"the commit {new[:12]} was kept but is not on the branch",
                hint="if no git command is running in this repository, delete that file, then retry",
            ) from exc
        if branch_tip(repo, branch) == (old or None):  # not moved by anyone: git could not write
            stderr = "; ".join(line.strip(" '") for line in said.splitlines() if line.strip(" '"))
            raise LedgerError(
                f"git could not update branch {branch} in {repo.git_dir}: {stderr or exc}",
                hint="free space or fix permissions on the repository, then retry",
            ) from exc
        raise LedgerError(
            f"branch {branch} changed while wild-ci was writing it; nothing was lost, run again"
        ) from exc


def commit_files_on(
    repo: git.Repo, parent: str, files: Mapping[str, bytes], message: str, remove: Sequence[str] = ()
) -> str:
    """A commit on top of `parent` that adds or replaces `files` (and drops `remove`); `parent`
    itself if nothing changes."""
    with temporary_index(repo) as env, writing(repo):
        repo.git.read_tree(parent, env=env)
        if remove:
            repo.git.rm("--cached", "--quiet", "--ignore-unmatch", "--", *remove, env=env)
        add_files(repo, env, files)
        tree = repo.git.write_tree(env=env)
    if tree == repo.commit(parent).tree.hexsha:
        return parent
    return commit_tree(repo, tree, parent, message)


@dataclass(frozen=True)
class WorktreeSnapshot:
    """The working tree as a tree object, and what it does not have."""

    tree: str
    left_out: list[LeftOut]
    submodules: list[str]  # paths of gitlinks that .gitmodules names


class SnapshotTooLarge(BadInput):
    """The working tree adds more than `snapshot.max_total_bytes` to the iteration commit."""


def snapshot_worktree(repo: git.Repo, previous_tip: str | None, rules: SnapshotRules) -> WorktreeSnapshot:
    """A tree of the working tree as it is (tracked + untracked-not-ignored files), where the
    iterations come from the session branch, minus what `rules` leave out (`snapshot.py`).

    Workflow files and the config file (`CONFIG_PATH`) come from the user's HEAD, never from the
    work tree: a workflow the brain wrote would run with the repository's secrets once the branch
    is pushed, and the configuration decides what runners install and where jobs run.

    Files left out are never hashed (a 200 MB file would otherwise land in the user's object
    store); a nested repository that is not a submodule is left out with its files, because its
    gitlink would be an empty folder in a leg and would break a checkout with submodules."""
    top = work_tree(repo)
    head = resolve(repo, "HEAD")
    own_output = _own_output_files()
    with temporary_index(repo, seed_from_real_index=True) as env, writing(repo):
        if not (Path(repo.git_dir) / "index").is_file() and head:
            repo.git.read_tree("HEAD", env=env)
        left_out: dict[str, str] = {}
        checked: set[str] = set()  # the rules have seen these as they are in the work tree
        added = 0
        candidates, ignored_by_head = _untracked(repo, env, head)
        left_out.update(dict.fromkeys(ignored_by_head, IGNORED_AT_HEAD))
        candidates += _nul_list(repo.git.ls_files("-z", "--modified", env=env))
        for path in dict.fromkeys(candidates):
            if _wild_ci_managed(path):
                continue
            if path.endswith("/"):  # git lists an untracked nested repository as a folder
                left_out[path.rstrip("/")] = NESTED_REPOSITORY
                continue
            try:
                status = os.lstat(top / path)
            except FileNotFoundError:  # a deleted tracked file: `git add --all` records it
                continue
            size = status.st_size if stat.S_ISREG(status.st_mode) else 0
            reason = OWN_OUTPUT if (status.st_dev, status.st_ino) in own_output else None
            reason = reason or rules.reason_to_leave_out(path, size)
            if not reason and stat.S_ISREG(status.st_mode):
                reason = rules.reason_by_content(path, size, partial(_read_or_empty, top / path))
            if reason:
                left_out[path] = reason
            else:
                added += size
                checked.add(path)
        if added > rules.max_total_bytes:
            raise SnapshotTooLarge(
                f"the working tree would add {added / MB:.0f} MB to the iteration commit, over "
                f"snapshot.max_total_bytes ({rules.max_total_bytes / MB:.0f} MB)",
                hint=f"exclude folders with snapshot.exclude in {CONFIG_PATH}, .gitignore them, or raise "
                "the limit",
            )
        pathspecs = [".", *(f":(exclude,literal){path}" for path in left_out)]
        with _nul_input(pathspecs) as pathspec_file:
            repo.git.add(
                "--all", "--pathspec-from-file=-", "--pathspec-file-nul", istream=pathspec_file, env=env
            )
        _leave_out_staged(repo, env, head, rules, left_out, checked)
        repo.git.rm(
            "-r", "--cached", "--quiet", "--ignore-unmatch", "--", ITERATIONS_DIR, WORKFLOWS_DIR, env=env
        )
        _leave_out_non_folders(repo, env, left_out)
        if previous_tip and read_tree_exists(repo, previous_tip, ITERATIONS_DIR):
            repo.git.read_tree(f"--prefix={ITERATIONS_DIR}/", f"{previous_tip}:{ITERATIONS_DIR}", env=env)
        if head and read_tree_exists(repo, head, WORKFLOWS_DIR):
            repo.git.read_tree(f"--prefix={WORKFLOWS_DIR}/", f"{head}:{WORKFLOWS_DIR}", env=env)
        repo.git.rm("--cached", "--quiet", "--ignore-unmatch", "--", CONFIG_PATH, env=env)
        config = read_file(repo, head, CONFIG_PATH) if head else None
        if config is not None:
            add_files(repo, env, {CONFIG_PATH: config})
        submodules = _submodules(repo, env, left_out)
        tree = repo.git.write_tree(env=env)
    return WorktreeSnapshot(tree, [LeftOut(p, r) for p, r in sorted(left_out.items())], submodules)


def code_identity(repo: git.Repo, tree: str) -> str:
    """The code a snapshot holds, as one hash: its tree's top-level entries without `.wild/` (the
    iterations' own files change every time; the code only when the brain edits it)."""
    listing = repo.git.ls_tree("-z", tree)
    entries = sorted(entry for entry in listing.split("\0") if entry and not entry.endswith("\t" + WILD_DIR))
    return hashlib.sha256("\0".join(entries).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def tree_with_files(repo: git.Repo, tree: str, files: Mapping[str, bytes]) -> str:
    """`tree` with `files` (path → content) put on top."""
    with temporary_index(repo) as env:
        repo.git.read_tree(tree, env=env)
        add_files(repo, env, files)
        return repo.git.write_tree(env=env)


def checkout_submodules(clone: Path, source: git.Repo) -> list[str]:
    """Check out a clone's submodules (recursively) at the commits its tree records, as GitHub's
    checkout does with `submodules: recursive`; each is cloned from the user's own copy of it when
    there is one (no network, and a commit that was never pushed is there), else from its url.
    Returns what could not be checked out, one line each: those folders stay empty."""
    clone_repo = git.Repo(clone)
    try:
        listing = clone_repo.git.config("-f", ".gitmodules", "-z", "--get-regexp", r"^submodule\..*\.path$")
    except git.GitCommandError:  # no .gitmodules, or no submodule in it
        return []
    top = work_tree(source)
    problems = []
    for item in _nul_list(listing):
        key, _, path = item.partition("\n")
        name = key[len("submodule.") : -len(".path")]
        local = top / path
        if (local / ".git").exists():
            clone_repo.git.config(f"submodule.{name}.url", str(local))
        try:
            clone_repo.git.submodule("update", "--init", "--recursive", "--", path,
                                     env={"GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh"})  # fmt: skip
        except git.GitCommandError as exc:
            detail = " ".join(str(exc.stderr).split())[-300:]
            problems.append(f"submodule {path} is not in the legs (its folder is empty): {detail}")
    return problems


def _wild_ci_managed(path: str) -> bool:
    """Paths the snapshot takes from elsewhere (the session branch, HEAD), never from the work tree."""
    return path == CONFIG_PATH or any(
        path.startswith(f"{folder}/") for folder in (ITERATIONS_DIR, WORKFLOWS_DIR)
    )


def _own_output_files() -> set[tuple[int, int]]:
    """The files this process writes its output to (`wild-ci run brain.md > next-prompt.txt`):
    the shell created them before wild-ci started, so they look like any untracked file."""
    found = set()
    for fd in (1, 2):
        try:
            status = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(status.st_mode):
            found.add((status.st_dev, status.st_ino))
    return found


def _leave_out_staged(
    repo: git.Repo,
    env: Mapping[str, str],
    head: str | None,
    rules: SnapshotRules,
    left_out: dict[str, str],
    checked: set[str],
) -> None:
    """The same rules for what the user staged but did not commit (it is in the index already):
    a left-out path gets its HEAD version back, or leaves the index."""
    if head:
        raw = _nul_list(
            repo.git.diff_index("-z", "--cached", "--no-renames", "--diff-filter=AMT", head, env=env)
        )
        entries = [(raw[i + 1], raw[i].split()) for i in range(0, len(raw) - 1, 2)]
        changed = {path: (fields[0][1:], fields[2], fields[3]) for path, fields in entries}
    else:
        changed = {}
        for line in _nul_list(repo.git.ls_files("-z", "--stage", env=env)):
            info, path = line.split("\t", 1)
            changed[path] = ("000000", ZERO_OID, info.split()[1])
    changed = {p: c for p, c in changed.items() if not (_wild_ci_managed(p) or p in left_out or p in checked)}
    if not changed:
        return
    sizes = _blob_sizes(repo, [c[2] for c in changed.values()])
    for path, (old_mode, old_sha, new_sha) in changed.items():
        size = sizes.get(new_sha, 0)
        reason = rules.reason_to_leave_out(path, size) or rules.reason_by_content(
            path, size, partial(_blob_bytes, repo, new_sha)
        )
        if reason is None:
            continue
        left_out[path] = reason
        repo.git.rm("--cached", "--quiet", "--ignore-unmatch", "--", f":(literal){path}", env=env)
        if old_mode != "000000":
            repo.git.update_index("--add", "--cacheinfo", f"{old_mode},{old_sha},{path}", env=env)


def _leave_out_non_folders(repo: git.Repo, env: Mapping[str, str], left_out: dict[str, str]) -> None:
    """`.github` or `.wild` as a symlink (or a file): the iteration writes files below them, and git
    cannot hold a file and a folder of one name — the commit failed with "git could not write".
    Such an entry is left out of the snapshot, and named."""
    for top in {WORKFLOWS_DIR.split("/")[0], ITERATIONS_DIR.split("/")[0]}:
        listed = _nul_list(repo.git.ls_files("-z", "--stage", "--", f":(literal){top}", env=env))
        if any(line.split("\t", 1)[-1] == top for line in listed):
            repo.git.rm("--cached", "--quiet", "--", f":(literal){top}", env=env)
            left_out[top] = SYMLINKED_FOLDER


def _untracked(repo: git.Repo, env: Mapping[str, str], head: str | None) -> tuple[list[str], list[str]]:
    """Untracked files that no ignore rule covers, and those only HEAD's rules cover: the rules
    are the union of the working tree's (with .git/info/exclude) and the .gitignore files of the
    user's HEAD, so a brain that "tidies" .gitignore may add a rule, never remove one. Two
    listings, intersected: git gives one level's rules precedence over another's, so one listing
    could not be a union."""
    listed = _nul_list(repo.git.ls_files("-z", "--others", "--exclude-standard", env=env))
    rules = _head_ignore_rules(repo, head) if head and listed else ""
    if not rules:
        return listed, []
    exclude = Path(repo.common_dir) / "info" / "exclude"
    with tempfile.TemporaryDirectory(prefix="wild-ci-ignore-") as folder:
        rules_file = Path(folder) / "head.gitignore"
        rules_file.write_text(rules, encoding="utf-8", errors="surrogateescape")
        args = ["-z", "--others", f"--exclude-from={rules_file}"]
        args += [f"--exclude-from={exclude}"] if exclude.is_file() else []
        kept = set(_nul_list(repo.git.ls_files(*args, env=env)))
    return [p for p in listed if p in kept], [p for p in listed if p not in kept]


def _head_ignore_rules(repo: git.Repo, head: str) -> str:
    """HEAD's .gitignore files as one exclude file: each pattern rooted at its own folder."""
    names = _nul_list(repo.git.ls_tree("-r", "-z", "--name-only", head))
    lines: list[str] = []
    for name in names:
        if name.rsplit("/", 1)[-1] != ".gitignore":
            continue
        data = read_file(repo, head, name) or b""
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        text = data.decode("utf-8", "surrogateescape")
        lines += [rooted for line in text.splitlines() if (rooted := _rooted_pattern(line, folder))]
    return "".join(f"{line}\n" for line in lines)


def _rooted_pattern(line: str, folder: str) -> str | None:
    """A line of `folder`/.gitignore as a line of a top-level exclude file (None: no pattern)."""
    if not line.strip() or line.startswith("#"):
        return None
    negated = line.startswith("!")
    body = line[1:] if negated else line
    if folder:
        directory_only = body.endswith("/")
        core = body.rstrip("/")
        body = f"/{folder}/{core.lstrip('/')}" if "/" in core else f"/{folder}/**/{core}"
        body += "/" if directory_only else ""
    return f"!{body}" if negated else body


def _blob_bytes(repo: git.Repo, sha: str) -> bytes:
    return bytes(repo.odb.stream(bytes.fromhex(sha)).read())


def _read_or_empty(path: Path) -> bytes:
    """A file's bytes for the content rules; one that cannot be read is git's to report."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _blob_sizes(repo: git.Repo, shas: Sequence[str]) -> dict[str, int]:
    with _lines_input(shas) as listing:
        out = repo.git.cat_file("--batch-check=%(objectname) %(objecttype) %(objectsize)", istream=listing)
    sizes = {}
    for line in out.splitlines():
        fields = line.split()  # "<sha> missing" for a gitlink's commit
        if len(fields) == 3 and fields[1] == "blob":
            sizes[fields[0]] = int(fields[2])
    return sizes


def _submodules(repo: git.Repo, env: Mapping[str, str], left_out: dict[str, str]) -> list[str]:
    """The gitlinks .gitmodules names (in the snapshot's index); a gitlink it does not name is a
    nested repository added by hand, an empty folder in every checkout: it is left out."""
    gitlinks = [
        line.split("\t", 1)[1]
        for line in _nul_list(repo.git.ls_files("-z", "--stage", env=env))
        if line.startswith("160000 ")
    ]
    if not gitlinks:
        return []
    named: set[str] = set()
    modules = repo.git.ls_files("-z", "--stage", "--", ".gitmodules", env=env).rstrip("\0")
    if modules:
        blob = modules.split()[1]
        try:
            listing = repo.git.config("--blob", blob, "-z", "--get-regexp", r"^submodule\..*\.path$")
        except git.GitCommandError:
            listing = ""
        named = {item.split("\n", 1)[1] for item in _nul_list(listing) if "\n" in item}
    for path in gitlinks:
        if path not in named:
            left_out[path] = NESTED_REPOSITORY
            repo.git.rm("--cached", "--quiet", "--", f":(literal){path}", env=env)
    return [path for path in gitlinks if path in named]


def _nul_list(output: str) -> list[str]:
    return [item for item in output.split("\0") if item]


def _nul_input(items: Sequence[str]) -> IO[bytes]:
    return _stdin(b"".join(item.encode() + b"\0" for item in items))


def _lines_input(items: Sequence[str]) -> IO[bytes]:
    return _stdin("".join(f"{item}\n" for item in items).encode())


def _stdin(data: bytes) -> IO[bytes]:
    """A git command's standard input: GitPython passes `istream` to Popen, which wants a file."""
    file = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it: `with _stdin(…) as f`)
    file.write(data)
    file.seek(0)
    return file


def read_tree_exists(repo: git.Repo, rev: str, path: str) -> bool:
    try:
        return (repo.commit(rev).tree / path).type == "tree"
    except KeyError:
        return False
