"""The default store: an exact FAISS inner-product index per vector set, written into the generation
folder as `index.faiss` (chunks) and `sentences.faiss`, hashed with the manifest like every file there.
Flat search is exact, and fast enough at this corpus size and at 100k chunks. Article filters and
deletes go by id, so the index keeps its ids (an IDMap2); a flat file of an older generation, whose
ids are its rows, is read as well."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from rag.stores.base import Hit, StoreBackend, StoreMissing, VectorStore

FILE_NAMES = {"chunks": "index.faiss", "sentences": "sentences.faiss"}


class FaissStore(VectorStore):
    def __init__(self, index, doc_ids: dict[int, str]):
        self.index = index  # faiss.IndexIDMap2 over an IndexFlatIP
        self._doc_ids = doc_ids

    @classmethod
    def empty(cls, dimension: int) -> FaissStore:
        import faiss

        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)), {})

    @classmethod
    def of(cls, vectors: np.ndarray, payloads: Sequence[dict]) -> FaissStore:
        """An in-memory store over vectors whose ids are their rows (an index built but not saved)."""
        store = cls.empty(vectors.shape[1])
        store.add(range(len(vectors)), vectors, payloads)
        return store

    @classmethod
    def read(cls, path: Path, payloads: Sequence[dict]) -> FaissStore:
        import faiss

        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexIDMap2):
            ids = faiss.vector_to_array(index.id_map)
            return cls(index, {int(i): payloads[int(i)]["doc_id"] for i in ids if 0 <= i < len(payloads)})
        flat = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), "float32")
        return cls.of(np.asarray(flat, "float32"), payloads[: index.ntotal])

    def add(self, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, "float32"), np.asarray(ids, "int64"))
        self._doc_ids.update((int(i), p["doc_id"]) for i, p in zip(ids, payloads))

    def _ids_of(self, doc_ids: Collection[str]) -> np.ndarray:
        return np.array([i for i, doc in self._doc_ids.items() if doc in doc_ids], dtype="int64")

    def search(self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        import faiss

        if self.index.ntotal == 0 or k <= 0:
            return []
        params = None
        if doc_ids:
            allowed = self._ids_of(doc_ids)
            if not len(allowed):
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, ids = self.index.search(np.asarray(vector, "float32")[None, :], min(k, self.index.ntotal),
                                        params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def delete(self, doc_ids: Collection[str]) -> None:
        import faiss

        doomed = self._ids_of(doc_ids)
        if len(doomed):
            self.index.remove_ids(faiss.IDSelectorBatch(doomed))
        for i in doomed:
            del self._doc_ids[int(i)]

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        ids = faiss.vector_to_array(self.index.id_map).astype("int64")
        flat = self.index.index
        rows = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, flat.d), "float32")
        order = np.argsort(ids, kind="stable")
        return ids[order], np.asarray(rows, "float32")[order]


class FaissBackend(StoreBackend):
    name = "faiss"

    def create(self, gen: Path, part: str, dimension: int) -> FaissStore:
        return FaissStore.empty(dimension)

    def persist(self, store: FaissStore, gen: Path, part: str) -> dict:
        import faiss

        faiss.write_index(store.index, str(gen / FILE_NAMES[part]))
        return {"file": FILE_NAMES[part]}

    def open(self, gen: Path, part: str, record: dict, payloads: Sequence[dict]) -> FaissStore:
        path = gen / record.get("file", FILE_NAMES[part])
        if not path.is_file():
            raise StoreMissing(f"{path.name} is missing")
        return FaissStore.read(path, payloads)

    def describe(self) -> dict:
        return {"backend": self.name}

    def files(self, record: dict) -> list[str]:
        return [record["file"]]
