"""Keep the index in step with the corpus: build it when missing or stale, add new files incrementally.

Ingestion is all-or-nothing: every file is read and checked before anything is written, so one
bad file leaves both the corpus folder and the index exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.chunking import chunk_articles
from rag.documents import (
    METADATA_FILE,
    Article,
    DocumentError,
    clean_text,
    decode_text,
    guess_title,
    load_corpus,
    read_metadata,
    sha256_bytes,
)
from rag.embedders import Embedder
from rag.index import IndexLoadError, VectorIndex, build_index, extend_index, load_index, save_index
from rag.settings import Settings

SUFFIXES = {".txt", ".md", ".html", ".htm", ".pdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024
Progress = Callable[[int], None]


def ensure_index(settings: Settings, embedder: Embedder, progress_factory=None) -> VectorIndex:
    """Load the index, rebuilding it only when the corpus, chunking or embedder changed."""
    articles = load_corpus(settings.corpus_dir)
    try:
        index = load_index(settings.index_dir, embedder)
        if index.is_current(articles, settings, embedder):
            return index
    except IndexLoadError:
        pass
    return rebuild_index(settings, embedder, articles, progress_factory)


def rebuild_index(settings: Settings, embedder: Embedder, articles: list[Article] | None = None,
                  progress_factory=None) -> VectorIndex:
    articles = articles if articles is not None else load_corpus(settings.corpus_dir)
    chunks = chunk_articles(articles, settings.chunk_size, settings.chunk_overlap)
    progress = progress_factory(len(chunks), "embedding") if progress_factory else None
    index = build_index(articles, chunks, embedder, settings, progress=progress)
    save_index(index, settings.index_dir)
    return index


def extract_text(path: Path) -> str:
    """Plain text of a .txt/.md/.html/.pdf file, or DocumentError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentError(f"{path}: unsupported file type {suffix or '(none)'}; use {sorted(SUFFIXES)}")
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise DocumentError(f"{path}: {len(data):,} bytes is over the {MAX_FILE_BYTES:,}-byte limit")
    if suffix == ".pdf":
        text = _pdf_text(path, data)
    else:
        text = decode_text(data, str(path))
        if suffix in (".html", ".htm"):
            from bs4 import BeautifulSoup

            soup = BeautifulSoup(text, "html.parser")
            for tag in soup(["script", "style", "nav", "footer", "header", "aside", "form"]):
                tag.decompose()
            text = soup.get_text("\n")
    if len(re.findall(r"[^\W\d_]", text)) < 20:
        raise DocumentError(f"{path}: no readable text found")
    return text


def _pdf_text(path: Path, data: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"{path}: cannot read PDF ({exc})") from None


def expand_paths(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    return files


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)  # new doc_ids
    skipped: list[str] = field(default_factory=list)  # files whose content is already in the corpus
    chunks_added: int = 0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "doc"


def ingest_paths(paths: list[Path], settings: Settings, embedder: Embedder, progress_factory=None) -> IngestReport:
    """Add files to the corpus folder and the index; skips exact duplicates by content hash."""
    index = ensure_index(settings, embedder, progress_factory)
    known = {meta["sha256"] for meta in index.documents.values()}
    report = IngestReport()
    pending: dict[str, tuple[Path, str]] = {}
    for path in expand_paths(paths):
        text = extract_text(path)
        digest = sha256_bytes(text.encode("utf-8"))
        if digest in known or digest in pending:
            report.skipped.append(str(path))
            continue
        pending[digest] = (path, text)
    if not pending:
        return report

    new_articles = []
    for digest, (path, text) in pending.items():
        doc_id = f"{_slug(path.stem)}_{digest[:12]}"
        cleaned = clean_text(text)
        new_articles.append(Article(doc_id=doc_id, title=guess_title(cleaned), text=cleaned, sha256=digest,
                                    source=path.name))
    chunks = chunk_articles(new_articles, settings.chunk_size, settings.chunk_overlap)
    progress = progress_factory(len(chunks), "embedding") if progress_factory else None
    extended = extend_index(index, new_articles, chunks, embedder, settings, progress=progress)

    # Corpus files first (new names only, nothing overwritten), then the index commit.
    metadata_path = settings.corpus_dir / METADATA_FILE
    original_metadata = metadata_path.read_bytes() if metadata_path.is_file() else None
    metadata = read_metadata(settings.corpus_dir)
    written = []
    try:
        for article, (_, text) in zip(new_articles, pending.values()):
            target = settings.corpus_dir / f"{article.doc_id}.txt"
            target.write_text(text, encoding="utf-8")
            written.append(target)
            metadata[target.name] = {"title": article.title, "authors": [], "outlet": None, "date": None,
                                     "source": article.source}
        tmp = settings.corpus_dir / f".{METADATA_FILE}.tmp"
        tmp.write_text(json.dumps(metadata, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, metadata_path)
        save_index(extended, settings.index_dir)
    except BaseException:
        for target in written:
            target.unlink(missing_ok=True)
        if original_metadata is not None:
            metadata_path.write_bytes(original_metadata)
        raise
    report.added = [a.doc_id for a in new_articles]
    report.chunks_added = len(chunks)
    return report
