"""Stage 7 — the service the CLI, the Gradio UI and the eval harness all call.

A question goes: validate (questions) → [rewrite follow-up (generation)] → retrieve chunks
(retrieval) → select numbered evidence sentences (evidence) → generate (llms) → verify each
claim against the evidence (verification). `ask_stream` yields events as each step finishes so
a UI can show "searching / writing" and tokens as they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.documents import Article, load_corpus
from rag.embedders import Embedder, make_embedder
from rag.evidence import Evidence, Scored, evidence_gap, score_sentences, select_evidence
from rag.generation import answer_messages, citation_grammar, closed_book_messages, condense_messages
from rag.history import fit_history
from rag.index import VectorIndex
from rag.ingest import ensure_index
from rag.llms import LLM, Message, Usage, make_llm
from rag.questions import validate_request
from rag.retrieval import HybridRetriever, Mode, Passage
from rag.settings import Settings
from rag.verification import (
    ABSTAIN_TEXT,
    Candidate,
    CheckedAnswer,
    Citation,
    Sentence,
    candidates,
    is_abstention,
    verify_answer,
)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[Sentence]
    passages: list[Passage]  # the chunks retrieved
    evidence: list[Evidence]  # what the model was shown, numbered as it saw them
    model: str
    timings_ms: dict[str, float]
    usage: Usage = field(default_factory=dict)
    standalone_question: str | None = None
    abstention_reason: str | None = None  # why it said "the articles do not say"
    raw: str = ""  # the model's unedited output, for debugging and evals
    notes: list[str] = field(default_factory=list)  # what the user should know, e.g. a trimmed conversation

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "abstention_reason": self.abstention_reason,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [s.to_dict() for s in self.sentences],
            "evidence": [e.to_dict() for e in self.evidence],
            "model": self.model,
            "usage": {"prompt_tokens": self.usage.get("prompt_tokens", 0),
                      "completion_tokens": self.usage.get("completion_tokens", 0)},
            "timings_ms": self.timings_ms,
            "standalone_question": self.standalone_question,
            "unsupported_sentences": [s.text for s in self.sentences if not s.supported],
            "notes": self.notes,
        }


@dataclass
class Status:
    stage: str  # "rewriting" | "searching" | "generating"
    detail: str = ""


@dataclass
class Retrieved:
    passages: list[Passage]
    standalone_question: str | None = None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Token:
    text: str


@dataclass
class Done:
    answer: Answer


Event = Status | Retrieved | Token | Done
CONDENSE_TOKENS = 64  # a standalone question is one line


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
                                          rrf_k=settings.rrf_k, fusion=settings.fusion,
                                          weights=settings.fusion_weights)

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

    def validate(self, question: str, k=None, doc_ids=None, history=None):
        """(question, k, doc_ids, history) checked against the settings and this index, or InvalidRequest."""
        return validate_request(question, self.settings.max_question_chars, k, doc_ids, history, self.index.documents)

    def retrieve(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                 mode: Mode | None = None) -> list[Passage]:
        question, k, doc_ids, _ = self.validate(question, k, doc_ids)
        return self.retriever.search(question, k=k or self.settings.k, doc_ids=doc_ids, mode=mode)

    def gather_evidence(self, query: str, k: int | None = None, doc_ids: list[str] | None = None
                        ) -> tuple[list[Passage], list[Scored], list[Evidence]]:
        """Retrieve chunks, score their sentences against the question, select numbered evidence."""
        vector = self.retriever.embed(query)
        passages = self.retriever.search(query, k=k or self.settings.k, doc_ids=doc_ids, query_vector=vector)
        scored = score_sentences(query, vector, passages, self.retriever)
        return passages, scored, select_evidence(scored, self.retriever, self.settings.evidence_tokens)

    def _pool(self, evidence: list[Evidence]) -> list[Candidate]:
        sentences, vectors = self.index.sentences, self.index.sentence_vectors
        return candidates(evidence, lambda r: (sentences[r].start, sentences[r].end, sentences[r].text),
                          lambda r: vectors[r])

    def condense(self, question: str, history: list[Message]) -> str:
        """Rewrite a follow-up into a standalone question using the conversation so far."""
        messages = condense_messages(self.settings.prompts_dir, question, history)
        rewritten = self.llm.complete(messages, max_tokens=CONDENSE_TOKENS, temperature=0.0).strip().splitlines()
        return (rewritten[0].strip() if rewritten else "") or question

    def ask_stream(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                   history: list[Message] | None = None, closed_book: bool = False) -> Iterator[Event]:
        """Answer with citations, yielding progress. `closed_book` skips retrieval (an eval baseline)."""
        started = time.perf_counter()
        question, k, doc_ids, history = self.validate(question, k, doc_ids, history)
        standalone, notes = None, []
        if history:
            yield Status("rewriting")
            history, note = fit_history(history, question, self.settings.prompts_dir, self.settings.n_ctx,
                                        CONDENSE_TOKENS, self.llm.count_tokens)
            notes += [note] if note else []
            standalone = self.condense(question, history)
        query = standalone or question
        yield Status("searching", query)
        t0 = time.perf_counter()
        passages, scored, evidence = ([], [], []) if closed_book else self.gather_evidence(query, k, doc_ids)
        retrieve_ms = _ms(time.perf_counter() - t0)
        yield Retrieved(passages, standalone, evidence)

        raw, first_token_ms, usage = "", None, Usage()
        t1 = time.perf_counter()
        gap = None if closed_book else evidence_gap(query, passages, scored, self.settings.min_evidence_score)
        grounded = gap is None
        if grounded:
            yield Status("generating")
            model = self.llm.name.split(":", 1)[-1]
            messages = (closed_book_messages(self.settings.prompts_dir, query) if closed_book
                        else answer_messages(self.settings.prompts_dir, query, evidence, model))
            grammar = None if closed_book or not self.settings.citation_grammar else citation_grammar(len(evidence))
            for piece in self.llm.stream(messages, max_tokens=self.settings.max_tokens,
                                         temperature=self.settings.temperature, usage=usage, grammar=grammar):
                if first_token_ms is None:
                    first_token_ms = _ms(time.perf_counter() - t1)
                raw += piece
                yield Token(piece)
        generate_ms = _ms(time.perf_counter() - t1)
        t2 = time.perf_counter()
        if closed_book:
            checked = _closed_book(raw)
        else:
            checked = verify_answer(raw, evidence if grounded else [], self._pool(evidence),
                                    self.embedder.embed_documents, query)
        verify_ms = _ms(time.perf_counter() - t2)
        if checked.abstained and not raw:
            yield Token(checked.text)
        reason = None
        if checked.abstained:
            reason = gap or ("the model found no answer in the evidence" if is_abstention(raw)
                             else "no sentence of the answer is supported by the evidence")
        timings = {"retrieve": retrieve_ms, "generate": generate_ms, "first_token": first_token_ms,
                   "verify": verify_ms, "total": _ms(time.perf_counter() - started)}
        model_name = self._llm.name if self._llm is not None else "none"
        yield Done(Answer(question, checked.text, checked.abstained, checked.citations, checked.sentences,
                          passages, evidence, model_name, timings, usage, standalone, reason, raw, notes))

    def ask(self, question: str, **kwargs) -> Answer:
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("ask_stream ended without an answer")


def _closed_book(raw: str) -> CheckedAnswer:
    """No evidence, so nothing to cite or check: only decide whether the model abstained."""
    if is_abstention(raw):
        return CheckedAnswer(ABSTAIN_TEXT, True, [], [])
    return CheckedAnswer(raw.strip(), False, [], [])
