"""Deterministic hashed bag-of-words vectors: lexical overlap gives similarity, so tests can
exercise retrieval and ranking without loading a neural model."""

from __future__ import annotations

import hashlib
import math
import re

from rag.embedders.base import Embedder

_TOKEN = re.compile(r"[^\W_]+")


class FakeEmbedder(Embedder):
    name = "fake-hashed-bow"

    def __init__(self, dimension: int = 256):
        self.dimension = dimension

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dimension
        for token in _TOKEN.findall(text.lower()):
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest, "little") % self.dimension] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]
