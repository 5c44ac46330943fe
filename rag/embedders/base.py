"""The embedder contract: LangChain's `Embeddings` plus a name and dimension for the index manifest."""

from __future__ import annotations

from abc import abstractmethod

from langchain_core.embeddings import Embeddings


class Embedder(Embeddings):
    """Vectors are L2-normalised, so inner product equals cosine similarity."""

    name: str
    dimension: int

    @abstractmethod
    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
