"""Rendering results for people (results.md, the PR comment) and for the brain (the context).

Text from a brain or an experiment is untrusted (goals, commands, notes, metric names, outputs, logs,
warnings, notes from collecting). Every such field reaches results.md, the PR comment and the context
through one of two filters, and both defuse a closing `</experiment_results>` and show control
characters as escapes (`text.visible`: no terminal sequence reaches a reader): `one_line` (inline
text: one line, so it cannot start a line of its own such as a fake `SYSTEM:`) or `fenced` (a block
inside a fence longer than any backtick run it contains). The templates use nothing else for it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from .compare import BEST_SHOWN, CONFIG_HINT, BestLine, Cell, Standing, wide_table
from .config import CONTEXT_FORMATS, DEFAULT_CONTEXT_BUDGET, Config
from .layout import artifact_name, iteration_label
from .leaderboard import Run
from .metrics import format_value, measured, ran_with
from .specs import Attempt, ExperimentResult, IterationResults, Status
from .templating import render
from .text import visible

STATUS_SYMBOLS: dict[str, str] = {
    Status.SUCCEEDED: "✅",
    Status.FAILED: "❌",
    Status.TIMED_OUT: "⏱️",
    Status.SETUP_FAILED: "🧰",
    Status.CANCELLED: "🚫",
    Status.MISSING: "❓",
}
COMMENT_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters; keep room to spare
WILD_V2_HEADING = "## Results from Previous Experiments"  # what the original Wild V2 prompt looks for
WILD_V2_OUTPUT_CHARS = 8_000  # of each experiment's output in the wild-v2 format, as Wild V2 kept
CONTEXT_TAG = re.compile(r"<(\s*/?\s*experiment_results)", re.IGNORECASE)  # opening or closing


def fenced(text: str, info: str = "") -> str:
    """A Markdown fenced block that its own content cannot close, and that closes no context block."""
    text = defuse(visible(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def code_span(text: str) -> str:
    """Text as one Markdown code span (`like this`) that its own backticks cannot close: one line
    (line breaks shown as `\\n`), defused, between backtick runs longer than any run inside."""
    flat = defuse(visible(str(text), multiline=False))
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def one_line(text: str, limit: int = 80) -> str:
    """A table cell, or any text inline: one line (no line of its own, such as a fake `SYSTEM:`),
    control characters shown as escapes, pipes escaped, defused, shortened with an ellipsis."""
    flat = defuse(visible(" ".join(str(text).split()), multiline=False).replace("|", "\\|"))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


MARKDOWN_ACTIVE = re.compile(r"[`\[\]<>@#&$!]|://|www\.", re.IGNORECASE)
"""What makes Markdown on GitHub do something with text: links and images, HTML, @mentions that
notify people, #123 references that show up in other issues, bare URLs, math, entities."""


def md(text: str) -> str:
    """Text from a brain or an experiment, already one line (`one_line`), made inert for results.md,
    the PR comment and the job summary: as it is when nothing in it is Markdown-active, else as a
    code span (no link, image, mention, reference or HTML there)."""
    return code_span(text) if MARKDOWN_ACTIVE.search(text) else text


def defuse(text: str) -> str:
    """A closing `</experiment_results>` (or an opening one) in text from a brain or an experiment,
    made harmless: `<\\/experiment_results>`."""
    return CONTEXT_TAG.sub(lambda m: "<\\" + m.group(1).lstrip(), text)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def counts_line(results: IterationResults) -> str:
    total = len(results.experiments)
    parts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in results.counts().items())
    spent = sum(r.duration_s or 0 for r in results.experiments)
    noun = "experiment" if total == 1 else "experiments"
    return f"{total} {noun}: {parts or 'none'} · {duration(spent)} of experiment time"


def sandbox_line(results: IterationResults) -> str | None:
    """One line when experiments ran without a sandbox, and why (the first leg's reason); None when
    every leg that says had one. Legs of an older wild-ci say nothing and are not counted."""
    unconfined = [r for r in results.experiments if r.sandbox == "none"]
    if not unconfined:
        return None
    why = next((r.sandbox_note for r in unconfined if r.sandbox_note), None) or "no reason was recorded"
    count = f"{len(unconfined)} of {len(results.experiments)} experiments"
    if len(unconfined) == len(results.experiments):
        count = "the experiment" if len(unconfined) == 1 else f"all {len(unconfined)} experiments"
    return one_line(f"{count} ran without a sandbox: {why}", 400)


def exit_text(result: ExperimentResult) -> str:
    if result.exit_code is not None:
        return one_line(str(result.exit_code), 20)
    if result.signal:
        return one_line(f"signal {result.signal}", 20)
    return "–"


def attempts_text(result: ExperimentResult) -> str:
    """How the attempts of a retried experiment went, e.g. "succeeded on attempt 2 (CUDA out of
    memory on attempt 1)" or "failed after 3 attempts (…)"; empty for a single attempt. The reasons
    may quote a brain's pattern: pass the text through `one_line`."""
    attempts = result.attempts
    if len(attempts) < 2:
        return ""
    n = len(attempts)
    if result.status == Status.SUCCEEDED:
        outcome = f"succeeded on attempt {n}"
    else:
        outcome = f"{str(result.status).replace('_', ' ')} after {n} attempts"
    reasons = _reasons(attempts)
    return f"{outcome} ({reasons})" if reasons else outcome


def _reasons(attempts: list[Attempt]) -> str:
    """ "CUDA out of memory on attempts 1 and 2; NCCL timeout on attempt 3": each reason once, in order."""
    by_reason: dict[str, list[int]] = {}
    for attempt in attempts:
        if attempt.retried_because:
            by_reason.setdefault(attempt.retried_because, []).append(attempt.attempt)
    parts = []
    for reason, numbers in by_reason.items():
        listed = [str(n) for n in numbers]
        which = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} and {listed[-1]}"
        parts.append(f"{reason} on attempt{'s' * (len(listed) > 1)} {which}")
    return "; ".join(parts)


def gpus_text(result: ExperimentResult) -> str:
    """Which GPUs an experiment had, and how long it waited for them (`GPUs: 0, 1 (waited …)`);
    empty when GPUs were not managed for it, or hidden (`gpus: 0`)."""
    return f"{gpus_label(result)}: {gpu_ids_text(result)}" if result.gpus else ""


def gpus_label(result: ExperimentResult) -> str:
    return "GPU" if result.gpus is not None and len(result.gpus) == 1 else "GPUs"


def gpu_ids_text(result: ExperimentResult) -> str:
    """`0, 1 (waited 12.0 s for them)`: `gpus_text` without its label, for a column of its own."""
    if not result.gpus:
        return ""
    ids = ", ".join(str(i) for i in result.gpus)
    them = "them" if len(result.gpus) != 1 else "it"
    waited = f" (waited {duration(result.gpu_wait_s)} for {them})" if (result.gpu_wait_s or 0) >= 0.05 else ""
    return ids + waited


def marked_metrics(cells: Mapping[str, Cell], standing: Standing, shown: int = 4) -> str:
    """An experiment's measured metrics for one cell (`wild-ci show`): `accuracy ↑ 0.97 ★ 🏆,
    loss ↓? 0.18`, the first `shown`, then `+N more`."""
    parts = []
    for name, cell in list(cells.items())[:shown]:
        value = cell_text(dataclasses.replace(cell, change=None))
        parts.append(f"{one_line(name, 30)} {standing.kind(name).label} {value}")
    more = len(cells) - shown
    return ", ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parameters_text(parameters: Mapping[str, Any], shown: int = 6, limit: int = 200) -> str:
    """`lr=0.01, epochs=20` (the first `shown`, then `+N more`), one line, escaped."""
    parts = [f"{name}={format_value(value, 40)}" for name, value in list(parameters.items())[:shown]]
    more = len(parameters) - shown
    return one_line(", ".join(parts) + (f" (+{more} more)" if more > 0 else ""), limit)


def value_text(value: Any) -> str:
    """A parameter's or metric's value in a cell: short, one line, escaped."""
    return one_line(format_value(value, 40), 40)


def cell_text(cell: Cell | None) -> str:
    """A metric cell of the wide table: `0.9734 ★ 🏆 (+0.0045)`."""
    if cell is None:
        return ""
    if not cell.ranked:
        return f"_{cell.value:.6g}_"  # italic: a run that did not succeed (the legend says so)
    marks = (" ★" if cell.best_here else "") + (" 🏆" if cell.best_so_far else "")
    return f"{cell.value:.6g}{marks}" + (f" ({change_text(cell.change)})" if cell.change is not None else "")


def change_text(change: float | None) -> str:
    if change is None:
        return "new"
    return "±0" if change == 0 else f"{change:+.4g}"


def run_text(run: Run, limit: int = 200) -> str:
    """Where a best value came from: `iteration 0003, lr-0-01 (lr=0.01, epochs=50)`."""
    where = f"iteration {iteration_label(run.iteration)}, {one_line(run.id, 60)}"
    return where + (f" ({parameters_text(run.parameters, limit=limit)})" if run.parameters else "")


def this_iteration_text(line: BestLine) -> str:
    """What this iteration did to a metric's best so far, in a few words."""
    if line.here is None:
        return "not measured (by a success) in this iteration"
    if line.improved:
        if line.before is None:
            return "first measured in this iteration"
        return f"new best in this iteration (was {line.before.value:.6g})"
    if line.here.value == line.best.value:
        return f"equalled ({line.here.value:.6g}), not beaten, in this iteration"
    return f"not beaten: this iteration's best {line.here.value:.6g}"


def _filters() -> dict[str, object]:
    return {
        "symbol": lambda status: STATUS_SYMBOLS.get(status, "?"),
        "fenced": fenced,
        "code_span": code_span,
        "one_line": one_line,
        "md": md,
        "duration": duration,
        "exit_text": exit_text,
        "sandbox_line": sandbox_line,
        "gpus_text": gpus_text,
        "gpus_label": gpus_label,
        "gpu_ids_text": gpu_ids_text,
        "defuse": defuse,
        "attempts_text": attempts_text,
        "parameters_text": parameters_text,
        "value_text": value_text,
        "cell_text": cell_text,
        "change_text": change_text,
        "run_text": run_text,
        "this_iteration_text": this_iteration_text,
        "label": iteration_label,
        "config_hint": CONFIG_HINT,
    }


def results_markdown(
    results: IterationResults, chart_src: str | None = None, standing: Standing | None = None
) -> str:
    """results.md. `standing` (what to compare with: the previous iteration, the session's best so
    far) defaults to none known: no changes, no best so far."""
    standing = standing or Standing.of(results, complete=False)
    cells = standing.cells(results)
    table = wide_table(results, standing, cells)
    best = standing.best[:BEST_SHOWN]
    return render(
        "results.md.j2",
        results=results,
        counts=counts_line(results),
        table=table,
        standing=standing,
        cells=cells,
        best=best,
        best_more=len(standing.best) - len(best),
        guessed=(table is not None and table.guessed) or any(line.kind.guessed for line in best),
        unranked=any(not c.ranked for row in cells.values() for c in row.values()),
        previous=standing.previous,
        chart_src=chart_src,
        artifact_name=artifact_name,
        measured=lambda r: measured(r, standing.parameter_names),
        ran_with=lambda r, name: ran_with(r, name, standing.parameter_names),
        **_filters(),
    )


def comment_body(
    results: IterationResults,
    full_results_url: str,
    limit: int = COMMENT_LIMIT,
    chart_url: str | None = None,
    standing: Standing | None = None,
) -> str:
    """results.md for a pull-request comment: whole when it fits GitHub's limit, else cut at a line
    with a link to the committed file. The first line is the marker that finds it again."""
    text = results_markdown(results, chart_url, standing)
    if len(text) <= limit:
        return text
    footer = (
        f"\n\n---\n**Cut to fit a comment** ({len(text):,} characters in all): "
        f"[the full results.md]({full_results_url})\n"
    )
    cut = text[: limit - len(footer)]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    fence = _open_fence(cut)
    if fence:  # do not leave a code block open
        cut += f"\n{fence}"
    body = cut + footer
    if len(body) > limit:  # a fence so long that closing it does not fit: just the link
        body = f"{comment_marker(results)}\n{counts_line(results)}{footer}"
    return body


def _open_fence(text: str) -> str | None:
    opened: str | None = None
    for line in text.split("\n"):
        run = line[: len(line) - len(line.lstrip("`"))]
        if len(run) >= 3 and (opened is None or (run.startswith(opened) and not line[len(run) :].strip())):
            opened = None if opened else run
    return opened


def comment_marker(results: IterationResults) -> str:
    return f"<!-- wild-ci results: session={results.session} iteration={results.label} -->"


def nothing_ran_block(
    session: str, warnings: list, promise: str | None, label: str = "none", context_format: str = "wild-ci"
) -> str:
    """The context when the brain output asked for nothing runnable (`label`: the iteration it was
    committed as): so a brain that fenced its real request learns why nothing ran. In the wild-v2
    format, the same facts under the heading that brain's prompt expects."""
    lines = ["No experiments were run."]
    if warnings:
        lines += ["", "Warnings about your last output:"]
        lines += [f"- {one_line(str(w), 500)}" for w in warnings]
    if promise:
        lines += ["", f"Your promise was {one_line(promise, 200)}."]
    return _answer_block(session, label, lines, context_format)


def invalid_output_block(session: str, errors: list, warnings: list, context_format: str = "wild-ci") -> str:
    """The context when the brain output was refused (strict mode): each error with its line, so
    the brain's next prompt holds its mistakes instead of nothing."""
    n = len(errors)
    lines = [
        f"Your last output was NOT run and nothing was committed: it has {n} error{'s' * (n != 1)}. "
        f"Fix {'them' if n != 1 else 'it'} and write the whole output again (every experiment, not only "
        "the fixed ones).",
        "",
        "Errors in your last output:",
        *(f"- {one_line(str(e), 1000)}" for e in errors),
    ]
    if warnings:
        lines += ["", "Warnings about your last output:"]
        lines += [f"- {one_line(str(w), 500)}" for w in warnings]
    return _answer_block(session, "none", lines, context_format)


def _answer_block(session: str, label: str, lines: list[str], context_format: str) -> str:
    """`lines` (already one-lined and defused) in the format the brain reads its results in: wild-ci's
    experiment_results block, or the wild-v2 markdown (its heading, no experiments under it)."""
    if context_format == "wild-v2":
        return "\n".join([WILD_V2_HEADING, "", *lines]) + "\n"
    return "\n".join([f'<experiment_results session="{session}" iteration="{label}">', *lines,
                      "</experiment_results>"]) + "\n"  # fmt: skip


def context_for(results: IterationResults, config: Config, standing: Standing | None = None) -> str:
    """The results for the brain as the configuration says: its context_budget and context_format."""
    return context_block(results, config.context_budget, config.context_format, standing)


BEST_IN_CONTEXT = 6  # metrics in the context's best-so-far section
BEST_LINE_CHARS = 300


def context_block(
    results: IterationResults,
    budget: int = DEFAULT_CONTEXT_BUDGET,
    context_format: str = CONTEXT_FORMATS[0],
    standing: Standing | None = None,
) -> str:
    """The results for the brain's next prompt, within `budget` characters when it can be: every
    experiment keeps its status (and in wild-ci's block its exit code, duration and metrics); the
    tails (then the commands) are cut evenly across experiments, each cut marked, until it fits.

    `context_format` wild-ci: the experiment_results block (context.txt.j2); wild-v2: the markdown
    the original Wild V2 prompt expects (context-wild-v2.md.j2), each experiment's output the last
    WILD_V2_OUTPUT_CHARS characters of its stdout and stderr.

    `standing` (default: none known, so no changes and no best so far) gives the per-experiment
    changes and the short best-so-far section (at most BEST_IN_CONTEXT metrics, each line at most
    BEST_LINE_CHARS): it is never trimmed, so it outlives the tails and the commands when the
    budget is tight."""
    standing = standing or Standing.of(results, complete=False)
    if context_format == "wild-v2":
        return _fitted(_wild_v2_outputs(results), budget, _render_wild_v2)
    cells = standing.cells(results)
    render_context = functools.partial(
        _render_context,
        best=best_lines(standing),
        more=len(standing.best) - BEST_IN_CONTEXT,
        metrics_of={r.id: context_metrics(standing, cells[r.id]) for r in results.experiments},
    )
    return _fitted(results, budget, render_context)


def best_lines(standing: Standing) -> list[str]:
    """The context's best-so-far section: a line per metric (declared ones first), capped."""
    lines = []
    for line in standing.best[:BEST_IN_CONTEXT]:
        kind = line.kind
        way = kind.way + (", guessed from the name" if kind.guessed else "")
        text = (
            f"{kind.name} ({way}): {line.best.value:.6g} in {run_text(line.best, 120)}; "
            f"{this_iteration_text(line)}"
        )
        lines.append(one_line(text, BEST_LINE_CHARS))
    return lines


def context_metrics(standing: Standing, cells: dict[str, Cell]) -> str:
    """An experiment's metrics for the brain: measured ones only, each with its change since the
    same run (same goal and parameters) in the previous iteration and its marks."""
    parts = []
    for name, cell in cells.items():
        text = f"{one_line(name, 100)}={cell.value}"  # exact: the brain may need every digit
        notes = []
        if cell.change is not None and standing.previous is not None:
            notes.append(f"{change_text(cell.change)} since {standing.previous.label}")
        if cell.sets_best:
            notes.append("best so far")
        elif cell.best_so_far:
            notes.append("equals the best so far")
        elif cell.best_here:
            notes.append("best of this iteration")
        parts.append(text + (f" ({'; '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def _fitted(results: IterationResults, budget: int, render_context: Callable[[IterationResults], str]) -> str:
    text = render_context(results)
    if len(text) <= budget:
        return text
    low, high = 0, max((len(r.stdout_tail) + len(r.stderr_tail) for r in results.experiments), default=0)
    while low < high:  # the largest per-experiment tail allowance that fits
        middle = (low + high + 1) // 2
        if len(render_context(_trimmed(results, middle))) <= budget:
            low = middle
        else:
            high = middle - 1
    trimmed = _trimmed(results, low)
    text = render_context(trimmed)
    if len(text) > budget:  # tails are gone and it still does not fit: shorten commands too
        per_command = max(
            80, (budget - len(render_context(_trimmed(trimmed, 0, 0)))) // max(1, len(results.experiments))
        )
        text = render_context(_trimmed(trimmed, 0, per_command))
    return text


def _render_context(results: IterationResults, best: list[str], more: int, metrics_of: dict[str, str]) -> str:
    return render(
        "context.txt.j2",
        results=results,
        counts=counts_line(results),
        best=best,
        best_more=max(0, more),
        metrics_of=metrics_of,
        **_filters(),
    )


def _render_wild_v2(results: IterationResults) -> str:
    return render("context-wild-v2.md.j2", results=results, heading=WILD_V2_HEADING, **_filters())


def _wild_v2_outputs(results: IterationResults) -> IterationResults:
    """A copy whose stdout tail is the experiment's output as Wild V2 showed it: stdout then stderr,
    its last WILD_V2_OUTPUT_CHARS characters (and no stderr tail apart)."""
    experiments = []
    for r in results.experiments:
        output = "\n".join(tail for tail in (r.stdout_tail, r.stderr_tail) if tail)
        experiments.append(dataclasses.replace(r, stdout_tail=output[-WILD_V2_OUTPUT_CHARS:], stderr_tail=""))
    return dataclasses.replace(results, experiments=experiments)


def _trimmed(
    results: IterationResults, tail_chars: int, command_chars: int | None = None
) -> IterationResults:
    """A copy whose tails keep at most `tail_chars` characters in all per experiment (stderr
    first for failures), and whose commands keep `command_chars`, each cut marked."""
    experiments = []
    for r in results.experiments:
        first, second = (
            ("stderr_tail", "stdout_tail") if r.status != Status.SUCCEEDED else ("stdout_tail", "stderr_tail")
        )
        keep_first = min(len(getattr(r, first)), tail_chars)
        keep_second = max(0, tail_chars - keep_first)
        changes: dict[str, Any] = {
            first: _keep_end(getattr(r, first), keep_first),
            second: _keep_end(getattr(r, second), keep_second),
        }
        if command_chars is not None and len(r.command) > command_chars:
            changes["command"] = (
                r.command[:command_chars] + f" [… {len(r.command) - command_chars} characters cut]"
            )
        experiments.append(dataclasses.replace(r, **changes))
    return dataclasses.replace(results, experiments=experiments)


def _keep_end(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    if keep == 0:
        return f"[{len(text)} characters cut to fit the context]"
    return f"[… {len(text) - keep} characters cut to fit the context]\n{text[-keep:]}"
