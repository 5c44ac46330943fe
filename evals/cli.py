"""`rag eval` scores the assistant against the gold set; `rag eval compare A B` diffs two runs.

The commands join the `rag` command line as a plugin (entry point `kuril_rag.commands`). Only
typer loads at import time (`rag --help` must stay instant); the harness and the models load
inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from shells.common import (
    ConfigOpt,
    KOpt,
    LLMOpt,
    ModelOpt,
    build_settings,
    fail,
    flag,
    guard,
    load_assistant,
    progress_factory,
)

eval_app = typer.Typer(help="Evaluate the assistant against the gold set: with no command, run the evaluation.")

GoldOpt = Annotated[Optional[Path], typer.Option("--gold", help="gold JSONL file (default: the bundled gold set)")]
SplitOpt = Annotated[Literal["dev", "heldout", "all"], typer.Option(help="which gold questions")]
RetrievalOnlyOpt = Annotated[bool, flag("--retrieval-only", help="score retrieval only (no LLM)")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="run folder (default: <home>/evals/runs/<UTC time>)")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", min=1, help="only the first N selected questions")]
BaselinesOpt = Annotated[bool, flag(
    "--compare-baselines",
    help="also the retrieval ablation (bm25, dense, sentences, hybrid rrf / weighted) and a closed-book baseline")]
FailUnderOpt = Annotated[Optional[list[str]], typer.Option(
    "--fail-under", metavar="METRIC=VALUE",
    help="exit 1 when a metrics.json metric (e.g. retrieval.recall@5) is below VALUE; repeatable")]
JudgeOpt = Annotated[bool, typer.Option(
    "--judge/--no-judge", metavar="",
    help="LLM-judged faithfulness and correctness when an OpenAI-compatible endpoint is set")]
CompareSourcesOpt = Annotated[bool, typer.Option(
    "--compare-sources/--no-compare-sources", metavar="",
    help="full runs: also score `rag compare` on evals/compare_gold.jsonl (the compare section, a few minutes)")]


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


def _gold_path(gold: Path | None) -> Path:
    from evals.harness import GOLD

    path = gold or GOLD
    if not path.is_file():
        fail(f"gold set not found: {path}")
    return path


@eval_app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context, gold: GoldOpt = None, split: SplitOpt = "all", retrieval_only: RetrievalOnlyOpt = False,
    llm: LLMOpt = None, local_model: ModelOpt = None, k: KOpt = None, out: OutOpt = None, limit: LimitOpt = None,
    compare_baselines: BaselinesOpt = False, fail_under: FailUnderOpt = None, judge: JudgeOpt = True,
    compare_sources: CompareSourcesOpt = True, config: ConfigOpt = None,
):
    """Run the gold set and write metrics.json, results.jsonl, report.md/html, qrels and TREC run files."""
    if ctx.invoked_subcommand is not None:
        return
    import time
    from datetime import datetime, timezone

    from evals import harness, report, timeline

    try:
        thresholds = [harness.parse_threshold(t) for t in fail_under or []]
    except ValueError as exc:
        fail(f"--fail-under: {exc}")
    gold_path = _gold_path(gold)
    settings = build_settings(config, k=k, llm=llm, local_model=local_model)
    started = datetime.now(timezone.utc)
    out = out or settings.home / "evals" / "runs" / started.strftime("%Y%m%d-%H%M%S")
    answer = not retrieval_only
    clock = time.perf_counter()
    assistant = load_assistant(settings)
    with guard():
        corpus = harness.Corpus.of(assistant)
        try:
            records, problems = harness.load_gold_set(gold_path, corpus.articles)
        except (OSError, ValueError) as exc:
            fail(f"gold set: {exc}")
        for problem in problems:
            typer.secho(f"warning: gold: {problem}", fg=typer.colors.YELLOW, err=True)
        selected = harness.select(records, split, limit)
        if not selected:
            fail(f"no gold questions in split {split!r}")
        if not judge:
            judge_llm, skipped = None, "--no-judge"
        elif retrieval_only:
            judge_llm, skipped = None, "retrieval-only run"
        else:
            judge_llm, skipped = harness.make_judge(settings)
        if skipped:
            typer.echo(f"judge tier skipped: {skipped}", err=True)
        rows = harness.run(assistant, selected, corpus, answer=answer, judge=judge_llm,
                           progress_factory=progress_factory, label="answering" if answer else "retrieving")
        retriever = assistant.retriever
        info = {"mode": "full" if answer else "retrieval-only", "split": split,
                "gold": harness.portable_path(gold_path, settings.home), "k": settings.k,
                "retrieval": {"mode": retriever.mode, "fusion": retriever.fusion, "weights": list(retriever.weights)},
                "evidence_tokens": settings.evidence_tokens, "embedder": assistant.embedder.name,
                "vector_store": assistant.index.store_description["backend"],
                "llm": assistant.llm().name if answer else None, "judge": judge_llm.name if judge_llm else None,
                "started": started.isoformat(timespec="seconds")}
        metrics = {"run": info} | harness.summarize(rows)
        metrics["timeline"] = timeline.evaluate(assistant)  # deterministic: every run, --retrieval-only too
        if answer and compare_sources:
            metrics["compare"] = harness.compare_section(assistant, corpus, progress_factory)
        if "judge" not in metrics:
            metrics["judge"] = {"skipped": skipped or "no answers to grade"}
        baseline_rows = None
        if compare_baselines:
            metrics["baselines"], baseline_rows = harness.run_baselines(
                assistant, selected, corpus, answer=answer, progress_factory=progress_factory)
    metrics["run"]["seconds"] = round(time.perf_counter() - clock, 1)
    written = report.write_run(out, metrics, rows, harness.chunk_qrels(selected, corpus), baseline_rows)
    typer.echo(report.text_table(*report.metric_table(metrics)))
    shown = ("recall", "precision", "date_accuracy")
    typer.echo("\ntimeline: " + ", ".join(f"{k} {metrics['timeline'][k]}" for k in shown))
    typer.echo(f"\nwrote {', '.join(str(p) for p in written)}")
    try:
        below = harness.below_thresholds(metrics, thresholds)
    except KeyError as exc:
        fail(f"--fail-under: {exc.args[0]}")
    for line in below:
        typer.secho(f"FAIL {line}", fg=typer.colors.RED, err=True)
    if below:
        raise typer.Exit(1)


@eval_app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="baseline run folder (A)")],
    run_b: Annotated[Path, typer.Argument(help="new run folder (B)")],
):
    """Print per-metric deltas (B − A) and the questions whose outcome or metrics changed."""
    from evals.harness import load_run
    from evals.report import comparison

    try:
        runs = load_run(run_a), load_run(run_b)
    except (OSError, ValueError) as exc:
        fail(f"cannot read run: {exc}")
    typer.echo(comparison(*runs))


@eval_app.command()
def qrels(
    gold: GoldOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="folder (default: evals/qrels)")] = None,
):
    """Write article-level BEIR qrels (query-id, corpus-id = doc_id, score) per split from the gold set."""
    from rag.gold import load_gold
    from evals.harness import QRELS_DIR, export_doc_qrels

    for path in export_doc_qrels(load_gold(_gold_path(gold)), out or QRELS_DIR):
        typer.echo(f"wrote {path}")
