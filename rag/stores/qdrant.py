"""Qdrant as the vector store, through qdrant-client directly: a server or cluster at `qdrant_url`, else
local mode in `qdrant_path` (embedded, no server). langchain-qdrant is not used: its store wants texts
and an embedder and makes its own point ids, while this contract is ids, vectors and a doc_id payload,
which qdrant-client's upsert/query/delete take as they are.

Each index generation gets its own collections, `<prefix>-<generation>-chunks` and `-sentences`,
filled and flushed before rag.index swaps CURRENT; the collections of every other generation of this
prefix are dropped after the swap, so a crash leaves the live generation whole and the next commit
removes what the crashed one left. Distance is the dot product (vectors are normalised; cosine would
normalise again and change the stored floats, which the manifest hashes).

Local mode allows one client per folder (a file lock held while it is open): while `rag serve` or
another process has the folder open, `rag ingest` elsewhere is refused with IndexBusy. Use a server
for a writer beside a running service. Within one process every store shares one client per folder.
Local mode is also slow to write (qdrant-client commits each point to SQLite on its own: about 3,000
points, the bundled articles' chunks and sentences, take 5-50 s by the disk) and keeps points pickled
in that SQLite file, so only a trusted folder should be opened; a server has neither limit.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Collection, Sequence
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from rag.errors import IndexBusy, SettingsError
from rag.stores.base import Hit, StoreBackend, StoreMissing, VectorStore

UPSERT_BATCH = 1024
SCROLL_BATCH = 4096
_clients: dict[str, tuple[object, threading.Lock]] = {}
_clients_lock = threading.Lock()


def client_for(url: str | None, path: Path | None) -> tuple[object, threading.Lock]:
    """One client per server or local folder in this process (local mode locks its folder), with the
    lock its calls take: local mode is one in-process object, not safe for two threads at once."""
    if find_spec("qdrant_client") is None:
        raise SettingsError("vector_store = qdrant needs qdrant-client: pip install 'kuril-rag[scale]'")
    from qdrant_client import QdrantClient

    key = url or str(Path(path).resolve())
    with _clients_lock:
        if key not in _clients:
            if url:
                _clients[key] = QdrantClient(url=url), threading.Lock()
            else:
                try:
                    _clients[key] = QdrantClient(path=key, force_disable_check_same_thread=True), threading.Lock()
                except RuntimeError as exc:
                    if "already accessed" not in str(exc):
                        raise
                    raise IndexBusy(f"the Qdrant folder {key} is open in another process (a running `rag serve`?); "
                                    "local mode allows one at a time: stop it, or use a server (RAG_QDRANT_URL)"
                                    ) from None
        return _clients[key]


def close_clients() -> None:
    """Release every client (and local mode's folder locks), e.g. before another process writes."""
    with _clients_lock:
        for client, _ in _clients.values():
            client.close()
        _clients.clear()


atexit.register(close_clients)  # closed while Python can still import (a client's own __del__ at exit cannot)


def _doc_filter(doc_ids: Collection[str]):
    from qdrant_client import models

    return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=sorted(doc_ids)))])


def _dropped(exc: Exception) -> bool:
    """The collection is gone: a newer generation's commit dropped it between `refresh` and the search."""
    from qdrant_client.http.exceptions import UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    return isinstance(exc, ValueError) and "not found" in str(exc)  # local mode


class QdrantStore(VectorStore):
    def __init__(self, client, collection: str, lock: threading.Lock):
        self.client, self.collection, self._lock = client, collection, lock

    def add(self, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        from qdrant_client import models

        ids = [int(i) for i in ids]
        for at in range(0, len(ids), UPSERT_BATCH):
            points = models.Batch(ids=ids[at : at + UPSERT_BATCH],
                                  vectors=np.asarray(vectors[at : at + UPSERT_BATCH], "float32").tolist(),
                                  payloads=[{"doc_id": p["doc_id"]} for p in payloads[at : at + UPSERT_BATCH]])
            with self._lock:
                self.client.upsert(self.collection, points=points, wait=True)

    def search(self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        if k <= 0:
            return []
        try:
            with self._lock:
                found = self.client.query_points(self.collection, query=np.asarray(vector, "float32").tolist(),
                                                 limit=k, query_filter=_doc_filter(doc_ids) if doc_ids else None,
                                                 with_payload=False).points
        except Exception as exc:
            if not _dropped(exc):
                raise
            raise IndexBusy(f"the index changed while searching ({exc}); ask again") from None
        return [(int(p.id), float(p.score)) for p in found]

    def delete(self, doc_ids: Collection[str]) -> None:
        from qdrant_client import models

        with self._lock:
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=_doc_filter(doc_ids)),
                               wait=True)

    @property
    def count(self) -> int:
        with self._lock:
            return int(self.client.count(self.collection, exact=True).count)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        ids, rows, offset = [], [], None
        while True:
            with self._lock:
                points, offset = self.client.scroll(self.collection, limit=SCROLL_BATCH, offset=offset,
                                                    with_payload=False, with_vectors=True)
            ids += [int(p.id) for p in points]
            rows += [p.vector for p in points]
            if offset is None:
                break
        if not ids:
            with self._lock:
                size = self.client.get_collection(self.collection).config.params.vectors.size
            return np.zeros(0, "int64"), np.zeros((0, size), "float32")
        order = np.argsort(np.asarray(ids, "int64"), kind="stable")
        return np.asarray(ids, "int64")[order], np.asarray(rows, "float32")[order]


class QdrantBackend(StoreBackend):
    name = "qdrant"

    def __init__(self, url: str | None = None, path: Path | None = None, prefix: str = "kuril-rag"):
        self.url, self.path, self.prefix = url, None if url else Path(path).resolve(), prefix

    def collection(self, gen: Path | str, part: str) -> str:
        return f"{self.prefix}-{Path(gen).name}-{part}"

    def create(self, gen: Path, part: str, dimension: int) -> QdrantStore:
        from qdrant_client import models

        name, (client, lock) = self.collection(gen, part), client_for(self.url, self.path)
        with lock:
            if client.collection_exists(name):
                client.delete_collection(name)
            client.create_collection(name, vectors_config=models.VectorParams(size=dimension,
                                                                              distance=models.Distance.DOT))
            if self.url:  # a server filters by article through a keyword index (local mode has none)
                client.create_payload_index(name, "doc_id", models.PayloadSchemaType.KEYWORD, wait=True)
        return QdrantStore(client, name, lock)

    def persist(self, store: QdrantStore, gen: Path, part: str) -> dict:
        return {"collection": store.collection}  # every upsert waited for the write

    def open(self, gen: Path, part: str, record: dict, payloads: Sequence[dict]) -> QdrantStore:
        client, lock = client_for(self.url, self.path)
        with lock:
            if not client.collection_exists(record["collection"]):
                raise StoreMissing(f"Qdrant collection {record['collection']} is missing")
        return QdrantStore(client, record["collection"], lock)

    def describe(self) -> dict:
        where = {"url": self.url} if self.url else {"path": str(self.path)}
        return {"backend": self.name, "prefix": self.prefix} | where

    def prune(self, index_dir: Path, keep: str) -> None:
        ours, live = f"{self.prefix}-gen-", f"{self.prefix}-{keep}-"
        client, lock = client_for(self.url, self.path)
        with lock:
            for c in client.get_collections().collections:
                if c.name.startswith(ours) and not c.name.startswith(live):
                    client.delete_collection(c.name)
