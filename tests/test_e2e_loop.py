"""`wild-ci loop` end to end (#16): a scripted brain, the real act binary, a real git repository."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from helpers import RepoState, git, run_cli

pytestmark = pytest.mark.e2e

# A brain as a script: it reads the prompt on stdin, keeps each prompt it got, proposes experiments
# from the results it sees (the best accuracy so far decides the next learning rate), says DONE on
# its third turn. It edits the code, as a brain does: train.py changes on turn 2.
SCRIPTED_BRAIN = r"""
import json, os, re, sys
from pathlib import Path

prompts = Path(os.environ["PROMPTS"])
prompts.mkdir(exist_ok=True)
turn = len(list(prompts.glob("*.md"))) + 1
prompt = sys.stdin.read()
(prompts / f"{turn}.md").write_text(prompt)

def sweep(rates):
    items = "".join(
        f'- goal: "Train with lr {lr}"\n  command: "python train.py"\n  parameters: {{"lr": {lr}}}\n'
        for lr in rates
    )
    return f"<experiments>\n{items}</experiments>\n"

if turn == 1:
    print("Let me try two learning rates first.\n" + sweep([0.1, 0.4]))
    print("<summary>First sweep.</summary>\n<promise>WAITING</promise>")
elif turn == 2:
    found = r"- accuracy \([^)]*\): best single run ([0-9.]+) in .*?\(iteration \d+, ([^)]+)\)"
    best = re.search(found, prompt)
    Path("train.py").write_text(Path("train.py").read_text().replace('"v1"', '"v2"'))
    print(f"Best so far: {best.group(1)} from {best.group(2)}. Refine around it.\n" + sweep([0.3]))
    print("<promise>WAITING</promise>")
else:
    print("Good enough.\n<summary>lr 0.3 is best</summary>\n<promise>DONE</promise>")
"""

TRAIN = """import argparse, json
VERSION = "v1"
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
lr = parser.parse_args().lr
accuracy = round(1 - abs(lr - 0.3), 3)
print(f"lr={lr} accuracy={accuracy} version={VERSION}")
json.dump({"accuracy": accuracy}, open("metrics.json", "w"))
"""


def test_a_scripted_brain_runs_three_iterations_and_stops_on_done(make_repo, tmp_path: Path) -> None:
    """Acceptance 1: three iterations on wild/main, the last one recording DONE, and each prompt
    after the first carries the previous results."""
    repo = make_repo(
        {"train.py": TRAIN, ".gitignore": "metrics.json\n", ".wild/goal.md": "Find the best lr.\n"}
    )
    brain = tmp_path / "brain.py"
    brain.write_text(SCRIPTED_BRAIN)
    before = git(repo, "rev-parse", "HEAD")
    done = run_cli(
        "loop", "--brain", f"{sys.executable} {brain}", "--repo", str(repo), "--max-iterations", "5",
        cwd=tmp_path, env={"PROMPTS": str(tmp_path / "prompts")},
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert git(repo, "rev-parse", "HEAD") == before
    assert git(repo, "ls-tree", "--name-only", "wild/main:.wild/iterations").split() == [
        "0001",
        "0002",
        "0003",
    ]
    status = json.loads(run_cli("status", "--json", "--repo", str(repo)).stdout)["sessions"][0]["iterations"]
    assert [(i["experiments"], i["state"], i["promise"]) for i in status] == [
        (2, "collected", "WAITING"),
        (1, "collected", "WAITING"),
        (0, "no experiments (nothing to run)", "DONE"),
    ]
    # the loop says on stderr which turn it is and what the brain asked for
    assert "wild-ci loop: turn 1/5 (iteration 0001): asking the brain" in err
    assert "wild-ci loop: turn 2: the brain answered in" in err and "1 experiment, promise WAITING" in err
    assert "wild-ci loop: the brain said DONE in iteration 0003 (turn 3)" in err
    # the prompts: the goal each time; no results at first; then the previous turn's results
    prompts = [(tmp_path / "prompts" / f"{n}.md").read_text() for n in (1, 2, 3)]
    assert all("Find the best lr." in p for p in prompts)
    assert "None yet: this is the first turn." in prompts[0]
    assert "<experiment_results session" not in prompts[0]
    assert '<experiment_results session="main" iteration="0001"' in prompts[1]
    assert "lr=0.4 accuracy=0.9 version=v1" in prompts[1]
    # the best so far once: the results block's (the template has no section of its own any more)
    assert (
        "- accuracy (higher is better, guessed from the name): best single run 0.9 in lr=0.4 "
        "(iteration 0001, train-with-lr-0-4)" in (prompts[1])
    )
    assert all(p.count("Best so far") <= 1 and "# Best results so far" not in p for p in prompts)
    assert '<experiment_results session="main" iteration="0002"' in prompts[2]
    assert "lr=0.3 accuracy=1.0 version=v2" in prompts[2]  # the brain's edit ran
    assert (
        "- accuracy (higher is better, guessed from the name): best single run 1 in lr=0.3 "
        "(iteration 0002, train-with-lr-0-3)" in (prompts[2])
    )
    assert re.search(r"- 0001 \(code: [0-9a-f]{12}\): 2 experiments: 2 succeeded", prompts[2])
    # #28: the brain's edit of turn 2 is named in the history; the DONE got one reflection prompt
    edited = r"- 0002 \(code: [0-9a-f]{12}\): 1 experiment: 1 succeeded .*changed: train.py \(\+1 -1\)\n"
    assert re.search(edited, prompts[2])
    reflection = (tmp_path / "prompts" / "4.md").read_text()
    assert "you have just said DONE in iteration 0003" in reflection and "lr 0.3 is best" in reflection
    assert '<experiment_results session="main" iteration="0002"' in reflection  # the latest results
    assert "the reflection on iteration 0003 says stop" in err
    shown = run_cli("status", "--repo", str(repo)).stdout.decode()
    assert "conclusion (iteration 0003, DONE): lr 0.3 is best" in shown
    # the brain's last word is in the ledger, and stdout ends the loop with it
    assert "Good enough." in git(repo, "show", "wild/main:.wild/iterations/0003/brain.md")
    assert done.stdout.decode() == (
        '<experiment_results session="main" iteration="0003">\nNo experiments were run.\n\n'
        "Your promise was DONE.\n</experiment_results>\n"
    )
    # `context` answers for the DONE iteration, then gives the latest results there are
    context = run_cli("context", "--repo", str(repo)).stdout.decode()
    assert context.startswith(done.stdout.decode() + '<experiment_results session="main" iteration="0002"')


def test_the_brain_gets_its_errors_and_a_failing_brain_stops_the_loop(make_repo, tmp_path: Path) -> None:
    """An invalid output is answered with its errors in the next prompt; a brain command that
    exits non-zero stops the loop with exit 1, and nothing is committed for that turn."""
    repo = make_repo()
    brain = tmp_path / "brain.sh"
    brain.write_text(
        'n=$(ls "$PROMPTS" 2>/dev/null | wc -l); cat > "$PROMPTS/$n.md"\n'
        'if [ "$n" = 0 ]; then printf "<experiments>\\n- goal: no command\\n</experiments>\\n"; exit 0; fi\n'
        'echo "model API down" >&2; exit 7\n'
    )
    (tmp_path / "prompts").mkdir()
    state = RepoState.of(repo)
    done = run_cli(
        "loop", "--brain", f"sh {brain}", "--repo", str(repo), cwd=tmp_path,
        env={"PROMPTS": str(tmp_path / "prompts")},
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "model API down" in err
    assert "wild-ci: error: the brain command exited with 7" in err and "nothing was committed" in err
    assert "turn 1: the output was refused (1 error(s))" in err
    second = (tmp_path / "prompts" / "1.md").read_text()
    assert "# Your last output was refused" in second and "- line 2: 'command' is required" in second
    assert "nothing ran and nothing was committed; your edits to the working tree are still there" in second
    assert "  > - goal: no command" in second  # the refused line, quoted
    refusal = second.split("# Your last output was refused")[1]
    assert "<experiment_results" not in refusal  # wild-ci's words, not a data block
    assert "None yet: this is the first turn." not in second
    assert git(repo, "branch", "--list", "wild/*") == ""
    assert RepoState.of(repo) == state
