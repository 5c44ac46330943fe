"""Stage 6 — the service the CLI, the Gradio UI and the eval harness all call.

A question goes: validate (questions) → [rewrite follow-up (generation)] → retrieve (retrieval)
→ generate (llms) → check citations (citations). `ask_stream` yields events as each step
finishes so a UI can show "searching / generating" and tokens as they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.citations import ABSTAIN_TEXT, CheckedAnswer, Citation, Sentence, check_answer, is_abstention
from rag.documents import Article, load_corpus
from rag.embedders import Embedder, make_embedder
from rag.generation import answer_messages, closed_book_messages, condense_messages
from rag.index import VectorIndex
from rag.ingest import ensure_index
from rag.llms import LLM, Message, make_llm
from rag.questions import validate_question
from rag.retrieval import HybridRetriever, Mode, Passage
from rag.settings import Settings


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[Sentence]
    passages: list[Passage]
    model: str
    timings_ms: dict[str, float]
    standalone_question: str | None = None
    raw: str = ""  # the model's unedited output, for debugging and evals

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "model": self.model,
            "timings_ms": self.timings_ms,
            "standalone_question": self.standalone_question,
            "unsupported_sentences": [s.text for s in self.sentences if not s.supported],
        }


@dataclass
class Status:
    stage: str  # "rewriting" | "searching" | "generating"
    detail: str = ""


@dataclass
class Retrieved:
    passages: list[Passage]
    standalone_question: str | None = None


@dataclass
class Token:
    text: str


@dataclass
class Done:
    answer: Answer


Event = Status | Retrieved | Token | Done


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


@dataclass
class Assistant:
    settings: Settings
    embedder: Embedder
    index: VectorIndex
    retriever: HybridRetriever
    _llm: LLM | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, llm: LLM | None = None, progress_factory=None) -> Assistant:
        """Load the embedder and the index (building it if missing or stale); the LLM loads on first use."""
        embedder = make_embedder(settings)
        index = ensure_index(settings, embedder, progress_factory)
        return cls(settings, embedder, index, cls._retriever(index, embedder, settings), llm)

    @staticmethod
    def _retriever(index: VectorIndex, embedder: Embedder, settings: Settings) -> HybridRetriever:
        return HybridRetriever.from_index(index, embedder, k=settings.k, fetch_k=settings.fetch_k,
                                          rrf_k=settings.rrf_k)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            self._llm = make_llm(self.settings)
        return self._llm

    def use_local_model(self, name: str) -> None:
        """Answer with another bundled model from now on; it loads on the next question."""
        from rag.llms.model_files import LOCAL_MODELS

        if name not in LOCAL_MODELS:
            raise ValueError(f"unknown local model {name!r}; choose one of {sorted(LOCAL_MODELS)}")
        self.settings = self.settings.model_copy(update={"llm": "local", "local_model": name})
        self._llm = None

    def articles(self) -> list[Article]:
        return load_corpus(self.settings.corpus_dir)

    def retrieve(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                 mode: Mode | None = None) -> list[Passage]:
        question = validate_question(question, self.settings.max_question_chars)
        return self.retriever.search(question, k=k or self.settings.k, doc_ids=doc_ids, mode=mode)

    def is_relevant(self, passages: list[Passage]) -> bool:
        """Nothing retrieved is close enough to the question: answering would be guessing."""
        best = max((p.dense for p in passages if p.dense is not None), default=None)
        return bool(passages) and (best is None or best >= self.settings.min_relevance)

    def condense(self, question: str, history: list[Message]) -> str:
        """Rewrite a follow-up into a standalone question using the conversation so far."""
        messages = condense_messages(self.settings.prompts_dir, question, history)
        rewritten = self.llm.complete(messages, max_tokens=64, temperature=0.0).strip().splitlines()
        return (rewritten[0].strip() if rewritten else "") or question

    def ask_stream(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                   history: list[Message] | None = None, closed_book: bool = False) -> Iterator[Event]:
        """Answer with citations, yielding progress. `closed_book` skips retrieval (an eval baseline)."""
        started = time.perf_counter()
        question = validate_question(question, self.settings.max_question_chars)
        standalone = None
        if history:
            yield Status("rewriting")
            standalone = self.condense(question, history)
        query = standalone or question
        yield Status("searching", query)
        t0 = time.perf_counter()
        passages = [] if closed_book else self.retriever.search(query, k=k or self.settings.k, doc_ids=doc_ids)
        retrieve_ms = _ms(time.perf_counter() - t0)
        yield Retrieved(passages, standalone)

        raw, first_token_ms = "", None
        t1 = time.perf_counter()
        if closed_book or self.is_relevant(passages):
            yield Status("generating")
            messages = (closed_book_messages(self.settings.prompts_dir, query) if closed_book
                        else answer_messages(self.settings.prompts_dir, query, passages))
            for piece in self.llm.stream(messages, max_tokens=self.settings.max_tokens,
                                         temperature=self.settings.temperature):
                if first_token_ms is None:
                    first_token_ms = _ms(time.perf_counter() - t1)
                raw += piece
                yield Token(piece)
        generate_ms = _ms(time.perf_counter() - t1)
        checked = _closed_book(raw) if closed_book else check_answer(raw, passages, query)
        if checked.abstained and not raw:
            yield Token(checked.text)
        timings = {"retrieve": retrieve_ms, "generate": generate_ms, "first_token": first_token_ms,
                   "total": _ms(time.perf_counter() - started)}
        model = self._llm.name if self._llm is not None else "none"
        yield Done(Answer(question, checked.text, checked.abstained, checked.citations, checked.sentences,
                          passages, model, timings, standalone, raw))

    def ask(self, question: str, **kwargs) -> Answer:
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("ask_stream ended without an answer")


def _closed_book(raw: str) -> CheckedAnswer:
    """No passages, so nothing to cite or check: only decide whether the model abstained."""
    if is_abstention(raw):
        return CheckedAnswer(ABSTAIN_TEXT, True, [], [])
    return CheckedAnswer(raw.strip(), False, [], [])
