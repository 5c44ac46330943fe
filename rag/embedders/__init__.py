"""Stage 3a — text embedders behind one small interface; `make_embedder` picks one by setting."""

from rag.embedders.base import Embedder
from rag.embedders.factory import make_embedder

__all__ = ["Embedder", "make_embedder"]
