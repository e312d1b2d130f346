"""#25 finding 7: with a git URL install_spec (the one the docs recommend), every leg cloned wild-ci
and built it with an unpinned hatchling from the index. Now the gate job builds the wheel once per
run with a pinned build backend and shares it; the legs and the collect job install that wheel.
bench/runner_install_bench.py has the timings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from helpers import play_workflow
from packaging.requirements import Requirement
from test_execute import one

from wild_ci import layout
from wild_ci.config import Config
from wild_ci.engines.github.workflow import install_script, render_workflow, wheel_script
from wild_ci.generate import read_brain_output
from wild_ci.specs import IterationSpec

SOURCE = Path(__file__).resolve().parents[1]
GIT_SPEC = "git+https://github.com/you/wild-ci@v0.1.0"


def build_requirements() -> list[Requirement]:
    data = tomllib.loads((SOURCE / "pyproject.toml").read_text())
    return [Requirement(text) for text in data["build-system"]["requires"]]


def test_the_build_backend_and_its_requirements_are_pinned() -> None:
    """`hatchling>=1.21` let pip take whatever the index had, in every job that built wild-ci."""
    requirements = build_requirements()
    assert requirements and {r.name for r in requirements} >= {"hatchling"}
    for requirement in requirements:
        [specifier] = requirement.specifier
        assert specifier.operator == "==" and "*" not in specifier.version, requirement


def workflow() -> dict:
    experiments = read_brain_output(one("a", "true").encode()).experiments
    spec = IterationSpec("main", 1, "/p", experiments)
    return yaml.safe_load(render_workflow(spec, Config(install_spec=GIT_SPEC)))


def test_the_gate_builds_wild_ci_once_and_every_job_installs_that_wheel() -> None:
    jobs = workflow()["jobs"]
    gate = jobs["gate"]
    build = next(s for s in gate["steps"] if s.get("id") == "wheel")
    assert "pip wheel" in build["run"] and "--no-deps" in build["run"]
    assert "!env.ACT" in build["if"]  # wild-ci run uses the local installation
    share = gate["steps"][gate["steps"].index(build) + 1]
    assert share["uses"].startswith("actions/upload-artifact@")
    assert share["with"]["name"] == layout.WHEEL_ARTIFACT and share["if"].endswith(
        "steps.wheel.outputs.built == 'true' }}"
    )
    assert gate["outputs"]["wheel"] == "${{ steps.wheel.outputs.built }}"
    # not an experiment's artifact: collect's pattern does not take it
    assert not re.fullmatch(layout.artifact_pattern(1).replace("*", ".*"), layout.WHEEL_ARTIFACT)
    for name in ("experiment", "collect"):
        names = [s["name"] for s in jobs[name]["steps"]]
        get = jobs[name]["steps"][names.index("Install wild-ci") - 1]
        assert get["uses"].startswith("actions/download-artifact@"), name
        assert get["if"] == "${{ needs.gate.outputs.wheel == 'true' }}", name
        assert get["with"] == {
            "name": layout.WHEEL_ARTIFACT,
            "path": "${{ runner.temp }}/" + layout.WHEEL_DIR,
        }


def runner_env(temp: Path, **extra: str) -> dict[str, str]:
    """A fresh runner's: the machine's python3, no pip configuration of ours, empty caches."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "PYTHON", "VIRTUAL_ENV", "WILD_CI"))}  # fmt: skip
    env |= {"PATH": os.pathsep.join(["/usr/bin", "/bin", env["PATH"]]), "RUNNER_TEMP": str(temp),
            "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1", "HOME": str(temp / "home")}  # fmt: skip
    return env | extra


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.e2e
def test_the_run_builds_a_git_url_once_with_the_pins_and_a_leg_installs_it_without_the_index(
    tmp_path: Path,
) -> None:
    """The gate's step builds wild-ci from a git URL with nothing but the pinned build requirements
    (no index: a folder holding exactly those wheels); the leg's step then installs the wheel with no
    index and no git at all. Without the wheel, the same leg step cannot install the git URL offline
    (what every leg did before: a clone and a build backend from the index)."""
    origin = tmp_path / "wild-ci.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(SOURCE), str(origin)], check=True)
    head = subprocess.check_output(["git", "-C", str(SOURCE), "rev-parse", "HEAD"], text=True).strip()
    spec = f"git+file://{origin}@{head}"  # the committed tree: a fresh clone's, as CI runs it
    pinned = tmp_path / "pinned"
    wanted = [str(r) for r in build_requirements() if r.marker is None or r.marker.evaluate()]
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(pinned)]
    subprocess.run([*download, *wanted], check=True, timeout=600)
    gate = tmp_path / "gate"
    (gate / "home").mkdir(parents=True)
    output = gate / "github-output"
    output.touch()
    built = bash(wheel_script(), runner_env(gate, WILD_CI_SPEC=spec, GITHUB_OUTPUT=str(output),
                 PIP_NO_INDEX="1", PIP_FIND_LINKS=str(pinned)), gate)  # fmt: skip
    assert built.returncode == 0 and output.read_text() == "built=true\n", built.stderr[-3000:]
    [wheel] = (gate / layout.WHEEL_DIR).glob("*.whl")
    assert wheel.name.startswith("wild_ci-")

    def leg(with_wheel: bool) -> tuple[subprocess.CompletedProcess[str], Path]:
        temp = tmp_path / f"leg-{with_wheel}"
        (temp / "home").mkdir(parents=True)
        if with_wheel:  # what the download step leaves
            (temp / layout.WHEEL_DIR).mkdir()
            (temp / layout.WHEEL_DIR / wheel.name).write_bytes(wheel.read_bytes())
        github_env = temp / "github-env"
        github_env.touch()
        env = runner_env(temp, WILD_CI_SPEC=spec, GITHUB_ENV=str(github_env), PIP_NO_INDEX="1")
        return bash(install_script("leg"), env, temp), temp

    done, temp = leg(with_wheel=True)
    assert done.returncode == 0, done.stderr[-3000:]
    check = subprocess.run([str(temp / "wild-ci"), "execute", "--help"], capture_output=True, text=True)
    assert check.returncode == 0 and "--experiment" in check.stdout, check.stderr
    before, _ = leg(with_wheel=False)
    assert before.returncode != 0 and "hatchling" in before.stderr, before.stderr[-3000:]


@pytest.mark.e2e
def test_under_act_the_gate_shares_the_wheel_and_a_leg_installs_it(make_repo, tmp_path: Path) -> None:
    """The rendered steps wired together through the real act and the artifact stand-ins: the
    gate's build step's output becomes the job's `wheel` output, the leg's download step runs on it
    and leaves the wheel where the install step takes it. The spec is a git URL only the gate can
    build (its job has the pinned build requirements, the leg's has no index at all), so a leg that
    installs proves the wheel came through. (`wild-ci run` skips these steps, `!env.ACT`: that
    condition is the one thing taken out here.)"""

    origin = tmp_path / "wild-ci.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(SOURCE), str(origin)], check=True)
    head = subprocess.check_output(["git", "-C", str(SOURCE), "rev-parse", "HEAD"], text=True).strip()
    pinned = tmp_path / "pinned"
    wanted = [str(r) for r in build_requirements() if r.marker is None or r.marker.evaluate()]
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(pinned)]
    subprocess.run([*download, *wanted], check=True, timeout=600)
    rendered = workflow()
    gate = rendered["jobs"]["gate"]
    build = next(s for s in gate["steps"] if s.get("id") == "wheel")
    share = gate["steps"][gate["steps"].index(build) + 1]
    assert build["if"].startswith("${{ !env.ACT && ")
    build["if"] = build["if"].replace("!env.ACT && ", "")
    leg = rendered["jobs"]["experiment"]
    names = [s["name"] for s in leg["steps"]]
    get, install = leg["steps"][names.index("Install wild-ci") - 1 : names.index("Install wild-ci") + 1]
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_NO_CACHE_DIR": "1"}
    check = 'test -f "$RUNNER_TEMP/wild-ci-wheel/"wild_ci-*.whl && "$WILD_CI" execute --help >/dev/null'
    test_workflow = {
        "name": "wheel",
        "on": "push",
        "env": {"WILD_CI_SPEC": f"git+file://{origin}@{head}", **offline},
        "jobs": {
            "gate": {
                "runs-on": "ubuntu-latest",
                "outputs": gate["outputs"],
                "env": {"PIP_FIND_LINKS": str(pinned)},
                "steps": [{"id": "decide", "run": 'echo "iteration=true" >> "$GITHUB_OUTPUT"'}, build, share],
            },
            "leg": {
                "needs": ["gate"],
                "runs-on": "ubuntu-latest",
                "steps": [get, install, {"run": check}],
            },
        },
    }
    repo = make_repo({".github/workflows/wheel.yml": yaml.safe_dump(test_workflow, sort_keys=False)})
    # as on GitHub: the jobs build and install wild-ci themselves
    done = play_workflow(repo, repo / ".github/workflows/wheel.yml", tmp_path, timeout=600, local=False)
    log = done.stdout.decode()
    assert done.returncode == 0, (log[-6000:], done.stderr.decode()[-2000:])
    assert "uploaded artifact wild-ci-wheel: 1 file(s)" in log and "built=true" in log
    assert "downloaded artifact wild-ci-wheel: 1 file(s)" in log


@pytest.mark.e2e
def test_a_leg_re_run_after_the_wheel_expired_installs_install_spec_itself(make_repo, tmp_path: Path) -> None:
    """#25 attack: the run's wheel is kept a day (`retention-days: 1`), and "Re-run failed jobs"
    re-runs the failed legs and collect but not the gate, whose `wheel: true` output carries over.
    A re-run a day later found no `wild-ci-wheel` ("Unable to download artifact(s): Artifact not
    found", as camunda/camunda#59858 and Yeachan-Heo/gajae-code#5715 report), the leg failed before
    its experiment and collect before writing any result. The wheel is only a shortcut: without it
    each job installs install_spec itself (through act: the gate's output says built, no artifact)."""

    pinned = tmp_path / "pinned"
    wanted = [str(r) for r in build_requirements() if r.marker is None or r.marker.evaluate()]
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(pinned)]
    subprocess.run([*download, *wanted], check=True, timeout=600)
    leg = workflow()["jobs"]["experiment"]
    names = [s["name"] for s in leg["steps"]]
    get, install = leg["steps"][names.index("Install wild-ci") - 1 : names.index("Install wild-ci") + 1]
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_NO_CACHE_DIR": "1"}
    test_workflow = {
        "name": "wheel",
        "on": "push",
        "env": {"WILD_CI_SPEC": str(SOURCE), "PIP_FIND_LINKS": str(pinned), **offline},
        "jobs": {
            "gate": {  # the first attempt's gate, not re-run: it built and shared a wheel, now gone
                "runs-on": "ubuntu-latest",
                "outputs": {"wheel": "true"},
                "steps": [{"run": "true"}],
            },
            "leg": {
                "needs": ["gate"],
                "runs-on": "ubuntu-latest",
                "steps": [get, install, {"run": '"$WILD_CI" execute --help >/dev/null && echo installed'}],
            },
        },
    }
    repo = make_repo({".github/workflows/wheel.yml": yaml.safe_dump(test_workflow, sort_keys=False)})
    # as on GitHub: the jobs install wild-ci themselves
    done = play_workflow(repo, repo / ".github/workflows/wheel.yml", tmp_path, timeout=600, local=False)
    log = done.stdout.decode()
    assert "Artifact 'wild-ci-wheel' not found" in log, log[-4000:]
    assert done.returncode == 0, (log[-6000:], done.stderr.decode()[-2000:])
    assert "installed" in log
