"""Keep the index in step with the corpus: build it when missing or stale, add new files incrementally.

These are the explicit steps that make an index (`rag index rebuild`, `rag ingest`, `make run`);
the service only loads one. A new data folder starts with a copy of the bundled articles.

Ingestion is all-or-nothing: every file is read and checked before anything is written, so one
bad file leaves both the corpus folder and the index exactly as they were. Ingest and rebuild hold
the index's write lock from reading the index to committing the new one, so two at once run one
after the other and the second builds on the first one's result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.chunking import chunk_articles
from rag.documents import (
    METADATA_FILE,
    Article,
    clean_text,
    decode_text,
    guess_title,
    load_corpus,
    read_bytes,
    read_metadata,
    sha256_bytes,
)
from rag.embedders import Embedder
from rag.errors import DocumentError, IndexBusy, IndexMissing
from rag.index import (
    VectorIndex,
    atomic_write,
    build_index,
    extend_index,
    index_lock,
    load_index,
    save_index,
)
from rag.questions import undecodable
from rag.settings import Settings, bundled
from rag.stores import make_backend

SUFFIXES = {".txt", ".md", ".html", ".htm", ".pdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024
Progress = Callable[[int], None]


def _committed(settings: Settings, embedder: Embedder) -> tuple[VectorIndex | None, bool, list[Article]]:
    """The committed index (None if there is none or it is for another embedder), whether it is
    current for the corpus and settings, and the corpus."""
    articles = load_corpus(seed_corpus(settings.corpus_dir))
    try:
        index = load_index(settings.index_dir, embedder)
    except IndexMissing:  # a damaged index is refused instead: `rag index rebuild` is the user's call
        return None, False, articles
    return index, index.is_current(articles, settings, embedder), articles


def ensure_index(settings: Settings, embedder: Embedder, progress_factory=None) -> VectorIndex:
    """Load the index, rebuilding it only when the corpus, chunking or embedder changed.

    A reader never waits for a writer: while another process holds the lock (an ingest has written
    the corpus and is embedding), the last committed generation is used as it is."""
    index, current, _ = _committed(settings, embedder)
    if current:
        return index
    try:
        with index_lock(settings.index_dir, 0 if index is not None else settings.lock_timeout_s):
            latest, current, articles = _committed(settings, embedder)  # a writer we waited for may have built it
            return latest if current else rebuild_index(settings, embedder, articles, progress_factory)
    except IndexBusy:
        if index is None:
            raise
        return index


def seed_corpus(corpus_dir: Path) -> Path:
    """A corpus folder that does not exist yet starts as a copy of the bundled articles, so a fresh
    install answers about them and `rag ingest` adds to them. Returns `corpus_dir`."""
    source = bundled("corpus")
    if corpus_dir.exists() or not source.is_dir():
        return corpus_dir
    corpus_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = corpus_dir.with_name(f".{corpus_dir.name}.{uuid.uuid4().hex[:8]}.tmp")
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", ".*"))
    try:
        os.rename(staging, corpus_dir)  # all of it or nothing; another process may have won the race
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not corpus_dir.is_dir():
            raise
    return corpus_dir


def rebuild_index(settings: Settings, embedder: Embedder, articles: list[Article] | None = None,
                  progress_factory=None) -> VectorIndex:
    with index_lock(settings.index_dir, settings.lock_timeout_s):
        articles = articles if articles is not None else load_corpus(seed_corpus(settings.corpus_dir))
        chunks = chunk_articles(articles, settings.chunk_size, settings.chunk_overlap)
        index = build_index(articles, chunks, embedder, settings, progress_factory)
        save_index(index, settings.index_dir, make_backend(settings))
        return index


def extract_text(path: Path) -> str:
    """Plain text of a .txt/.md/.html/.pdf file, or DocumentError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentError(f"{path}: unsupported file type {suffix or '(none)'}; use {sorted(SUFFIXES)}")
    data = read_bytes(path)
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
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # what is wrong with a broken PDF is in our message
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"{path}: cannot read PDF ({exc})") from None


def expand_paths(paths: list[Path]) -> list[Path]:
    """The files named and those in the folders named (symbolic links to folders are not followed)."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            raise DocumentError(f"{path}: a symbolic link to nothing (or a loop of links)")
        else:
            raise DocumentError(f"{path}: no such file or folder")
    for path in files:
        if reason := undecodable(str(path), "the file name"):
            raise DocumentError(f"{str(path)!r}: {reason}; rename it")
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
    files = expand_paths(paths)
    with index_lock(settings.index_dir, settings.lock_timeout_s):
        return _ingest(files, settings, embedder, progress_factory)


def _ingest(files: list[Path], settings: Settings, embedder: Embedder, progress_factory) -> IngestReport:
    index = ensure_index(settings, embedder, progress_factory)
    texts = [(path, extract_text(path)) for path in files]
    keep, report = select_new(texts, index)
    if not keep:
        return report
    new_articles = [make_article(*texts[i]) for i in keep]
    chunks = chunk_articles(new_articles, settings.chunk_size, settings.chunk_overlap)
    extended = extend_index(index, new_articles, chunks, embedder, settings, progress_factory)
    return commit_ingest(report, new_articles, [texts[i][1] for i in keep], extended, settings)


def select_new(texts: list[tuple[Path, str]], index: VectorIndex) -> tuple[list[int], IngestReport]:
    """Positions of the (path, text) pairs whose text is new to the index (the first of identical
    ones), and a report naming the others as skipped."""
    known = {meta["sha256"] for meta in index.documents.values()}
    keep, report = [], IngestReport()
    for i, (path, text) in enumerate(texts):
        digest = sha256_bytes(text.encode("utf-8"))
        if digest in known:
            report.skipped.append(str(path))
            continue
        known.add(digest)
        keep.append(i)
    return keep, report


def make_article(path: Path, text: str) -> Article:
    """The article a file's extracted text becomes; its id is stable (name and content hash)."""
    digest = sha256_bytes(text.encode("utf-8"))
    cleaned = clean_text(text)
    return Article(doc_id=f"{_slug(path.stem)}_{digest[:12]}", title=guess_title(cleaned), text=cleaned,
                   sha256=digest, source=path.name)


def commit_ingest(report: IngestReport, new_articles: list[Article], texts: list[str], extended: VectorIndex,
                  settings: Settings) -> IngestReport:
    """Corpus files first (new names only, nothing overwritten), then the index commit; the corpus
    files are taken back if the commit fails. The caller holds the index lock."""
    metadata_path = settings.corpus_dir / METADATA_FILE
    original_metadata = metadata_path.read_bytes() if metadata_path.is_file() else None
    metadata = read_metadata(settings.corpus_dir)
    written = []
    try:
        for article, text in zip(new_articles, texts):
            target = settings.corpus_dir / f"{article.doc_id}.txt"
            atomic_write(target, text.encode("utf-8"))
            written.append(target)
            metadata[target.name] = {"title": article.title, "authors": [], "outlet": None, "date": None,
                                     "source": article.source}
        atomic_write(metadata_path, json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8"))
        save_index(extended, settings.index_dir, make_backend(settings))
    except BaseException:
        for target in written:
            target.unlink(missing_ok=True)
        if original_metadata is not None:
            atomic_write(metadata_path, original_metadata)
        raise
    report.added = [a.doc_id for a in new_articles]
    added = set(report.added)
    report.chunks_added = sum(c.doc_id in added for c in extended.chunks)
    return report
