"""Benchmark: what installing wild-ci costs each job on a fresh runner (#14 finding 3).

Measured as a fresh hosted runner would pay it: no virtualenv of ours, empty pip and uv caches
(PIP_NO_CACHE_DIR=1, UV_NO_CACHE=1), every package from the index (this machine's pip config and
find-links are set aside: PIP_CONFIG_FILE=/dev/null), and a wheel of this tree built once with
`pip wheel --no-deps .` standing in for `install_spec`. The install steps run are the scripts the
rendered workflow holds (`workflow.install_script`), under bash, with the runner's variables
(RUNNER_TEMP, GITHUB_ENV) pointing at a scratch folder; each result is checked by starting the
command it installed.

Rows:
  baseline: today's install   `python3 -m venv` + `pip install <wheel>` with every dependency
  leg                          the leg's install step (wild-ci alone, --no-deps)
  leg's uv, on demand          what a leg that builds an environment adds (pins/leg.txt's uv)
  collect before #22           wild-ci + pins/collect.txt + pins/chart.txt in one pip call
  collect, no metrics          the collect job's install step (wild-ci + pins/collect.txt; the chart's
                               pins start installing in the background, which nothing waits for)
  collect, with metrics        the same step, then until the background install of the chart's pins
                               is done (what `wild-ci collect` waits for when there is a chart, at
                               the latest: on GitHub the artifacts download meanwhile)
  leg, git URL: clone + build in each leg (before #25)
                               the leg's step with the install_spec the docs recommend, a git URL
                               (`git+git://127.0.0.1:PORT/wild-ci.git@TAG`: a `git daemon` on this
                               machine serving a bare clone of this repository's HEAD stands in for
                               GitHub): pip clones it and builds it, its build backend from the index
  gate, git URL: build the run's wheel once
                               the gate job's step that builds that wheel once per run (#25 finding 7;
                               its upload-artifact step is not measured: no GitHub here)
  leg, git URL: the run's wheel (after #25)
                               the leg's step when the run's wheel is in $RUNNER_TEMP/wild-ci-wheel
                               (what its download step leaves; the download itself is not measured)
Columns: best and median wall seconds, MB downloaded (bytes received on the machine's network
interfaces during the install, median; the background install's bytes are counted in the row that
waits for it), MB installed.

Run: python bench/runner_install_bench.py [RUNS] [PYTHON] [ROWS]   (default: 3 runs, /usr/bin/python3,
every row; ROWS: only the rows whose name contains it, e.g. `collect` or `git URL`)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wild_ci.engines.github.workflow import install_script, wheel_script  # noqa: E402
from wild_ci.layout import WHEEL_DIR  # noqa: E402
from wild_ci.lazy import CHART_LIB_ENV  # noqa: E402
from wild_ci.runner_install import leg_pin, pins, tool_install_command  # noqa: E402


@dataclass
class Installed:
    """What a case installed, and when the job could go on (its time and the bytes received by
    then: a background install that nothing waits for is not counted)."""

    folder: Path
    finished: float = field(default_factory=time.perf_counter)
    received: int = field(default_factory=lambda: received_bytes())


Install = Callable[[Path, dict[str, str]], Installed]


def received_bytes() -> int:
    """Bytes received on every interface but loopback (a quiet machine: the install's downloads)."""
    total = 0
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, data = line.split(":", 1)
        if name.strip() != "lo":
            total += int(data.split()[0])
    return total


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def fresh_env(python: str, scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(
        PIP_NO_CACHE_DIR="1",
        UV_NO_CACHE="1",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_ROOT_USER_ACTION="ignore",
        PATH=os.pathsep.join([str(Path(python).parent), "/usr/bin", "/bin"]),
        HOME=str(scratch / "home"),
    )
    for name in ("PIP_CERT", "PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT"):  # how this machine reaches the index
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)[:300]}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def step(job: str, wheel: Path | str, metrics: bool = False, run_wheel: Path | None = None) -> Install:
    """The job's install step, then the command it installed, started once; with `metrics`, then
    until the chart's background install is done, and matplotlib loads from it (untimed).
    `wheel`: the install_spec; `run_wheel`: the run's wheel, where the download step leaves it."""

    def install(temp: Path, env: dict[str, str]) -> Path:
        github_env = temp / "github-env"
        github_env.touch()
        if run_wheel is not None:
            (temp / WHEEL_DIR).mkdir()
            shutil.copy(run_wheel, temp / WHEEL_DIR / run_wheel.name)
        run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", install_script(job)],
            {**env, "RUNNER_TEMP": str(temp), "GITHUB_ENV": str(github_env), "WILD_CI_SPEC": str(wheel)},
            temp,
        )
        values = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
        check = ["execute", "--help"] if job == "leg" else [job, "--help"]
        run([values["WILD_CI"], *check], env, temp)
        done = Installed(temp / "wild-ci-lib")
        chart = Path(values.get(CHART_LIB_ENV, temp / "none"))
        while CHART_LIB_ENV in values and not Path(f"{chart}.status").exists():
            time.sleep(0.02)  # the background install, as `wild-ci collect` waits for it
        if not metrics:
            return done  # timed without the wait: nothing waits without a chart
        if Path(f"{chart}.status").read_text().strip() != "0":
            raise SystemExit(f"the chart's install failed: {Path(f'{chart}.log').read_text()[-2000:]}")
        return Installed(temp)

    return install


def gate_build(spec: str) -> Install:
    """The gate job's step: wild-ci's wheel, built once per run from install_spec."""

    def install(temp: Path, env: dict[str, str]) -> Path:
        output = temp / "github-output"
        run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", wheel_script()],
            {**env, "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output), "WILD_CI_SPEC": spec},
            temp,
        )
        if output.read_text() != "built=true\n":
            raise SystemExit(f"the gate built no wheel of {spec}")
        return Installed(temp / WHEEL_DIR)

    return install


@contextlib.contextmanager
def git_server(scratch: Path) -> Iterator[str]:
    """A `git daemon` on 127.0.0.1 serving a bare clone of this repository, tagged at HEAD: GitHub's
    stand-in for a git URL install_spec. The install_spec it serves."""
    base = scratch / "git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(base / "wild-ci.git")], check=True)
    subprocess.run(["git", "-C", str(base / "wild-ci.git"), "tag", "bench-v0", "HEAD"], check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}", "--listen=127.0.0.1",
         f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"git://127.0.0.1:{port}/wild-ci.git"
    try:
        for _ in range(100):  # until it answers
            if subprocess.run(["git", "ls-remote", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        yield f"git+{url}@bench-v0"
    finally:
        daemon.terminate()
        daemon.wait(10)


def one_call_with_chart(wheel: Path, python: str) -> Install:
    """The collect job's install before #22: wild-ci and both pin lists in one pip call."""

    def install(temp: Path, env: dict[str, str]) -> Path:
        target = temp / "wild-ci-lib"
        command = [python, "-I", "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        run([*command, str(wheel), *pins("collect"), *pins("chart")], env, temp)
        return Installed(target)

    return install


def baseline(wheel: Path, python: str) -> Install:
    def install(temp: Path, env: dict[str, str]) -> Path:
        venv = temp / "wild-ci-venv"
        run([python, "-I", "-m", "venv", str(venv)], env, temp)
        run([str(venv / "bin" / "python"), "-I", "-m", "pip", "install", "--quiet", str(wheel)], env, temp)
        run([str(venv / "bin" / "wild-ci"), "collect", "--help"], env, temp)
        return Installed(venv)

    return install


def uv_on_demand(python: str) -> Install:
    def install(temp: Path, env: dict[str, str]) -> Path:
        target = temp / "tools" / "uv"
        command = tool_install_command(leg_pin("uv"), target)
        run([python, *command[1:]], env, temp)
        run([str(target / "bin" / "uv"), "--version"], env, temp)
        return Installed(target)

    return install


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    python = (
        sys.argv[2]
        if len(sys.argv) > 2
        else ("/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable)
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        (scratch / "home").mkdir()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "-w",
                str(scratch / "wheel"),
                str(ROOT),
            ],
            check=True,
        )
        wheel = next((scratch / "wheel").glob("*.whl"))
        env = fresh_env(python, scratch)
        git_spec = stack.enter_context(git_server(scratch))
        built = Path(tempfile.mkdtemp(dir=scratch))
        gate_build(git_spec)(built, env)  # the run's wheel, as the gate builds it (timed in its row)
        run_wheel = next((built / WHEEL_DIR).glob("*.whl"))
        cases = {
            "leg, git URL: clone + build in each leg (before #25)": step("leg", git_spec),
            "gate, git URL: build the run's wheel once": gate_build(git_spec),
            "leg, git URL: the run's wheel (after #25)": step("leg", git_spec, run_wheel=run_wheel),
            "baseline: venv + pip install (all deps)": baseline(wheel, python),
            "leg (wild-ci --no-deps)": step("leg", wheel),
            "leg's uv, on demand (env builds only)": uv_on_demand(python),
            "collect before #22 (one call, chart)": one_call_with_chart(wheel, python),
            "collect, no metrics (install step)": step("collect", wheel),
            "collect, with metrics (+ chart ready)": step("collect", wheel, metrics=True),
        }
        if len(sys.argv) > 3:
            cases = {name: install for name, install in cases.items() if sys.argv[3] in name}
        results: dict[str, tuple[list[float], list[float], float]] = {name: ([], [], 0.0) for name in cases}
        for _ in range(runs):
            for name, install in cases.items():  # interleaved: every case sees the same network
                temp = Path(tempfile.mkdtemp(dir=scratch))
                before, started = received_bytes(), time.perf_counter()
                installed = install(temp, env)
                seconds, received = installed.finished - started, installed.received - before
                size = folder_mb(installed.folder)
                shutil.rmtree(temp)
                times, downloads, _ = results[name]
                results[name] = ([*times, seconds], [*downloads, received / 1e6], size)
        version = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"runner install, {runs} runs each, {version} ({python}), no cache, packages from the index")
        print(f"{'job':<52} {'best s':>7} {'median s':>9} {'MB down':>8} {'MB installed':>13}")
        for name, (times, downloads, size) in results.items():
            print(
                f"{name:<52} {min(times):>7.2f} {statistics.median(times):>9.2f} "
                f"{statistics.median(downloads):>8.1f} {size:>13.1f}"
            )


if __name__ == "__main__":
    main()
