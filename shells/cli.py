"""The `rag` command line: ask, retrieve, ingest and the index. The chat (`rag serve`) and the
eval harness (`rag eval`) join as plugins through the `kuril_rag.commands` entry points, the way
simonw/llm plugins register commands, so this module imports neither.

Heavy libraries load inside commands so `rag --help` stays instant.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.metadata import entry_points
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
    status,
)

PLUGIN_GROUP = "kuril_rag.commands"

app = typer.Typer(help="Cited answers about Russia–Japan relations and the Kuril Islands dispute.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
index_app = typer.Typer(help="Inspect or rebuild the persisted index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

QuestionArg = Annotated[Optional[str], typer.Argument(
    metavar="QUESTION", help="the question (or give --batch)", show_default=False)]
DocOpt = Annotated[Optional[list[str]], typer.Option(
    "--doc", help="only search this article (doc_id, see `rag index info`); repeatable", show_default=False)]
JsonOpt = Annotated[bool, flag("--json", help="print one JSON object per question")]
BatchOpt = Annotated[Optional[Path], typer.Option(
    "--batch", help="JSONL file of {question, id?} lines (answers print as JSON lines)", show_default=False)]


def _read_batch(path: Path) -> list[dict]:
    """JSON lines, each decoded strictly: a line that is not UTF-8 is named, not half-read."""
    items = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        fail(f"cannot read batch file {path}: {exc.strerror or exc}")
    for n, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            fail(f"{path}:{n}: not valid UTF-8 (byte 0x{raw[exc.start]:02X} at column {exc.start + 1}); "
                 "save the file as UTF-8")
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{path}:{n}: not valid JSON ({exc.msg})")
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            fail(f"{path}:{n}: each line needs a string field 'question'")
        items.append(item)
    return items


def _one_source(question: str | None, batch: Path | None) -> None:
    """Exactly one of the two, or typer's usage and the error (exit 2), before anything loads."""
    if question is None and batch is None:
        raise typer.BadParameter("missing (or give --batch FILE)", param_hint="'QUESTION'")
    if question is not None and batch is not None:
        raise typer.BadParameter("give a QUESTION or --batch FILE, not both", param_hint="'QUESTION'")


def _questions(question: str | None, batch: Path | None, max_chars: int) -> list[dict]:
    """Validate every question before any model loads: bad input costs nothing."""
    from rag.errors import InvalidQuestion
    from rag.questions import validate_question

    items = _read_batch(batch) if batch else [{"question": question}]
    for n, item in enumerate(items, start=1):
        try:
            validate_question(item["question"], max_chars)
        except InvalidQuestion as exc:
            where = f"{batch}: question {item.get('id', n)}: " if batch else ""
            fail(f"invalid question: {where}{exc}")
    return items


def _json_line(item: dict, payload: dict) -> None:
    typer.echo(json.dumps(({"id": item["id"]} if "id" in item else {}) | payload, ensure_ascii=False))


@app.command()
def ask(
    question: QuestionArg = None, k: KOpt = None, llm: LLMOpt = None, local_model: ModelOpt = None,
    doc: DocOpt = None, as_json: JsonOpt = False, batch: BatchOpt = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", metavar="",
                                         help="show the answer as it is written (terminals only)")] = True,
    config: ConfigOpt = None,
):
    """Answer a question with numbered citations to the articles."""
    from shells.terminal import answer_text, ask_live

    _one_source(question, batch)
    settings = build_settings(config, k=k, llm=llm, local_model=local_model)
    items = _questions(question, batch, settings.max_question_chars)
    assistant = load_assistant(settings, preload_llm=True)
    with guard():
        for item in items:
            if as_json or batch:
                _json_line(item, assistant.ask(item["question"], doc_ids=doc).to_dict())
            elif stream:
                ask_live(assistant, item["question"], doc)
            else:
                answer_text(assistant.ask(item["question"], doc_ids=doc))


@app.command()
def compare(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="the question", show_default=False)],
    k: KOpt = None, llm: LLMOpt = None, local_model: ModelOpt = None, doc: DocOpt = None,
    as_json: Annotated[bool, flag("--json", help="print one JSON object")] = False, config: ConfigOpt = None,
):
    """Who says what: each article's own cited answer (or silent), where they agree and differ."""
    from shells.terminal import comparison_text

    settings = build_settings(config, k=k, llm=llm, local_model=local_model)
    _questions(question, None, settings.max_question_chars)
    assistant = load_assistant(settings)
    with guard(), status("each article answers in turn…"):
        comparison = assistant.compare(question, doc_ids=doc)
    if as_json:
        typer.echo(json.dumps(comparison.to_dict(), ensure_ascii=False))
    else:
        comparison_text(comparison)


@app.command()
def retrieve(
    question: QuestionArg = None, k: KOpt = None, doc: DocOpt = None, as_json: JsonOpt = False,
    batch: BatchOpt = None,
    mode: Annotated[Literal["hybrid", "dense", "bm25", "sentences"], typer.Option(
        help="which ranking: all fused, or one alone")] = "hybrid",
    config: ConfigOpt = None,
):
    """Show the passages retrieval finds for a question (no LLM)."""
    _one_source(question, batch)
    settings = build_settings(config, k=k)
    items = _questions(question, batch, settings.max_question_chars)
    assistant = load_assistant(settings)
    with guard():
        for item in items:
            passages = assistant.retrieve(item["question"], doc_ids=doc, mode=mode)
            if as_json or batch:
                _json_line(item, {"question": item["question"], "results": [p.to_dict() for p in passages]})
            else:
                for p in passages:
                    typer.echo(f"{p.rank}. [{p.chunk.doc_id}] {p.chunk.title} ({p.score:.4f})\n   "
                               f"{p.chunk.text[:300]}\n")


def _event_line(event) -> str:
    """One event as a line: date, precision, label, the articles citing it; a conflict names each date."""
    docs = ", ".join(event.doc_ids)
    line = f"{event.date:<10}  {event.precision:<5}  {event.label}  [{docs}]"
    if event.conflict:
        dates = "; ".join(dict.fromkeys(f"{c['doc_id']}: {c['date']}" for c in event.citations))
        line += f"\n{'':<19}CONFLICT: the articles date it differently ({dates})"
    return line


@app.command()
def timeline(
    date_from: Annotated[Optional[str], typer.Option(
        "--from", metavar="DATE", help="only events from this date (YYYY, YYYY-MM or YYYY-MM-DD)",
        show_default=False)] = None,
    date_to: Annotated[Optional[str], typer.Option(
        "--to", metavar="DATE", help="only events up to this date (inclusive)", show_default=False)] = None,
    doc: Annotated[Optional[list[str]], typer.Option(
        "--doc", help="only events this article reports (doc_id, see `rag index info`); repeatable",
        show_default=False)] = None,
    query: Annotated[Optional[str], typer.Option(
        "--query", help="only events whose sentences hold every word of this text", show_default=False)] = None,
    as_json: Annotated[bool, flag("--json", help='print {"events": [...]} as JSON')] = False,
    config: ConfigOpt = None,
):
    """The dated events the articles mention, in order, each cited; conflicting dates are marked (no LLM)."""
    assistant = load_assistant(build_settings(config))
    with guard():
        events = assistant.timeline(date_from, date_to, doc, query)
    if as_json:
        typer.echo(json.dumps({"events": [e.to_dict() for e in events]}, ensure_ascii=False, indent=2))
        return
    for event in events:
        typer.echo(_event_line(event))
    typer.echo(f"{len(events)} events", err=True)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help=".txt .md .html .pdf files or folders")],
    ray: Annotated[bool, flag("--ray", help="read, chunk and embed on Ray Data (a local Ray instance unless "
                                            "--ray-address names a cluster); needs the `scale` extra")] = False,
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", metavar="ADDRESS", help="join this Ray cluster (e.g. ray://head:10001 or auto); implies --ray",
        show_default=False)] = None,
    config: ConfigOpt = None,
):
    """Add articles to the corpus and the index (exact duplicates are skipped)."""
    settings = build_settings(config)
    with guard(note=" (nothing was added; the index is unchanged)"):
        from rag.embedders import make_embedder
        from rag.ingest import ingest_paths

        if ray or ray_address:
            from rag.ingest_ray import ingest_paths_ray

            report = ingest_paths_ray(paths, settings, make_embedder(settings), ray_address, progress_factory)
        else:
            report = ingest_paths(paths, settings, make_embedder(settings), progress_factory)
    for doc_id in report.added:
        typer.echo(f"added {doc_id}")
    for path in report.skipped:
        typer.echo(f"skipped {path} (already in the corpus)")
    typer.echo(f"{len(report.added)} added, {len(report.skipped)} skipped, {report.chunks_added} chunks indexed")


@index_app.command("info")
def index_info(config: ConfigOpt = None, as_json: JsonOpt = False):
    """Show the live index's manifest (exit 1 when there is none)."""
    settings = build_settings(config)
    with guard():
        from rag.index import load_index
        from rag.stores.factory import location

        index = load_index(settings.index_dir)
        manifest = index.manifest
    if as_json:
        typer.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    typer.echo(f"index:     {settings.index_dir}\ncorpus:    {settings.corpus_dir}\nembedding: "
               f"{manifest['embedding_model']} ({manifest['dimension']}d)\nchunking:  {manifest['chunking']}\n"
               f"chunks:    {manifest['chunk_count']}\nstore:     {location(index.store_description)}\n"
               f"created:   {manifest['created']}")
    for doc_id, doc in manifest["documents"].items():
        typer.echo(f"  {doc_id}  {doc['title']}")


@index_app.command("rebuild")
def index_rebuild(
    config: ConfigOpt = None,
    if_needed: Annotated[bool, flag("--if-needed", help="only when missing or out of date for the corpus and "
                                                        "settings")] = False,
):
    """Build the index from the corpus folder (a new data folder starts with the bundled articles)."""
    settings = build_settings(config)
    with guard():
        from rag.embedders import make_embedder
        from rag.ingest import ensure_index, rebuild_index

        embedder = make_embedder(settings)
        build = ensure_index if if_needed else rebuild_index
        index = build(settings, embedder, progress_factory=progress_factory)
    typer.echo(f"index ready: {index.manifest['chunk_count']} chunks from {len(index.documents)} articles "
               f"in {settings.index_dir}")


@cache
def full_app() -> typer.Typer:
    """The app with the commands of installed shells: each entry point is a function taking the app."""
    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()(app)
    return app


def main() -> None:
    full_app()()


if __name__ == "__main__":
    main()
