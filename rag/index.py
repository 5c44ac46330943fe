"""Stage 3b — the persisted FAISS index: build, save atomically, load with verification.

Layout under `index_dir`:
    CURRENT                      name of the live generation (swapped atomically: the commit point)
    gen-<time>-<rand>/index.faiss
    gen-<time>-<rand>/chunks.jsonl
    gen-<time>-<rand>/sentences.faiss   every article sentence, embedded: the unit of evidence
    gen-<time>-<rand>/sentences.jsonl
    gen-<time>-<rand>/timeline.json     the dated events of the articles (rag.timeline), cited
    gen-<time>-<rand>/manifest.json   written last, with hashes of the five files above

A writer builds a new generation beside the live one and only then swaps CURRENT, so a crash
at any point leaves the previous index loadable. Writers (ingest, rebuild) take `index_lock`, a
cross-process lock, for their whole read-modify-write; readers never take it. Only FAISS's own
format and JSON are read: no pickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.documents import Article
from rag.embedders.base import Embedder
from rag.errors import IndexBusy, IndexDamaged, IndexMissing, IndexUnavailable
from rag.sentences import SentenceSpan, split_article
from rag.settings import Settings
from rag.timeline import Event, build_timeline

FORMAT_VERSION = 3  # 3: timeline.json, and each document's date (the timeline dates "on January 22" with it)
FILES = ("index.faiss", "chunks.jsonl", "sentences.faiss", "sentences.jsonl", "timeline.json")
CURRENT = "CURRENT"
MANIFEST_KEYS = ("embedding_model", "dimension", "chunking", "documents", "chunk_count", "sentence_count", "files",
                 "created")
LOCK = ".lock"
_GENERATION = re.compile(r"gen-[0-9A-Za-z-]+")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def corpus_fingerprint(articles: Iterable[Article]) -> dict[str, dict]:
    """Raw-file hash for dedup, cleaned-text hash so a change to cleaning (which moves every
    offset) also makes the index stale; title and date, which the timeline is built from."""
    return {a.doc_id: {"sha256": a.sha256, "text_sha256": hashlib.sha256(a.text.encode()).hexdigest(),
                       "title": a.title, "date": a.date} for a in articles}


def chunking_params(settings: Settings) -> dict:
    return {"splitter": "RecursiveCharacterTextSplitter", "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap, "contextual_headers": 1, "sentences": 1}


def article_sentences(articles: Iterable[Article]) -> list[SentenceSpan]:
    return [s for a in articles for s in split_article(a.doc_id, a.text)]


@dataclass
class VectorIndex:
    chunks: list[Chunk]
    vectors: np.ndarray  # float32 (n, dim), L2-normalised
    manifest: dict
    sentences: list[SentenceSpan] = field(default_factory=list)
    sentence_vectors: np.ndarray | None = None  # float32 (m, dim), L2-normalised
    generation: str = ""  # the folder it was loaded from or saved to ("" while only in memory)
    timeline: list[Event] = field(default_factory=list)  # sorted by date

    def __post_init__(self) -> None:
        if self.sentence_vectors is None:
            self.sentence_vectors = np.zeros((0, self.vectors.shape[1] if self.vectors.ndim == 2 else 0), "float32")

    @property
    def documents(self) -> dict[str, dict]:
        return self.manifest["documents"]

    def is_current(self, articles: list[Article], settings: Settings, embedder: Embedder) -> bool:
        """True when the corpus, chunking and embedder are exactly what this index was built from."""
        return (
            self.manifest["documents"] == corpus_fingerprint(articles)
            and self.manifest["chunking"] == chunking_params(settings)
            and self.manifest["embedding_model"] == embedder.name
        )


def _flat_index(vectors: np.ndarray):
    """Exact inner-product search: at this corpus size (and at 100k chunks) flat is fast enough."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(vectors)
    return index


def embed_texts(texts: list[str], embedder: Embedder, batch_size: int = 64, progress=None) -> np.ndarray:
    """Embed in batches so a progress bar can advance; returns float32 (n, dim)."""
    out = np.zeros((len(texts), embedder.dimension), dtype="float32")
    for i in range(0, len(texts), batch_size):
        batch = texts[i : i + batch_size]
        out[i : i + len(batch)] = np.asarray(embedder.embed_documents(batch), "float32")
        if progress:
            progress(len(batch))
    return out


def _embed(chunks: list[Chunk], sentences: list[SentenceSpan], embedder: Embedder, progress_factory=None):
    """Chunks with their contextual header (what retrieval ranks), sentences bare (what evidence is);
    each with its own progress bar, so the rate shown is chunks/s, then sentences/s."""
    parts = []
    for label, texts in (("embedding chunks", [c.search_text for c in chunks]),
                         ("embedding sentences", [s.text for s in sentences])):
        progress = progress_factory(len(texts), label) if progress_factory and texts else None
        parts.append(embed_texts(texts, embedder, progress=progress))
    return parts


def build_index(
    articles: list[Article], chunks: list[Chunk], embedder: Embedder, settings: Settings, progress_factory=None
) -> VectorIndex:
    sentences = article_sentences(articles)
    vectors, sentence_vectors = _embed(chunks, sentences, embedder, progress_factory)
    manifest = _manifest(articles, chunks, sentences, embedder, settings)
    return VectorIndex(chunks, vectors, manifest, sentences, sentence_vectors,
                       timeline=build_timeline(sentences, manifest["documents"], embedder.embed_documents))


def extend_index(
    current: VectorIndex, articles: list[Article], chunks: list[Chunk], embedder: Embedder,
    settings: Settings, progress_factory=None,
) -> VectorIndex:
    """Add new articles' chunks and sentences without re-embedding the existing ones. The timeline is
    built again over all of them: events merge across articles, and that takes well under a second."""
    sentences = article_sentences(articles)
    vectors, sentence_vectors = _embed(chunks, sentences, embedder, progress_factory)
    all_chunks, all_sentences = current.chunks + chunks, current.sentences + sentences
    docs = dict(current.documents) | corpus_fingerprint(articles)
    manifest = _manifest([], all_chunks, all_sentences, embedder, settings) | {"documents": docs}
    return VectorIndex(all_chunks, np.vstack([current.vectors, vectors]), manifest, all_sentences,
                       np.vstack([current.sentence_vectors, sentence_vectors]),
                       timeline=build_timeline(all_sentences, docs, embedder.embed_documents))


def _manifest(articles, chunks, sentences, embedder: Embedder, settings: Settings) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "embedding_model": embedder.name,
        "dimension": embedder.dimension,
        "chunking": chunking_params(settings),
        "documents": corpus_fingerprint(articles),
        "chunk_count": len(chunks),
        "sentence_count": len(sentences),
    }


def _jsonl(records) -> bytes:
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records).encode("utf-8")


@contextmanager
def index_lock(index_dir: Path, timeout: float = -1):
    """Hold the index's cross-process write lock; re-entrant within a thread, so a writer holding it
    can call `save_index`. The kernel drops it when the holder dies, even by kill -9."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(index_dir / LOCK, is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexBusy(f"another `rag ingest` or `rag index rebuild` is writing the index in {index_dir} "
                        f"(waited {timeout:g} s); try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside `path`, then rename over it: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _fsync_write(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_index(index: VectorIndex, index_dir: Path) -> Path:
    """Write a new generation, then swap CURRENT to it; older generations are removed after."""
    import faiss

    with index_lock(index_dir):
        gen = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gen.mkdir()
        faiss.write_index(_flat_index(index.vectors), str(gen / "index.faiss"))
        faiss.write_index(_flat_index(index.sentence_vectors), str(gen / "sentences.faiss"))
        _fsync_write(gen / "chunks.jsonl", _jsonl(index.chunks))
        _fsync_write(gen / "sentences.jsonl", _jsonl(index.sentences))
        _fsync_write(gen / "timeline.json", json.dumps({"events": [e.to_dict() for e in index.timeline]},
                                                       ensure_ascii=False).encode("utf-8"))
        manifest = dict(index.manifest, files={name: _sha256_file(gen / name) for name in FILES},
                        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _fsync_write(gen / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        atomic_write(index_dir / CURRENT, gen.name.encode())  # the commit point
        index.manifest, index.generation = manifest, gen.name
        for old in index_dir.glob("gen-*"):
            if old != gen:
                shutil.rmtree(old, ignore_errors=True)
        return gen


def load_index(index_dir: Path, embedder: Embedder | None = None) -> VectorIndex:
    """Load the live generation and verify it against its manifest (and the embedder, if given).

    Never waits for a writer: when one commits a new generation and removes this one mid-read,
    the read starts over on the new one."""
    for _ in range(3):
        name = live_generation(index_dir)
        try:
            index = _load_generation(index_dir / name, embedder)
            index.generation = name
            return index
        except IndexDamaged:
            if live_generation(index_dir) == name:
                raise
    raise IndexBusy(f"the index in {index_dir} changed three times while being read; try again")


def live_generation(index_dir: Path) -> str:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexMissing(f"no index in {index_dir}: run `rag index rebuild`")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexDamaged(f"the index is damaged ({CURRENT} is unreadable: {exc}): run `rag index rebuild`") from None
    if not _GENERATION.fullmatch(name):  # nothing outside index_dir, whatever CURRENT says
        raise IndexDamaged(f"the index is damaged ({CURRENT} names {name[:60]!r}, not a generation folder): "
                           "run `rag index rebuild`")
    return name


def _load_generation(gen: Path, embedder: Embedder | None) -> VectorIndex:
    manifest_path = gen / "manifest.json"
    if not manifest_path.is_file():
        raise IndexDamaged(f"the index is damaged (generation {gen.name} has no manifest): run `rag index rebuild`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMissing(f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}: rebuild it")
        missing = [key for key in MANIFEST_KEYS if key not in manifest] or [
            f"documents.{doc_id}.{key}" for doc_id, doc in manifest["documents"].items()
            for key in ("sha256", "text_sha256", "title") if key not in doc]
        if missing:
            raise IndexDamaged(f"the index is damaged (manifest.json lacks {', '.join(missing[:5])}): "
                               "run `rag index rebuild`")
        hashes = manifest["files"]
        for name in FILES:
            if name not in hashes or not (gen / name).is_file() or _sha256_file(gen / name) != hashes[name]:
                raise IndexDamaged(f"the index is damaged (index file {name} does not match its manifest): "
                                   "run `rag index rebuild`")
        if embedder is not None and (manifest["embedding_model"], manifest["dimension"]) != (
            embedder.name, embedder.dimension
        ):
            raise IndexMissing(
                f"index was built with {manifest['embedding_model']} ({manifest['dimension']}d) but the "
                f"embedder is {embedder.name} ({embedder.dimension}d): run `rag index rebuild`"
            )
        chunks, vectors = _read_part(gen, "index.faiss", "chunks.jsonl", Chunk, manifest["chunk_count"], manifest)
        sentences, sentence_vectors = _read_part(gen, "sentences.faiss", "sentences.jsonl", SentenceSpan,
                                                 manifest["sentence_count"], manifest)
        timeline = [Event(**e) for e in json.loads((gen / "timeline.json").read_text(encoding="utf-8"))["events"]]
    except IndexUnavailable:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        # Not valid JSON, a missing key, a record of the wrong shape, a file FAISS cannot read.
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise IndexDamaged(f"the index is damaged ({detail}): run `rag index rebuild`") from None
    return VectorIndex(chunks, vectors, manifest, sentences, sentence_vectors, timeline=timeline)


def _read_part(gen: Path, faiss_name: str, jsonl_name: str, record, expected: int, manifest: dict):
    """Records and their vectors, refused unless the counts and dimension agree with the manifest."""
    import faiss

    with (gen / jsonl_name).open(encoding="utf-8") as fh:
        records = [record(**json.loads(line)) for line in fh]
    flat = faiss.read_index(str(gen / faiss_name))
    if not (flat.ntotal == len(records) == expected) or flat.d != manifest["dimension"]:
        raise IndexDamaged(
            f"the index is damaged ({faiss_name} holds {flat.ntotal} vectors of {flat.d}d and {jsonl_name} "
            f"{len(records)} records, manifest says {expected} of {manifest['dimension']}d): run `rag index rebuild`"
        )
    vectors = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, flat.d), "float32")
    return records, np.asarray(vectors, dtype="float32")
