"""`rag ingest --ray`: the same ingest as rag.ingest, with reading, cleaning, chunking and embedding
spread over Ray Data — tasks read and chunk files, a pool of actors embeds them with the embedder the
settings name (`make_embedder`, `embed_texts`: the code an in-process ingest runs). The driver puts the
results back in file order and commits them as an in-process ingest does (dedup, corpus files, the
atomic index commit under the index lock), so both build the same index: same chunk ids in the same
order, vectors equal but for float rounding across embedding batches.

Without an address a local Ray instance is started for the run and shut down after; with one (e.g.
`ray://head:10001` or `auto`) the run joins that cluster. The library is shipped to the workers with
the job (`py_modules`); its dependencies must be installed on every node, and the files must be
readable at the same paths there (a shared file system).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from rag.chunking import Chunk, chunk_article
from rag.documents import Article
from rag.embedders import Embedder, make_embedder
from rag.errors import DocumentError, SettingsError
from rag.index import append_embedded, embed_texts, embedded_texts, index_lock
from rag.ingest import IngestReport, commit_ingest, ensure_index, expand_paths, extract_text, make_article, select_new
from rag.sentences import SentenceSpan, split_article
from rag.settings import Settings

FILES_PER_BATCH = 8  # per read task and per embedding call: small enough to spread a few hundred files


def _prepare(batch: dict, chunk_size: int, chunk_overlap: int) -> dict:
    """Ray task: read, clean, chunk and split each file; a bad file's error is carried, not raised,
    so the driver can name the first one in file order and write nothing."""
    out = {"order": [], "path": [], "text": [], "doc": [], "error": []}
    for order, path in zip(batch["order"], batch["path"]):
        text, doc, error = "", "", ""
        try:
            text = extract_text(Path(path))
            article = make_article(Path(path), text)
            doc = json.dumps({"article": asdict(article),
                              "chunks": [c.to_dict() for c in chunk_article(article, chunk_size, chunk_overlap)],
                              "sentences": [s.to_dict() for s in split_article(article.doc_id, article.text)]})
        except DocumentError as exc:
            error = str(exc)
        for key, value in zip(out, (int(order), str(path), text, doc, error)):
            out[key].append(value)
    return out


def _embed_batch(batch: dict, embedder: Embedder) -> dict:
    """Each file's chunks and sentences embedded (in one call for the batch), as float32 bytes."""
    parts = [_decode(doc)[1:] if doc else ([], []) for doc in batch["doc"]]
    vectors = embed_texts([t for chunks, sentences in parts for kind in embedded_texts(chunks, sentences)
                          for t in kind], embedder)
    out, at = [], 0
    for chunks, sentences in parts:
        n = len(chunks) + len(sentences)
        out.append(np.ascontiguousarray(vectors[at : at + n], "<f4").tobytes())
        at += n
    return dict(batch) | {"vectors": out}


class _Embed:
    """Ray actor: one embedder per actor, loaded once."""

    def __init__(self, settings: Settings):
        self.embedder = make_embedder(settings)

    def __call__(self, batch: dict) -> dict:
        return _embed_batch(batch, self.embedder)


def _decode(doc: str) -> tuple[Article, list[Chunk], list[SentenceSpan]]:
    data = json.loads(doc)
    return (Article(**data["article"]), [Chunk(**c) for c in data["chunks"]],
            [SentenceSpan(**s) for s in data["sentences"]])


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Join the cluster at `address`, or start a local instance; quiet, and shut down after unless the
    caller had already connected."""
    import ray

    import rag

    if ray.is_initialized():
        yield
        return
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False,
             "runtime_env": {"py_modules": [os.path.dirname(rag.__file__)]}}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
    try:
        yield
    finally:
        ray.shutdown()


def embed_files_on_ray(files: list[Path], settings: Settings, progress=None) -> list[dict]:
    """Every file read, chunked and embedded on Ray (the caller is connected): one row per file, in
    file order, with its text, article, chunks, sentences and vectors (or its error)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    embedders = max(1, int(ray.cluster_resources().get("CPU", 1)))  # Ray fuses the reading into the actors
    dataset = (ray.data.from_items([{"order": i, "path": str(p)} for i, p in enumerate(files)])
               .map_batches(_prepare, batch_size=FILES_PER_BATCH,
                            fn_kwargs={"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap})
               .map_batches(_Embed, batch_size=FILES_PER_BATCH, fn_constructor_kwargs={"settings": settings},
                            compute=ActorPoolStrategy(min_size=1, max_size=embedders), num_cpus=1))
    rows = []
    for row in dataset.iter_rows():
        rows.append(row)
        if progress:
            progress(1)
    return sorted(rows, key=lambda r: r["order"])


def ingest_paths_ray(paths: list[Path], settings: Settings, embedder: Embedder, address: str | None = None,
                     progress_factory=None) -> IngestReport:
    """rag.ingest.ingest_paths with the files read, chunked and embedded on Ray."""
    if find_spec("ray") is None:
        raise SettingsError("ingesting on Ray needs Ray Data: pip install 'kuril-rag[scale]'")
    files = expand_paths(paths)
    with index_lock(settings.index_dir, settings.lock_timeout_s):
        index = ensure_index(settings, embedder, progress_factory)
        with ray_session(address):
            rows = embed_files_on_ray(files, settings, progress_factory(len(files), "on Ray")
                                      if progress_factory else None)
        if failed := next((r for r in rows if r["error"]), None):
            raise DocumentError(failed["error"])
        keep, report = select_new([(Path(r["path"]), r["text"]) for r in rows], index)
        if not keep:
            return report
        articles, chunks, sentences, chunk_vectors, sentence_vectors = [], [], [], [], []
        for row in (rows[i] for i in keep):
            article, doc_chunks, doc_sentences = _decode(row["doc"])
            vectors = np.frombuffer(row["vectors"], "<f4").reshape(-1, embedder.dimension)
            articles.append(article)
            chunks += doc_chunks
            sentences += doc_sentences
            chunk_vectors.append(vectors[: len(doc_chunks)])
            sentence_vectors.append(vectors[len(doc_chunks):])
        extended = append_embedded(index, articles, chunks, np.vstack(chunk_vectors), sentences,
                                   np.vstack(sentence_vectors), embedder, settings)
        return commit_ingest(report, articles, [rows[i]["text"] for i in keep], extended, settings)
