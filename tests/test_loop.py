"""`wild-ci loop`'s parts (#16): the goal and prompt template it reads, the best metrics, the brain
command. The loop itself runs end to end in tests/test_e2e_loop.py."""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import pytest
from helpers import git

from wild_ci import ledger, loop
from wild_ci.config import Config, ConfigError, Limits
from wild_ci.metrics import Direction
from wild_ci.specs import ExperimentResult, IterationResults


def results(iteration: int, **metrics_by_id: dict[str, float]) -> IterationResults:
    experiments = [
        ExperimentResult(id=name, goal=name, command="x", status="succeeded", metrics=metrics)
        for name, metrics in metrics_by_id.items()
    ]
    return IterationResults(session="main", iteration=iteration, commit=None, experiments=experiments)


def test_best_of_takes_each_metric_in_its_own_direction() -> None:
    best = loop.best_of(
        [
            results(1, a={"val_loss": 0.5, "accuracy": 0.7}, b={"val_loss": 0.4, "accuracy": 0.6}),
            results(2, c={"val_loss": 0.45, "accuracy": 0.9, "nan": math.nan, "inf": math.inf}),
            results(3, d={"accuracy": 0.9, "</experiment_results>_acc": 1.0}),  # a tie keeps the first
        ]
    )
    shown = [(m.name, m.value, m.experiment, m.iteration, m.lower, m.guessed) for m in best]
    assert shown == [  # in the order they first appeared (declared ones would come first)
        ("val_loss", 0.4, "b", "0001", True, True),
        ("accuracy", 0.9, "c", "0002", False, True),
        ("<\\/experiment_results>_acc", 1.0, "d", "0003", False, True),
    ]


def test_best_of_counts_successes_only_and_never_a_parameter_and_follows_the_config() -> None:
    echoed = results(1, a={"lr": 0.1, "loss": 0.2}, b={"lr": 0.001, "loss": 0.5})
    for r, lr in zip(echoed.experiments, (0.1, 0.001), strict=True):
        r.parameters = {"lr": lr}
    failed = results(2, c={"loss": 0.01})
    failed.experiments[0].status = "failed"
    best = loop.best_of([echoed, failed], {"loss": Direction.MAX})
    assert [(m.name, m.value, m.experiment, m.lower, m.guessed, m.parameters) for m in best] == [
        ("loss", 0.5, "b", False, False, "lr=0.001")
    ]


def test_the_goal_is_read_from_head_not_from_the_working_tree(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".wild/goal.md": "Committed goal.\n"})
    (repo / ".wild/goal.md").write_text("A goal the brain rewrote.\n")
    out = io.StringIO()
    assert loop.read_goal(ledger.open_repo(repo), None, out) == "Committed goal."
    given = tmp_path / "goal.md"
    given.write_text("Given goal.\n")
    assert loop.read_goal(ledger.open_repo(repo), given, out) == "Given goal."
    assert out.getvalue() == ""


def test_an_uncommitted_goal_is_named_on_stderr(make_repo) -> None:
    repo = make_repo()
    (repo / ".wild").mkdir()
    (repo / ".wild/goal.md").write_text("Not committed.\n")
    out = io.StringIO()
    assert loop.read_goal(ledger.open_repo(repo), None, out) is None
    assert ".wild/goal.md is not committed" in out.getvalue()


def test_the_prompt_template_can_be_replaced(make_repo, tmp_path: Path) -> None:
    repo = make_repo({".wild/prompt.md.j2": "Turn {{ turn }}: {{ goal }}\n{{ previous or '' }}"})
    template = loop.prompt_template(ledger.open_repo(repo), None)
    assert loop.render_prompt(template, turn=2, goal="G", previous="<r>") == "Turn 2: G\n<r>"
    given = tmp_path / "p.j2"
    given.write_text("{{ iteration }} {% if refused %}{{ errors|join(';') }}{% endif %}")
    template = loop.prompt_template(ledger.open_repo(repo), given)
    assert (
        loop.render_prompt(template, iteration="0003", refused="x", errors=["line 2: e"]) == "0003 line 2: e"
    )


def test_a_broken_prompt_template_is_bad_input_with_its_line(make_repo, tmp_path: Path) -> None:
    repo = ledger.open_repo(make_repo())
    given = tmp_path / "p.j2"
    given.write_text("fine\n{% if %}\n")
    with pytest.raises(ConfigError, match=r"p.j2:2: the prompt template is not valid jinja2"):
        loop.prompt_template(repo, given)
    given.write_text("{{ no_such_value }}")
    with pytest.raises(ConfigError, match="unknown value"):
        loop.render_prompt(loop.prompt_template(repo, given))


def test_the_bundled_prompt_renders_every_section(make_repo) -> None:
    repo = ledger.open_repo(make_repo())
    best = loop.best_of([results(1, a={"loss": 0.25})])
    text = loop.render_prompt(
        loop.prompt_template(repo, None),
        goal=None, session="main", turn=2, max_turns=5, iteration="0002", project_root="/p",
        previous="<experiment_results …>", errors=["line 3: e"], refused="<refusal block>", best=best,
        history=["0001: 1 experiment"], branch="wild/main", plan="- [ ] a", plan_iteration="0001",
        new_session=False, guidance="Look at the data.", reflection=None, reflecting=False, done_summary=None,
    )  # fmt: skip
    assert "This is turn 2 of at most 5; your answer becomes iteration 0002" in text
    assert "No goal was given" in text
    assert "loss = 0.25" not in text and "Best" not in text  # the best so far is the results block's alone
    assert "# Your last output was refused" in text and "<refusal block>" in text
    assert text.index("<refusal block>") < text.index("# Results of your latest experiments")
    assert "- 0001: 1 experiment" in text and "None yet" not in text
    assert text.index("# Results of your latest experiments") < text.index(
        "# Your plan (as of iteration 0001)"
    )
    assert "# Guidance from the person running this loop" in text and "Look at the data." in text


def test_the_brain_gets_the_prompt_on_stdin_and_runs_in_the_repository(tmp_path: Path) -> None:
    reply = loop.ask_brain("pwd; tr a-z A-Z; echo oops >&2; exit 4", "hello", tmp_path, 1000)
    assert reply.output == f"{tmp_path}\nHELLO".encode()
    assert reply.exit_code == 4 and reply.seconds >= 0
    assert reply.too_large(1000) is None


def test_a_brain_that_writes_too_much_is_read_to_its_end_but_not_kept(tmp_path: Path) -> None:
    """#16: the output was read whole before its size was checked (3 GB of it would be 3 GB here)."""
    reply = loop.ask_brain("head -c 3000000 /dev/zero; echo finished > done.txt", "", tmp_path, 1000)
    assert len(reply.output) == 1001 and reply.total_bytes == 3_000_000
    assert (tmp_path / "done.txt").read_text() == "finished\n"  # it was not cut off mid-work
    problem = reply.too_large(1000)
    assert problem is not None and str(problem).endswith(
        "the brain output has 3000000 bytes; the limit is 1000"
    )


def test_a_brain_that_never_reads_its_prompt_still_answers(tmp_path: Path) -> None:
    reply = loop.ask_brain("echo ok", "x" * 1_000_000, tmp_path, 1000)  # more than a pipe holds
    assert reply.output == b"ok\n" and reply.exit_code == 0


def test_a_second_loop_on_the_same_session_is_refused_before_it_asks_its_brain(
    make_repo, tmp_path: Path
) -> None:
    repo = make_repo()
    asked = tmp_path / "asked"
    options = loop.LoopOptions(brain=f"touch {asked}; echo '<promise>DONE</promise>'", max_turns=1)
    with loop.loop_lock(ledger.open_repo(repo), "main"):
        with pytest.raises(
            loop.LoopBusy, match=r"another wild-ci loop is driving session 'main' \(pid \d+\)"
        ):
            loop.drive(repo, options, Config(), io.StringIO())
        assert not asked.exists()
        with loop.loop_lock(ledger.open_repo(repo), "other"):  # another session is free
            pass
    end = loop.drive(repo, options, Config(), io.StringIO())  # released: the next loop runs
    assert end.done and asked.exists()


def test_next_iteration_counts_from_the_session_branch(make_repo) -> None:
    repo = make_repo()
    assert loop.next_iteration(ledger.open_repo(repo), "main") == 1
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_an_output_over_the_limit_is_refused_with_its_size_and_commits_nothing(make_repo) -> None:
    repo = make_repo()
    config = Config(limits=Limits(max_brain_bytes=1000))
    options = loop.LoopOptions(brain="printf '<promise>DONE</promise>'; head -c 5000 /dev/zero", max_turns=1)
    end = loop.drive(repo, options, config, io.StringIO())
    assert end.last is not None and end.last.iteration is None and not end.done
    assert end.last.errors == ["the brain output has 5023 bytes; the limit is 1000"]
    assert "nothing ran and nothing was committed" in end.last.block
    assert git(repo, "branch", "--list", "wild/*") == ""


def test_a_brain_whose_leftover_child_holds_stdin_unread_does_not_hang_the_loop(tmp_path: Path) -> None:
    # the child keeps stdin open without reading it, and closes stdout so the reply can end
    command = "(exec >/dev/null; sleep 30) & echo answered"
    reply = loop.ask_brain(command, "x" * 1_000_000, tmp_path, 1000)
    assert reply.output == b"answered\n" and reply.seconds < 20


def test_a_brain_whose_leftover_child_holds_stdout_does_not_hang_the_loop(tmp_path: Path) -> None:
    """A brain that exits but leaves a child with its stdout (a daemon, a language server, `cmd &`)
    gave no EOF: the turn waited for the child, forever for a daemon. Its answer is what it wrote by
    a short while after it exited, and what it left running in its group is ended."""
    started = tmp_path / "child.pid"
    command = f"echo answered; sh -c 'echo $$ > {started}; exec sleep 60' & sleep 0.2"
    reply = loop.ask_brain(command, "", tmp_path, 1000)
    assert reply.output == b"answered\n" and reply.exit_code == 0 and reply.seconds < 15
    child = int(started.read_text())
    stat = Path(f"/proc/{child}/stat")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and stat.exists() and stat.read_text().split()[2] != "Z":
        time.sleep(0.1)
    assert not stat.exists() or stat.read_text().split()[2] == "Z"
