"""Choose the store backend: by setting for a writer, by the manifest for a reader (an index is read
from where it was written); the only place that knows the backends' names."""

from __future__ import annotations

from pathlib import Path

from rag.settings import Settings
from rag.stores.base import StoreBackend

FAISS = {"backend": "faiss"}  # where a manifest without a "store" entry keeps its vectors


def make_backend(settings: Settings) -> StoreBackend:
    if settings.vector_store == "qdrant":
        return backend_for({"backend": "qdrant", "url": settings.qdrant_url, "path": settings.qdrant_path,
                            "prefix": settings.qdrant_prefix})
    return backend_for(FAISS)


def backend_for(store: dict) -> StoreBackend:
    """The backend a manifest's "store" entry (StoreBackend.describe) names."""
    if store["backend"] == "qdrant":
        from rag.stores.qdrant import QdrantBackend

        return QdrantBackend(store.get("url"), Path(store["path"]) if store.get("path") else None, store["prefix"])
    from rag.stores.faiss import FaissBackend

    return FaissBackend()


def location(store: dict) -> str:
    """A manifest's "store" entry for people: "faiss", "qdrant /data/index/qdrant", "qdrant http://…"."""
    return " ".join([store["backend"], *(str(store[k]) for k in ("url", "path") if store.get(k))])
