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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .compare import BEST_SHOWN, CONFIG_HINT, BestLine, Cell, Standing, wide_table
from .config import CONTEXT_FORMATS, DEFAULT_CONTEXT_BUDGET, Config
from .context import (
    Detail,
    Fitted,
    brain_path,
    common,
    cut_text,
    env_text,
    fit,
    how_they_ran,
    ladder,
    mapped,
    share_tails,
)
from .layout import artifact_name, iteration_label
from .leaderboard import ConfigurationRuns, Run
from .metrics import format_value, measured, ran_with
from .parse.commands import final_command
from .parse.items import slugify
from .specs import Attempt, Conclusion, ExperimentResult, IterationResults, Status
from .stats import Difference
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


def summary_text(configuration: ConfigurationRuns) -> str:
    """`mean 0.9882 (sd 0.00141, 95% CI 0.9872 to 0.9892, n 10)`, or `0.988889 (one run)`."""
    s = configuration.summary
    if not s.replicated or s.std is None or s.ci95 is None:
        return f"{s.mean:.6g} (one run)"
    return f"mean {s.mean:.6g} (sd {s.std:.3g}, 95% CI {s.ci95[0]:.4g}–{s.ci95[1]:.4g}, n {s.n})"


def configuration_text(configuration: ConfigurationRuns, limit: int = 80) -> str:
    """`C=1 scale=false`, and where its runs are when there are few: `(iteration 0003, svm-c-1)`."""
    label = configuration.label(limit)
    if len(configuration.runs) == 1:
        run = configuration.runs[0]
        return f"{label} (iteration {iteration_label(run.iteration)}, {one_line(run.id, 60)})"
    iterations = sorted({iteration_label(r.iteration) for r in configuration.runs})
    where = ", ".join(iterations[:3]) + (" …" if len(iterations) > 3 else "")
    return f"{label} (iteration{'s' * (len(iterations) > 1)} {where})"


def difference_text(line: BestLine, other: ConfigurationRuns, role: str) -> str:
    """The best against another configuration, as a researcher says it: the difference (and, for
    a lower-is-better metric, the ratio) with its interval, and whether it is more than the noise."""
    other_text = f"{other.label(60)} ({role}, {summary_text(other)})"
    found = line.against(other)
    if found is None:
        best = line.configuration
        if best is not None and best.summary.replicated and other.summary.replicated:
            return f"vs {other_text}: not comparable, a value near the float limit (a diverged run)"
        return f"vs {other_text}: not comparable, one of them has a single run (repeat it with other seeds)"
    if found.difference == 0:
        return f"tied with {other_text}"
    if not found.significant or not _better(line, found):
        return f"not distinguishable from {other_text} (p = {found.p:.2g})"
    return f"beats {other_text}: {_by(line, found)} (p = {found.p:.2g})"


def _better(line: BestLine, found: Difference) -> bool:
    return found.difference < 0 if line.kind.lower_is_better else found.difference > 0


def _by(line: BestLine, found: Difference) -> str:
    low, high = found.difference_ci
    by = f"by {found.difference:+.4g} (95% CI {low:+.4g} to {high:+.4g})"
    if line.kind.lower_is_better and found.ratio and found.ratio_ci:  # a time: "3.55 times faster"
        times = 1 / found.ratio
        return f"{times:.3g}× lower (95% CI {1 / found.ratio_ci[1]:.3g}–{1 / found.ratio_ci[0]:.3g}×), {by}"
    return by


def best_text(line: BestLine, here: str = "this iteration") -> str:
    """A metric's best so far in one sentence: the best configuration with n, mean ± sd and its
    interval, what this iteration (`here`) did, and how it compares with the previous best and the baseline.
    A single run is never presented as a finding."""
    best = line.configuration
    if best is None:  # cannot happen: a board has runs
        return "no runs"
    if not best.summary.replicated:
        return (
            f"best single run {line.best.value:.6g} in {configuration_text(best)}; unreplicated: every "
            "configuration has one run, so nothing is claimed beyond noise (repeat with other seeds)"
        )
    parts = [f"{summary_text(best)} with {configuration_text(best)}"]
    if line.here is None:
        parts.append(f"not measured in {here}")
    elif line.new_configuration:
        parts.append(f"a new best configuration in {here}")
    previous = line.previous_best
    if previous is not None:
        parts.append(difference_text(line, previous, "the previous best"))
    if line.baseline is not None:
        parts.append(difference_text(line, line.baseline, "baseline"))
    compared = {best.key, *(c.key for c in (previous, line.baseline) if c is not None)}
    lucky = line.board.configuration(line.best.configuration_key)
    runner_up = next((c for c in line.board.configurations if c.key != best.key), None)
    if previous is None and runner_up is not None and runner_up.key not in compared:  # best against what?
        role = "the runner-up"
        if lucky is not None and lucky.key == runner_up.key:
            role += f"; the best single run, {line.best.value:.6g}, is a run of it"
        parts.append(difference_text(line, runner_up, role))
        compared.add(runner_up.key)
    if lucky is not None and lucky.key not in compared:  # the best single run is elsewhere: say so
        role = f"the best single run, {line.best.value:.6g}, is a run of it"
        if lucky.summary.replicated:
            parts.append(difference_text(line, lucky, role))
        else:
            parts.append(f"a single run of {lucky.label(60)} reached {line.best.value:.6g} (unreplicated)")
    return "; ".join(parts)


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
        "best_text": best_text,
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
        not_ranked=table is not None and any(not standing.ranked(k.name) for k in table.metrics),
        column_label=lambda kind: kind.label if standing.ranked(kind.name) else "·",
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


CONCLUSION_MARKER = "<!-- wild-ci conclusion -->"
CONCLUSION_SHOWN = 3000  # characters of the summary, and of the reflection, in results.md


def with_conclusion(
    markdown: str | None, session: str, label: str, conclusion: Conclusion, standing: Standing | None = None
) -> str:
    """The DONE iteration's results.md with the session's conclusion at its end (an earlier one
    replaced); an iteration that ran nothing gets a results.md of its own for it, where the
    conclusion is followed by the session's best configurations (`standing`, of its latest
    iteration with results): the page a person reads for the outcome has the numbers to check the
    brain's claim against, not the claim alone."""
    evidence = ""
    if markdown is None:
        markdown = (
            f"<!-- wild-ci results: session={session} iteration={label} -->\n"
            f"# wild/{one_line(session, 100)} · iteration {label}\n\n"
            "no experiments: the brain concluded the session\n"
        )
        evidence = evidence_markdown(session, standing) if standing is not None else ""
    kept = markdown.split(f"\n{CONCLUSION_MARKER}", 1)[0].rstrip("\n")
    return f"{kept}\n\n{conclusion_markdown(conclusion)}{evidence}"


def evidence_markdown(session: str, standing: Standing) -> str:
    """The session's best so far by configuration, as results.md's table states it, for a
    conclusion page that has no results of its own."""
    if not standing.best:
        return ""
    board = standing.board
    count, last = len(board.iterations), iteration_label(board.iterations[-1])
    lines = [
        "",
        f"**Best so far in wild/{md(one_line(session, 100))}, by configuration** (succeeded experiments"
        f" of {count} iteration{'s' if count != 1 else ''}, up to iteration {last}:"
        ' the same command, flags, env and code, seeds aside; "beats" means Welch\'s t-test at 5 %;'
        " `wild-ci leaderboard` shows every configuration)",
        "",
        "| metric | best configuration (mean, sd, 95% CI, n) and how it compares |",
        "|---|---|",
    ]
    for line in standing.best[:BEST_SHOWN]:
        name = f"{md(one_line(line.kind.name, 40))} {line.kind.label}"
        lines.append(f"| {name} | {md(one_line(best_text(line, f'iteration {last}'), 600))} |")  # not DONE's
    return "\n".join(lines) + "\n"


def conclusion_markdown(conclusion: Conclusion) -> str:
    """The conclusion section: the DONE summary and the reflection's, inert Markdown."""
    summary = md(one_line(conclusion.summary, CONCLUSION_SHOWN)) if conclusion.summary else "_(no summary)_"
    lines = [
        CONCLUSION_MARKER,
        "## Conclusion",
        "",
        f"**DONE** in iteration {conclusion.iteration:04d}: {summary}",
    ]
    if conclusion.reflection is not None:
        go_on = "the loop went on" if conclusion.continues else "the loop ended"
        text = md(one_line(conclusion.reflection, CONCLUSION_SHOWN)) or "_(empty)_"
        lines += ["", f"**Reflection** (asked whether the goal is really reached; {go_on}): {text}"]
    return "\n".join(lines) + "\n"


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
        lines += [
            "",
            "Warnings about your last output:",
            *_capped([f"- {one_line(str(w), 500)}" for w in warnings]),
        ]
    if promise:
        lines += ["", f"Your promise was {one_line(promise, 200)}."]
    return _answer_block(session, label, lines, context_format)


def invalid_output_block(
    session: str,
    errors: list,
    warnings: list,
    context_format: str = "wild-ci",
    output: bytes | str | None = None,
) -> str:
    """The answer to a brain output that was refused (strict mode). wild-ci's own words, so never
    inside an experiment_results block (whose text the brain is told is data): that nothing ran,
    that nothing was committed and its edits are still in the working tree, each error with the
    line it is about quoted from `output`. In the wild-v2 format, under that brain's heading, where
    its prompt looks."""
    n = len(errors)
    lines = [
        f"wild-ci refused your last output ({n} error{'s' * (n != 1)}): nothing ran and nothing was "
        "committed; your edits to the working tree are still there. Fix "
        f"{'them' if n != 1 else 'it'} and write the whole output again (every experiment, not only the "
        "fixed ones).",
        "",
        "Errors in your last output:",
        *_quoted(errors, output, 1000),
    ]
    if warnings:
        lines += ["", "Warnings about your last output:", *_capped(_quoted(warnings, output, 500))]
    if context_format == "wild-v2":
        return _answer_block(session, "none", lines, context_format)
    return "\n".join(lines) + "\n"


WARNINGS_SHOWN = 20  # lines of warnings in an answer that has no budget of its own


def _capped(lines: list[str], shown: int = WARNINGS_SHOWN) -> list[str]:
    """At most `shown` lines, then how many more there were: warnings can be many, and these
    answers reach the brain's prompt whole."""
    more = len(lines) - shown
    return lines[:shown] + ([f"- … and {more:,} more lines of warnings"] if more > 0 else [])


def _quoted(diagnostics: list, output: bytes | str | None, limit: int) -> list[str]:
    """Each diagnostic as a list item, the line it is about quoted under it (`> …`, one line)."""
    text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output or ""
    source = text.splitlines()
    items = []
    for diagnostic in diagnostics:
        items.append(f"- {one_line(str(diagnostic), limit)}")
        line = getattr(diagnostic, "line", None)
        if isinstance(line, int) and 1 <= line <= len(source) and source[line - 1].strip():
            items.append(f"  > {one_line(source[line - 1], 200)}")
    return items


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
BEST_LINE_CHARS = 600
LEFT_OUT_SHOWN = 20  # files left out of the snapshot, listed
WHOLE_LOGS = "`wild-ci logs ID` prints an experiment's whole output, results.json has every metric"


def context_block(
    results: IterationResults,
    budget: int = DEFAULT_CONTEXT_BUDGET,
    context_format: str = CONTEXT_FORMATS[0],
    standing: Standing | None = None,
) -> str:
    """The results for the brain's next prompt within `budget` characters (`fit_context`). When even
    one line per experiment does not fit, a short answer saying so and which budget would: the
    caller asked for at most `budget` characters, and a loop can use `fit_context`'s floor instead."""
    return answer(fit_context(results, budget, context_format, standing), results, context_format)


def answer(fitted: Fitted, results: IterationResults, context_format: str = CONTEXT_FORMATS[0]) -> str:
    """The fitted context, or when it does not fit, the short answer that says so."""
    if fitted.fits:
        return fitted.text
    return _answer_block(results.session, results.label, [too_small(fitted)], context_format)


def too_small(fitted: Fitted) -> str:
    """What a budget below the floor is answered with: the budget that would hold the floor."""
    need = -(-(fitted.floor + 200) // 100) * 100  # the floor and this line, rounded up
    return (
        f"These results do not fit in {fitted.budget:,} characters: the shortest form (one line per "
        f"experiment: id, status, main metric) takes {fitted.floor:,}; a budget of {need:,} holds it."
    )


def fit_context(
    results: IterationResults,
    budget: int = DEFAULT_CONTEXT_BUDGET,
    context_format: str = CONTEXT_FORMATS[0],
    standing: Standing | None = None,
) -> Fitted:
    """The results for the brain's next prompt, fitted to `budget` characters (see wild_ci/context.py:
    detail is cut first, every cut says what it left out, every experiment keeps a line).

    `context_format` wild-ci: the experiment_results block (context.txt.j2); wild-v2: the markdown
    the original Wild V2 prompt expects (context-wild-v2.md.j2), each experiment's output the last
    WILD_V2_OUTPUT_CHARS characters of its stdout and stderr.

    `standing` (default: none known, so no changes and no best so far) gives the per-experiment
    changes and the short best-so-far section (at most BEST_IN_CONTEXT metrics, each line at most
    BEST_LINE_CHARS)."""
    standing = standing or Standing.of(results, complete=False)
    cells = standing.cells(results)
    metrics_of = {r.id: metric_parts(standing, cells[r.id]) for r in results.experiments}
    main_of = {r.id: main_metric(standing, cells[r.id]) for r in results.experiments}
    wild_v2 = context_format == "wild-v2"
    shown = _wild_v2_outputs(results) if wild_v2 else results
    header = _Header.of(results, best_lines(standing), len(standing.best))

    def render_at(detail: Detail) -> str:
        views = experiment_views(shown, detail, metrics_of, main_of, header)
        values = header.values(detail, budget)
        unsandboxed = sandbox_line(results)  # said once, at the top, in both formats
        if wild_v2:
            return render(
                "context-wild-v2.md.j2", heading=WILD_V2_HEADING, views=views, sandbox=unsandboxed, **values
            )
        return render("context.txt.j2", results=results, views=views, sandbox=unsandboxed, **values)

    fitted = fit(render_at, budget, ladder(shown, {k: len(v) for k, v in metrics_of.items()}))
    if fitted.fits:
        return fitted
    return dataclasses.replace(fitted, text=_over_budget(fitted))


def _over_budget(fitted: Fitted) -> str:
    """The floor, saying under its first line that it is over the budget, and by how much."""
    head, _, rest = fitted.text.partition("\n")  # the block's opening tag, or wild-v2's heading
    return f"{head}\n{too_small(fitted)} It is shown whole all the same.\n{rest}"


@dataclass(frozen=True)
class _Header:
    """What the context says once, above the experiments."""

    counts: str
    ran: str
    workdir: str | None  # every experiment's (said once), else None
    env: str | None
    best: list[str]
    best_total: int
    warnings: list[str]
    invalid: list[str]
    notes: list[str]
    left_out: list[str]

    @classmethod
    def of(cls, results: IterationResults, best: list[str], best_total: int) -> _Header:
        experiments = results.experiments
        return cls(
            counts=counts_line(results),
            ran=one_line(how_they_ran(results), 600),
            workdir=common([brain_path(results, r) for r in experiments]),
            env=common([env_text(r.env) for r in experiments]),
            best=best,
            best_total=best_total,
            warnings=[one_line(str(w), 500) for w in results.warnings],
            invalid=[
                f"line {item.line or '?'}" + (f" ({one_line(item.goal, 200)})" if item.goal else "")
                + f": {one_line('; '.join(str(e) for e in item.errors), 2000)}"
                for item in results.invalid
            ],
            notes=[one_line(note, 300) for note in results.notes],
            left_out=[one_line(str(item), 400) for item in results.left_out],
        )  # fmt: skip

    def values(self, detail: Detail, budget: int) -> dict[str, Any]:
        """The template's values at `detail`: each list cut to `detail.items`, with how many more."""
        shown = detail.items

        def cut(items: list[str], total: int | None = None, most: int | None = None) -> tuple[list[str], int]:
            limit = min(n for n in (shown, most, len(items)) if n is not None)
            return items[:limit], (len(items) if total is None else total) - limit

        best, best_more = cut(self.best, self.best_total)
        warnings, warnings_more = cut(self.warnings)
        invalid, invalid_more = cut(self.invalid)
        notes, notes_more = cut(self.notes)
        left_out, left_out_more = cut(self.left_out, most=LEFT_OUT_SHOWN)
        cut_note = (
            f"Shortened to fit {budget:,} characters; each cut says what it left out ({WHOLE_LOGS})."
            if detail != Detail()
            else ""
        )
        return {
            "counts": self.counts, "ran": self.ran, "cut_note": cut_note,
            "workdir": one_line(self.workdir, 300) if self.workdir is not None else None,
            "env": one_line(self.env, 600) if self.env is not None else None,
            "best": best, "best_more": best_more, "warnings": warnings, "warnings_more": warnings_more,
            "invalid": invalid, "invalid_more": invalid_more, "notes": notes, "notes_more": notes_more,
            "left_out": left_out, "left_out_more": left_out_more,
            **_filters(),
        }  # fmt: skip


@dataclass(frozen=True)
class ExperimentView:
    """One experiment as the context shows it at some detail: every text already made safe."""

    number: int
    id: str
    status: str
    passed: bool
    facts: str  # after the status: exit code (of a failure), wall and CPU time, GPUs
    exit: str  # ` · exit 2` (a failure's), for the one-line form
    main: str  # its main metric, for the one-line form
    goal: str = ""
    id_says_goal: bool = False  # the id is the goal's words: the goal is not said again
    where: str = ""  # workdir and env, when they differ between experiments
    command: str = ""  # as the brain wrote it, without the parameters' flags (cut to fit)
    run: str = ""  # the whole command, the flags included (cut to fit): Wild V2 shows this one
    parameters: str = ""
    metrics: str = ""
    attempts: str = ""
    note: str = ""
    outputs: str = ""
    stdout: str = ""
    stderr: str = ""
    one_line: bool = False  # shown as one line (cut to fit)


def experiment_views(
    results: IterationResults,
    detail: Detail,
    metrics_of: Mapping[str, list[str]],
    main_of: Mapping[str, str],
    header: _Header,
) -> list[ExperimentView]:
    """The experiments at `detail`: the first `detail.sections` with a section, the rest one line."""
    views = []
    for number, r in enumerate(results.experiments, 1):
        brief = ExperimentView(
            number, one_line(r.id, 100), str(r.status), r.status == Status.SUCCEEDED, _facts(r),
            _facts(dataclasses.replace(r, duration_s=None, gpus=None)), main_of.get(r.id, ""),
        )  # fmt: skip
        if detail.sections is not None and number > detail.sections:
            views.append(dataclasses.replace(brief, one_line=True))
            continue
        views.append(_section(results, r, brief, detail, metrics_of.get(r.id, []), header))
    return views


def _facts(r: ExperimentResult) -> str:
    """` · exit 2 · 12.3 s, CPU 11.8 s · GPU 0`: what is not implied by the status."""
    parts = []
    if r.status != Status.SUCCEEDED and (r.exit_code is not None or r.signal):
        parts.append(f"exit {exit_text(r)}" if r.exit_code is not None else exit_text(r))
    if r.duration_s is not None:
        cpu = f", CPU {duration(r.cpu_s)}" if r.cpu_s is not None else ""
        parts.append(f"{duration(r.duration_s)}{cpu}")
    if r.gpus:
        parts.append(gpus_text(r))
    return "".join(f" · {p}" for p in parts)


def _section(
    results: IterationResults,
    r: ExperimentResult,
    brief: ExperimentView,
    detail: Detail,
    metrics: list[str],
    header: _Header,
) -> ExperimentView:
    where = []
    if header.workdir is None:
        where.append(f"workdir: {one_line(brain_path(results, r), 300) or '(the repository root)'}")
    if header.env is None:
        where.append(f"env: {one_line(env_text(r.env), 600) or '(none)'}")
    command, parameters = split_flags(r.command, r.parameters)
    command = cut_text(command, detail.command_chars)
    shown = metrics if detail.metrics is None else metrics[: detail.metrics]
    more = len(metrics) - len(shown)
    metrics_text = ", ".join(shown) + (
        f", … and {more:,} more metric{'s' * (more != 1)} in results.json" if more else ""
    )
    stdout, stderr = share_tails(
        dataclasses.replace(
            r, stdout_tail=mapped(r.stdout_tail, results, r), stderr_tail=mapped(r.stderr_tail, results, r)
        ),
        detail.tail_chars,
    )
    return dataclasses.replace(
        brief,
        goal=one_line(r.goal, 300),
        id_says_goal=slugify(r.goal) == r.id,
        where=" · ".join(where),
        command=command,
        run=cut_text(r.command, detail.command_chars),
        parameters=parameters_text(parameters, 20, 2000) if parameters else "",
        metrics=metrics_text,
        attempts=one_line(attempts_text(r), 1000),
        note=one_line(mapped(r.note or "", results, r), 1000),
        outputs=one_line(cut_text(outputs_text(r), detail.command_chars), 2000),
        stdout=_stream(stdout, detail.tail_chars),
        stderr=_stream(stderr, detail.tail_chars),
    )


def outputs_text(r: ExperimentResult) -> str:
    """The output names a record lists, and how many more the leg kept (`outputs_total`)."""
    more = (r.outputs_total or 0) - len(r.outputs)
    return ", ".join(r.outputs) + (f" and {more} more (in the artifact)" if more > 0 else "")


def _stream(text: str, allowance: int | None) -> str:
    """An output tail after its label: a fenced block, or inline when it was cut away whole."""
    if not text:
        return ""
    if allowance == 0:
        return " " + defuse(visible(text.strip("[]"), multiline=False))
    return "\n" + fenced(text)


def split_flags(command: str, parameters: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """(the command as the brain wrote it, its parameters) when the command ends with the
    parameters' flags (as wild-ci appends them), so they are said once; else both whole."""
    suffix = final_command("", dict(parameters)) if parameters else ""
    if suffix and command.endswith(suffix):
        return command[: -len(suffix)], parameters
    return command, parameters


def number_text(value: Any) -> str:
    """A number for brains and people: six significant digits (results.json keeps every digit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def best_lines(standing: Standing) -> list[str]:
    """The context's best-so-far section: a line per metric (declared ones first), capped."""
    lines = []
    for line in standing.best[:BEST_IN_CONTEXT]:
        kind = line.kind
        way = kind.way + (", guessed from the name" if kind.guessed else "")
        lines.append(one_line(f"{kind.name} ({way}): {best_text(line)}", BEST_LINE_CHARS))
    return lines


def metric_parts(standing: Standing, cells: dict[str, Cell]) -> list[str]:
    """An experiment's metrics for the brain: measured ones only, six significant digits, each with
    its change since the same run (same goal and parameters) in the previous iteration and its marks."""
    parts = []
    for name, cell in cells.items():
        text = f"{one_line(name, 100)}={number_text(cell.value)}"
        notes = []
        if cell.change is not None and standing.previous is not None:
            notes.append(f"{change_text(cell.change)} since {standing.previous.label}")
        if cell.best_so_far and not cell.replicated:
            notes.append("best single run so far, unreplicated")
        elif cell.sets_best:
            notes.append("new best configuration")
        elif cell.best_so_far:
            notes.append("in the best configuration")
        elif cell.best_here:
            notes.append(best_here_text(cell))
        parts.append(text + (f" ({'; '.join(notes)})" if notes else ""))
    return parts


def best_here_text(cell: Cell) -> str:
    """★ in words: the iteration's best configuration with its mean and n — a replicate is marked as
    one run of it, never as a finding of its own — or, when nothing was replicated, a single run."""
    if cell.here is None:
        return "best of this iteration, a single run (unreplicated)"
    return f"best configuration of this iteration: mean {number_text(cell.here.mean)}, n {cell.here.n}"


def context_metrics(standing: Standing, cells: dict[str, Cell]) -> str:
    return ", ".join(metric_parts(standing, cells))


def main_metric(standing: Standing, cells: dict[str, Cell]) -> str:
    """The metric an experiment's one-line form keeps: the first declared one it measured, else its
    first (`acc=0.973412`); empty when it measured none."""
    name = next((n for n in standing.declared if n in cells), next(iter(cells), None))
    if name is None:
        return ""
    return f"{one_line(name, 60)}={number_text(cells[name].value)}"


def _wild_v2_outputs(results: IterationResults) -> IterationResults:
    """A copy whose stdout tail is the experiment's output as Wild V2 showed it: stdout then stderr,
    its last WILD_V2_OUTPUT_CHARS characters (and no stderr tail apart)."""
    experiments = []
    for r in results.experiments:
        output = "\n".join(tail for tail in (r.stdout_tail, r.stderr_tail) if tail)
        if len(output) > WILD_V2_OUTPUT_CHARS:
            output = output[-WILD_V2_OUTPUT_CHARS:]
            start = output.find("\n")
            if 0 <= start < WILD_V2_OUTPUT_CHARS // 4:  # from a whole line, unless that costs much
                output = output[start + 1 :]
        experiments.append(dataclasses.replace(r, stdout_tail=output, stderr_tail=""))
    return dataclasses.replace(results, experiments=experiments)
