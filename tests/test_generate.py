"""The generate stage: one iteration commit on wild/<session>, the user's repository untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import RepoState, git, run_cli

from wild_ci import layout, ledger, sandbox
from wild_ci.config import Config, Limits
from wild_ci.environment import ENVIRONMENT_FORMAT
from wild_ci.generate import InvalidBrainOutput, render_workflow, submit

ROOTED = Config(project_root="/brain/root")
BRAIN = b"""Plan: two runs.
<experiments>
- goal: First run
  command: python run.py
  parameters: {"seed": 1}
- goal: Second run
  command: ls
  workdir: /brain/root/sub
</experiments>
<promise>WAITING</promise>
"""


@pytest.fixture
def repo(make_repo) -> Path:
    repo = make_repo({"run.py": "print('v1')\n", "sub/data.txt": "d\n", ".gitignore": "*.log\n"})
    (repo / "run.py").write_text("print('edited, not committed')\n")  # unstaged edit
    (repo / "new.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "sub" / "data.txt").write_text("staged\n")
    git(repo, "add", "sub/data.txt")
    return repo


def show(repo: Path, rev_path: str) -> str:
    return git(repo, "show", rev_path)


def test_submit_commits_the_working_tree_and_iteration_files(repo: Path) -> None:
    before = RepoState.of(repo)
    submission = submit(repo, BRAIN, session="main", config=ROOTED)
    assert submission is not None
    assert RepoState.of(repo) == before
    branch = "wild/main"
    assert git(repo, "rev-parse", branch) == submission.commit
    assert git(repo, "rev-parse", f"{branch}^") == before.head  # first iteration sits on HEAD
    assert show(repo, f"{branch}:run.py") == "print('edited, not committed')"
    assert show(repo, f"{branch}:new.txt") == "untracked"
    assert show(repo, f"{branch}:sub/data.txt") == "staged"
    files = git(repo, "ls-tree", "-r", "--name-only", branch).splitlines()
    assert "debug.log" not in files
    assert git(repo, "show", f"{branch}:.wild/iterations/0001/brain.md") == BRAIN.decode().strip()
    spec = json.loads(show(repo, f"{branch}:.wild/iterations/0001/experiments.json"))
    assert spec["iteration"] == 1 and spec["session"] == "main"
    assert spec["project_root"] == "/brain/root"
    assert [e["id"] for e in spec["experiments"]] == ["first-run", "second-run"]
    assert [e["repo_workdir"] for e in spec["experiments"]] == [".", "sub"]
    assert spec["experiments"][0]["run"] == "python run.py --seed=1"


def test_iterations_count_up_on_top_of_each_other(repo: Path) -> None:
    first = submit(repo, BRAIN, config=ROOTED)
    (repo / "run.py").write_text("print('second edit')\n")
    second = submit(repo, BRAIN, config=ROOTED)
    assert (first.iteration, second.iteration) == (1, 2)
    assert git(repo, "rev-parse", "wild/main^") == first.commit
    files = git(repo, "ls-tree", "-r", "--name-only", "wild/main", ".wild").splitlines()
    assert ".wild/iterations/0001/brain.md" in files and ".wild/iterations/0002/brain.md" in files
    assert show(repo, "wild/main:run.py") == "print('second edit')"


def test_sessions_are_separate_branches(repo: Path) -> None:
    submit(repo, BRAIN, session="alpha", config=ROOTED)
    beta = submit(repo, BRAIN, session="beta", config=ROOTED)
    assert beta.iteration == 1
    assert git(repo, "branch", "--list", "wild/*").split() == ["wild/alpha", "wild/beta"]


def test_workflow_is_valid_yaml_with_a_matrix_of_ids(repo: Path) -> None:
    submit(repo, BRAIN, config=ROOTED)
    workflow = yaml.safe_load(show(repo, f"wild/main:{layout.WORKFLOW_PATH}"))
    legs = workflow["jobs"]["experiment"]
    assert legs["strategy"]["matrix"] == {"experiment": ["first-run", "second-run"]}
    assert legs["runs-on"] == ["ubuntu-latest"]
    assert legs["strategy"]["fail-fast"] is False
    assert "max-parallel" not in legs["strategy"]  # on GitHub each leg has a runner: no cap by default
    assert workflow[True] == {  # YAML 1.1 reads `on` as True
        "push": {"branches": ["wild/**"]},  # no paths: the gate job decides (#14 finding 5)
        "workflow_dispatch": {},
    }
    assert workflow["permissions"] == {}
    assert legs["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["collect"]["needs"] == ["gate", "experiment"]
    assert workflow["jobs"]["collect"]["if"] == "${{ always() && needs.gate.outputs.iteration == 'true' }}"
    # The token a leg's experiment could reach cannot push: read-only, and not kept by the checkout.
    checkout = legs["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["persist-credentials"] is False
    assert workflow["jobs"]["collect"]["steps"][0]["with"]["persist-credentials"] is False
    # Under act the environment cache is a shared folder: the cache step is skipped, and its key is
    # short-circuited so that act does not start node for hashFiles() while reading the step.
    [cache] = [step for step in legs["steps"] if step.get("uses", "").startswith("actions/cache@")]
    assert cache["if"] == "${{ !env.ACT }}"
    assert cache["with"]["key"].startswith("${{ env.ACT && 'wild-envs-local' || format(")
    # the build's format is in the key: an environment built otherwise is never restored (#22)
    assert (
        f"format('wild-envs-v{ENVIRONMENT_FORMAT}-{{0}}-{{1}}', runner.os, hashFiles(" in cache["with"]["key"]
    )
    for step in legs["steps"] + workflow["jobs"]["collect"]["steps"]:
        if "uses" in step:
            assert len(step["uses"].split("@")[1]) == 40, step["uses"]  # pinned by full SHA


def test_hostile_brain_text_never_reaches_the_workflow(repo: Path) -> None:
    hostile = (
        b"<experiments>\n"
        b'- goal: "${{ secrets.GITHUB_TOKEN }} {{ 7*7 }} $(curl evil) \'\\""\n'
        b'  command: "echo ${{ github.event.issue.title }} && echo {{ config }}"\n'
        b'  parameters: {"x": "}}\\n  evil: ${{ secrets.X }}"}\n'
        b"</experiments>\n"
    )
    submission = submit(repo, hostile, config=ROOTED)
    text = show(repo, f"wild/main:{layout.WORKFLOW_PATH}")
    for fragment in ("secrets.GITHUB_TOKEN", "7*7", "$(curl", "github.event", "{{ config", "secrets.X"):
        assert fragment not in text
    assert submission.spec.experiments[0].id == "secrets-github-token-7-7-curl-evil"
    spec = json.loads(show(repo, "wild/main:.wild/iterations/0001/experiments.json"))
    assert spec["experiments"][0]["command"] == ("echo ${{ github.event.issue.title }} && echo {{ config }}")


def test_invalid_brain_output_commits_nothing(repo: Path) -> None:
    bad = b"<experiments>\n- goal: ok\n  command: ls\n- goal: no command\n</experiments>\n"
    with pytest.raises(InvalidBrainOutput) as caught:
        submit(repo, bad)
    assert caught.value.diagnostics[0].line == 4
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_workdir_outside_the_project_root_is_an_error(repo: Path) -> None:
    bad = b"<experiments>\n- goal: g\n  command: ls\n  workdir: /elsewhere\n</experiments>\n"
    with pytest.raises(InvalidBrainOutput, match="outside the project root"):
        submit(repo, bad, config=ROOTED)


def test_a_blank_output_submits_nothing(repo: Path) -> None:
    assert submit(repo, b"  \n\n") is None
    assert git(repo, "branch", "--list", "wild/*") == ""


DONE_ONLY = (
    b"The sweep settled it: lr=0.1 is best.\n<summary>lr=0.1 wins</summary>\n<promise>DONE</promise>\n"
)


def test_a_done_only_output_is_an_iteration_without_a_run(repo: Path, tmp_path: Path) -> None:
    """#16: the brain's conclusion is in the ledger, and `status` and `context` show it."""
    before = RepoState.of(repo)
    submit(repo, BRAIN, config=ROOTED)
    done = submit(repo, DONE_ONLY, config=ROOTED)
    assert done is not None and done.iteration == 2 and done.spec.experiments == []
    assert RepoState.of(repo) == before
    assert (
        git(repo, "show", f"wild/main:{layout.iteration_file(2, layout.BRAIN_FILE)}")
        == DONE_ONLY.decode().strip()
    )
    spec = json.loads(git(repo, "show", f"wild/main:{layout.iteration_file(2, layout.SPEC_FILE)}"))
    assert (spec["experiments"], spec["promise"], spec["summary"]) == ([], "DONE", "lr=0.1 wins")
    # no workflow: nothing runs for it, here or when the branch is pushed
    assert layout.WORKFLOW_PATH not in git(repo, "ls-tree", "-r", "--name-only", "wild/main").split()
    assert "iteration 0002 (no experiments, promise DONE)" in git(
        repo, "log", "-1", "--format=%s", "wild/main"
    )
    status = json.loads(run_cli("status", "--json", "--repo", str(repo)).stdout)
    last = status["sessions"][0]["iterations"][-1]
    assert (last["promise"], last["state"], last["experiments"]) == (
        "DONE",
        "no experiments (nothing to run)",
        0,
    )
    human = run_cli("status", "--repo", str(repo)).stdout.decode()
    assert "0002  0 experiment(s)  no experiments (nothing to run) · promise DONE" in human
    context = run_cli("context", "--repo", str(repo))
    assert context.returncode == 0, context.stderr  # no results anywhere yet: it says what it can
    assert context.stdout.decode() == (
        '<experiment_results session="main" iteration="0002">\nNo experiments were run.\n\n'
        "Your promise was DONE.\n</experiment_results>\n"
    )


def test_refuses_when_the_session_branch_is_checked_out(repo: Path) -> None:
    submit(repo, BRAIN, config=ROOTED)
    git(repo, "stash", "--include-untracked")
    git(repo, "checkout", "--quiet", "wild/main")
    with pytest.raises(ledger.LedgerError, match="checked out"):
        submit(repo, BRAIN, config=ROOTED)


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / "a.py").write_text("x = 1\n")
    submission = submit(repo, BRAIN, config=ROOTED)
    assert git(repo, "rev-list", "--count", "wild/main") == "1"
    assert show(repo, "wild/main:a.py") == "x = 1"
    assert submission.spec.source_commit is None


def many(count: int, goal: str = "run {i}") -> bytes:
    items = "".join(f"- goal: {goal.format(i=i)}\n  command: echo {i}\n" for i in range(count))
    return f"<experiments>\n{items}</experiments>\n".encode()


def test_more_legs_than_one_matrix_holds_are_sharded_by_runner_labels(repo: Path) -> None:
    """GitHub starts at most 256 legs per matrix, and a job has one `runs-on`: 600 experiments, a
    third of them for GPU runners, become matrices of at most 256 legs that keep the brain's order."""
    text = "".join(
        f"- goal: run {i}\n  command: echo {i}\n" + ("  runs_on: [self-hosted, gpu]\n" if i % 3 == 2 else "")
        for i in range(600)
    )
    gpu = Config(runner_labels=(("gpu", "self-hosted"),))
    submission = submit(repo, f"<experiments>\n{text}</experiments>\n".encode(), config=gpu)
    workflow = yaml.safe_load(show(repo, f"wild/main:{layout.WORKFLOW_PATH}"))
    shards = {name: job for name, job in workflow["jobs"].items() if name not in ("collect", "gate")}
    sizes = {name: len(job["strategy"]["matrix"]["experiment"]) for name, job in shards.items()}
    assert sizes == {"experiment": 256, "experiment-2": 144, "experiment-3": 200}
    assert [shards[n]["runs-on"] for n in sizes] == [["ubuntu-latest"]] * 2 + [["self-hosted", "gpu"]]
    assert workflow["jobs"]["collect"]["needs"] == ["gate", *sizes]
    run_in = {i: name for name, job in shards.items() for i in job["strategy"]["matrix"]["experiment"]}
    assert list(run_in) == [e.id for e in submission.spec.experiments if e.runs_on == []] + [
        e.id for e in submission.spec.experiments if e.runs_on
    ]
    assert all((run_in[e.id] == "experiment-3") == bool(e.runs_on) for e in submission.spec.experiments)


def test_more_experiments_than_the_limit_are_refused(repo: Path) -> None:
    with pytest.raises(InvalidBrainOutput, match="1001 experiments in one output; the limit is 1000"):
        submit(repo, many(1001))


def test_a_workflow_over_githubs_500_kb_is_refused_before_anything_is_written(repo: Path) -> None:
    before = RepoState.of(repo)
    goal = "measure the very long named thing number {i} across every available setting"
    config = Config(limits=Limits(max_experiments=20_000))
    with pytest.raises(
        InvalidBrainOutput, match=r"the rendered workflow has [\d,]+ bytes, over GitHub's limit"
    ):
        submit(repo, many(12_000, goal), config=config)
    assert RepoState.of(repo) == before
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_the_pull_request_trigger_checks_out_the_head_not_the_merge_commit(repo: Path) -> None:
    submit(repo, BRAIN, config=Config(project_root="/brain/root", trigger="pull_request"))
    workflow = yaml.safe_load(show(repo, f"wild/main:{layout.WORKFLOW_PATH}"))
    assert workflow[True] == {
        "pull_request": {"types": ["opened", "synchronize", "reopened"]},
        "workflow_dispatch": {},
    }
    guard = (  # session PRs of this repository only: a fork's PR, or any other PR, runs nothing
        "github.event_name != 'pull_request' || (github.event.pull_request.head.repo.full_name == "
        "github.repository && startsWith(github.head_ref, 'wild/'))"
    )
    assert workflow["jobs"]["gate"]["if"] == "${{ " + guard + " }}"  # the legs and collect need it
    assert workflow["jobs"]["experiment"]["needs"] == ["gate"]
    assert workflow["jobs"]["experiment"]["if"] == "${{ needs.gate.outputs.iteration == 'true' }}"
    assert workflow["jobs"]["collect"]["if"] == "${{ always() && needs.gate.outputs.iteration == 'true' }}"
    assert "gate" in workflow["jobs"]["collect"]["needs"]
    # results name the iteration commit, not the merge commit GITHUB_SHA names on a pull_request event
    assert workflow["env"]["WILD_COMMIT"] == "${{ github.event.pull_request.head.sha || github.sha }}"
    for job in workflow["jobs"].values():
        checkout = job["steps"][0]
        assert checkout["with"] == {
            "ref": "${{ github.event.pull_request.head.sha }}",
            "persist-credentials": False,
            **({"fetch-depth": 2} if job["name"] == "gate" else {}),
        }


def test_workflow_timeouts_follow_the_longest_experiment(repo: Path) -> None:
    text = b"<experiments>\n- goal: a\n  command: c\n  timeout: 2h\n</experiments>\n"
    submission = submit(repo, text, config=Config(timeout_s=60))
    workflow = yaml.safe_load(render_workflow(submission.spec, Config()))
    run_step = next(s for s in workflow["jobs"]["experiment"]["steps"] if s["name"] == "Run the experiment")
    assert run_step["timeout-minutes"] == 151  # 2 h of experiment + 30 min of set-up + 1
    assert workflow["jobs"]["experiment"]["timeout-minutes"] == 161


def test_cli_submit_exit_codes(repo: Path, tmp_path: Path) -> None:
    brain = tmp_path / "brain.md"
    brain.write_bytes(b"x\n<experiments>\n- goal: g\n</experiments>\n")
    done = run_cli("submit", str(brain), "--repo", str(repo))
    assert done.returncode == 2
    assert f"{brain}:3: error".encode() in done.stderr
    brain.write_bytes(BRAIN)
    done = run_cli("submit", str(brain), "--repo", str(repo), "--project-root", "/brain/root")
    assert done.returncode == 0, done.stderr
    assert b"committed iteration 0001 (2 experiments)" in done.stdout


MIXED = b"""<experiments>
- goal: Good one
  command: echo good
- goal: No command
- goal: Outside
  command: ls
  workdir: /somewhere/else
</experiments>
"""


def test_strict_by_default_nothing_committed(repo: Path) -> None:
    with pytest.raises(InvalidBrainOutput) as caught:
        submit(repo, MIXED, config=ROOTED)
    assert [d.line for d in caught.value.diagnostics] == [4, 5]
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_skip_invalid_submits_the_rest_and_records_the_invalid(repo: Path) -> None:
    submission = submit(repo, MIXED, config=ROOTED, skip_invalid=True)
    assert [e.id for e in submission.spec.experiments] == ["good-one"]
    spec = json.loads(show(repo, "wild/main:.wild/iterations/0001/experiments.json"))
    invalid = [(i["line"], i["goal"], i["errors"][0]["message"][:22]) for i in spec["invalid"]]
    assert invalid == [(4, "No command", "'command' is required"), (5, "Outside", "workdir '/somewhere/el")]


def test_skip_invalid_with_nothing_valid_left_commits_nothing(repo: Path) -> None:
    with pytest.raises(InvalidBrainOutput, match="no valid experiment"):
        submit(repo, b"<experiments>\n- goal: only\n</experiments>\n", skip_invalid=True)


def test_limits_are_clear_errors(repo: Path) -> None:
    from wild_ci.config import Limits

    small = Config(limits=Limits(max_brain_bytes=50, max_experiments=1, max_command_chars=5))
    with pytest.raises(InvalidBrainOutput, match="has more than 50 bytes"):
        submit(repo, MIXED, config=small)
    two = b"<experiments>\n- goal: a\n  command: ls\n- goal: b\n  command: ls\n</experiments>"
    with pytest.raises(InvalidBrainOutput, match="the limit is 1"):
        submit(repo, two, config=Config(limits=Limits(max_experiments=1)))
    long = b"<experiments>\n- goal: a\n  command: echo 123456\n</experiments>"
    with pytest.raises(InvalidBrainOutput, match="the limit is 5"):
        submit(repo, long, config=Config(limits=Limits(max_command_chars=5)))


def test_workflows_come_from_head_never_from_the_work_tree(make_repo) -> None:
    repo = make_repo({".github/workflows/ci.yml": "name: ci\n", "a.py": "x\n"})
    (repo / ".github/workflows/ci.yml").write_text("name: edited by the brain\n")
    (repo / ".github/workflows/brain-wrote-this.yml").write_text("on: push\n")
    submit(repo, BRAIN, config=ROOTED)
    files = git(repo, "ls-tree", "-r", "--name-only", "wild/main", ".github").splitlines()
    assert files == [".github/workflows/ci.yml", ".github/workflows/wild-experiments.yml"]
    assert show(repo, "wild/main:.github/workflows/ci.yml") == "name: ci"


def test_symlinked_and_real_paths_both_map_onto_the_checkout(make_repo, tmp_path: Path) -> None:
    real = make_repo({"sub/a.txt": "x\n"})
    link = tmp_path / "link"
    link.symlink_to(real)
    brain = f"<experiments>\n- goal: g\n  command: ls\n  workdir: {real}/sub\n</experiments>\n"
    submission = submit(link, brain.encode())
    assert submission.spec.project_root == str(link)
    assert submission.spec.project_root_aliases == [str(real)]
    assert submission.spec.experiments[0].repo_workdir == "sub"


def test_the_project_root_is_the_repository_top_from_any_subfolder(make_repo) -> None:
    """#13: pointed at a subfolder, wild-ci once took it for the project root, so the brain's
    paths to the repository's top were not mapped and ran in the real tree."""
    repo = make_repo({"proj/deeper/train.py": "x\n", "README.md": "r\n"})
    brain = (
        "<experiments>\n- goal: g\n  command: python proj/deeper/train.py\n"
        f"- goal: h\n  command: ls\n  workdir: {repo}/proj/data\n</experiments>\n"
    )
    for where in (repo / "proj" / "deeper", repo / "proj" / ".." / "proj", Path(f"{repo}/")):
        submission = submit(where, brain.encode(), session=f"s{len(str(where))}")
        assert submission is not None
        assert submission.spec.project_root == str(repo) and submission.spec.project_dir == "."
        assert [e.repo_workdir for e in submission.spec.experiments] == [".", "proj/data"]


def test_a_configured_root_names_the_top_and_the_real_names_still_map(make_repo) -> None:
    repo = make_repo({"sub/a.txt": "x\n"})
    brain = (
        "<experiments>\n- goal: brain root\n  command: ls\n  workdir: /brain/root/sub\n"
        f"- goal: real top\n  command: ls {repo}/sub\n  workdir: {repo}/sub\n</experiments>\n"
    )
    submission = submit(repo / "sub", brain.encode(), config=Config(project_root="/brain/root"))
    assert submission is not None
    assert submission.spec.project_root == "/brain/root" and str(repo) in submission.spec.project_root_aliases
    assert [e.repo_workdir for e in submission.spec.experiments] == ["sub", "sub"]


@pytest.mark.parametrize(
    "command",
    [
        "cd {link} && touch LEAK",
        "touch '{parent}//{name}/LEAK'",
        "touch '{parent}/./{name}/LEAK'",
        "touch '{parent}/x/../{name}/LEAK'",
        "touch '{parent}'/'{name}'/LEAK",
        "touch {parent}/{escaped}/LEAK",
        "touch ~/'{name}'/LEAK",
        'touch "$HOME/{name}/LEAK"',
    ],
)
def test_a_command_that_still_names_the_real_tree_is_refused_with_its_line_under_sandbox_off(
    make_repo, tmp_path: Path, monkeypatch, command: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    repo = make_repo(name="my project")
    link = tmp_path / "link"
    link.symlink_to(repo)
    text = command.format(
        link=link, parent=tmp_path, name=repo.name, escaped=repo.name.replace(" ", "\\ "), repo=repo
    )
    items = f"- goal: ok\n  command: ls\n- goal: bad\n  command: {json.dumps(text)}\n"
    brain = f"<experiments>\n{items}</experiments>\n"
    off = Config(sandbox="off")
    with pytest.raises(InvalidBrainOutput, match="would run in your working tree") as caught:
        submit(repo, brain.encode(), config=off)
    assert [d.line for d in caught.value.diagnostics] == [4]
    submission = submit(repo, brain.encode(), config=off, skip_invalid=True)
    assert submission is not None and [e.goal for e in submission.spec.experiments] == ["ok"]


def test_a_command_that_still_names_the_real_tree_gets_a_warning_where_a_sandbox_holds(
    make_repo, tmp_path: Path, monkeypatch
) -> None:
    """Issue 23: the text check is a hint to the brain; the boundary is the sandbox's. A local run
    with a sandbox here submits such a command with a warning on its line; without one (no backend
    here, or a push, whose runner may be this very machine) it is refused as before."""
    repo = make_repo(name="project")
    link = tmp_path / "link"
    link.symlink_to(repo)
    items = f"- goal: ok\n  command: ls\n- goal: linked\n  command: cd {link} && ls\n"
    brain = f"<experiments>\n{items}</experiments>\n".encode()
    submission = submit(repo, brain, local=True)
    assert submission is not None and [e.goal for e in submission.spec.experiments] == ["ok", "linked"]
    [warning] = [w for w in submission.spec.warnings if w.line == 4]
    assert "the mapping does not reach it" in warning.message and "sandbox hides it" in warning.message
    with pytest.raises(InvalidBrainOutput, match="would run in your working tree"):
        submit(repo, brain)  # a push: where it runs is not known here
    monkeypatch.setenv(sandbox.BACKENDS_ENV, "none")
    sandbox._probe_all.cache_clear()
    with pytest.raises(InvalidBrainOutput, match="would run in your working tree"):
        submit(repo, brain, local=True)


@pytest.mark.parametrize(
    "command",
    [
        "cd {repo} && touch LEAK",
        "cd '{repo}/' && ls \"{repo}/sub\"",
        'cd "$(git -C "{repo}" rev-parse --show-toplevel)"',
        "ls {repo}-other {parent}/other",
        "cd /brain/root/sub && ls",
        "git -C file://{repo} status",
        # issue 23, reproduction 6: the root as the brain was told to write it, glued or bracketed
        "gcc -I/brain/root/include -c x.c",
        "curl --url file:///brain/root/data.csv",
        'ls "${{DATA:-/brain/root}}"',
        "echo [/brain/root] [{repo}]",
    ],
)
def test_a_command_naming_the_top_or_the_root_is_mapped_not_refused(
    make_repo, tmp_path: Path, command: str
) -> None:
    repo = make_repo(name="my project")
    text = command.format(repo=repo, parent=tmp_path)
    brain = f"<experiments>\n- goal: g\n  command: {json.dumps(text)}\n</experiments>\n"
    submission = submit(repo, brain.encode(), config=Config(project_root="/brain/root", sandbox="off"))
    assert submission is not None and len(submission.spec.experiments) == 1
    assert submission.spec.warnings == []


def test_thousands_of_experiments_commit_in_one_iteration(repo: Path) -> None:
    """Their ids once went into one `git commit-tree -m` argument, over Linux's 128 KiB per argument."""
    goal = "measure the long named setting number {i} on the validation split"
    submission = submit(repo, many(3000, goal), config=Config(limits=Limits(max_experiments=3000)))
    assert submission is not None and len(submission.spec.experiments) == 3000
    message = git(repo, "log", "-1", "--format=%B", submission.commit)
    assert message.startswith("wild: main iteration 0001 (3000 experiments)")
    assert message.rstrip().endswith(
        "- … and 2900 more (experiments.json has them all)\n\nWild-CI-Iteration: 0001"
    )
    workflow = yaml.safe_load(show(repo, f"wild/main:{layout.WORKFLOW_PATH}"))
    assert (
        sum(
            len(j["strategy"]["matrix"]["experiment"])
            for n, j in workflow["jobs"].items()
            if n not in ("collect", "gate")
        )
        == 3000
    )


def test_a_brain_picks_runners_only_among_the_allowed_label_sets(repo: Path) -> None:
    """`runs_on` could send the brain's commands to any self-hosted runner of the repository: a set is
    allowed as a whole, so allowing [self-hosted, gpu] allows neither `self-hosted` alone (every
    self-hosted runner) nor a bigger set."""
    text = (
        b"<experiments>\n- goal: fine\n  command: echo 1\n  runs_on: ubuntu-latest\n"
        b"- goal: gpu\n  command: echo 2\n  runs_on: [gpu, self-hosted]\n"
        b"- goal: any self-hosted\n  command: echo 3\n  runs_on: self-hosted\n"
        b"- goal: deploy\n  command: echo 4\n  runs_on: [self-hosted, gpu, production]\n</experiments>\n"
    )
    allowed = Config(runner_labels=(("gpu", "self-hosted"),))
    before = RepoState.of(repo)
    with pytest.raises(InvalidBrainOutput) as caught:
        submit(repo, text, config=allowed)
    assert [(e.line, e.message.split(" (")[0]) for e in caught.value.diagnostics] == [
        (8, "runs_on [self-hosted] is not an allowed set of runner labels"),
        (11, "runs_on [self-hosted, gpu, production] is not an allowed set of runner labels"),
    ]
    assert "(allowed: [gpu, self-hosted]; [ubuntu-latest])" in caught.value.diagnostics[0].message
    assert RepoState.of(repo) == before
    with pytest.raises(InvalidBrainOutput, match=r"runs_on \[gpu, self-hosted\] is not an allowed"):
        submit(repo, text)  # by default only the configured runs_on
    lenient = submit(repo, text, config=allowed, skip_invalid=True)
    assert lenient is not None
    assert [e.id for e in lenient.spec.experiments] == ["fine", "gpu"]
    assert [i.goal for i in lenient.spec.invalid] == ["any self-hosted", "deploy"]


def test_a_fresh_clone_continues_the_session_from_the_remote(make_repo, tmp_path: Path) -> None:
    """#16: a clone of a repository whose `wild/main` has iterations goes on at the next number,
    on top of the remote's branch, instead of starting again at 0001."""
    origin = make_repo()
    submit(origin, BRAIN, config=ROOTED)
    submit(origin, BRAIN, config=ROOTED)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    assert ledger.branch_tip(ledger.open_repo(clone), "wild/main") is None  # only origin/wild/main
    submission = submit(clone, BRAIN, config=ROOTED)
    assert submission is not None and submission.iteration == 3
    assert git(clone, "rev-parse", "wild/main^") == git(origin, "rev-parse", "wild/main")
