"""End to end through act (issue 23, "in every mode"): what an experiment cannot do outside its
command even without a kernel sandbox — push to the user's repository through its checkout, read the
`--pr` token, or steer the steps that run after it through the runner's file commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IDENTITY, git, run_cli

pytestmark = pytest.mark.e2e

ITERATION = ".wild/iterations/0001"


def brain(tmp_path: Path, *commands: str) -> Path:
    path = tmp_path / "brain.md"
    items = "".join(f"- goal: Leg {i}\n  command: {json.dumps(c)}\n" for i, c in enumerate(commands))
    path.write_text(f"<experiments>\n{items}</experiments>\n")
    return path


def results(repo: Path) -> dict:
    return json.loads(git(repo, "show", f"wild/main:{ITERATION}/results.json"))


# -- 1. the leg's checkout has no remote a push could reach ----------------------------------------

PUSHER = (
    "git remote -v; echo remotes=$(git remote | wc -l); "
    "git push -f origin HEAD~1:refs/heads/wild/main; "
    "git push -f origin HEAD:refs/heads/dev; "
    "git tag evil && git push origin evil; "
    "git push origin --delete wild/main; "
    "true"
)


def test_a_legs_checkout_cannot_push_to_the_users_repository(make_repo, tmp_path: Path) -> None:
    """Issue 23, reproduction 1: the checkout stand-in gave every leg `origin` = the user's
    repository; a leg rewound wild/main, overwrote `dev` and created a tag."""
    repo = make_repo()
    git(repo, "branch", "dev")
    dev_before = git(repo, "rev-parse", "dev")
    done = run_cli("run", str(brain(tmp_path, PUSHER)), "--repo", str(repo), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert git(repo, "rev-parse", "dev") == dev_before
    assert git(repo, "tag", "--list") == ""
    tree = git(repo, "ls-tree", "-r", "--name-only", "wild/main", ITERATION).split()
    assert {f"{ITERATION}/brain.md", f"{ITERATION}/experiments.json", f"{ITERATION}/results.json"} <= set(
        tree
    )
    leg = results(repo)["experiments"][0]
    assert "remotes=0" in leg["stdout_tail"], leg


def test_a_legs_checkout_shares_nothing_git_could_write(make_repo, tmp_path: Path) -> None:
    """The leg's objects may come from the run's own clone, never straight from the user's `.git`,
    and git in the leg writes only its own folder: `git gc`, `repack -a -d` and a commit in the leg
    leave every file of the user's `.git/objects` as it was."""
    repo = make_repo()
    objects = repo / ".git" / "objects"

    def state() -> dict[str, bytes]:
        """Every object file and its bytes. Not mtimes: git "freshens" an object it writes again
        (utime on the existing file), and wild-ci's own commits on the host do that legitimately."""
        return {str(p): p.read_bytes() for p in objects.rglob("*") if p.is_file()}

    command = (
        "cat .git/objects/info/alternates 2>/dev/null; "
        "git -c user.name=x -c user.email=x@x commit --allow-empty -qm x; "
        "git gc -q; git repack -a -d -q; true"
    )
    before = state()
    done = run_cli("run", str(brain(tmp_path, command)), "--repo", str(repo), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    leg = results(repo)["experiments"][0]
    assert leg["status"] == "succeeded", leg
    assert str(objects) not in leg["stdout_tail"], leg
    after = state()
    assert {p for p, data in before.items() if after.get(p) != data} == set()


# -- 2. the --pr token ----------------------------------------------------------------------------

THIEF = r"""
import glob, os, re
found = set()
for path in glob.glob("/tmp/wild-ci-run-*/**", recursive=True):
    try:
        found |= set(re.findall(rb"ghp_[A-Za-z0-9]+", open(path, "rb").read(1 << 20)))
    except OSError:
        pass
pid = os.getppid()
while pid > 1:
    try:
        found |= set(re.findall(rb"ghp_[A-Za-z0-9]+", open(f"/proc/{pid}/environ", "rb").read()))
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        break
    pid = int(stat.rsplit(")", 1)[1].split()[1])
print("stolen:", b" ".join(sorted(found)).decode() or "nothing")
"""


def test_the_pr_token_is_out_of_every_legs_reach(make_repo, tmp_path: Path, fake) -> None:
    """Issue 23, reproduction 2: `wild-ci run --pr N` wrote the token to /tmp/wild-ci-run-*/secrets
    for act; a leg printed it and it was committed in results.json. The comment is still posted."""
    fake.token = "ghp_" + os.urandom(12).hex()
    repo = make_repo({"thief.py": THIEF})
    env = {**os.environ, **IDENTITY, "GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repository,
           "GITHUB_API_URL": fake.url}  # fmt: skip
    command = f"{sys.executable} thief.py"
    done = subprocess.run(
        [sys.executable, "-m", "wild_ci", "run", str(brain(tmp_path, command)), "--repo", str(repo),
         "--pr", "7"], cwd=tmp_path, env=env, capture_output=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    leg = results(repo)["experiments"][0]
    assert leg["stdout_tail"] == "stolen: nothing", leg
    assert fake.token not in git(repo, "show", f"wild/main:{ITERATION}/results.json")
    assert len(fake.comments.get(7, [])) == 1
    assert fake.token not in json.dumps(fake.comments[7])


# -- 4. file commands ------------------------------------------------------------------------------

STEERER = r"""
import os, pathlib, sys
names = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY",
         "RUNNER_TEMP", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RESULTS_URL")
print("inherited:", " ".join(n for n in names if n in os.environ) or "none")
files = {}
pid = os.getppid()
while pid > 1:  # what a hostile experiment does when the variables are withheld: ask an ancestor
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read()
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        break
    env = dict(i.split(b"=", 1) for i in raw.split(b"\0") if b"=" in i)
    for name in (b"GITHUB_ENV", b"GITHUB_PATH", b"GITHUB_OUTPUT"):
        files.setdefault(name.decode(), env.get(name, b"").decode())
    pid = int(stat.rsplit(")", 1)[1].split()[1])
evil = pathlib.Path(sys.argv[1])
evil.mkdir(parents=True, exist_ok=True)
(evil / "sitecustomize.py").write_text(f"open({str(evil / 'steered')!r}, 'a').write('x')\n")
for name, path in files.items():
    if not path:
        continue
    with open(path, "a") as handle:
        if name == "GITHUB_ENV":
            handle.write(f"PYTHONPATH={evil}\nLD_PRELOAD=/nonexistent/evil.so\n")
        elif name == "GITHUB_PATH":
            handle.write(f"{evil}\n")
        else:
            handle.write("steered=1\n")
    print("wrote", name)
"""


def test_the_step_after_the_experiment_cannot_be_steered(make_repo, tmp_path: Path) -> None:
    """Issue 23, reproduction 5: the experiment kept GITHUB_ENV, GITHUB_PATH, RUNNER_TEMP and the
    runtime variables; a line it appended to $GITHUB_ENV reached the upload step. Withheld, and what
    it writes into those files (found through an ancestor) is undone before the step ends."""
    repo = make_repo({"steer.py": STEERER, ".wild/config.yml": "sandbox: off\n"})  # in every mode
    evil = tmp_path / "evil"
    command = f"{sys.executable} steer.py {evil}"
    done = run_cli("run", str(brain(tmp_path, command)), "--repo", str(repo), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    leg = results(repo)["experiments"][0]
    assert leg["status"] == "succeeded", leg
    assert "inherited: none" in leg["stdout_tail"], leg
    assert "wrote GITHUB_ENV" in leg["stdout_tail"], leg  # the attack was tried
    assert not (evil / "steered").exists()
    log = (repo / ".git/wild-ci/runs/main/0001/act.log").read_text(errors="replace")
    assert "evil.so" not in log


# -- 6. the root written as the brain was told ----------------------------------------------------


def test_the_root_glued_or_bracketed_runs_in_the_checkout(make_repo, tmp_path: Path) -> None:
    """Issue 23, reproduction 6: `-I<root>`, `file://<root>`, `${X:-<root>}` and `[<root>]` were
    refused as "would run in your working tree" although the brain named the root as told."""
    repo = make_repo({"include/h.h": "#define ANSWER 42\n", "data.csv": "a,b\n"})
    root = str(repo)
    read_url = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"
    commands = (
        f"printf 'ANSWER\\n' | cpp -P -I{root}/include -include h.h - | grep -v '^$'",
        f"{sys.executable} -c {read_url!r} file://{root}/data.csv",
        f'DATA= ; ls "${{DATA:-{root}}}/include"',
        f"echo [{root}] && test -f [{root}]/data.csv || pwd",
    )
    done = run_cli("run", str(brain(tmp_path, *commands)), "--repo", str(repo), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    legs = {e["goal"]: e for e in results(repo)["experiments"]}
    assert {goal: e["status"] for goal, e in legs.items()} == dict.fromkeys(
        ("Leg 0", "Leg 1", "Leg 2", "Leg 3"), "succeeded"
    ), legs
    assert legs["Leg 0"]["stdout_tail"] == "42"
    assert legs["Leg 1"]["stdout_tail"].strip() == "a,b"
    assert legs["Leg 2"]["stdout_tail"] == "h.h"
    assert all(root not in e["stdout_tail"] and root not in e["executed_command"] for e in legs.values())


# -- 4 (issue's numbering). one leg and another's record --------------------------------------------

REWRITER = r"""
import glob, json, pathlib, sys, time
here = pathlib.Path.cwd()
# act's workspace of every leg is a sibling of this one: <cache>/<leg>/tmp/wild-out/result.json
cache = next((p for p in here.parents if glob.glob(str(p / "*" / "tmp"))), None)
deadline = time.monotonic() + 60
while cache is not None and time.monotonic() < deadline:
    for path in glob.glob(str(cache / "*" / "tmp" / "*" / "result.json")):
        try:
            data = json.loads(open(path).read())
        except (OSError, ValueError):
            continue
        if data.get("id") == "leg-0" and data.get("status") == "failed":
            data.update(status="succeeded", exit_code=0, metrics={"accuracy": 0.999})
            open(path, "w").write(json.dumps(data))
            print("rewritten")
            sys.exit(0)
    time.sleep(0.02)
print("nothing within reach")
"""


def test_a_leg_cannot_rewrite_another_legs_record(make_repo, tmp_path: Path) -> None:
    """Issue 23, reproduction 4: under act host mode a leg rewrote another leg's final result.json
    from failed to succeeded with accuracy=0.999, and it was accepted. The sandbox (`auto`, here
    bubblewrap or Landlock) hides other legs' folders; without one this still holds for a same-user
    experiment (docs/safety.md: what no sandbox guarantees)."""
    repo = make_repo({"rewrite.py": REWRITER})
    victim = "echo accuracy=0.42; echo '{\"accuracy\": 0.42}' > metrics.json; sleep 3; exit 3"
    command = f"{sys.executable} rewrite.py"
    done = run_cli(
        "run", str(brain(tmp_path, victim, command)), "--repo", str(repo), cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    legs = {e["id"]: e for e in results(repo)["experiments"]}
    assert (legs["leg-0"]["status"], legs["leg-0"]["metrics"]) == ("failed", {"accuracy": 0.42}), legs
