"""Stage 3b — the persisted index: build, save atomically, load with verification.

Layout under `index_dir`:
    CURRENT                      name of the live generation (swapped atomically: the commit point)
    gen-<time>-<rand>/index.faiss
    gen-<time>-<rand>/chunks.jsonl
    gen-<time>-<rand>/sentences.faiss   every article sentence, embedded: the unit of evidence
    gen-<time>-<rand>/sentences.jsonl
    gen-<time>-<rand>/timeline.json     the dated events of the articles (rag.timeline), cited
    gen-<time>-<rand>/manifest.json   written last, with hashes of the five files above

The two .faiss files are the default vector store's (rag.stores.faiss); with `vector_store = "qdrant"`
the vectors go to a Qdrant collection per generation instead, and the manifest names the store, its
collections and a hash of each part's vectors. A writer builds a new generation (and its store
collections) beside the live one and only then swaps CURRENT, so a crash at any point leaves the
previous index loadable. Writers (ingest, rebuild) take `index_lock`, a cross-process lock, for their
whole read-modify-write; readers never take it. With FAISS only its own format and JSON are read: no
pickles (Qdrant's local mode keeps its points pickled: see rag.stores.qdrant).
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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.documents import Article
from rag.embedders.base import Embedder
from rag.errors import IndexBusy, IndexDamaged, IndexMissing, IndexUnavailable
from rag.sentences import SentenceSpan, split_article
from rag.settings import Settings
from rag.stores import StoreBackend, VectorStore, backend_for, make_backend
from rag.stores.base import StoreMissing
from rag.stores.factory import FAISS
from rag.text import content_words, names
from rag.timeline import Event, build_timeline

FORMAT_VERSION = 3  # 3: timeline.json, and each document's date (the timeline dates "on January 22" with it)
JSONL = {"chunks": "chunks.jsonl", "sentences": "sentences.jsonl"}  # each part's records, whatever the store
RECORDS = {"chunks": (Chunk, "chunk_count"), "sentences": (SentenceSpan, "sentence_count")}
TIMELINE = "timeline.json"
FILES = ("index.faiss", "chunks.jsonl", "sentences.faiss", "sentences.jsonl", TIMELINE)  # a FAISS generation's
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
    offset) also makes the index stale; title and date, which the timeline is built from; authors,
    which retrieval looks for in a question (so answering never reads the corpus folder)."""
    return {a.doc_id: {"sha256": a.sha256, "text_sha256": hashlib.sha256(a.text.encode()).hexdigest(),
                       "title": a.title, "date": a.date, "authors": list(a.authors)} for a in articles}


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
    stores: dict[str, VectorStore] = field(default_factory=dict, repr=False)  # where each part is searched
    _vocabulary: dict[str, set[str]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sentence_vectors is None:
            self.sentence_vectors = np.zeros((0, self.vectors.shape[1] if self.vectors.ndim == 2 else 0), "float32")

    @property
    def documents(self) -> dict[str, dict]:
        return self.manifest["documents"]

    @property
    def store_description(self) -> dict:
        """Where the vectors are (StoreBackend.describe), without the generation's own parts."""
        return {k: v for k, v in self.manifest.get("store", FAISS).items() if k != "parts"}

    def part(self, name: str) -> tuple[list, np.ndarray]:
        """A part's records and vectors: ("chunks", ...) or ("sentences", ...)."""
        return (self.chunks, self.vectors) if name == "chunks" else (self.sentences, self.sentence_vectors)

    def vocabulary(self, doc_id: str) -> set[str]:
        """The names and content words of one article, its title and authors included ("according
        to Streltsov" names the author), folded as in rag.text and computed once."""
        if doc_id not in self._vocabulary:
            text = " ".join(c.search_text for c in self.chunks if c.doc_id == doc_id)
            self._vocabulary[doc_id] = names(text) | content_words(text)
        return self._vocabulary[doc_id]

    def store(self, name: str) -> VectorStore:
        """The store a part is searched in: the one it was loaded from or saved to, else (built, not
        saved) an in-memory FAISS one over its vectors."""
        if name not in self.stores:
            from rag.stores.faiss import FaissStore

            records, vectors = self.part(name)
            self.stores[name] = FaissStore.of(vectors, _payloads(records))
        return self.stores[name]

    def is_current(self, articles: list[Article], settings: Settings, embedder: Embedder) -> bool:
        """True when the corpus, chunking, embedder and vector store are exactly what this index was built from."""
        return (
            self.manifest["documents"] == corpus_fingerprint(articles)
            and self.manifest["chunking"] == chunking_params(settings)
            and self.manifest["embedding_model"] == embedder.name
            and self.store_description == make_backend(settings).describe()
        )


def _payloads(records) -> list[dict]:
    return [{"doc_id": r.doc_id} for r in records]


def _vectors_sha256(vectors: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(vectors, "<f4").tobytes()).hexdigest()


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
    """Each kind with its own progress bar, so the rate shown is chunks/s, then sentences/s."""
    parts = []
    for label, texts in zip(("embedding chunks", "embedding sentences"), embedded_texts(chunks, sentences)):
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
    """Add new articles' chunks and sentences without re-embedding the existing ones."""
    sentences = article_sentences(articles)
    vectors, sentence_vectors = _embed(chunks, sentences, embedder, progress_factory)
    return append_embedded(current, articles, chunks, vectors, sentences, sentence_vectors, embedder, settings)


def embedded_texts(chunks: list[Chunk], sentences: list[SentenceSpan]) -> tuple[list[str], list[str]]:
    """What is embedded: chunks with their contextual header (what retrieval ranks), sentences bare
    (what evidence is)."""
    return [c.search_text for c in chunks], [s.text for s in sentences]


def append_embedded(
    current: VectorIndex, articles: list[Article], chunks: list[Chunk], vectors: np.ndarray,
    sentences: list[SentenceSpan], sentence_vectors: np.ndarray, embedder: Embedder, settings: Settings,
) -> VectorIndex:
    """`current` plus new articles already chunked, split and embedded (in process or on Ray). The
    timeline is built again over all of them: events merge across articles, well under a second."""
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


def save_index(index: VectorIndex, index_dir: Path, backend: StoreBackend | None = None) -> Path:
    """Write a new generation (its vectors into `backend`, FAISS files by default), then swap CURRENT
    to it; older generations, and what they have in the store, are removed after."""
    from rag.stores.faiss import FaissBackend

    backend = backend or FaissBackend()
    with index_lock(index_dir):
        gen = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gen.mkdir()
        parts, stores = {}, {}
        for name in JSONL:
            records, vectors = index.part(name)
            stores[name] = backend.create(gen, name, index.manifest["dimension"])
            stores[name].add(range(len(records)), vectors, _payloads(records))
            parts[name] = backend.persist(stores[name], gen, name) | {"vectors_sha256": _vectors_sha256(vectors)}
            _fsync_write(gen / JSONL[name], _jsonl(records))
        _fsync_write(gen / TIMELINE, json.dumps({"events": [e.to_dict() for e in index.timeline]},
                                                ensure_ascii=False).encode("utf-8"))
        files = [*JSONL.values(), TIMELINE, *(f for record in parts.values() for f in backend.files(record))]
        manifest = dict(index.manifest, store=backend.describe() | {"parts": parts},
                        files={name: _sha256_file(gen / name) for name in sorted(files)},
                        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _fsync_write(gen / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        atomic_write(index_dir / CURRENT, gen.name.encode())  # the commit point
        index.manifest, index.generation, index.stores = manifest, gen.name, stores
        for old in index_dir.glob("gen-*"):
            if old != gen:
                shutil.rmtree(old, ignore_errors=True)
        with suppress(Exception):  # committed already: the next commit drops what is left (as rmtree above)
            backend.prune(index_dir, gen.name)
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
        hashes, store = manifest["files"], manifest.get("store", FAISS)
        backend = backend_for(store)
        parts = store.get("parts") or {"chunks": {"file": "index.faiss"}, "sentences": {"file": "sentences.faiss"}}
        for name in [*JSONL.values(), TIMELINE, *(f for record in parts.values() for f in backend.files(record))]:
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
        read = {name: _read_part(gen, name, backend, parts[name], manifest) for name in JSONL}
        timeline = [Event(**e) for e in json.loads((gen / TIMELINE).read_text(encoding="utf-8"))["events"]]
    except IndexUnavailable:
        raise
    except StoreMissing as exc:
        raise IndexDamaged(f"the index is damaged ({exc}): run `rag index rebuild`") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        # Not valid JSON, a missing key, a record of the wrong shape, a file FAISS cannot read.
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise IndexDamaged(f"the index is damaged ({detail}): run `rag index rebuild`") from None
    (chunks, vectors, chunk_store), (sentences, sentence_vectors, sentence_store) = read["chunks"], read["sentences"]
    return VectorIndex(chunks, vectors, manifest, sentences, sentence_vectors, timeline=timeline,
                       stores={"chunks": chunk_store, "sentences": sentence_store})


def _read_part(gen: Path, name: str, backend: StoreBackend, part: dict, manifest: dict):
    """Records, their vectors and the store they are searched in, refused unless the counts, ids and
    dimension agree with the manifest (and the vectors with their hash, when it has one)."""
    record, count_key = RECORDS[name]
    expected = manifest[count_key]
    with (gen / JSONL[name]).open(encoding="utf-8") as fh:
        records = [record(**json.loads(line)) for line in fh]
    store = backend.open(gen, name, part, _payloads(records))
    ids, vectors = store.vectors()
    dimension = vectors.shape[1] if len(vectors) else manifest["dimension"]
    if not (len(ids) == len(records) == expected) or dimension != manifest["dimension"] or (
            ids != np.arange(len(ids))).any():
        raise IndexDamaged(
            f"the index is damaged (the {backend.name} store holds {len(ids)} {name} vectors of {dimension}d and "
            f"{JSONL[name]} {len(records)} records, manifest says {expected} of {manifest['dimension']}d): "
            "run `rag index rebuild`")
    if "vectors_sha256" in part and _vectors_sha256(vectors) != part["vectors_sha256"]:
        raise IndexDamaged(f"the index is damaged (the {backend.name} store's {name} vectors do not match "
                           "the manifest): run `rag index rebuild`")
    return records, vectors, store
