"""Git is the ledger: the session branch `wild/<session>` and the commits wild-ci puts on it.

Everything here builds commits with plumbing and a temporary index, so the user's working tree,
index, HEAD and checked-out branch are never touched. Branch updates compare-and-swap the old tip,
so two writers cannot silently overwrite each other.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import git
from gitdb import IStream

from .errors import PipelineError, UsageError
from .layout import CONFIG_PATH, ITERATIONS_DIR, SPEC_FILE, WORKFLOWS_DIR, iteration_file

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


def snapshot_worktree_tree(repo: git.Repo, previous_tip: str | None, files: Mapping[str, bytes]) -> str:
    """A tree of the working tree as it is (tracked + untracked-not-ignored files), where the
    iterations come from the session branch and `files` go on top.

    Workflow files and the config file (`CONFIG_PATH`) come from the user's HEAD, never from the
    work tree: a workflow the brain wrote would run with the repository's secrets once the branch
    is pushed, and the configuration decides what runners install and where jobs run."""
    with temporary_index(repo, seed_from_real_index=True) as env, writing(repo):
        if not (Path(repo.git_dir) / "index").is_file() and resolve(repo, "HEAD"):
            repo.git.read_tree("HEAD", env=env)
        repo.git.add("--all", "--", ".", env=env)
        repo.git.rm(
            "-r", "--cached", "--quiet", "--ignore-unmatch", "--", ITERATIONS_DIR, WORKFLOWS_DIR, env=env
        )
        if previous_tip and read_tree_exists(repo, previous_tip, ITERATIONS_DIR):
            repo.git.read_tree(f"--prefix={ITERATIONS_DIR}/", f"{previous_tip}:{ITERATIONS_DIR}", env=env)
        head = resolve(repo, "HEAD")
        if head and read_tree_exists(repo, head, WORKFLOWS_DIR):
            repo.git.read_tree(f"--prefix={WORKFLOWS_DIR}/", f"{head}:{WORKFLOWS_DIR}", env=env)
        repo.git.rm("--cached", "--quiet", "--ignore-unmatch", "--", CONFIG_PATH, env=env)
        config = read_file(repo, head, CONFIG_PATH) if head else None
        if config is not None:
            add_files(repo, env, {CONFIG_PATH: config})
        add_files(repo, env, files)
        return repo.git.write_tree(env=env)


def read_tree_exists(repo: git.Repo, rev: str, path: str) -> bool:
    try:
        return (repo.commit(rev).tree / path).type == "tree"
    except KeyError:
        return False
