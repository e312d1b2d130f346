"""Issue #26, items 7-9: the snapshot guard matches secret names without case, knows more of
them, reads small text files for well-known token shapes, takes the ignore rules of HEAD as well
as the working tree's, and reads `snapshot.exclude` as .gitignore does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git

from wild_ci.config import Config
from wild_ci.generate import submit
from wild_ci.snapshot import SnapshotRules, content_reason

BRAIN = b"<experiments>\n- goal: look\n  command: ls\n</experiments>\n"
RULES = SnapshotRules()


def left_out(repo: Path) -> dict[str, str]:
    spec = json.loads(git(repo, "show", "wild/main:.wild/iterations/0001/experiments.json"))
    return {item["path"]: item["reason"] for item in spec["left_out"]}


@pytest.mark.parametrize(
    "path",
    [".ENV", "ID_RSA", "SERVER.PEM", "TLS.KEY", "Credentials.json", ".NETRC", ".env-prod", ".env_prod",
     "kubeconfig", ".kube/config", ".docker/config.json", "gcloud/application_default_credentials.json",
     ".config/gh/hosts.yml", ".cache/huggingface/token", ".huggingface/token", ".kaggle/kaggle.json",
     ".streamlit/secrets.toml", "secret.json", "credentials.yml", "credentials.yaml", ".htpasswd",
     ".s3cfg", ".boto", "token.json"],
)  # fmt: skip
def test_more_secret_names_are_left_out_whatever_their_case(path: str) -> None:
    assert "secret" in (RULES.reason_to_leave_out(path, 10) or ""), path


@pytest.mark.parametrize(
    "path",
    [
        "src/config.py",
        "docs/token.md",
        "tokenizer.json",
        "kube/deploy.yaml",
        "hosts.yml",
        ".env-example",
        ".env_sample",
        ".ENV.EXAMPLE",
    ],
)
def test_ordinary_names_still_go_in(path: str) -> None:
    assert RULES.reason_to_leave_out(path, 10) is None


AKIA = "AKIA" + "Z7QWERTYUIOPASDF"  # split so this file is no finding itself
TOKENS = {
    "private key": "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nabc\n",
    "AWS access key id": f"aws_key = {AKIA}\n",
    "GitHub token": "token: ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + "\n",
    "GitHub fine-grained token": "github_pat_" + "11ABCDEFG0" + "a" * 72 + "\n",
    "OpenAI API key": "OPENAI=sk-proj-" + "A" * 58 + "T3Blbk" + "FJ" + "b" * 58 + "\n",
    "Anthropic API key": "key sk-ant-api03-" + "x9Y" * 31 + "AA\n",
    "Hugging Face token": "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH" + "\n",
    "Slack token": "xoxb-" + "1234567890-1234567890123-" + "abcdefghijABCDEFGHIJ1234\n",
    "Google API key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q" + "\n",
}


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_a_token_in_an_innocent_file_is_found_by_content(kind: str) -> None:
    reason = content_reason(("notes/readme.txt"), TOKENS[kind].encode())
    assert reason is not None and kind in reason and "line" in reason


def test_ordinary_text_and_binary_files_are_no_finding() -> None:
    assert content_reason("a.py", b"import os\nKEY = os.environ['OPENAI_API_KEY']\nsk-\n") is None
    assert content_reason("model.bin", b"\0" + AKIA.encode()) is None  # binary: not read as text


def test_a_token_in_an_untracked_file_is_left_out_and_named(make_repo) -> None:
    repo = make_repo()
    (repo / "notes.txt").write_text(TOKENS["GitHub token"])
    (repo / "keys" / "README").parent.mkdir()
    (repo / "keys" / "README").write_text(TOKENS["AWS access key id"])
    (repo / "fine.txt").write_text("hello\n")
    submit(repo, BRAIN)
    reasons = left_out(repo)
    assert "GitHub token" in reasons["notes.txt"] and "AWS" in reasons["keys/README"]
    names = git(repo, "ls-tree", "-r", "--name-only", "wild/main")
    assert "fine.txt" in names and "notes.txt" not in names


def test_a_staged_token_is_left_out_too(make_repo) -> None:
    repo = make_repo()
    (repo / "conf.ini").write_text(TOKENS["Slack token"])
    git(repo, "add", "conf.ini")
    submit(repo, BRAIN)
    assert "Slack" in left_out(repo)["conf.ini"]


def test_a_brain_cannot_remove_an_ignore_rule_from_gitignore(make_repo) -> None:
    repo = make_repo({".gitignore": "private/\n", "sub/.gitignore": "settings\n", "README.md": "x\n"})
    (repo / "private").mkdir()
    (repo / "private" / "api_keys.txt").write_text("k\n")
    (repo / "sub" / "settings").write_text("s\n")
    (repo / "sub" / "kept.txt").write_text("s\n")
    (repo / ".gitignore").write_text("# tidied\n")  # the brain "tidies" both
    (repo / "sub" / ".gitignore").write_text("")
    (repo / ".git" / "info" / "exclude").write_text("scratch.txt\n")
    (repo / "scratch.txt").write_text("s\n")
    submit(repo, BRAIN)
    names = git(repo, "ls-tree", "-r", "--name-only", "wild/main").splitlines()
    assert "private/api_keys.txt" not in names and "sub/settings" not in names
    assert "scratch.txt" not in names and "sub/kept.txt" in names


def test_a_brain_may_add_an_ignore_rule(make_repo) -> None:
    repo = make_repo({".gitignore": "*.log\n"})
    (repo / ".gitignore").write_text("*.log\nnoise.txt\n")
    (repo / "noise.txt").write_text("n\n")
    submit(repo, BRAIN)
    assert "noise.txt" not in git(repo, "ls-tree", "-r", "--name-only", "wild/main").splitlines()


def test_exclude_reads_double_star_as_gitignore_does() -> None:
    rules = SnapshotRules(exclude=("**/x", "**/cache/*.bin"))
    assert rules.reason_to_leave_out("x", 1) == "excluded by snapshot.exclude"
    assert rules.reason_to_leave_out("a/b/x", 1) == "excluded by snapshot.exclude"
    assert rules.reason_to_leave_out("cache/a.bin", 1) == "excluded by snapshot.exclude"
    assert rules.reason_to_leave_out("y", 1) is None


def test_include_lets_in_a_file_found_by_content(make_repo) -> None:
    repo = make_repo()
    (repo / "fixture.txt").write_text(TOKENS["Google API key"])
    submit(repo, BRAIN, config=Config(snapshot=SnapshotRules(include=("fixture.txt",))))
    assert "fixture.txt" in git(repo, "ls-tree", "-r", "--name-only", "wild/main").splitlines()


@pytest.mark.parametrize("folder", [".github", ".wild"])
def test_a_symlinked_folder_wild_ci_writes_is_left_out_and_named(
    make_repo, tmp_path: Path, folder: str
) -> None:
    """Item 17: submit failed with "git could not write to …/.git" (a file and a folder at once)."""
    repo = make_repo()
    real = tmp_path / "elsewhere"
    (real / "workflows").mkdir(parents=True)
    (real / "workflows" / "ci.yml").write_text("on: push\n")
    (repo / folder).symlink_to(real)
    git(repo, "add", folder)
    git(repo, "commit", "-qm", "a symlinked folder")
    submit(repo, BRAIN)
    assert "symlink" in left_out(repo)[folder]
    names = git(repo, "ls-tree", "-r", "--name-only", "wild/main").splitlines()
    assert ".github/workflows/wild-experiments.yml" in names


def test_a_leading_slash_anchors_an_exclude_at_the_top_as_in_gitignore() -> None:
    rules = SnapshotRules(exclude=("/build",))
    assert rules.reason_to_leave_out("build/a.o", 1) == "excluded by snapshot.exclude"
    assert rules.reason_to_leave_out("build", 1) == "excluded by snapshot.exclude"
    assert rules.reason_to_leave_out("src/build/a.o", 1) is None
