"""The store contract, txtai-style: a `VectorStore` holds one set of vectors (an index generation's
chunks or its sentences) under integer ids, with the article of each as payload, and answers exact
inner-product searches, optionally within some articles. A `StoreBackend` says where a generation's
stores live: it creates them while the generation is written, makes them durable before the commit
(rag.index swaps CURRENT only after), opens them for readers and drops the ones no generation uses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

Hit = tuple[int, float]  # (id, inner product)


class VectorStore(ABC):
    """Vectors are float32 and L2-normalised, so the inner product is the cosine."""

    @abstractmethod
    def add(self, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        """Add vectors under new ids; each payload names its article (`doc_id`)."""

    @abstractmethod
    def search(self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        """The k nearest by inner product, best first, only among `doc_ids`' vectors when given."""

    @abstractmethod
    def delete(self, doc_ids: Collection[str]) -> None:
        """Remove every vector of these articles."""

    @property
    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors), in id order: what a reader keeps for scoring evidence."""


class StoreBackend(ABC):
    """Where a generation's stores live. `part` names one of its vector sets ("chunks", "sentences")."""

    name: str

    @abstractmethod
    def create(self, gen: Path, part: str, dimension: int) -> VectorStore:
        """A new, empty store for a generation being written (its folder `gen` exists)."""

    @abstractmethod
    def persist(self, store: VectorStore, gen: Path, part: str) -> dict:
        """Make the store durable; returns what the manifest records to open it again."""

    @abstractmethod
    def open(self, gen: Path, part: str, record: dict, payloads: Sequence[dict]) -> VectorStore:
        """The store a committed generation's manifest `record` names (`payloads`: its records' doc_ids,
        for a backend that keeps none). Raises StoreMissing when it is not there."""

    @abstractmethod
    def describe(self) -> dict:
        """What the manifest records under "store": the backend and its location."""

    def files(self, record: dict) -> list[str]:
        """Files in the generation folder that hold this part (hashed with the manifest)."""
        return []

    def prune(self, index_dir: Path, keep: str) -> None:
        """Drop what generations other than `keep` left in the store (after a commit, or a crash)."""


class StoreMissing(LookupError):
    """A store a manifest names is not where it says; rag.index reports the index as damaged."""
