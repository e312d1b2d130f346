"""Runners that cannot work are refused before anything is committed (#14 finding 7): Windows labels,
retired macOS images, and a GitHub Enterprise Server (no upload-artifact v4+). The sources are in
docs/github-conformance.md, "Runners that cannot work"."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, run_cli

from wild_ci.config import Config, ConfigError, Overrides, parse_config, refuse_unsupported_server
from wild_ci.errors import UsageError
from wild_ci.generate import read_brain_output
from wild_ci.values import unsupported_runner

REFUSED = [
    *("windows-latest", "windows-2025", "windows-11-arm", "Windows", "WINDOWS-2022"),
    *("macos-13", "macos-12", "macos-11", "macos-10.15", "macos-13-large", "macos-13-xlarge", "macOS-12-xl"),
]
ACCEPTED = [
    *("ubuntu-latest", "ubuntu-24.04-arm", "self-hosted", "gpu", "linux", "macos-latest", "macos-15"),
    *("macos-15-intel", "macos-26-intel", "macos-14-large", "windowsill", "my-windows-box", "macos-130"),
]


@pytest.mark.parametrize("label", REFUSED)
def test_windows_and_retired_macos_labels_are_refused(label: str) -> None:
    assert unsupported_runner(["self-hosted", label]) is not None
    reason = unsupported_runner([label]) or ""
    assert repr(label) in reason and ("Windows" in reason or "retired" in reason)


@pytest.mark.parametrize("label", ACCEPTED)
def test_other_labels_are_accepted(label: str) -> None:
    assert unsupported_runner([label]) is None


def test_a_brains_runs_on_is_refused_with_its_line() -> None:
    text = (
        "Prose.\n<experiments>\n- goal: fine\n  command: 'true'\n"
        "- goal: on windows\n  command: 'true'\n  runs_on: windows-latest\n"
        "- goal: on an old mac\n  command: 'true'\n  runs_on: [self-hosted, macos-13]\n"
        "- goal: on intel\n  command: 'true'\n  runs_on: macos-15-intel\n</experiments>\n"
    )
    parsed = read_brain_output(text.encode())
    assert [e.goal for e in parsed.experiments] == ["fine", "on intel"]
    found = {d.line: d.message for item in parsed.invalid for d in item.errors}
    assert "windows-latest" in found[7] and "Windows" in found[7]
    assert "macos-13" in found[10] and "retired" in found[10]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("timeout: 1h\nruns_on: windows-2022\n", 2),
        ("runs_on: ubuntu-latest\nrunner_labels:\n  - [self-hosted, gpu]\n  - macos-12\n", 2),
        ("runner_labels: [[self-hosted, Windows]]\n", 1),
    ],
)
def test_the_config_refuses_them_with_its_line(text: str, line: int) -> None:
    with pytest.raises(
        ConfigError, match=rf"^\.wild/config\.yml:{line}: runner label '(windows-2022|macos-12|Windows)'"
    ):
        parse_config(text, ".wild/config.yml")


def test_the_runs_on_flag_is_refused() -> None:
    with pytest.raises(UsageError, match="--runs-on: runner label 'windows-latest'"):
        Overrides(runs_on="windows-latest").applied_to(Config())


def test_github_server_url_declares_the_host_and_an_enterprise_server_is_refused() -> None:
    assert Config().github_server_url == "https://github.com"
    for accepted in ("https://github.com", "https://octo-corp.ghe.com/"):
        config = parse_config(f"github_server_url: {accepted}\n", ".wild/config.yml")
        assert config.github_server_url == accepted.rstrip("/")
        refuse_unsupported_server(config)
    ghes = parse_config("github_server_url: https://git.corp.example\n", ".wild/config.yml")
    with pytest.raises(ConfigError, match=r"GitHub Enterprise Server.*upload-artifact v4"):
        refuse_unsupported_server(ghes)
    for bad in ("http://github.com", "github.com", "https://github.com/owner/repo", "[1]"):
        with pytest.raises(ConfigError, match=r"config\.yml:1: github_server_url must be"):
            parse_config(f"github_server_url: {bad}\n", ".wild/config.yml")


def committed(repo: Path, config: str) -> None:
    (repo / ".wild").mkdir(exist_ok=True)
    (repo / ".wild" / "config.yml").write_text(config)
    git(repo, "add", ".wild/config.yml")
    git(repo, "commit", "--quiet", "-m", "config")


def test_submit_and_init_refuse_an_enterprise_server_and_commit_nothing(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"README.md": "x\n"})
    committed(repo, "github_server_url: https://github.example.com\n")
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: a\n  command: 'true'\n</experiments>\n")
    done = run_cli("submit", str(brain), "--repo", str(repo))
    assert done.returncode == 2, done.stderr
    assert b"GitHub Enterprise Server" in done.stderr and b"upload-artifact v4" in done.stderr
    assert git(repo, "branch", "--list", "wild/*") == ""
    done = run_cli("init", "--repo", str(repo))
    assert done.returncode == 2 and b"GitHub Enterprise Server" in done.stderr
    assert not (repo / ".github").exists()


def test_submit_and_init_refuse_a_windows_runner(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"README.md": "x\n"})
    brain = tmp_path / "brain.md"
    brain.write_text("<experiments>\n- goal: a\n  command: 'true'\n</experiments>\n")
    done = run_cli("submit", str(brain), "--repo", str(repo), "--runs-on", "windows-latest")
    assert done.returncode == 2 and b"Windows runners" in done.stderr, done.stderr
    assert git(repo, "branch", "--list", "wild/*") == ""
    done = run_cli("init", "--repo", str(repo), "--runs-on", "macos-13")
    assert done.returncode == 2 and b"retired" in done.stderr, done.stderr
    committed(repo, "runs_on: windows-latest\n")
    done = run_cli("submit", str(brain), "--repo", str(repo))
    assert done.returncode == 2 and b".wild/config.yml:1: runner label 'windows-latest'" in done.stderr
