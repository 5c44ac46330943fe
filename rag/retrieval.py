"""Stage 4 — hybrid retrieval: FAISS (dense) and BM25 (lexical) fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds names, dates and figures the small embedder blurs.
RRF needs no score calibration between the two, which is why it is the fusion here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from rag.chunking import Chunk
from rag.embedders import Embedder
from rag.index import VectorIndex

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk. `score` is the fused score; `dense` the cosine to the question (if known)."""

    rank: int
    chunk: Chunk
    score: float
    dense: float | None
    bm25: float | None

    def to_dict(self) -> dict:
        return {"rank": self.rank, **self.chunk.to_dict(), "score": round(self.score, 6)}


def _tokenize(texts: list[str]):
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", show_progress=False)


def build_bm25(chunks: list[Chunk]):
    import bm25s

    bm25 = bm25s.BM25()
    if chunks:
        bm25.index(_tokenize([c.title + "\n" + c.text for c in chunks]), show_progress=False)
    return bm25


class HybridRetriever(BaseRetriever):
    """A LangChain retriever; `search` is the typed entry point the service uses."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: Any
    bm25: Any
    chunks: list[Chunk]
    k: int = 4
    fetch_k: int = 20
    rrf_k: int = 60
    mode: Mode = "hybrid"
    _position: dict[str, int] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        self._position = {c.chunk_id: i for i, c in enumerate(self.chunks)}

    @classmethod
    def from_index(cls, index: VectorIndex, embedder: Embedder, **kwargs) -> HybridRetriever:
        return cls(vectorstore=index.as_vectorstore(embedder), bm25=build_bm25(index.chunks),
                   chunks=index.chunks, **kwargs)

    def _dense(self, query: str, n: int, doc_ids: set[str] | None) -> list[tuple[int, float]]:
        store = self.vectorstore
        if doc_ids:
            hits = store.similarity_search_with_score(
                query, k=n, filter={"doc_id": {"$in": sorted(doc_ids)}}, fetch_k=len(self.chunks)
            )
        else:
            hits = store.similarity_search_with_score(query, k=n)
        return [(self._position[doc.metadata["chunk_id"]], float(score)) for doc, score in hits]

    def _lexical(self, query: str, n: int, doc_ids: set[str] | None) -> list[tuple[int, float]]:
        tokens = _tokenize([query])
        if not self.chunks or not tokens.vocab:
            return []
        mask = None
        if doc_ids:
            mask = np.array([c.doc_id in doc_ids for c in self.chunks], dtype="float32")
        ids, scores = self.bm25.retrieve(tokens, k=min(n, len(self.chunks)), show_progress=False,
                                         weight_mask=mask, n_threads=1)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]

    def search(self, query: str, k: int | None = None, doc_ids: list[str] | None = None,
               mode: Mode | None = None) -> list[Passage]:
        k = k or self.k
        mode = mode or self.mode
        wanted = set(doc_ids) if doc_ids else None
        n = max(self.fetch_k, k)
        dense = self._dense(query, n, wanted) if mode in ("hybrid", "dense") else []
        lexical = self._lexical(query, n, wanted) if mode in ("hybrid", "bm25") else []
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, (i, _) in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        dense_score, bm25_score = dict(dense), dict(lexical)
        top = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [Passage(rank=r + 1, chunk=self.chunks[i], score=fused[i], dense=dense_score.get(i),
                        bm25=bm25_score.get(i)) for r, i in enumerate(top)]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=p.chunk.text, metadata=p.to_dict()) for p in self.search(query)]
