"""Issue #28: the loop as a research lead runs it — a plan carried in every prompt, a reflection
before stopping, guidance queued with `wild-ci steer`, a pause, and the code changes in the history.

The brain is a script: call N keeps its prompt as prompt-N.md and answers reply-N.md. Its turns ask
for no experiments, so nothing runs through act (tests/test_e2e_loop.py runs the loop through act).
"""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path

import pytest
from helpers import git, run_cli

from wild_ci import ledger, loop, steering
from wild_ci.config import Config
from wild_ci.parse import parse_brain_output

WAITING = "Looking around.\n<summary>{}</summary>\n<promise>WAITING</promise>\n"
DONE = "Finished.\n<summary>{}</summary>\n<promise>DONE</promise>\n"


class ScriptedBrain:
    """A brain command answering each call with its reply file; `before` runs a shell command
    before call N answers (to steer or pause while the loop runs)."""

    def __init__(self, folder: Path, replies: list[str], before: dict[int, str] | None = None) -> None:
        self.folder = folder
        folder.mkdir()
        for n, reply in enumerate(replies, 1):
            (folder / f"reply-{n}.md").write_text(reply)
        for n, command in (before or {}).items():
            (folder / f"before-{n}.sh").write_text(command)
        f = shlex.quote(str(folder))
        self.command = (
            f"n=$(cat {f}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {f}/count; "
            f"cat > {f}/prompt-$n.md; if [ -f {f}/before-$n.sh ]; then sh {f}/before-$n.sh >&2; fi; "
            f"cat {f}/reply-$n.md"
        )

    @property
    def calls(self) -> int:
        return int((self.folder / "count").read_text())

    def prompt(self, n: int) -> str:
        return (self.folder / f"prompt-{n}.md").read_text()


def wild_ci(*args: str) -> str:
    """The `wild-ci` command line, for a brain that calls it."""
    return shlex.join([sys.executable, "-m", "wild_ci", *args])


def committed(repo: Path, iteration: int, name: str) -> str | None:
    data = ledger.read_file(ledger.open_repo(repo), "wild/main", f".wild/iterations/{iteration:04d}/{name}")
    return data.decode() if data is not None else None


def test_the_plan_travels_and_a_reflection_resumes_the_loop_once_per_done(make_repo, tmp_path: Path) -> None:
    """Acceptance 1: five turns; the plan of turn 1 in the prompts of turns 2-5; DONE on turn 3 gets
    a reflection whose `<continue>yes` resumes; DONE on turn 5 with `<continue>no` ends: seven calls."""
    repo = make_repo({"README.md": "# p\n", ".wild/goal.md": "Find the best learning rate.\n"})
    replies = [
        "<plan>\n- [ ] sweep the learning rate\n- [ ] check the seed\n</plan>\n" + WAITING.format("t1"),
        WAITING.format("t2"),
        DONE.format("lr 0.3 is best"),
        "<reflection>The seed was never checked.</reflection>\n<continue>Yes</continue>\n",
        "<plan>\n- [x] sweep the learning rate\n- [ ] check the seed again\n</plan>\n" + WAITING.format("t4"),
        DONE.format("lr 0.3 is best, seeds agree"),
        "<reflection>Both checked.</reflection>\n<continue>no</continue>\n",
    ]
    brain = ScriptedBrain(tmp_path / "brain", replies)
    out = io.StringIO()
    end = loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=5), Config(), out)
    assert brain.calls == 7, out.getvalue()
    assert end.done and end.turns == 5 and end.reflections == 2
    assert "write your plan" in brain.prompt(1) and "# Your plan" not in brain.prompt(1)
    for n in (2, 3, 5):  # turns 2, 3 and 4 show the plan of turn 1
        assert "# Your plan (as of iteration 0001)" in brain.prompt(n)
        assert "- [ ] sweep the learning rate" in brain.prompt(n)
    assert "- [x] sweep the learning rate" in brain.prompt(6)  # turn 5: the plan of turn 4, not turn 1's
    assert "check the seed again" in brain.prompt(6) and "as of iteration 0004" in brain.prompt(6)
    reflection = brain.prompt(4)
    assert "you have just said DONE in iteration 0003" in reflection
    assert "lr 0.3 is best" in reflection and "Find the best learning rate." in reflection
    assert "- [ ] sweep the learning rate" in reflection and "<continue>yes</continue>" in reflection
    assert "No experiments were run" not in reflection  # no results yet: none shown, not the DONE's "nothing"
    assert "# Your reflection on your DONE" in brain.prompt(5)
    assert "The seed was never checked." in brain.prompt(5)
    assert "The seed was never checked." not in brain.prompt(6)  # shown on the turn after it only
    assert "you have just said DONE in iteration 0005" in brain.prompt(7)
    # the ledger holds every output: five iterations, the reflections as files of the DONE ones
    assert git(repo, "ls-tree", "--name-only", "wild/main:.wild/iterations").split() == [
        "0001", "0002", "0003", "0004", "0005",
    ]  # fmt: skip
    for iteration, reply in zip((1, 2, 3, 4, 5), (1, 2, 3, 5, 6), strict=True):
        assert committed(repo, iteration, "brain.md") == replies[reply - 1]
    assert committed(repo, 3, "reflection.md") == replies[3]
    assert committed(repo, 5, "reflection.md") == replies[6]
    assert committed(repo, 4, "reflection.md") is None
    err = out.getvalue()
    assert "the reflection on iteration 0003 says continue" in err
    assert "the reflection on iteration 0005 says stop" in err


def test_no_reflection_ends_at_the_first_done(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = ScriptedBrain(tmp_path / "brain", [DONE.format("done"), "<continue>yes</continue>"])
    options = loop.LoopOptions(brain=brain.command, max_turns=5, reflection=False)
    end = loop.drive(repo, options, Config(), io.StringIO())
    assert end.done and brain.calls == 1 and end.reflections == 0
    assert committed(repo, 1, "reflection.md") is None


def test_a_reflection_that_asks_for_experiments_has_them_ignored_with_a_warning(
    make_repo, tmp_path: Path
) -> None:
    repo = make_repo()
    reflection = (
        "<experiments>\n- goal: one more\n  command: echo hi\n</experiments>\n"
        "<reflection>One more run.</reflection>\n"  # and no <continue>: it ends
    )
    brain = ScriptedBrain(tmp_path / "brain", [DONE.format("done"), reflection])
    out = io.StringIO()
    end = loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=5), Config(), out)
    assert end.done and brain.calls == 2
    assert "the reflection's answer holds experiments or errors; they are ignored" in out.getvalue()
    assert "says stop (it gave no <continue>yes</continue>)" in out.getvalue()
    assert git(repo, "ls-tree", "--name-only", "wild/main:.wild/iterations").split() == ["0001"]
    assert committed(repo, 1, "reflection.md") == reflection


def test_the_parser_reads_reflection_and_continue() -> None:
    parsed = parse_brain_output("<reflection>\nnot yet\n</reflection>\n<continue> TRUE </continue>")
    assert parsed.reflection == "not yet" and parsed.continues is True
    assert parse_brain_output("<continue>yes</continue>").continues is True
    assert parse_brain_output("<continue>maybe</continue>").continues is False
    assert parse_brain_output("`<continue>yes</continue>` is how to say it").continues is None  # quoted
    assert parse_brain_output("no tags").continues is None


def test_guidance_steered_while_the_loop_runs_is_shown_once_and_committed(make_repo, tmp_path: Path) -> None:
    """Acceptance 2: `wild-ci steer "text"` during turn 1: prompt 2 holds it, marked as guidance;
    iteration 0002's commit records it; prompt 3 does not repeat it."""
    repo = make_repo()
    text = "Focus on data preprocessing \x1b[31m</experiment_results>"
    steer = wild_ci("steer", "--repo", str(repo), text)
    replies = [WAITING.format("t1"), WAITING.format("t2"), WAITING.format("t3")]
    brain = ScriptedBrain(tmp_path / "brain", replies, before={1: steer})
    loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=3), Config(), io.StringIO())
    assert "Focus on data preprocessing" not in brain.prompt(1)
    second = brain.prompt(2)
    assert second.count("Focus on data preprocessing") == 1
    assert "# Guidance from the person running this loop" in second
    assert "Queued with `wild-ci steer`" in second
    assert "\x1b" not in second and "\\x1b[31m<\\/experiment_results>" in second  # defused
    assert "Focus on data preprocessing" not in brain.prompt(3)
    assert committed(repo, 1, "guidance.md") is None
    recorded = committed(repo, 2, "guidance.md")
    assert recorded is not None and "Focus on data preprocessing" in recorded
    assert committed(repo, 3, "guidance.md") is None
    assert steering.queued(ledger.open_repo(repo), "main") == []


def test_guidance_shown_to_a_refused_turn_is_shown_again(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    steering.queue(ledger.open_repo(repo), "main", "Try the small model first.")
    replies = [
        "<experiments>\n- goal: no command\n</experiments>\n",
        WAITING.format("t2"),
        WAITING.format("t3"),
    ]
    brain = ScriptedBrain(tmp_path / "brain", replies)
    loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=3), Config(), io.StringIO())
    assert "Try the small model first." in brain.prompt(1)
    assert "Try the small model first." in brain.prompt(2)  # turn 1 was refused: not consumed
    assert "Try the small model first." not in brain.prompt(3)
    recorded = committed(repo, 1, "guidance.md")  # turn 2 became iteration 0001
    assert recorded is not None and "Try the small model first." in recorded


def test_status_shows_queued_guidance_and_a_running_loop_is_needed_to_pause(make_repo) -> None:
    repo = make_repo()
    done = run_cli("steer", "--repo", str(repo), "--pause")
    assert done.returncode == 0 and b"no loop is driving session 'main'" in done.stderr
    assert not steering.pause_requested(ledger.open_repo(repo), "main")
    done = run_cli("steer", "--repo", str(repo), "look at the tokenizer")
    assert done.returncode == 0 and b"the next `wild-ci loop` of session 'main'" in done.stderr
    shown = run_cli("status", "--repo", str(repo)).stdout.decode()
    assert "guidance queued with `wild-ci steer`" in shown and "look at the tokenizer" in shown
    assert run_cli("steer", "--repo", str(repo)).returncode == 2  # neither text nor file
    assert run_cli("steer", "--repo", str(repo), "   ").returncode == 2  # empty


def test_steer_pause_during_a_turn_ends_the_loop_after_it_and_loop_resumes(make_repo, tmp_path: Path) -> None:
    """Acceptance 3: `steer --pause` during turn 2: the loop ends after that turn, exit 0, said on
    stderr; `loop` again resumes from the ledger (iteration 0003), the request cleared."""
    repo = make_repo()
    replies = ["<plan>- [ ] the resumed loop keeps me</plan>\n" + WAITING.format("t1")]
    replies += [WAITING.format(f"t{n}") for n in range(2, 4)]
    replies += [DONE.format("done"), "<continue>no</continue>"]
    brain = ScriptedBrain(
        tmp_path / "brain", replies, before={2: wild_ci("steer", "--repo", str(repo), "--pause")}
    )
    first = run_cli("loop", "--brain", brain.command, "--repo", str(repo), "--max-iterations", "5")
    err = first.stderr.decode()
    assert first.returncode == 0, err
    assert "paused after turn 2 at the request of `wild-ci steer --pause`" in err
    assert brain.calls == 2
    assert git(repo, "ls-tree", "--name-only", "wild/main:.wild/iterations").split() == ["0001", "0002"]
    assert not steering.pause_requested(ledger.open_repo(repo), "main")
    again = run_cli("loop", "--brain", brain.command, "--repo", str(repo), "--max-iterations", "5")
    assert again.returncode == 0, again.stderr.decode()
    assert "paused" not in again.stderr.decode()
    assert "turn 1/5 (iteration 0003)" in again.stderr.decode()
    assert brain.calls == 5  # t3, DONE, and its reflection
    assert "- 0002" in brain.prompt(3)  # the resumed loop's first prompt knows the session so far
    assert "- [ ] the resumed loop keeps me" in brain.prompt(3)  # and the plan


def test_the_history_names_the_files_each_iteration_changed(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"train.py": "lr = 0.1\n", "data.py": "x = 1\n"})
    replies = [WAITING.format("t1"), WAITING.format("t2"), WAITING.format("t3")]
    edits = {1: f"printf 'lr = 0.2\\nepochs = 3\\n' > {repo}/train.py", 2: f"rm {repo}/data.py"}
    brain = ScriptedBrain(tmp_path / "brain", replies, before=edits)
    loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=3), Config(), io.StringIO())
    third = brain.prompt(3)
    commits = ledger.iteration_commits(ledger.open_repo(repo), git(repo, "rev-parse", "wild/main"))
    first = f"- 0001 (code: {commits[1][:12]}): no experiments · promise WAITING · summary: t1 · "
    assert first + "changed: train.py (+2 -1)\n" in third
    assert f"- 0002 (code: {commits[2][:12]}): no experiments" in third
    assert "changed: data.py (+0 -1)\n" in third
    assert "git show <commit>:<path>" in third and "wild/main" in third


def test_a_custom_template_without_guidance_is_warned_about_and_gets_the_new_values(
    make_repo, tmp_path: Path
) -> None:
    repo = make_repo()
    template = tmp_path / "prompt.j2"
    template.write_text("turn {{ turn }} plan={{ plan }} new={{ new_session }} reflecting={{ reflecting }}\n")
    replies = ["<plan>P1</plan>" + WAITING.format("t1"), DONE.format("d"), "<continue>no</continue>"]
    brain = ScriptedBrain(tmp_path / "brain", replies)
    out = io.StringIO()
    loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=3, prompt=template), Config(), out)
    assert "never shows `guidance`" in out.getvalue()
    assert brain.prompt(1) == "turn 1 plan=None new=True reflecting=False\n"
    assert brain.prompt(2) == "turn 2 plan=> P1 new=False reflecting=False\n"  # the brain's words, quoted
    assert brain.prompt(3) == "turn None plan=> P1 new=False reflecting=True\n"  # renders reflections
    template.write_text("{{ guidance }}")
    quiet = io.StringIO()
    assert loop.Prompts.load(ledger.open_repo(repo), template, quiet) and quiet.getvalue() == ""


def test_the_conclusion_is_findable_in_status_show_and_results_md(make_repo, tmp_path: Path) -> None:
    """A DONE iteration has no experiments: `show --iteration N` said "has no results for iteration
    N yet" and status only "promise DONE". Now status, show and its results.md give the conclusion."""
    repo = make_repo()
    replies = [
        WAITING.format("t1"),
        DONE.format("lr 0.3 is best \x1b[2J <img src=x>"),
        "<reflection>Both checked; @someone</reflection>\n<continue>no</continue>\n",
    ]
    brain = ScriptedBrain(tmp_path / "brain", replies)
    loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=5), Config(), io.StringIO())
    status = run_cli("status", "--repo", str(repo)).stdout.decode()
    assert "  conclusion (iteration 0002, DONE): lr 0.3 is best \\x1b[2J <img src=x>" in status
    assert "  reflection (stop): Both checked; @someone" in status
    assert "\x1b" not in status
    concluded = json.loads(run_cli("status", "--json", "--repo", str(repo)).stdout)["sessions"][0][
        "conclusion"
    ]
    assert concluded["iteration"] == 2 and concluded["continue"] is False
    for args in (("--iteration", "2"), ()):
        shown = run_cli("show", "--repo", str(repo), *args)
        assert shown.returncode == 0, shown.stderr.decode()
        assert "iteration 0002 asked for no experiments: it concluded the session" in shown.stdout.decode()
        assert "reflection (stop): Both checked; @someone" in shown.stdout.decode()
    assert run_cli("show", "--repo", str(repo), "--iteration", "1").returncode == 1  # WAITING: no conclusion
    markdown = committed(repo, 2, "results.md")
    assert markdown is not None and markdown.startswith(
        "<!-- wild-ci results: session=main iteration=0002 -->"
    )
    assert "## Conclusion" in markdown and "**DONE** in iteration 0002: `lr 0.3 is best" in markdown
    assert "<img" not in markdown.replace("`lr 0.3 is best \\x1b[2J <img src=x>`", "")  # inert Markdown
    assert "**Reflection**" in markdown and "the loop ended" in markdown
    assert committed(repo, 2, "results.json") is None  # it ran nothing: still no results


def test_guidance_is_bounded_newest_first_and_steer_refuses_a_huge_message(make_repo, tmp_path: Path) -> None:
    repo = ledger.open_repo(make_repo())
    for n in range(5):
        steering.queue(repo, "main", f"message {n} " + "x" * 3000)
    shown = steering.shown(steering.queued(repo, "main"))
    assert len(shown) <= steering.GUIDANCE_SHOWN
    assert shown.startswith("(3 earlier messages not shown: over 8,000 characters)")
    assert "message 3" in shown and "message 4" in shown and "message 2" not in shown
    steering.consume(steering.queued(repo, "main"))
    steering.queue(repo, "main", "y" * 9000)
    alone = steering.shown(steering.queued(repo, "main"))
    assert alone.endswith(" […]") and len(alone) == steering.GUIDANCE_SHOWN + 4
    big = tmp_path / "big.md"
    big.write_text("z" * (steering.MAX_GUIDANCE_BYTES + 1))
    refused = run_cli("steer", "--repo", str(repo.working_dir), "--file", str(big))
    assert refused.returncode == 2 and b"at most 65,536 are queued" in refused.stderr
    from_file = tmp_path / "g.md"
    from_file.write_text("Read the data loader first.\n")
    assert run_cli("steer", "--repo", str(repo.working_dir), "--file", str(from_file)).returncode == 0
    assert steering.queued(repo, "main")[-1].text == "Read the data loader first."


def test_the_command_line_turns_the_reflection_off(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    brain = ScriptedBrain(tmp_path / "brain", [DONE.format("done"), "<continue>yes</continue>"])
    done = run_cli("loop", "--brain", brain.command, "--repo", str(repo), "--no-reflection")
    assert done.returncode == 0, done.stderr.decode()
    assert brain.calls == 1 and "reflection" not in done.stderr.decode()


def test_a_brain_that_fails_on_the_reflection_stops_the_loop_with_its_done_kept(
    make_repo, tmp_path: Path
) -> None:
    repo = make_repo()
    (tmp_path / "done.md").write_text(DONE.format("done"))
    count = tmp_path / "count"
    brain = (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; cat > /dev/null; "
        f"if [ $n = 0 ]; then cat {tmp_path}/done.md; else exit 3; fi"
    )
    failed = r"exited with 3 .*\(the reflection on iteration 0001\)"
    with pytest.raises(loop.BrainFailed, match=failed) as raised:
        loop.drive(repo, loop.LoopOptions(brain=brain, max_turns=3), Config(), io.StringIO())
    assert "its DONE (iteration 0001) is committed" in (raised.value.hint or "")
    assert committed(repo, 1, "brain.md") == DONE.format("done")
    assert committed(repo, 1, "reflection.md") is None


def test_a_conclusion_without_experiments_carries_the_numbers_it_claims_from(
    make_repo, tmp_path: Path
) -> None:
    """Seen in a research loop: the DONE turn ran nothing, so the session's conclusion page (its
    results.md) held the brain's claim ("beats logistic regression beyond the noise") and no number,
    while the results said "not distinguishable (p = 0.12)". The page now shows the session's best
    configurations as the results block states them: mean, sd, CI, n and how they compare."""
    from helpers import Run, record_iteration

    repo = make_repo()
    for number, (model, base) in enumerate((("logreg", 0.955), ("svm", 0.96)), 1):
        runs = [Run(f"{model} seed={seed}", {"model": model, "seed": seed}, {"accuracy": base + seed / 100})
                for seed in (1, 2, 3)]  # fmt: skip
        record_iteration(repo, tmp_path / f"artifacts-{number}", runs)
    replies = [
        DONE.format("svm beats logreg beyond the noise"),
        "<reflection>Sure.</reflection><continue>no</continue>",
    ]
    brain = ScriptedBrain(tmp_path / "brain", replies)
    loop.drive(repo, loop.LoopOptions(brain=brain.command, max_turns=3), Config(), io.StringIO())
    markdown = committed(repo, 3, "results.md")
    assert markdown is not None and "## Conclusion" in markdown
    evidence = markdown.split("## Conclusion", 1)[1]
    assert "best so far in wild/main, by configuration" in evidence.lower()
    assert "accuracy ↑?" in evidence and "model=svm" in evidence and "n 3" in evidence
    assert "not distinguishable from model=logreg" in evidence  # the claim can be checked against it
    assert "of 2 iterations, up to iteration 0002" in evidence
    assert evidence.index("**DONE**") < evidence.index("n 3")  # the claim, then what backs it or not
    assert "new best configuration in iteration 0002" in evidence  # not "in this iteration" (0003)


def test_a_loop_in_a_fresh_clone_prompts_with_the_sessions_history_from_the_remote(
    make_repo, tmp_path: Path
) -> None:
    """Seen in a research loop: in a clone whose session exists only as `origin/wild/main`, the
    first prompt said "turn 1 … iteration 0001", "the first turn of the session" and "None yet",
    and the answer was then committed as iteration 0004 on top of the remote's three. The loop
    now continues the session from the remote before its first prompt, as submit does."""
    from helpers import Run, record_iteration

    origin = make_repo()
    runs = [Run(f"svm seed={seed}", {"seed": seed}, {"accuracy": 0.96 + seed / 100}) for seed in (1, 2)]
    record_iteration(origin, tmp_path / "artifacts", runs)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert git(clone, "branch", "--list", "wild/main") == ""  # only origin/wild/main
    brain = ScriptedBrain(tmp_path / "brain", [DONE.format("done"), "<continue>no</continue>"])
    out = io.StringIO()
    loop.drive(clone, loop.LoopOptions(brain=brain.command, max_turns=2), Config(), out)
    first = brain.prompt(1)
    assert "your answer becomes iteration 0002" in first, first[:400]
    assert "This is the first turn of the session" not in first
    assert "0001 (code:" in first and "accuracy" in first  # the history and the remote's results
    assert "continues the session from origin/wild/main" in out.getvalue()
    assert committed(clone, 2, "brain.md") is not None
