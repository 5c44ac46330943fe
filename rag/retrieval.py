"""Stage 4 — hybrid retrieval of chunks: dense chunks, dense sentences voting for their chunk, BM25.

Dense searches go to the index's vector stores (rag.stores: FAISS or Qdrant, with the article
filter). Dense chunk search finds the topic; a sentence-level dense hit finds the one sentence that
paraphrases the question inside a chunk about something else; BM25 finds names, dates and
figures the small embedder blurs. Chunks are embedded and BM25-indexed with their contextual
header (title, authors, date, section). The three rankings are fused by reciprocal rank or by
a weighted sum of scores (`fusion` setting; the eval measures both on the dev split).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Iterable, Mapping
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
from rag.text import names

Mode = Literal["hybrid", "dense", "bm25", "sentences"]
Fusion = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: `score` is the fused score, `dense` the chunk's cosine to the question,
    `sentence` the best cosine of one of its sentences, `bm25` its lexical score."""

    rank: int
    chunk: Chunk
    score: float
    dense: float | None
    bm25: float | None
    sentence: float | None = None
    position: int = -1  # row in the index: its sentences are index.sentences[chunk_sentences[position]]

    def to_dict(self) -> dict:
        return {"rank": self.rank, **self.chunk.to_dict(), "score": round(self.score, 6)}


def build_bm25(chunks: list[Chunk]):
    import bm25s

    bm25 = bm25s.BM25()
    if chunks:
        bm25.index(bm25s.tokenize([c.search_text for c in chunks], stopwords="en", show_progress=False),
                   show_progress=False)
    return bm25


def by_author(question: str, authors: Mapping[str, Iterable[str]], vocabulary: Callable[[str], set[str]]
              ) -> list[str]:
    """The articles that name an author the question names, in their byline or their text ("in
    Kistanov's view", "what did Kireeva write", "why did Streltsov consider..." where another article
    quotes him). An author's name is in every chunk header of their article, so on its own it
    ranks none of that article's chunks above the rest of the corpus. `authors`: each article's
    authors; `vocabulary`: an article's names and words, bylines included (VectorIndex.vocabulary)."""
    surnames = set().union(*(_surname(author) for written in authors.values() for author in written))
    named = surnames & names(f"By {question}")  # a surname opening the question is a name too
    return [doc_id for doc_id in authors if named & vocabulary(doc_id)] if named else []


@functools.lru_cache(maxsize=4096)
def _surname(author: str) -> frozenset[str]:
    """An author's surname folded like a name in a question, worked out once per author, not per question."""
    return frozenset(names(f"By {author.split()[-1]}")) if author.split() else frozenset()


def chunk_sentences(index: VectorIndex) -> list[range]:
    """For each chunk, the range of index.sentences it overlaps (sentences are stored in article order)."""
    by_doc: dict[str, tuple[int, list[int]]] = {}
    for i, s in enumerate(index.sentences):
        first, starts = by_doc.setdefault(s.doc_id, (i, []))
        starts.append(s.start)
    ranges = []
    for c in index.chunks:
        first, starts = by_doc.get(c.doc_id, (0, []))
        lo = bisect.bisect_right(starts, c.start) - 1  # the sentence the chunk starts in
        hi = bisect.bisect_left(starts, c.end)
        ranges.append(range(first + max(lo, 0), first + hi))
    return ranges


class HybridRetriever(BaseRetriever):
    """A LangChain retriever; `search` is the typed entry point the service uses."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any  # VectorIndex
    embedder: Any  # Embedder
    bm25: Any
    k: int = 4
    fetch_k: int = 20
    rrf_k: int = 60
    mode: Mode = "hybrid"
    fusion: Fusion = "rrf"
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # dense chunk, dense sentence, BM25
    _ranges: list[range] = PrivateAttr(default_factory=list)
    _sentence_chunk: np.ndarray = PrivateAttr(default=None)

    def model_post_init(self, __context: Any) -> None:
        self._ranges = chunk_sentences(self.index)
        # a sentence votes for the first chunk that holds it (overlaps repeat it in the next one)
        owner = np.full(len(self.index.sentences), -1, dtype="int64")
        for pos, rows in enumerate(self._ranges):
            for row in rows:
                if owner[row] < 0:
                    owner[row] = pos
        self._sentence_chunk = owner
        for part in ("chunks", "sentences"):
            self.index.store(part)  # an unsaved index gets its in-memory stores now, not at the first question

    @classmethod
    def from_index(cls, index: VectorIndex, embedder: Embedder, **kwargs) -> HybridRetriever:
        return cls(index=index, embedder=embedder, bm25=build_bm25(index.chunks), **kwargs)

    @property
    def chunks(self) -> list[Chunk]:
        return self.index.chunks

    def sentence_rows(self, position: int) -> range:
        return self._ranges[position]

    def embed(self, text: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_query(text), dtype="float32")

    def _lexical(self, query: str, doc_ids: set[str] | None) -> np.ndarray:
        """BM25 score of every chunk (0 outside the article filter)."""
        import bm25s

        words = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        if not self.chunks or not words:
            return np.zeros(len(self.chunks), dtype="float32")
        scores = np.asarray(self.bm25.get_scores(words), dtype="float32")
        if doc_ids:
            scores = scores * np.array([c.doc_id in doc_ids for c in self.chunks], dtype="float32")
        return scores

    def search(self, query: str, k: int | None = None, doc_ids: list[str] | None = None,
               mode: Mode | None = None, query_vector: np.ndarray | None = None) -> list[Passage]:
        k, mode = k or self.k, mode or self.mode
        wanted = set(doc_ids) if doc_ids else None
        n = max(self.fetch_k, k)
        q = self.embed(query) if query_vector is None else query_vector
        dense_hits = self.index.store("chunks").search(q, n, wanted)
        sentence_hits = self.index.store("sentences").search(q, 4 * n, wanted)
        lexical = self._lexical(query, wanted)

        best_sentence: dict[int, float] = {}
        for row, score in sentence_hits:
            pos = int(self._sentence_chunk[row])
            if pos >= 0 and score > best_sentence.get(pos, -1.0):
                best_sentence[pos] = score
        rankings = {
            "dense": [i for i, _ in dense_hits],
            "sentences": sorted(best_sentence, key=lambda i: -best_sentence[i])[:n],
            "bm25": [int(i) for i in np.argsort(-lexical, kind="stable")[:n] if lexical[i] > 0],
        }
        used = {"hybrid": ("dense", "sentences", "bm25"), "dense": ("dense",), "bm25": ("bm25",),
                "sentences": ("sentences",)}[mode]
        candidates = list(dict.fromkeys(i for name in used for i in rankings[name]))
        dense = {i: float(self.index.vectors[i] @ q) for i in candidates}
        sentence = {i: best_sentence.get(i, self._best_sentence(i, q)) for i in candidates}
        top_bm25 = float(lexical.max()) if len(lexical) else 0.0
        if self.fusion == "weighted" and mode == "hybrid":
            w_dense, w_sentence, w_bm25 = self.weights
            fused = {i: w_dense * dense[i] + w_sentence * sentence[i]
                     + w_bm25 * (float(lexical[i]) / top_bm25 if top_bm25 > 0 else 0.0) for i in candidates}
        else:
            fused = dict.fromkeys(candidates, 0.0)
            for name in used:
                for rank, i in enumerate(rankings[name]):
                    fused[i] += 1.0 / (self.rrf_k + rank + 1)
        top = sorted(candidates, key=lambda i: (-fused[i], i))[:k]
        return [Passage(rank=r + 1, chunk=self.chunks[i], score=fused[i], dense=dense[i],
                        bm25=float(lexical[i]) if lexical[i] > 0 else None, sentence=sentence[i], position=i)
                for r, i in enumerate(top)]

    def _best_sentence(self, position: int, q: np.ndarray) -> float:
        rows = self._ranges[position]
        if not len(rows):
            return 0.0
        return float((self.index.sentence_vectors[rows.start:rows.stop] @ q).max())

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=p.chunk.text, metadata=p.to_dict()) for p in self.search(query)]
