"""The `rag` command line. Heavy libraries load inside commands so `rag --help` stays instant."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from evals.cli import eval_app  # typer only: the harness itself loads inside its commands

app = typer.Typer(help="Cited answers about Russia–Japan relations and the Kuril Islands dispute.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
index_app = typer.Typer(help="Inspect or rebuild the persisted index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML settings file (else $RAG_CONFIG, ./rag.toml)")]
KOpt = Annotated[Optional[int], typer.Option("--k", min=1, max=20, help="passages to retrieve")]
LLMOpt = Annotated[Optional[str], typer.Option("--llm", help="auto | local | openai | fake")]
ModelOpt = Annotated[Optional[str], typer.Option("--local-model", help="qwen2.5-coder-0.5b | qwen2.5-coder-1.5b")]
DocOpt = Annotated[Optional[list[str]], typer.Option("--doc", help="only search this article (doc_id); repeatable")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object (per question)")]
BatchOpt = Annotated[Optional[Path], typer.Option("--batch", help="JSONL file of {question, id?} lines")]


def fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def build_settings(config: Path | None, **overrides):
    from pydantic import ValidationError

    from rag.settings import load_settings

    try:
        return load_settings(config, **overrides)
    except (ValidationError, FileNotFoundError) as exc:
        fail(f"bad settings: {exc}")


def progress_factory(total: int, label: str):
    """A rich progress bar on stderr, advanced by the callback the pipeline receives."""
    from rich.progress import Progress

    bar = Progress(transient=True, console=_stderr())
    task = bar.add_task(label, total=total)
    bar.start()

    def advance(n: int) -> None:
        bar.update(task, advance=n)
        if bar.tasks[task].completed >= total:
            bar.stop()

    return advance


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def handle_errors(document_note: str = ""):
    """Turn the library's expected failures into a clear message: exit code 2 for bad input, 1 when
    something the user did not type failed (a damaged or busy index, the model, the disk)."""
    from rag.documents import DocumentError
    from rag.index import IndexBusy, IndexLoadError
    from rag.llms import LLMError
    from rag.questions import InvalidQuestion, InvalidRequest

    try:
        yield
    except InvalidQuestion as exc:
        fail(f"invalid question: {exc}")
    except InvalidRequest as exc:
        fail(str(exc))
    except DocumentError as exc:
        fail(f"{exc}{document_note}")
    except (IndexLoadError, IndexBusy, LLMError) as exc:
        fail(str(exc), code=1)
    except OSError as exc:  # disk full, permission denied, address in use...
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}", code=1)


def build_assistant(settings):
    from rag.service import Assistant

    return Assistant.from_settings(settings, progress_factory=progress_factory)


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


def _questions(question: str | None, batch: Path | None, max_chars: int) -> list[dict]:
    """Validate every question before any model loads: bad input costs nothing."""
    from rag.questions import InvalidQuestion, validate_question

    if (question is None) == (batch is None):
        fail("give a QUESTION or --batch FILE (not both)")
    items = _read_batch(batch) if batch else [{"question": question}]
    for n, item in enumerate(items, start=1):
        try:
            validate_question(item["question"], max_chars)
        except InvalidQuestion as exc:
            where = f"{batch}: question {item.get('id', n)}: " if batch else ""
            fail(f"invalid question: {where}{exc}")
    return items


@app.command()
def ask(
    question: Annotated[Optional[str], typer.Argument(help="the question")] = None,
    k: KOpt = None, llm: LLMOpt = None, local_model: ModelOpt = None, doc: DocOpt = None,
    as_json: JsonOpt = False, batch: BatchOpt = None, config: ConfigOpt = None,
):
    """Answer a question with numbered citations to the articles."""
    settings = build_settings(config, k=k, llm=llm, local_model=local_model)
    items = _questions(question, batch, settings.max_question_chars)
    with handle_errors():
        from rag.service import Done, Token

        assistant = build_assistant(settings)
        for item in items:
            if as_json or batch:
                answer = assistant.ask(item["question"], doc_ids=doc)
                payload = ({"id": item["id"]} if "id" in item else {}) | answer.to_dict()
                typer.echo(json.dumps(payload, ensure_ascii=False))
                continue
            for event in assistant.ask_stream(item["question"], doc_ids=doc):
                if isinstance(event, Token):
                    typer.echo(event.text, nl=False, err=True)
                elif isinstance(event, Done):
                    _print_answer(event.answer)


def _print_answer(answer) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print()
    console.rule("answer (citations checked)")
    console.print(escape(answer.answer))
    for s in answer.sentences:
        if not s.supported:
            console.print(f"[yellow]unsupported by the evidence:[/] {escape(s.text)}")
    for note in answer.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for c in answer.citations:
        e = c.evidence
        console.print(f"[bold]\\[{c.n}][/] {escape(e.title)} — {e.doc_id} chars {c.quote_start}–{c.quote_end}")
        console.print(f"    “{escape(c.quote)}”", style="dim")
    usage = answer.usage
    console.print(f"[dim]{answer.model} · {answer.timings_ms['total']:.0f} ms · "
                  f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} answer tokens[/]")


@app.command()
def retrieve(
    question: Annotated[Optional[str], typer.Argument(help="the question")] = None,
    k: KOpt = None, doc: DocOpt = None, as_json: JsonOpt = False, batch: BatchOpt = None,
    mode: Annotated[str, typer.Option(help="hybrid | dense | bm25 | sentences")] = "hybrid",
    config: ConfigOpt = None,
):
    """Show the passages retrieval finds for a question (no LLM)."""
    if mode not in ("hybrid", "dense", "bm25", "sentences"):
        fail(f"--mode must be hybrid, dense, bm25 or sentences, not {mode!r}")
    settings = build_settings(config, k=k)
    items = _questions(question, batch, settings.max_question_chars)
    with handle_errors():
        assistant = build_assistant(settings)
        for item in items:
            passages = assistant.retrieve(item["question"], doc_ids=doc, mode=mode)
            if as_json or batch:
                payload = ({"id": item["id"]} if "id" in item else {}) | {
                    "question": item["question"], "results": [p.to_dict() for p in passages]}
                typer.echo(json.dumps(payload, ensure_ascii=False))
            else:
                for p in passages:
                    typer.echo(f"{p.rank}. [{p.chunk.doc_id}] {p.chunk.title} ({p.score:.4f})\n   "
                               f"{p.chunk.text[:300]}\n")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help=".txt .md .html .pdf files or folders")],
    config: ConfigOpt = None,
):
    """Add articles to the corpus and the index (exact duplicates are skipped)."""
    settings = build_settings(config)
    with handle_errors(document_note=" (nothing was added; the index is unchanged)"):
        from rag.embedders import make_embedder
        from rag.ingest import ingest_paths

        report = ingest_paths(paths, settings, make_embedder(settings), progress_factory)
    for doc_id in report.added:
        typer.echo(f"added {doc_id}")
    for path in report.skipped:
        typer.echo(f"skipped {path} (already in the corpus)")
    typer.echo(f"{len(report.added)} added, {len(report.skipped)} skipped, {report.chunks_added} chunks indexed")


@index_app.command("info")
def index_info(config: ConfigOpt = None, as_json: JsonOpt = False):
    """Show the live index's manifest."""
    settings = build_settings(config)
    with handle_errors():
        from rag.index import load_index

        manifest = load_index(settings.index_dir).manifest
    if as_json:
        typer.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    typer.echo(f"index:     {settings.index_dir}\nembedding: {manifest['embedding_model']} "
               f"({manifest['dimension']}d)\nchunking:  {manifest['chunking']}\nchunks:    "
               f"{manifest['chunk_count']}\ncreated:   {manifest['created']}")
    for doc_id, doc in manifest["documents"].items():
        typer.echo(f"  {doc_id}  {doc['title']}")


@index_app.command("rebuild")
def index_rebuild(config: ConfigOpt = None):
    """Rebuild the index from the corpus folder."""
    settings = build_settings(config)
    with handle_errors():
        from rag.embedders import make_embedder
        from rag.ingest import rebuild_index

        index = rebuild_index(settings, make_embedder(settings), progress_factory=progress_factory)
    typer.echo(f"rebuilt: {index.manifest['chunk_count']} chunks from {len(index.documents)} articles")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 7860,
    share: Annotated[bool, typer.Option(help="create a public Gradio share link")] = False,
    llm: LLMOpt = None, local_model: ModelOpt = None, config: ConfigOpt = None,
):
    """Start the Gradio chat."""
    settings = build_settings(config, llm=llm, local_model=local_model)
    with handle_errors():
        from ui.app import launch

        launch(settings, host=host, port=port, share=share)


if __name__ == "__main__":
    app()
