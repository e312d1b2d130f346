"""Benchmark: how wild-ci scales with the number of experiments in one brain output (issue #7, item 5).

Run: python bench/scale_bench.py        (1-2 minutes on 2 cores; nothing to set up)

Every measurement runs in a fresh subprocess (the script re-invokes itself with --one-generate N
SHAPE, --prepare-collect N DIR or --one-collect N DIR), so each peak RSS belongs to that N alone:
resource.getrusage(RUSAGE_SELF).ru_maxrss read in the child, the Python process only (the git
commands wild-ci starts are processes of their own and are not counted).

Brain outputs come in three shapes, all with unique, varied goals and commands (training runs with
--lr/--seed flags, parameter sweeps with a workdir and JSON parameters, evaluations with env,
ablations, shell pipelines):
  canonical  quoted strings, JSON parameters, timeouts in seconds: the subset wild-ci's fast reader
             takes. Goals of 40-60 characters, so ids reach the 48-character cap.
  readme     the same experiments written with forms the README documents (`timeout: 30m`, a
             multi-line `command: |`, `workdir: .`): any one of them sends the block to PyYAML.
  short      canonical, with short goals ("lr 0.001 seed 7"): ids of ~20 characters.

Table 1, parse + generate, N = 10, 100, 1000, 10000 per shape:
  parse s     read_brain_output (decode + parse + validate), best of 3 when a run is under 1 s
  p+gen s     parse s + the whole `submit` given that parse, as the CLI does it (map workdirs,
              experiments.json, render the workflow, build the tree, commit on wild/main) into a
              fresh git repository; when submit refuses or fails, the time until it did
  base MB     the child's RSS after imports and a warm-up parse of 5 experiments
  peak MB     the child's peak RSS after the submit; +MB = peak - base
  wf KB       the rendered workflow's size (GitHub refuses files over 500 KB)
  jobs        matrix jobs (shards) in it; legs: the largest matrix (GitHub: at most 256)
  GitHub      ok when within both limits
  outcome     committed, or why not (wild-ci's own message, or the exception)

Table 2, collect, N = 10, 100, 1000, and 10000 when its submit commits (table 1, canonical) and
the 1000 figures project it within the budget:
a submit of N canonical experiments and N leg folders as `wild-ci execute` leaves them (result.json
with the fields execute writes, stdout.log ~2.5 KB, stderr.log ~0.4-0.6 KB; succeeded with metrics,
failed, timed_out, setup_failed, a leg killed while `running`, and a few with no folder), made in
another subprocess and not timed. Then, in a fresh child:
  collect s   collect_results(spec, artifacts, commit): every leg folder read into results
  commit s    commit_locally: results.json, results.md and the metrics chart, committed on wild/main
  chart s     the part of commit s spent in chart.metrics_png (matplotlib, when installed)
  base/peak/+MB as above; json KB: the committed results.json

Table 3, growth: cost per experiment in ms at each N, and in brackets its change from the previous N
(x1.0: linear; x10 at a tenfold N: quadratic). "*" marks a run that ended refused or failed.

The goals of the issue, printed with PASS/MISS: 10,000 experiments parse + generate in under 2 s,
in under 200 MB peak memory; and a third verdict, whether that iteration was committed at all (the
time and memory of a refused or failed submit are those up to the refusal or failure).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [10, 100, 1000, 10_000]
SHAPES = ["canonical", "readme", "short"]
GOAL_SECONDS, GOAL_MB = 2.0, 200.0
BUDGET_S = 170.0  # the whole script; a 10,000-leg collect projected past it is skipped, and said so
PROJECT = "/home/researcher/project"
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
MODELS = ["resnet18", "resnet50", "vit-small", "gpt2-mini", "mlp-wide", "convnext-tiny"]
DATASETS = ["cifar10", "cifar100", "imagenet-64", "tiny-shakespeare", "wikitext-2"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def make_repo(folder: Path) -> Path:
    """A small project repository with one commit, like the one a brain works in."""
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", "-b", "main"], cwd=folder, check=True)
    (folder / "train.py").write_text("import sys\nprint(sys.argv)\n")
    (folder / "configs").mkdir()
    (folder / "configs" / "base.yaml").write_text("epochs: 10\n")
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "--quiet", "-m", "init"], cwd=folder, check=True)
    return folder


def brain_output(n: int, shape: str = "canonical") -> bytes:
    """N experiments in the given shape (see the module docstring)."""
    readme = shape == "readme"
    items = []
    for i in range(n):
        lr = round(10 ** -(2 + (i % 5) * 0.5), 6)
        model, data = MODELS[i % len(MODELS)], DATASETS[i % len(DATASETS)]
        minutes = 30 + i % 90
        timeout = f"{minutes}m" if readme else str(minutes * 60)
        kind = i % 5
        if shape == "short":
            items.append(f'- goal: "lr {lr} seed {i}"\n  command: "python train.py --lr={lr} --seed={i}"\n')
        elif kind == 0:
            items.append(
                f'- goal: "Train model variant {i} with lr {lr}"\n'
                f'  command: "python train.py --lr={lr} --seed={i} --model={model}"\n'
            )
        elif kind == 1:
            items.append(
                f'- goal: "Sweep {model} on {data}, point {i}"\n'
                f'  command: "cd {PROJECT} && python train.py --config configs/base.yaml"\n'
                f'  workdir: "{PROJECT}"\n'
                f'  parameters: {{"lr": {lr}, "seed": {i}, "batch_size": {32 << (i % 4)}, '
                f'"tag": "sweep {i}"}}\n'
                f"  timeout: {timeout}\n"
            )
        elif kind == 2:
            items.append(
                f'- goal: "Evaluate checkpoint {i} of {model} on the {data} test split"\n'
                f'  command: "python eval.py --checkpoint=runs/{model}/{i}/best.pt --split=test"\n'
                f"  timeout: {timeout}\n"
                f'  env: {{"CUDA_VISIBLE_DEVICES": "{i % 2}", "WANDB_MODE": "offline"}}\n'
            )
        elif kind == 3 and readme:
            items.append(
                f'- goal: "Ablate dropout {0.05 * (i % 7):.2f} in {model}, run {i}"\n'
                f"  command: |\n"
                f"    export PYTHONHASHSEED={i}\n"
                f"    python train.py --dropout={0.05 * (i % 7):.2f} --epochs=3 --seed={i}\n"
                f"  workdir: .\n"
            )
        elif kind == 3:
            items.append(
                f'- goal: "Ablate dropout {0.05 * (i % 7):.2f} in {model}, run {i}"\n'
                f'  command: "export PYTHONHASHSEED={i}; python train.py --dropout={0.05 * (i % 7):.2f} '
                f'--epochs=3 --seed={i}"\n'
            )
        else:
            items.append(
                f'- goal: "Check tokenizer throughput on {data} shard {i}"\n'
                f'  command: "python -m bench.tokenize --shard={i} --workers=4 2>&1 | tail -n 20"\n'
            )
    prose = "The last sweep showed the loss plateauing after 2k steps, so I will widen the search.\n" * 15
    text = (
        f"{prose}<plan>Sweep, evaluate, ablate.</plan>\n<experiments>\n{''.join(items)}</experiments>\n"
        "<summary>A wide sweep.</summary>\n<promise>WAITING</promise>\n"
    )
    return text.encode()


def config_for(n: int):
    from wild_ci.config import Config, Limits

    return Config(project_root=PROJECT, limits=Limits(max_experiments=max(n, 1000)))


# --- children: one measurement each ---------------------------------------------------------------


def one_generate(n: int, shape: str) -> dict:
    """Parse, then submit with that parse (as the CLI does); peak RSS read right after the submit."""
    from wild_ci import generate
    from wild_ci.engines.github import workflow

    config = config_for(n)
    for warm in SHAPES:  # first-use costs (regexes, lazy imports) stay out of the figures
        generate.read_brain_output(brain_output(5, warm), config.limits)
    base = rss_mb()
    data = brain_output(n, shape)
    rendered: list[int] = []
    original_render = workflow.render

    def render_spy(*args, **kwargs):  # the workflow's size even when submit refuses it
        text = original_render(*args, **kwargs)
        rendered.append(len(text.encode()))
        return text

    workflow.render = render_spy
    parse_times: list[float] = []
    while len(parse_times) < 3 and sum(parse_times) < 1.0:
        start = time.perf_counter()
        parsed = generate.read_brain_output(data, config.limits)
        parse_times.append(time.perf_counter() - start)
    assert parsed.ok and len(parsed.experiments) == n, parsed.errors[:3]
    shards = workflow.shard_legs(parsed.experiments, config.runs_on)
    with tempfile.TemporaryDirectory(prefix="wild-ci-scale-") as tmp:
        repo = make_repo(Path(tmp) / "repo")
        start = time.perf_counter()
        try:
            submission = generate.submit(repo, data, config=config, parsed=parsed)
            outcome = "committed" if submission and len(submission.spec.experiments) == n else "?"
        except generate.InvalidBrainOutput as exc:
            outcome = f"refused: {exc}"
        except Exception as exc:  # measured as it happens: a failure is a finding too
            outcome = f"failed: {exc.__class__.__name__}: {exc}"
        submit_s = time.perf_counter() - start
        peak = rss_mb()
    return {
        "n": n,
        "shape": shape,
        "brain_bytes": len(data),
        "parse_s": min(parse_times),
        "total_s": min(parse_times) + submit_s,
        "base": base,
        "peak": peak,
        "workflow_bytes": rendered[-1] if rendered else None,
        "jobs": len(shards),
        "max_legs": max(len(s.ids) for s in shards),
        "outcome": outcome,
    }


def stdout_log(i: int) -> str:
    lines = [f"[train] experiment {i}: model={MODELS[i % len(MODELS)]} data={DATASETS[i % len(DATASETS)]}"]
    for step in range(0, 2000, 50):
        loss = 2.5 / (1 + step / 300) + (i % 13) * 0.001
        lines.append(f"step {step:5d}  loss {loss:.4f}  lr {1e-3:.1e}  throughput {900 + i % 97} samples/s")
    lines.append(f"final: loss={loss:.4f} accuracy={0.6 + (i % 37) / 100:.3f}")
    return "\n".join(lines) + "\n"


def stderr_log(i: int, status: str) -> str:
    text = "".join(f"warning: dataloader worker {w} slow to start (seed {i})\n" for w in range(8))
    if status == "failed":
        text += (
            "Traceback (most recent call last):\n"
            '  File "train.py", line 88, in <module>\n    main()\n'
            '  File "train.py", line 61, in main\n    loss.backward()\n'
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
        )
    elif status == "setup_failed":
        text += "ERROR: Could not find a version that satisfies the requirement torch==9.9\n"
    return text


def leg_status(i: int) -> str | None:
    """Mostly successes; None: the leg left no artifact folder at all."""
    if i % 97 == 96:
        return None
    return {7: "failed", 11: "timed_out", 13: "setup_failed", 17: "running"}.get(i % 20, "succeeded")


def write_legs(spec, artifacts: Path) -> None:
    """The folders `wild-ci execute` leaves: result.json (as execute writes it), stdout.log, stderr.log."""
    from wild_ci.layout import artifact_name

    for i, experiment in enumerate(spec.experiments):
        status = leg_status(i)
        if status is None:
            continue
        folder = artifacts / artifact_name(spec.iteration, experiment.id)
        folder.mkdir(parents=True)
        out, err = stdout_log(i), stderr_log(i, status)
        (folder / "stdout.log").write_text(out)
        (folder / "stderr.log").write_text(err)
        finished = status != "running"
        result = {
            "id": experiment.id,
            "goal": experiment.goal,
            "command": experiment.run,
            "status": status,
            "exit_code": {"succeeded": 0, "failed": 1}.get(status),
            "duration_s": round(30 + (i % 600) * 1.7, 3) if finished else None,
            "started_at": "2026-05-09T07:00:00+00:00",
            "finished_at": "2026-05-09T07:12:31+00:00" if finished else None,
            "stdout_tail": "",
            "stderr_tail": "",
            "stdout_bytes": len(out),
            "stderr_bytes": len(err),
            "outputs": ["outputs/model.pt", "outputs/curve.csv"] if status == "succeeded" else [],
            "runner": f"runner-{i % 8}",
            "commit": spec.source_commit,
            "workdir": experiment.repo_workdir,
            "signal": 15 if status == "timed_out" else None,
            "note": None,
            "executed_command": experiment.run.replace(PROJECT, "/home/runner/work/project/project"),
            "metrics": (
                {"loss": round(0.3 + (i % 53) / 100, 4), "accuracy": round(0.6 + (i % 37) / 100, 4)}
                if status == "succeeded"
                else {}
            ),
            "environment": {
                "setup": "auto",
                "found": ["requirements.txt"],
                "key": f"{i % 4:064x}",
                "path": "/home/runner/.cache/wild-ci/venvs/x",
                "reused": True,
                "seconds": 0.4,
            },
            "cpu_s": round(25 + (i % 600) * 1.5, 3) if finished else None,
            "os": "Linux 6.8.0-1021-azure",
            "python": "3.12.3",
        }
        (folder / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def prepare_collect(n: int, folder: Path) -> None:
    """Not measured: the iteration of N experiments on wild/main, and its N leg folders."""
    from wild_ci.generate import submit

    submission = submit(make_repo(folder / "repo"), brain_output(n), config=config_for(n))
    assert submission is not None
    write_legs(submission.spec, folder / "artifacts")


def one_collect(n: int, folder: Path) -> dict:
    """collect_results + commit_locally, as `wild-ci collect` does once the legs are done."""
    from wild_ci import chart, collect, layout, ledger

    base = rss_mb()
    repo = ledger.open_repo(folder / "repo")
    tip = ledger.branch_tip(repo, ledger.branch_name("main"))
    spec = collect.read_spec(repo, tip, 1)
    chart_times: list[float] = []
    original_chart = chart.metrics_png

    def chart_spy(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original_chart(*args, **kwargs)
        finally:
            chart_times.append(time.perf_counter() - start)

    chart.metrics_png = chart_spy
    start = time.perf_counter()
    results = collect.collect_results(spec, folder / "artifacts", tip)
    collect_s = time.perf_counter() - start
    start = time.perf_counter()
    outcome = collect.commit_locally(repo, results)
    commit_s = time.perf_counter() - start
    peak = rss_mb()
    assert outcome.created and len(results.experiments) == n
    as_json = ledger.read_file(repo, outcome.commit, layout.iteration_file(1, layout.RESULTS_JSON)) or b""
    return {
        "n": n,
        "collect_s": collect_s,
        "commit_s": commit_s,
        "chart_s": sum(chart_times),
        "chart": chart.available(),
        "base": base,
        "peak": peak,
        "json_bytes": len(as_json),
        "counts": results.counts(),
    }


# --- the parent: one child per measurement, then the tables ----------------------------------------


def child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env={**os.environ, **IDENTITY})  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def projected(rows: list[dict], n: int, seconds) -> float:
    """Seconds a run of N would take, from the growth between the last two rows (at least linear)."""
    a, b = rows[-2], rows[-1]
    per_a, per_b = seconds(a) / a["n"], seconds(b) / b["n"]
    return per_b * n * max(1.0, per_b / per_a) * 1.3


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_generate(rows: list[dict]) -> None:
    print("1. parse + generate: submit into a fresh repo, one fresh process per row")
    print(
        f"{'shape':<9} {'N':>6} {'brain KB':>8} {'parse s':>8} {'p+gen s':>8} {'base MB':>7} "
        f"{'peak MB':>7} {'+MB':>6} {'wf KB':>6} {'jobs':>4} {'legs':>4} {'GitHub':>6}  outcome"
    )
    for r in rows:
        size = r["workflow_bytes"]
        fits = size is not None and size <= 500 * 1024 and r["max_legs"] <= 256
        print(f"{r['shape']:<9} {r['n']:>6} {r['brain_bytes'] / 1024:>8.0f} {r['parse_s']:>8.3f} "
              f"{r['total_s']:>8.3f} {r['base']:>7.1f} {r['peak']:>7.1f} {r['peak'] - r['base']:>6.1f} "
              f"{size / 1024 if size else float('nan'):>6.1f} {r['jobs']:>4} {r['max_legs']:>4} "
              f"{'ok' if fits else 'OVER':>6}  {short(r['outcome'])}")  # fmt: skip
    print(
        f"   goals at N=10,000: parse + generate < {GOAL_SECONDS:.0f} s, peak < {GOAL_MB:.0f} MB, "
        "and the iteration committed"
    )
    for r in rows:
        if r["n"] == 10_000:
            done = r["outcome"] == "committed"
            why = "" if done else f" ({r['outcome'].split(':')[0]}: figures up to that point)"
            print(
                f"     {r['shape']:<9} {r['total_s']:7.3f} s {verdict(r['total_s'] < GOAL_SECONDS)}   "
                f"{r['peak']:6.1f} MB {verdict(r['peak'] < GOAL_MB)}   committed {verdict(done)}{why}"
            )
    print()


def print_collect(rows: list[dict], skipped: list[str]) -> None:
    print("2. collect: N leg folders -> collect_results + commit_locally, one fresh process per N")
    print(
        f"{'N':>6} {'collect s':>9} {'commit s':>8} {'chart s':>8} {'base MB':>7} {'peak MB':>7} "
        f"{'+MB':>6} {'json KB':>7}  statuses"
    )
    for r in rows:
        counts = " ".join(f"{k}={v}" for k, v in r["counts"].items())
        print(
            f"{r['n']:>6} {r['collect_s']:>9.3f} {r['commit_s']:>8.3f} {r['chart_s']:>8.3f} "
            f"{r['base']:>7.1f} {r['peak']:>7.1f} {r['peak'] - r['base']:>6.1f} "
            f"{r['json_bytes'] / 1024:>7.0f}  {counts}"
        )
    if rows:
        print(
            f"   chart rendered: {'yes (matplotlib installed)' if rows[0]['chart'] else 'no (no matplotlib)'}"
        )
    for line in skipped:
        print(f"   {line}")
    print()


def print_growth(generate: list[dict], collected: list[dict]) -> None:
    print("3. growth: ms per experiment (change from the previous N; x1.0 = linear, x10 = quadratic)")
    series: dict[str, dict[int, tuple[float, bool]]] = {}
    for r in generate:
        ok = r["outcome"] == "committed"
        series.setdefault(f"parse, {r['shape']}", {})[r["n"]] = (r["parse_s"], True)
        series.setdefault(f"parse+generate, {r['shape']}", {})[r["n"]] = (r["total_s"], ok)
    for r in collected:
        series.setdefault("collect_results", {})[r["n"]] = (r["collect_s"], True)
        series.setdefault("commit_locally", {})[r["n"]] = (r["commit_s"], True)
        series.setdefault("  of which chart", {})[r["n"]] = (r["chart_s"], True)
    print(f"{'':<26}" + "".join(f"{'N=' + str(n):>18}" for n in SIZES))
    for name, values in series.items():
        cells, previous = [], None
        for n in SIZES:
            if n not in values:
                cells.append(f"{'-':>18}")
                continue
            seconds, ok = values[n]
            per = seconds / n * 1000
            change = f"(x{per / previous:.1f})" if previous else ""
            cells.append(f"{per:>9.3f}{'' if ok else '*':1}{change:>8}")
            previous = per
        print(f"{name:<26}" + "".join(cells))


def main() -> None:
    started = time.perf_counter()
    import git

    import wild_ci

    git_version = ".".join(map(str, git.Git().version_info))
    print(
        f"wild-ci {wild_ci.__version__} scale benchmark · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · git {git_version} · {platform.platform()}"
    )
    print(
        f"goals (issue #7): 10,000 experiments parse + generate < {GOAL_SECONDS:.0f} s, "
        f"< {GOAL_MB:.0f} MB peak\n"
    )
    generate = [child("--one-generate", str(n), shape) for shape in SHAPES for n in SIZES]
    print_generate(generate)
    collected: list[dict] = []
    skipped_collect: list[str] = []
    for n in SIZES:
        submitted = [r for r in generate if r["n"] == n and r["shape"] == "canonical"]
        if submitted and submitted[0]["outcome"] != "committed":
            why = submitted[0]["outcome"].split(":")[0]
            skipped_collect.append(f"N={n} skipped: its submit is {why} (table 1, canonical)")
            break
        if len(collected) >= 2:
            guess = projected(collected, n, lambda r: r["collect_s"] + r["commit_s"]) + n / 250  # + set-up
            if time.perf_counter() - started + guess > BUDGET_S:
                last = collected[-1]
                share = last["chart_s"] / (last["collect_s"] + last["commit_s"])
                skipped_collect.append(
                    f"N={n} skipped: projected ~{guess:.0f} s ({share:.0%} of N={last['n']}'s time is "
                    f"the chart), past the {BUDGET_S:.0f} s budget"
                )
                break
        with tempfile.TemporaryDirectory(prefix="wild-ci-scale-") as tmp:
            child("--prepare-collect", str(n), tmp)
            collected.append(child("--one-collect", str(n), tmp))
    print_collect(collected, skipped_collect)
    print_growth(generate, collected)
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--one-generate":
        print(json.dumps(one_generate(int(sys.argv[2]), sys.argv[3])))
    elif len(sys.argv) >= 4 and sys.argv[1] == "--prepare-collect":
        prepare_collect(int(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "--one-collect":
        print(json.dumps(one_collect(int(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main()
