"""What the iteration commit leaves out of the working tree (#13, observation 2): the rules alone,
then the snapshot of real repositories (staged, tracked and untracked files; the total guard)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import git

from wild_ci import ledger
from wild_ci.config import Config
from wild_ci.generate import submit
from wild_ci.snapshot import MB, SnapshotRules, matches

BRAIN = b"<experiments>\n- goal: look\n  command: ls\n</experiments>\n"
RULES = SnapshotRules()


@pytest.mark.parametrize(
    "path",
    [".env", "app/.env", ".env.local", ".env.production", "prod.env", ".envrc", "server.pem", "tls/x.key",
     "id_rsa", "home/id_ed25519.pub", "id_ecdsa", ".netrc", ".pypirc", ".npmrc", ".git-credentials",
     "credentials.json", "credentials-prod.json", "client_secret_123.json", "vault.kdbx", "cert.p12",
     "cert.pfx", "terraform.tfstate", "terraform.tfstate.backup", ".env/bin/python"],
)  # fmt: skip
def test_secret_looking_names_are_left_out(path: str) -> None:
    assert "secret" in (RULES.reason_to_leave_out(path, 10) or "")


@pytest.mark.parametrize(
    "path", [".env.example", ".env.sample", "config/.env.template", "keys.py", "environment.yml", "README.md"]
)
def test_ordinary_names_and_templates_go_in(path: str) -> None:
    assert RULES.reason_to_leave_out(path, 10) is None


def test_size_limit_include_and_exclude() -> None:
    assert "50 MB" in (RULES.reason_to_leave_out("data.bin", 60 * MB) or "")
    assert RULES.reason_to_leave_out("data.bin", 50 * MB) is None
    rules = SnapshotRules(include=(".env.test", "data/*"), exclude=("scratch", "data/private/*"))
    assert rules.reason_to_leave_out(".env.test", 10) is None
    assert rules.reason_to_leave_out("data/huge.bin", 60 * MB) is None
    assert rules.reason_to_leave_out("data/private/x", 1) == "excluded by snapshot.exclude"
    assert rules.reason_to_leave_out("a/scratch/b.txt", 1) == "excluded by snapshot.exclude"


def test_patterns_with_a_slash_match_from_the_top() -> None:
    assert matches("scratch/a/b.txt", "scratch/*") and matches("scratch/a/b.txt", "scratch/")
    assert not matches("src/scratch/b.txt", "scratch/*")
    assert matches("src/scratch/b.txt", "scratch") and matches("x/model.ckpt", "*.ckpt")


def spec_of(repo: Path) -> dict:
    return json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/experiments.json"))


def test_committed_secrets_stay_and_uncommitted_changes_to_them_do_not(make_repo) -> None:
    """What the user committed is in the history the branch is built on anyway: it stays, at its
    committed version; a change to it, staged or not, and a staged new secret are left out."""
    repo = make_repo({".env": "committed=1\n", "big.bin": "small\n"})
    (repo / ".env").write_text("changed=hunter2\n")
    (repo / "staged.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    git(repo, "add", "staged.pem")
    (repo / "big.bin").write_bytes(b"\0" * 1000)
    git(repo, "add", "big.bin")

    submit(repo, BRAIN, config=Config(snapshot=SnapshotRules(max_file_bytes=500)))
    assert git(repo, "show", "wild/main:.env") == "committed=1"
    assert git(repo, "show", "wild/main:big.bin") == "small"
    assert "staged.pem" not in git(repo, "ls-tree", "--name-only", "wild/main")
    assert {item["path"] for item in spec_of(repo)["left_out"]} == {".env", "big.bin", "staged.pem"}
    assert git(repo, "diff", "--cached", "--name-only") == "big.bin\nstaged.pem"  # the user's index as it was


def test_a_left_out_file_is_never_hashed_into_the_users_objects(make_repo) -> None:
    repo = make_repo()
    (repo / "data.bin").write_bytes(b"unique content 8c1f" * 100)
    blob = git(repo, "hash-object", "data.bin")
    submit(repo, BRAIN, config=Config(snapshot=SnapshotRules(max_file_bytes=100)))
    done = subprocess.run(["git", "cat-file", "-e", blob], cwd=repo)
    assert done.returncode != 0


def test_over_the_total_the_submit_is_refused_and_nothing_is_committed(make_repo) -> None:
    repo = make_repo()
    for i in range(3):
        (repo / f"part{i}.bin").write_bytes(b"x" * 400)
    with pytest.raises(ledger.SnapshotTooLarge) as caught:
        submit(repo, BRAIN, config=Config(snapshot=SnapshotRules(max_total_bytes=1000)))
    assert "snapshot.max_total_bytes" in str(caught.value) and caught.value.hint
    assert ledger.branch_tip(ledger.open_repo(repo), "wild/main") is None
