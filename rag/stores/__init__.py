"""Stage 3c — where an index generation's vectors live and are searched: FAISS files (the default) or
Qdrant collections, behind one contract (rag.stores.base); `make_backend` picks one by setting."""

from rag.stores.base import StoreBackend, VectorStore
from rag.stores.factory import backend_for, make_backend

__all__ = ["StoreBackend", "VectorStore", "backend_for", "make_backend"]
