"""Environment set-up for a leg (uv, offline here): what defines an environment, its cache key,
conda translation, failures that leave nothing half-built."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from helpers import use_backend

from wild_ci import environment, sandbox
from wild_ci.environment import SetupFailed, conda_requirements, prepare


@pytest.fixture
def offline(tmp_path: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("WILD_CI_ENV_CACHE", str(tmp_path / "cache"))
    return {**os.environ, "UV_OFFLINE": "1"}


def key(folder: Path) -> str:
    found = environment.find_definition([folder])
    assert found is not None
    return environment._environment_key(found[0], found[1], "python3", "uv")


def test_conda_specs_are_translated_for_pip(tmp_path: Path) -> None:
    (tmp_path / "environment.yml").write_text(
        "name: x\ndependencies:\n  - python=3.11\n  - pip\n  - numpy>=1.20\n  - pandas 1.5.*\n"
        "  - matplotlib=3.7\n  - scipy=1.11.4=py311h\n  - conda-forge::rich\n  - pip:\n    - tqdm==4.66.1\n"
    )
    assert conda_requirements(tmp_path / "environment.yml") == [
        "numpy>=1.20", "pandas==1.5.*", "matplotlib==3.7.*", "scipy==1.11.4", "rich", "tqdm==4.66.1",
    ]  # fmt: skip
    (tmp_path / "environment.yml").write_text("- numpy\n")
    with pytest.raises(SetupFailed, match="must be a mapping"):
        conda_requirements(tmp_path / "environment.yml")


def test_the_key_follows_everything_that_defines_the_environment(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r base.txt\n./wheels/pkg-1.0-py3-none-any.whl\n")
    (tmp_path / "base.txt").write_text("tinydep==1.0\n")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels/pkg-1.0-py3-none-any.whl").write_bytes(b"one")
    first = key(tmp_path)
    assert key(tmp_path) == first
    (tmp_path / "base.txt").write_text("tinydep==2.0\n")
    second = key(tmp_path)
    (tmp_path / "wheels/pkg-1.0-py3-none-any.whl").write_bytes(b"two")
    third = key(tmp_path)
    (tmp_path / "setup.cfg").write_text("[options]\ninstall_requires = x\n")
    fourth = key(tmp_path)
    assert len({first, second, third, fourth}) == 4


@pytest.mark.e2e  # builds real environments with uv (offline): seconds, not milliseconds
def test_a_pyproject_environment_has_pip_and_the_project_on_the_path(tmp_path: Path, offline) -> None:
    project = tmp_path / "project"
    (project / "src/mypkg").mkdir(parents=True)
    (project / "src/mypkg/__init__.py").write_text("NAME = 'mine'\n")
    (project / "pyproject.toml").write_text('[project]\nname = "mypkg"\nversion = "0.1"\ndependencies = []\n')
    prepared = prepare("auto", [project], project, offline, tmp_path / "setup.log", 300)
    assert prepared.record["found"] == ["pyproject.toml"] and prepared.record["reused"] is False
    env = {**offline, **prepared.variables}
    check = "import mypkg, os, sys, pip; print(mypkg.NAME, sys.prefix == os.environ['VIRTUAL_ENV'])"
    done = subprocess.run(["python", "-c", check], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.split() == ["mine", "True"], done.stderr
    again = prepare("auto", [project], project, offline, tmp_path / "setup.log", 300)
    assert again.record["reused"] is True and again.record["path"] == prepared.record["path"]


def tiny_wheel(folder: Path) -> Path:
    """A pure-Python wheel made by hand, so uv installs it offline."""
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    info = "tinypkg-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("tinypkg/__init__.py", "VALUE = 42\n")
        wheel.writestr("tinypkg/part.py", "PART = 1\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.mark.e2e  # a real uv build (offline), under this machine's PYTHONDONTWRITEBYTECODE=1 if set
def test_installed_packages_are_byte_compiled(tmp_path: Path, offline) -> None:
    """Compiled once at install time: no leg compiles them again on import (#22)."""
    project = tmp_path / "project"
    project.mkdir()
    wheel = tiny_wheel(project)
    (project / "requirements.txt").write_text(f"./{wheel.name}\n")
    env = {**offline, "PYTHONDONTWRITEBYTECODE": "1"}
    prepared = prepare("auto", [project], project, env, tmp_path / "setup.log", 300)
    [package] = Path(prepared.record["path"]).glob("lib/python*/site-packages/tinypkg")
    compiled = sorted(p.name.split(".")[0] for p in (package / "__pycache__").glob("*.pyc"))
    assert compiled == ["__init__", "part"]
    assert prepared.record["format"] == environment.ENVIRONMENT_FORMAT


def test_an_environment_built_before_the_format_is_never_reused(tmp_path: Path, offline, monkeypatch) -> None:
    """An environment of an older wild-ci (its mark says `ok`, no bytecode) is built again, and a
    change of format changes the key: neither reused here nor restored by the GitHub cache."""
    builds: list[Path] = []

    def fake_build(target: Path, *args: object) -> None:
        builds.append(target)
        target.mkdir(parents=True, exist_ok=True)
        (target / ".complete").write_text(environment._COMPLETE_MARK)

    monkeypatch.setattr(environment, "_uv", lambda *args: "uv")
    monkeypatch.setattr(environment, "_build", fake_build)
    (tmp_path / "requirements.txt").write_text("tinydep==1.0\n")
    python = environment.shutil.which("python3", path=offline.get("PATH")) or environment.sys.executable
    old = tmp_path / "cache" / environment._environment_key(tmp_path, ["requirements.txt"], python, "uv")
    old.mkdir(parents=True)
    (old / ".complete").write_text("ok\n")  # what wild-ci wrote before the format existed
    first = prepare("auto", [tmp_path], tmp_path, offline, tmp_path / "log", 10)
    assert (first.record["reused"], builds) == (False, [old])
    assert prepare("auto", [tmp_path], tmp_path, offline, tmp_path / "log", 10).record["reused"] is True
    before = key(tmp_path)
    monkeypatch.setattr(environment, "ENVIRONMENT_FORMAT", environment.ENVIRONMENT_FORMAT + 1)
    assert key(tmp_path) != before


@pytest.mark.e2e
def test_a_failed_build_is_rebuilt_not_reused(tmp_path: Path, offline) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("./missing-1.0-py3-none-any.whl\n")
    log = tmp_path / "setup.log"
    with pytest.raises(SetupFailed, match="set-up failed"):
        prepare("auto", [project], project, offline, log, 300)
    assert "missing-1.0-py3-none-any.whl" in log.read_text()
    [built] = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert not (built / ".complete").exists()
    with pytest.raises(SetupFailed):
        prepare("auto", [project], project, offline, log, 300)
    assert log.read_text().count("uv venv") == 2  # built again, not taken half-made


def test_setup_commands_time_out_with_their_whole_group(tmp_path: Path, offline) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(SetupFailed, match="did not finish within 2s"):
        prepare(f"sleep 60 & echo $! > {pid_file}; wait", [tmp_path], tmp_path, offline, tmp_path / "log", 2)
    child = int(pid_file.read_text())
    stat = Path(f"/proc/{child}/stat")
    deadline = time.monotonic() + 10  # SIGKILL is delivered when the child is next scheduled: on a
    while time.monotonic() < deadline:  # loaded machine, not at once
        with contextlib.suppress(FileNotFoundError):
            if stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
                time.sleep(0.05)
                continue
        break
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_none_and_nothing_found(tmp_path: Path, offline) -> None:
    assert prepare("none", [tmp_path], tmp_path, offline, tmp_path / "log", 10).variables == {}
    found = prepare("auto", [tmp_path], tmp_path, offline, tmp_path / "log", 10)
    assert found.variables == {} and found.record == {"setup": "auto", "found": None}


EVIL_BACKEND = """\
import os
from pathlib import Path

def _attack():
    Path("backend-ran").write_text("yes")  # the project folder: the checkout, writable
    for target in os.environ["ATTACK_TARGETS"].split(":"):
        try:
            Path(target).write_text("evil")
        except OSError:
            pass

_attack()

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = Path(metadata_directory) / "evil-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\\nName: evil\\nVersion: 0.1\\n")
    return info.name
"""


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["bubblewrap", "landlock"])
def test_the_environment_build_runs_in_the_sandbox(tmp_path: Path, offline, monkeypatch, backend) -> None:
    """The project's build backend (code the brain wrote) runs during `uv pip install`: in the sandbox,
    it writes its checkout and the environment being built, not the user's tree nor another
    environment of the cache."""
    use_backend(monkeypatch, backend)
    checkout, user, other = tmp_path / "checkout", tmp_path / "user", tmp_path / "cache" / "other-env"
    for folder in (checkout, user, other):
        folder.mkdir(parents=True)
    (checkout / "evil_backend.py").write_text(EVIL_BACKEND)
    (checkout / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "evil_backend"\nbackend-path = ["."]\n'
        '[project]\nname = "evil"\nversion = "0.1"\ndynamic = ["dependencies"]\n'
    )
    env = {**offline, "ATTACK_TARGETS": f"{user}/evil:{other}/evil"}
    box = sandbox.Box(
        sandbox.choose("auto"),
        sandbox.leg_policy(checkout, tmp_path / "scratch", env, read_only=[environment.cache_root()]),
    )
    prepared = prepare("auto", [checkout], checkout, env, tmp_path / "setup.log", 300, box)
    assert prepared.record and prepared.record["reused"] is False
    assert (Path(prepared.record["path"]) / ".complete").is_file()
    assert (checkout / "backend-ran").read_text() == "yes", (tmp_path / "setup.log").read_text()
    assert not (user / "evil").exists() and not (other / "evil").exists()


def interpreter_copy(folder: Path) -> str:
    """A virtual environment with its own copy of this machine's python3 (`venv --copies`), as in
    a clone that has its own .venv: another path, the same interpreter."""
    base = environment.shutil.which("python3") or environment.sys.executable
    subprocess.run([base, "-m", "venv", "--copies", "--without-pip", str(folder)], check=True)
    return str(folder / "bin" / "python3")


def test_clones_of_one_project_share_one_environment_key(tmp_path: Path) -> None:
    """The key is what the environment holds, not where the project or its python3 lives: two
    clones, each with its own .venv (a copy of one interpreter) or a shim on PATH, one key (a
    researcher's clone built its environment again for 10.9 s)."""
    clones = [tmp_path / "repo", tmp_path / "elsewhere" / "clone"]
    for clone in clones:
        clone.mkdir(parents=True)
        (clone / "requirements.txt").write_text("tinydep==1.0\n")
    copies = [interpreter_copy(clone / ".venv") for clone in clones]
    real = environment.os.path.realpath(environment.shutil.which("python3") or environment.sys.executable)
    shim = tmp_path / "shims" / "python3"  # as pyenv's: a script that runs the interpreter
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    keys = {environment._environment_key(clone, ["requirements.txt"], python, "uv") for clone in clones
            for python in [*copies, str(shim), real]}  # fmt: skip
    assert len(keys) == 1


def test_another_interpreter_is_another_environment(tmp_path: Path) -> None:
    """What the interpreter says it is (implementation, version and build, platform) stays in
    the key: an environment is never shared across Pythons."""
    (tmp_path / "requirements.txt").write_text("tinydep==1.0\n")
    real = environment.shutil.which("python3") or environment.sys.executable
    other = tmp_path / "python3"
    other.write_text('#!/bin/sh\necho \'["cpython", "3.99.0 (other build)", "", "linux-x86_64", ""]\'\n')
    other.chmod(0o755)
    keys = {
        environment._environment_key(tmp_path, ["requirements.txt"], python, "uv")
        for python in (real, str(other))
    }
    assert len(keys) == 2


def test_a_python_that_cannot_say_what_it_is_shares_nothing(tmp_path: Path) -> None:
    """When the interpreter cannot be asked, its real path stands in: two such, two keys, and
    never the key of a Python that answered."""
    (tmp_path / "requirements.txt").write_text("tinydep==1.0\n")
    mute = []
    for name in ("one", "two"):
        path = tmp_path / name / "python3"
        path.parent.mkdir()
        path.write_text("#!/bin/sh\nexit 2\n")
        path.chmod(0o755)
        mute.append(str(path))
    real = environment.shutil.which("python3") or environment.sys.executable
    keys = {
        environment._environment_key(tmp_path, ["requirements.txt"], python, "uv") for python in [*mute, real]
    }
    assert len(keys) == 3
