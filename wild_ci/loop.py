"""`wild-ci loop`: the research loop driven with any brain command.

Each turn writes a prompt (the protocol, the goal, the iteration, the last results or the errors of
the last output, the best metrics so far) to the brain command's stdin, runs it in the repository
(it may edit code), reads its output from its stdout, and submits, runs and collects that output —
locally through act, or on GitHub with `push`. The loop ends on `<promise>DONE</promise>`, after
`max_turns` turns, or on Ctrl-C; a brain command that fails stops it (no retry: a retry would repeat
a paid model call and hide a broken command; `wild-ci loop` again continues from the branch).

The goal and the prompt template are read once, when the loop starts: from the files given, else as
committed at HEAD, so a brain that edits the working tree cannot rewrite its own goal or prompt.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

import git
import jinja2
import jinja2.meta

from . import collect, compare, generate, leaderboard, ledger, locks, reaper, report, steering
from .config import Config, ConfigError
from .engines.act.runs import run_local
from .engines.github import runs as github
from .errors import PipelineError, UsageError
from .layout import (
    GOAL_PATH,
    GUIDANCE_FILE,
    PROMPT_PATH,
    REFLECTION_FILE,
    RESULTS_MD,
    SPEC_FILE,
    iteration_file,
    iteration_label,
    loop_lock_file,
    loop_reflection_file,
    loop_turn_files,
)
from .metrics import Direction
from .specs import BrainOutput, Conclusion, Diagnostic, IterationResults, IterationSpec
from .templating import environment
from .text import visible

PROMPT_TEMPLATE = "loop-prompt.md.j2"
BEST_SHOWN = 30  # metrics listed under "best results so far"
HISTORY_SHOWN = 30  # earlier iterations listed, the latest ones
BRAIN_GRACE_S = 5.0  # after Ctrl-C, for the brain's process group to end before it is killed
BRAIN_LINGER_S = 2.0  # after the brain exits, for the rest of its stdout (a child may hold the pipe)
BRAIN_TIMEOUT_S = 3600.0  # --brain-timeout's default: a brain that never answers must not hang the loop


class BrainFailed(PipelineError):
    """The brain command failed (non-zero exit, or nothing on stdout): the loop stops."""


class BranchMoved(PipelineError):
    """The session branch moved while the brain ran (the brain, or someone, reset it): the prompt
    named an iteration the branch no longer leads to, so the turn is not submitted."""


class LoopBusy(PipelineError):
    """Another `wild-ci loop` drives this session: two brains editing one tree and taking turns on
    one branch would answer each other's results."""


@dataclass(frozen=True)
class BestMetric:
    """A metric's best so far, for the prompt template (`best`)."""

    name: str
    value: float
    experiment: str
    iteration: str
    lower: bool  # lower is better
    guessed: bool = False  # the direction was guessed from the name (not declared in the config)
    parameters: str = ""  # the best run's parameters, as `lr=0.01, epochs=20`


@dataclass(frozen=True)
class BrainReply:
    output: bytes  # at most the limit + 1 bytes: what was read beyond that was counted, not kept
    exit_code: int
    seconds: float
    total_bytes: int  # what the brain wrote on stdout in all
    timed_out: bool = False  # it was ended at the timeout, with everything it started

    def too_large(self, limit: int) -> Diagnostic | None:
        if self.total_bytes <= limit:
            return None
        return Diagnostic(None, f"the brain output has {self.total_bytes} bytes; the limit is {limit}")


BlockFor = Callable[[int], str]
"""The results block fitted to a room of characters (`report.fit_context`): the loop's prompt holds
its budget with whatever room the rest of the prompt leaves."""


@dataclass(frozen=True)
class Answer:
    """What one turn's output came to: the block for the next prompt, and what the loop reports."""

    block: str  # an experiment_results block; or, refused, wild-ci's answer (no block)
    iteration: str | None  # the iteration it was committed as; None when refused
    errors: list[str] = field(default_factory=list)  # of a refused output, each with its line
    fitted: BlockFor | None = None  # `block` fitted to another budget (None: it is short as it is)

    def within(self, room: int) -> str:
        return self.fitted(room) if self.fitted is not None else self.block


@dataclass
class LoopOptions:
    brain: str  # a shell command
    max_turns: int = 10
    session: str = "main"
    skip_invalid: bool = False
    goal: Path | None = None  # --goal FILE; else .wild/goal.md at HEAD
    prompt: Path | None = None  # --prompt FILE; else .wild/prompt.md.j2 at HEAD; else the bundled one
    push: bool = False
    remote: str = "origin"
    wait: github.WaitOptions = field(default_factory=github.WaitOptions)
    brain_timeout_s: float = BRAIN_TIMEOUT_S
    reflection: bool = True  # on DONE, ask whether the goal is really reached (--no-reflection: not)


@dataclass(frozen=True)
class LoopEnd:
    turns: int
    last: Answer | None
    done: bool  # the brain said DONE (and its reflection, if asked, did not resume the loop)
    paused: bool = False  # stopped for `wild-ci steer --pause`
    reflections: int = 0  # reflection prompts asked (not counted in `turns`)


@dataclass
class _State:
    """What one turn leaves the next: the results it answers, a refusal, the reflection that resumed."""

    previous: Answer | None
    errors: list[str] = field(default_factory=list)
    refused: str | None = None
    last: Answer | None = None
    resumed_by: str | None = None  # the reflection whose `<continue>yes` resumed the loop
    reflections: int = 0
    results: Answer | None = None  # the latest answer with results (a reflection shows it)


def drive(repo_path: Path, options: LoopOptions, config: Config, out: TextIO = sys.stderr) -> LoopEnd:
    """Run the loop; progress on `out`. Returns how it ended (the last answer for stdout)."""
    repo = ledger.open_repo(repo_path)
    with loop_lock(repo, options.session):
        return _drive(repo, repo_path, options, config, out)


def _drive(repo: git.Repo, repo_path: Path, options: LoopOptions, config: Config, out: TextIO) -> LoopEnd:
    goal = read_goal(repo, options.goal, out)
    prompts = Prompts.load(repo, options.prompt, out)
    prompts.check(_session_values(repo, options, config, goal))
    step = (
        _pushed_step(repo_path, options, config) if options.push else _local_step(repo_path, options, config)
    )
    if steering.pause_for_another_loop(repo, options.session):  # not one sent to this loop as it started
        steering.clear_pause(repo, options.session)
        say(out, "a pause request left from an earlier loop was cleared: this loop resumes the session")
    _continue_from_remote(repo, options.session, out)
    if steering.settle(repo, options.session):  # an earlier loop stopped between commit and delete
        say(out, "guidance an earlier loop showed and committed, but did not delete, was deleted")
    latest = latest_block(repo, options.session, config)
    state = _State(latest, results=latest if latest is not None and latest.fitted is not None else None)
    state.resumed_by = resuming_reflection(repo, options.session)
    for turn in range(1, options.max_turns + 1):
        parsed = _turn(repo, repo_path, options, config, prompts, goal, turn, state, step, out)
        last = state.last
        if last is not None and last.iteration and parsed.promise == "DONE":
            say(out, f"the brain said DONE in iteration {last.iteration} (turn {turn})")
            if not options.reflection or not _reflect(
                repo, repo_path, options, config, prompts, goal, last.iteration, parsed, state, out
            ):
                _record_conclusion(repo, options, last.iteration, out)
                return LoopEnd(turn, last, True, reflections=state.reflections)
        if steering.pause_requested(repo, options.session):
            steering.clear_pause(repo, options.session)
            say(out, f"paused after turn {turn} at the request of `wild-ci steer --pause`; run "
                "`wild-ci loop` again to resume the session")  # fmt: skip
            return LoopEnd(turn, state.last, False, paused=True, reflections=state.reflections)
    if state.resumed_by is not None:
        say(out, f"stopped after {options.max_turns} turn(s) (--max-iterations): the reflection on the "
            "last DONE says to go on; `wild-ci loop` again resumes the session with it")  # fmt: skip
    else:
        say(out, f"stopped after {options.max_turns} turn(s) (--max-iterations) without DONE")
    return LoopEnd(options.max_turns, state.last, False, reflections=state.reflections)


def _continue_from_remote(repo: git.Repo, session: str, out: TextIO) -> None:
    """A fresh clone has `origin/wild/<session>` and no local branch: submit would go on from the
    remote's iterations (`ledger.adopt_remote_branch`), so the first prompt must too — with their
    history, plan and results, and the right iteration number — not as a new session."""
    branch = ledger.branch_name(session)
    if ledger.branch_tip(repo, branch) is not None:
        return
    tip = ledger.adopt_remote_branch(repo, branch)
    if tip is not None:
        count = len(ledger.iterations_at(repo, tip))
        remote = next(
            (r.name for r in sorted(repo.remotes, key=lambda r: (r.name != "origin", r.name))
             if ledger.resolve(repo, f"refs/remotes/{r.name}/{branch}") == tip),
            "a remote",
        )  # fmt: skip
        say(out, f"this loop continues the session from {remote}/{branch} ({count} iteration(s))")


def _turn(
    repo: git.Repo, repo_path: Path, options: LoopOptions, config: Config, prompts: Prompts,
    goal: str | None, turn: int, state: _State, step: Step, out: TextIO,
) -> BrainOutput:  # fmt: skip
    """One turn: the prompt, the brain, its output submitted and run; `state` updated for the next."""
    branch = ledger.branch_name(options.session)
    tip = ledger.branch_tip(repo, branch)
    label = iteration_label(next_iteration(repo, options.session))
    guidance = steering.queued(repo, options.session)
    guidance_text = report.defuse(steering.shown(guidance)) if guidance else None
    prompt, over = fitted_prompt(
        prompts.turn, config.context_budget, state.previous,
        **_session_values(repo, options, config, goal), turn=turn, iteration=label, errors=state.errors,
        refused=state.refused, guidance=guidance_text, reflection=state.resumed_by, reflecting=False,
        done_summary=None,
    )  # fmt: skip
    if over:
        say(out, f"turn {turn}: the prompt is over its budget: {over}")
    saved, refused_file = loop_turn_files(repo, options.session, label)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(prompt, encoding="utf-8")
    shown = f", with {len(guidance)} guidance message(s) queued with `wild-ci steer`" if guidance else ""
    say(out, f"turn {turn}/{options.max_turns} (iteration {label}): asking the brain{shown}: {options.brain}")
    reply = _ask(options, config, prompt, repo_path, f"turn {turn}", saved)
    _check_branch_kept(repo, branch, tip, label)
    parsed = _parsed(reply, config)
    say(out, f"turn {turn}: the brain answered in {report.duration(reply.seconds)} (exit 0): "
        + answered_counts(parsed))  # fmt: skip
    companions = {GUIDANCE_FILE: steering.recorded_file(guidance, guidance_text)} if guidance_text else {}
    last = step(reply.output, parsed, companions)
    # A refused output keeps the last results in the prompt: the brain was answering them.
    state.refused = last.block if last.errors else None
    state.previous = state.previous if last.errors else last
    state.errors = last.errors
    state.last = last
    state.results = last if last.fitted is not None else state.results
    if last.errors:
        refused_file.write_bytes(reply.output)  # beside its prompt: what was refused, as written
        say(out, f"turn {turn}: the output was refused ({len(last.errors)} error(s)); the brain gets them")
    if last.iteration:  # accepted: the guidance it was shown is recorded with it, and never shown again
        steering.consume(guidance)
        state.resumed_by = None
    return parsed


def _session_values(
    repo: git.Repo, options: LoopOptions, config: Config, goal: str | None
) -> dict[str, object]:
    """The prompt's values about the session so far, the same for a turn and a reflection."""
    plan = latest_plan(repo, options.session, min(PLAN_SHOWN, config.context_budget // PLAN_SHARE))
    return {
        "goal": goal,
        "session": options.session,
        "branch": ledger.branch_name(options.session),
        "max_turns": options.max_turns,
        "project_root": config.project_root or str(ledger.work_tree(repo)),
        "best": best_metrics(repo, options.session, config),
        "history": history(repo, options.session),
        "plan": plan.text if plan else None,
        "plan_iteration": plan.iteration if plan else None,
        "new_session": next_iteration(repo, options.session) == 1,
    }


RESUME_HINT = "it continues from the session branch"


def _ask(
    options: LoopOptions, config: Config, prompt: str, repo_path: Path, what: str, saved: Path,
    resume: str = RESUME_HINT,
) -> BrainReply:  # fmt: skip
    """The brain's answer to `prompt`; a brain that fails, times out or says nothing stops the loop."""
    reply = ask_brain(
        options.brain, prompt, Path(repo_path), config.limits.max_brain_bytes, options.brain_timeout_s
    )
    if reply.timed_out or reply.exit_code != 0 or not reply.output.strip():
        why = _brain_failure(reply, options.brain_timeout_s)
        raise BrainFailed(
            f"the brain command {why} after {report.duration(reply.seconds)} ({what}); nothing "
            f"was committed for it (its prompt: {saved})",
            hint=f"fix the command (its stderr is above) and run `wild-ci loop` again: {resume}",
        )
    return reply


def _parsed(reply: BrainReply, config: Config) -> BrainOutput:
    too_large = reply.too_large(config.limits.max_brain_bytes)
    if too_large:
        return BrainOutput(errors=[too_large])
    return generate.read_brain_output(reply.output, config.limits)


# --- the reflection on DONE ------------------------------------------------------------------------

REFLECTION_SHOWN = 3000  # characters of a reflection shown in the next prompt, status and show


def _reflect(
    repo: git.Repo, repo_path: Path, options: LoopOptions, config: Config, prompts: Prompts,
    goal: str | None, label: str, done: BrainOutput, state: _State, out: TextIO,
) -> bool:  # fmt: skip
    """The second look before stopping: one reflection prompt on the DONE of iteration `label`;
    True when its answer says `<continue>yes</continue>`. Its answer is committed, verbatim, as
    the DONE iteration's reflection.md; it takes no iteration number and no turn."""
    branch = ledger.branch_name(options.session)
    tip = ledger.branch_tip(repo, branch)
    prompt, over = fitted_prompt(
        prompts.reflection, config.context_budget, state.results,
        **_session_values(repo, options, config, goal), turn=None, iteration=label, errors=[], refused=None,
        guidance=None, reflection=None, reflecting=True,
        done_summary=_defused(done.summary, REFLECTION_SHOWN) if done.summary else None,
    )  # fmt: skip
    if over:
        say(out, f"the reflection prompt is over its budget: {over}")
    saved = loop_reflection_file(repo, options.session, label)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(prompt, encoding="utf-8")
    say(out, f"asking the brain whether the goal is really reached (reflection on iteration {label})")
    resume = f"its DONE (iteration {label}) is committed, so it starts a new turn, with no reflection"
    reply = _ask(options, config, prompt, repo_path, f"the reflection on iteration {label}", saved, resume)
    state.reflections += 1
    _check_branch_kept(repo, branch, tip, label)
    parsed = _parsed(reply, config)
    if parsed.experiments or parsed.invalid or parsed.errors:
        say(out, "warning: the reflection's answer holds experiments or errors; they are ignored (a "
            "reflection only says whether to go on)")  # fmt: skip
    _commit_reflection(repo, options, label, reply.output, tip)
    going_on = parsed.continues is True
    said = (
        "continue: the loop resumes"
        if going_on
        else "stop" + ("" if parsed.continues is False else " (it gave no <continue>yes</continue>)")
    )
    say(out, f"the reflection on iteration {label} says {said}")
    if going_on:
        text = parsed.reflection or reply.output.decode("utf-8", errors="replace")
        state.resumed_by = _defused(text, REFLECTION_SHOWN)
    return going_on


def resuming_reflection(repo: git.Repo, session: str) -> str | None:
    """The reflection a loop starts with: when the session's latest iteration is a DONE whose
    reflection said `<continue>yes</continue>`, the loop that asked it stopped before another turn
    (out of turns, paused, stopped), and the next loop's first prompt must still say why it goes on."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    numbers = ledger.iterations_at(repo, tip)
    if tip is None or not numbers:
        return None
    concluded = collect.conclusion(repo, tip, collect.read_spec(repo, tip, numbers[-1]))
    if concluded is None or concluded.continues is not True or not concluded.reflection:
        return None
    return _defused(concluded.reflection, REFLECTION_SHOWN)


def _commit_reflection(
    repo: git.Repo, options: LoopOptions, label: str, output: bytes, tip: str | None
) -> None:
    """reflection.md in the DONE iteration's folder, on the session branch (and pushed with --push)."""
    if tip is None:  # cannot happen: the DONE was committed
        return
    number = int(label)
    commit = ledger.commit_files_on(
        repo, tip, {iteration_file(number, REFLECTION_FILE): output},
        f"wild: {options.session} iteration {label}: reflection on DONE [skip ci]",
    )  # fmt: skip
    branch = ledger.branch_name(options.session)
    ledger.update_branch(repo, branch, commit, tip, f"wild-ci: reflection on iteration {label}")
    if options.push:
        github.push_branch(repo, options.session, options.remote)


def _record_conclusion(repo: git.Repo, options: LoopOptions, label: str, out: TextIO) -> None:
    """The session's conclusion (the DONE summary, the reflection's) at the end of the DONE
    iteration's results.md, its own results.md when it ran nothing; with --push, pushed and on
    the pull request's comment for that iteration too."""
    branch = ledger.branch_name(options.session)
    tip = ledger.branch_tip(repo, branch)
    number = int(label)
    spec = collect.read_spec(repo, tip, number) if tip else None
    concluded = collect.conclusion(repo, tip, spec) if tip else None
    if tip is None or concluded is None:
        return
    path = iteration_file(number, RESULTS_MD)
    existing = ledger.read_file(repo, tip, path)
    markdown = report.with_conclusion(
        existing.decode("utf-8", errors="replace") if existing else None,
        options.session,
        label,
        concluded,
        None if existing else _latest_standing(repo, tip, number),
    )
    commit = ledger.commit_files_on(
        repo,
        tip,
        {path: markdown.encode()},
        f"wild: {options.session} iteration {label}: conclusion [skip ci]",
    )
    ledger.update_branch(repo, branch, commit, tip, f"wild-ci: conclusion of iteration {label}")
    say(out, f"the session's conclusion is in {branch}:{path}")
    if options.push:
        github.push_branch(repo, options.session, options.remote)
        _comment_conclusion(options, label, markdown, concluded, out)


def _latest_standing(repo: git.Repo, tip: str, number: int) -> compare.Standing | None:
    """The session's standing as of its latest iteration with results before `number` (a DONE
    iteration that ran nothing), or None when no iteration has results."""
    earlier = collect.earlier_results(repo, tip, number)
    if not earlier:
        return None
    return compare.Standing.of(earlier[-1], earlier[:-1])


def _comment_conclusion(
    options: LoopOptions, label: str, markdown: str, concluded: Conclusion, out: TextIO
) -> None:
    """The DONE iteration's pull-request comment (the session branch's open one, if any) with the
    conclusion; a failure is a warning: the conclusion is committed."""
    branch = ledger.branch_name(options.session)
    try:
        client = github.client_from_env()
        pr = github.pull_request_number(client, branch, None)
        if pr is None:
            return
        marker = markdown.split("\n", 1)[0]
        body = markdown
        if len(body) > report.COMMENT_LIMIT:  # the conclusion kept, the table left to the file
            body = f"{marker}\n\n(the results are in {branch}:{iteration_file(int(label), RESULTS_MD)})\n\n"
            body += report.conclusion_markdown(concluded)
        client.upsert_comment(pr, marker, body)
    except PipelineError as exc:
        say(out, f"warning: the conclusion is committed, but the pull request comment failed: {exc}")


def _defused(text: str, limit: int) -> str:
    """Text from the brain for a prompt: control characters shown, the results tag defused, bounded,
    and quoted (`> ` on every line): the prompt's own sections are Markdown headings, and a plan
    holding "# Guidance from the person running this loop" must not read as one of them."""
    flat = report.defuse(visible(text.strip()))
    bounded = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return "\n".join(f"> {line}" if line.strip() else ">" for line in bounded.splitlines())


def _brain_failure(reply: BrainReply, timeout_s: float) -> str:
    if reply.timed_out:
        return f"did not answer within {report.duration(timeout_s)} (--brain-timeout); it was ended"
    return f"exited with {reply.exit_code}" if reply.exit_code else "wrote nothing on stdout"


def answered_counts(parsed: BrainOutput) -> str:
    """What an output asked for, for the progress line: the experiments it makes (a sweep's legs
    counted) and the items refused, so a block of three items is never "1 experiment, 2 errors"."""
    n, invalid = len(parsed.experiments), len(parsed.invalid)
    text = f"{n} experiment{'s' * (n != 1)}"
    if invalid:
        text += f" and {invalid} invalid item{'s' * (invalid != 1)}"
    text += f", promise {parsed.promise or 'none'}"
    return text + (f", {len(parsed.errors)} error(s)" if parsed.errors else "")


def _check_branch_kept(repo: git.Repo, branch: str, tip: str | None, label: str) -> None:
    """The session branch must be where it was when the prompt was written: a brain that reset it
    would make this turn reuse an iteration number its prompt did not name, over results it did."""
    now = ledger.branch_tip(repo, branch)
    if now == tip:
        return
    numbers = ledger.iterations_at(repo, now)
    holds = f"its last iteration is {iteration_label(numbers[-1])}" if numbers else "it has no iterations"
    raise BranchMoved(
        f"the session branch {branch} moved while the brain ran (from {(tip or 'nothing')[:12]} to "
        f"{(now or 'nothing')[:12]}; {holds}), but its prompt said iteration {label}; nothing was committed",
        hint=f"put it back (git branch -f {branch} {tip})" if tip else f"delete it (git branch -D {branch})",
    )


@contextlib.contextmanager
def loop_lock(repo: git.Repo, session: str) -> Iterator[None]:
    """One loop per session: a second `wild-ci loop` on it is refused before it asks its brain (a
    paid call whose answer could not be run). An flock, so it ends with its holder, however it ends."""
    try:
        with locks.pid_lock(loop_lock_file(repo, ledger.validate_session(session))):
            yield
    except locks.Held as held:
        raise LoopBusy(
            f"another wild-ci loop is driving session {session!r} ({held.holder})",
            hint="wait for it, stop it (Ctrl-C), or use another --session",
        ) from None


def say(out: TextIO, text: str) -> None:
    print(f"wild-ci loop: {text}", file=out, flush=True)


# --- the prompt ------------------------------------------------------------------------------------


def read_goal(repo: git.Repo, given: Path | None, out: TextIO) -> str | None:
    """The research goal: the file given, else .wild/goal.md as committed at HEAD."""
    if given is not None:
        try:
            return given.read_text(encoding="utf-8", errors="replace").strip() or None
        except OSError as exc:
            raise UsageError(f"cannot read --goal {given}: {exc.strerror}") from exc
    head = ledger.resolve(repo, "HEAD")
    data = ledger.read_file(repo, head, GOAL_PATH) if head else None
    if data is None and (ledger.work_tree(repo) / GOAL_PATH).is_file():
        say(out, f"warning: {GOAL_PATH} is not committed, so the brain gets no goal; commit it or pass "
                 f"--goal {GOAL_PATH}")  # fmt: skip
    return data.decode("utf-8", errors="replace").strip() or None if data else None


def prompt_template(repo: git.Repo, given: Path | None) -> jinja2.Template:
    """The prompt template: the file given, else .wild/prompt.md.j2 at HEAD, else the bundled one."""
    found = prompt_source(repo, given)
    return compiled(found) if found else environment().get_template(PROMPT_TEMPLATE)


def prompt_source(repo: git.Repo, given: Path | None) -> tuple[str, str] | None:
    """A custom template's source and name: the file given, else .wild/prompt.md.j2 at HEAD; None
    for the bundled one."""
    if given is not None:
        try:
            return given.read_text(encoding="utf-8"), str(given)
        except OSError as exc:
            raise UsageError(f"cannot read --prompt {given}: {exc.strerror}") from exc
    head = ledger.resolve(repo, "HEAD")
    data = ledger.read_file(repo, head, PROMPT_PATH) if head else None
    return (data.decode("utf-8", errors="replace"), PROMPT_PATH) if data is not None else None


def compiled(found: tuple[str, str]) -> jinja2.Template:
    source, name = found
    try:
        template = environment().from_string(source)
        template.name = name  # for the errors of its rendering (`_where`)
        return template
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"{name}:{exc.lineno}: the prompt template is not valid jinja2: {exc.message}"
        ) from exc


@dataclass(frozen=True)
class Prompts:
    """The templates of a loop: a turn's, and the reflection's (a custom template's own when it
    renders `reflecting`, else the bundled one's)."""

    turn: jinja2.Template
    reflection: jinja2.Template

    @classmethod
    def load(cls, repo: git.Repo, given: Path | None, out: TextIO) -> Prompts:
        found = prompt_source(repo, given)
        bundled = environment().get_template(PROMPT_TEMPLATE)
        if found is None:
            return cls(bundled, bundled)
        template = compiled(found)
        used = jinja2.meta.find_undeclared_variables(environment().parse(found[0]))
        if "guidance" not in used:
            say(out, f"warning: the prompt template {found[1]} never shows `guidance`: what `wild-ci "
                "steer` queues is recorded with the next iteration, but the brain never sees it")  # fmt: skip
        return cls(template, template if "reflecting" in used else bundled)

    def check(self, values: dict[str, object]) -> None:
        """Both prompts rendered once with the session's values, the optional ones none and then
        given: a custom template that fails on them fails now, before a paid call to the brain,
        not at the reflection after a DONE is committed."""
        given = {"plan": "- [ ] a task", "plan_iteration": "0001", "guidance": "guidance",
                 "reflection": "a reflection", "done_summary": "a summary"}  # fmt: skip
        for optional in ({}, given):
            turn = {"turn": 1, "reflecting": False, "done_summary": None}
            reflection = {"turn": None, "reflecting": True, "guidance": None, "reflection": None}
            for template, shown in ((self.turn, turn), (self.reflection, reflection)):
                render_prompt(
                    template, previous=None, errors=[], refused=None, iteration="0001",
                    **{**values, **optional, **shown},
                )  # fmt: skip


OPTIONAL_VALUES: dict[str, object] = {  # #28's values, for a caller that does not give them
    "branch": None, "plan": None, "plan_iteration": None, "new_session": False, "guidance": None,
    "reflection": None, "reflecting": False, "done_summary": None,
}  # fmt: skip


def render_prompt(template: jinja2.Template, **values: object) -> str:
    """The prompt; a template that fails is the user's template, so a ConfigError naming its line,
    whatever its own expressions raise (`{{ turn + 1 }}` in a reflection, where turn is none)."""
    try:
        return template.render(**{**OPTIONAL_VALUES, **values})
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"{_where(template, exc)}the prompt template uses an unknown value: {exc.message}"
        ) from exc
    except Exception as exc:  # a custom template's own expression can raise anything
        what = "the reflection prompt" if values.get("reflecting") else f"turn {values.get('turn')}'s prompt"
        raise ConfigError(
            f"{_where(template, exc)}the prompt template fails for {what}: {type(exc).__name__}: {exc}",
            hint="plan, plan_iteration, guidance, reflection and done_summary may be none, and turn is "
            "none in the reflection prompt: test them (`{% if plan %}`) before using them",
        ) from exc


def _where(template: jinja2.Template, exc: BaseException) -> str:
    """`name:line: ` of the template line that raised, from the traceback jinja2 rewrites to it."""
    name = template.name or "<template>"
    line = None
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename in (name, "<template>", template.filename):
            line = frame.tb_lineno
        frame = frame.tb_next
    return f"{name}:{line}: " if line else f"{name}: "


def next_iteration(repo: git.Repo, session: str) -> int:
    numbers = ledger.iterations_at(repo, ledger.branch_tip(repo, ledger.branch_name(session)))
    return (numbers[-1] if numbers else 0) + 1


def latest_block(repo: git.Repo, session: str, config: Config) -> Answer | None:
    """What `wild-ci context` says for the latest iteration, when the session has one: a loop
    started again continues where the last one stopped."""
    empty = collect.latest_empty_spec(repo, session, None)
    said = ""
    if empty is not None:
        said = report.nothing_ran_block(
            session, empty.warnings, empty.promise, empty.label, config.context_format
        )
    if not collect.any_results(repo, session):
        return Answer(said, None) if said else None
    results = collect.committed_results(repo, session, None)
    fitted = _block_for(results, config, collect.session_standing(repo, results, config.metrics))
    return Answer(
        said + fitted(config.context_budget),
        results.label,
        fitted=lambda room: said + fitted(room - len(said)),
    )


def _block_for(results: IterationResults, config: Config, standing: compare.Standing) -> BlockFor:
    """The results' block for a room of characters: fitted to it, or at its floor saying so."""

    def block(room: int) -> str:
        return report.fit_context(results, max(room, 0), config.context_format, standing).text

    return block


HISTORY_SHARE = 4  # of the prompt's budget, a quarter for the one-line history when room is short
KEEP_HISTORY = 3  # the latest iterations always listed


def _recent(history: list[str], room: int) -> list[str]:
    """The latest lines of the history within `room` characters (at least KEEP_HISTORY of them),
    saying how many earlier ones are not shown."""
    kept = list(history)
    while len(kept) > KEEP_HISTORY and sum(len(line) + 3 for line in kept) > room:
        kept.pop(0)
    dropped = len(history) - len(kept)
    return ([f"({dropped} earlier iteration{'s' * (dropped != 1)} not shown)"] if dropped else []) + kept


def fitted_prompt(
    template: jinja2.Template, budget: int, previous: Answer | None, **values: object
) -> tuple[str, str]:
    """The prompt within `budget` characters: the template with its values, the latest results in
    the room left — and when they would be cut, the history first cut from its oldest lines to a
    quarter of the budget (saying how many). When the results' floor (one line per experiment) does
    not fit that room, the prompt holds the floor, which says so, and the second value says it for
    the person too (else "")."""
    history = list(values.pop("history", []) or [])  # type: ignore[call-overload]
    mark = "\x00results\x00"
    whole = previous.within(10**9) if previous else ""
    bare = render_prompt(template, previous=mark if previous else None, history=history, **values)
    if len(bare) - len(mark) + len(whole) > budget:  # the results would be cut: the history first
        history = _recent(history, budget // HISTORY_SHARE)
    bare = render_prompt(template, previous=mark if previous else None, history=history, **values)
    if previous is None:
        return bare, ""
    room = budget - (len(bare) - len(mark))
    block = previous.within(room)
    over = "" if len(block) <= room else (
        f"its latest results take {len(block):,} characters at their shortest (one line per experiment) "
        f"and {room:,} were left for them; raise context_budget to at least {budget - room + len(block):,}"
    )  # fmt: skip
    return bare.replace(mark, block, 1), over


def best_metrics(repo: git.Repo, session: str, config: Config | None = None) -> list[BestMetric]:
    """The best value of each metric across the session's iterations (`best_of`), ranked with the
    config's declared directions over the ones the iterations recorded."""
    if ledger.branch_tip(repo, ledger.branch_name(session)) is None:
        return []
    iterations = collect.session_results(repo, session)
    return best_of(iterations, leaderboard.declared_for(iterations, config.metrics if config else {}))


def best_of(
    iterations: list[IterationResults], declared: Mapping[str, Direction] | None = None
) -> list[BestMetric]:
    """Each metric's best so far, from the session's leaderboard (so the prompt, results.md and
    `wild-ci leaderboard` agree): succeeded experiments only, a parameter echoed in metrics.json
    never ranked, declared directions else guessed ones; the first to reach a value on a tie.
    Names and parameters are defused, like every text from an experiment."""
    board = leaderboard.build(iterations, declared, top=1)
    return [
        BestMetric(
            name=report.one_line(m.name, 100),
            value=m.best.value,
            experiment=report.one_line(m.best.id, 100),
            iteration=iteration_label(m.best.iteration),
            lower=m.kind.lower_is_better,
            guessed=m.kind.guessed,
            parameters=report.parameters_text(m.best.parameters, limit=300) if m.best.parameters else "",
        )
        for m in board.metrics[:BEST_SHOWN]
    ]


def history(repo: git.Repo, session: str) -> list[str]:
    """One line per earlier iteration: its code's commit (for `git show`), its counts, promise and
    summary, and the files the brain changed since the iteration before (the snapshots' diffstat)."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    if tip is None:
        return []
    commits = ledger.iteration_commits(repo, tip)
    lines = []
    for number in ledger.iterations_at(repo, tip)[-HISTORY_SHOWN:]:
        spec = collect.read_spec(repo, tip, number)
        results = collect.read_results(repo, tip, number)
        if spec is None:
            continue
        what = report.counts_line(results) if results else (
            f"{len(spec.experiments)} experiment(s), no results yet" if spec.experiments else "no experiments"
        )  # fmt: skip
        promise = f" · promise {report.one_line(spec.promise, 20)}" if spec.promise else ""
        summary = f" · summary: {report.one_line(spec.summary, 300)}" if spec.summary else ""
        commit = commits.get(number)
        code = f" (code: {commit[:12]})" if commit else ""
        changed = (
            f" · changed: {_changes_text(ledger.code_changes(repo, commit, CHANGES_SHOWN))}" if commit else ""
        )
        lines.append(f"{spec.label}{code}: {what}{promise}{summary}{changed}")
    return lines


CHANGES_SHOWN = 8  # files named per history line


def _changes_text(changes: ledger.CodeChanges) -> str:
    if not changes.total:
        return "no files"
    named = [
        f"{_path_text(c.path)} ({'binary' if c.added is None else f'+{c.added} -{c.removed}'})"
        for c in changes.files[:CHANGES_SHOWN]
    ]
    more = changes.total - len(named)
    return ", ".join(named) + (f" and {more} more file{'s' * (more != 1)}" if more > 0 else "")


def _path_text(path: str, limit: int = 120) -> str:
    """A changed file's name as the brain would pass it to `git show`: every character kept or shown
    as its escape (`one_line` would fold a newline or two spaces into one space, and escape `|`:
    another file's name), on one line, defused."""
    flat = report.defuse(visible(path, multiline=False))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


PLAN_SHOWN = 6000  # characters of the plan a prompt shows
PLAN_SHARE = 4  # and at most this share of the prompt's budget


@dataclass(frozen=True)
class Plan:
    iteration: str  # the label of the iteration that wrote it
    text: str  # defused and bounded


def latest_plan(repo: git.Repo, session: str, limit: int = PLAN_SHOWN) -> Plan | None:
    """The session's latest `<plan>`: the newest iteration whose output has one."""
    tip = ledger.branch_tip(repo, ledger.branch_name(session))
    numbers = ledger.iterations_at(repo, tip)
    if tip is None or not numbers:
        return None
    specs = ledger.read_iteration_files(repo, tip, numbers, SPEC_FILE)
    for number in reversed(numbers):
        try:
            plan = json.loads(specs.get(number, b"{}")).get("plan")
        except (ValueError, AttributeError):
            continue  # a damaged record is reported where it is read as a whole; here it has no plan
        if isinstance(plan, str) and plan.strip():
            return Plan(iteration_label(number), _defused(plan, limit))
    return None


# --- the brain -------------------------------------------------------------------------------------


def ask_brain(
    command: str, prompt: str, cwd: Path, limit: int, timeout_s: float = BRAIN_TIMEOUT_S
) -> BrainReply:
    """Run the brain command (a shell command) in `cwd` with the prompt on stdin; its stdout is the
    output, its stderr goes to ours. It runs in its own process group, which Ctrl-C ends whole.

    At most `limit` + 1 bytes of its output are kept: a brain that writes more is read to its end
    (it may still be editing the tree; cutting its pipe would leave that half done) and counted, so
    the loop can answer it with the size, without holding gigabytes. After `timeout_s` it is ended.

    Whenever its turn ends, everything it started is ended: its process group, and (on Linux, the
    loop being a child subreaper, as a leg's executor is) a `setsid` daemon or a double fork that
    left the group, which would otherwise keep editing the tree the next turn snapshots."""
    adopting = reaper.become_subreaper()  # while the brain runs: act's orphans are not the loop's
    before = reaper.descendants()  # git's helpers and the like: not the brain's
    start = time.monotonic()
    process = subprocess.Popen(
        command, shell=True, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdin is not None and process.stdout is not None  # both are pipes
    writer = threading.Thread(target=_feed, args=(process.stdin, prompt.encode("utf-8")), daemon=True)
    try:
        writer.start()
        output, total, timed_out = _read_bounded(process, limit, start + timeout_s)
        if timed_out:
            _end_group(process)
        process.wait()
        _end_leftovers(process)  # a child that outlived the brain in its group (it held stdout, or not)
        reaper.end_descendants(spare=before)  # and what left the group (setsid, double fork)
        writer.join(1.0)  # still writing: something the brain left holds its stdin; not our wait
    except BaseException:  # Ctrl-C or SIGTERM: no brain is left behind
        _end_group(process)
        reaper.end_descendants(spare=before)
        raise
    finally:
        process.stdout.close()
        if adopting:
            reaper.become_subreaper(False)
    return BrainReply(output, process.returncode, time.monotonic() - start, total, timed_out)


def _feed(stdin: IO[bytes], prompt: bytes) -> None:
    """The prompt to the brain's stdin; a brain that does not read it all is not an error."""
    with contextlib.suppress(BrokenPipeError, OSError):
        stdin.write(prompt)
    with contextlib.suppress(BrokenPipeError, OSError):
        stdin.close()


def _read_bounded(process: subprocess.Popen[bytes], limit: int, give_up: float) -> tuple[bytes, int, bool]:
    """The brain's stdout to its end, keeping at most `limit` + 1 bytes, and whether it timed out
    (at `give_up`, a monotonic time). The end is EOF, or BRAIN_LINGER_S after the brain exited: a
    child it left behind may hold the pipe open (a daemon, `cmd &`) and would otherwise hold the
    turn until it ends, if ever."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    kept = bytearray()
    total = 0
    deadline: float | None = None
    while True:
        if deadline is None and time.monotonic() >= give_up:
            return bytes(kept), total, True
        if deadline is None and process.poll() is not None:
            deadline = time.monotonic() + BRAIN_LINGER_S
        wait = 0.2 if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            if deadline is not None and time.monotonic() >= deadline:
                break
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if len(kept) <= limit:
            kept += chunk[: limit + 1 - len(kept)]
    return bytes(kept), total, False


def _end_leftovers(process: subprocess.Popen[bytes]) -> None:
    """What the brain left running in its process group, once it has exited: SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.5 if sig == signal.SIGTERM else 0)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, BRAIN_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- one turn's output, run --------------------------------------------------------------------------

Step = Callable[[bytes, BrainOutput, Mapping[str, bytes]], Answer]
"""One turn's output run: the output, its parse, files for its iteration's folder (guidance.md)."""


def _refused(
    session: str, exc: generate.InvalidBrainOutput, parsed: BrainOutput, config: Config, output: bytes
) -> Answer:
    block = report.invalid_output_block(
        session, exc.diagnostics, parsed.warnings, config.context_format, output
    )
    return Answer(block, None, [report.one_line(str(d), 1000) for d in exc.diagnostics])


def _nothing_ran(
    session: str, config: Config, asked: BrainOutput | IterationSpec, label: str | None = None
) -> Answer:
    """The answer to an output that asked for nothing runnable (`label`: the iteration it was
    committed as; None: nothing was committed)."""
    block = report.nothing_ran_block(
        session, asked.warnings, asked.promise, label or "none", config.context_format
    )
    return Answer(block, label)


def _local_step(repo_path: Path, options: LoopOptions, config: Config) -> Step:
    repo = ledger.open_repo(repo_path)

    def step(output: bytes, parsed: BrainOutput, companions: Mapping[str, bytes]) -> Answer:
        try:
            outcome = run_local(
                repo_path, output, options.session, config, options.skip_invalid, parsed=parsed,
                companions=companions,
            )  # fmt: skip
        except generate.InvalidBrainOutput as exc:
            return _refused(options.session, exc, parsed, config, output)
        if outcome is None:  # blank: cannot happen (checked before), but answer anyway
            return _nothing_ran(options.session, config, parsed)
        spec = outcome.submission.spec
        if not spec.experiments:
            return _nothing_ran(options.session, config, spec, spec.label)
        for note in outcome.results.notes:
            print(f"wild-ci: warning: {report.one_line(note, 300)}", file=sys.stderr)
        if outcome.collected_by == "host":
            print(f"wild-ci: warning: the workflow's collect job did not commit iteration {spec.label}'s "
                  "results; wild-ci collected them on the host", file=sys.stderr)  # fmt: skip
        print(f"wild-ci: iteration {spec.label}: {report.counts_line(outcome.results)}", file=sys.stderr)
        standing = collect.standing_at(repo, outcome.submission.branch, outcome.results)
        fitted = _block_for(outcome.results, config, standing)
        return Answer(fitted(config.context_budget), spec.label, fitted=fitted)

    return step


def _pushed_step(repo_path: Path, options: LoopOptions, config: Config) -> Step:
    client = github.client_from_env()  # before the first turn: a missing token stops nothing half-way
    repo = ledger.open_repo(repo_path)

    def step(output: bytes, parsed: BrainOutput, companions: Mapping[str, bytes]) -> Answer:
        github.sync_branch(repo, options.session, options.remote)
        try:
            submission = generate.submit(
                repo_path, output, options.session, config, options.skip_invalid, parsed,
                companions=companions,
            )  # fmt: skip
        except generate.InvalidBrainOutput as exc:
            return _refused(options.session, exc, parsed, config, output)
        if submission is None:
            return _nothing_ran(options.session, config, parsed)
        github.push_branch(repo, options.session, options.remote)
        spec = submission.spec
        if not spec.experiments:
            return _nothing_ran(options.session, config, spec, spec.label)
        results = github.wait_for_results(repo, options.session, submission.iteration, client, options.wait)
        fitted = _block_for(results, config, collect.session_standing(repo, results, config.metrics))
        return Answer(fitted(config.context_budget), spec.label, fitted=fitted)

    return step
