"""Stage 7 — the service the CLI, the Gradio UI and the eval harness all call.

A question goes: validate (questions) → [rewrite follow-up (generation)] → retrieve chunks
(retrieval) → select numbered evidence sentences (evidence) → generate (llms) → verify each
claim against the evidence (verification). `ask_stream` yields events as each step finishes so
a UI can show "loading / searching / writing" and tokens as they arrive.

The service answers from the index it finds; building one is an explicit step (`rag index
rebuild`, ingest). It follows the index a writer commits while it runs, and the model is chosen
per request, so one chat user switching models does not switch it for another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import threading

from rag.documents import Article, load_corpus
from rag.embedders import Embedder, make_embedder
from rag.errors import IndexMissing
from rag.evidence import Evidence, Scored, evidence_gap, score_sentences, select_evidence
from rag.generation import answer_messages, citation_grammar, condense_messages
from rag.history import fit_history
from rag.index import VectorIndex, chunking_params, live_generation, load_index
from rag.llms import LLM, Message, Usage, make_llm
from rag.llms.factory import model_choices
from rag.questions import validate_request
from rag.retrieval import HybridRetriever, Mode, Passage
from rag.settings import Settings
from rag.stores import make_backend
from rag.stores.factory import location
from rag.verification import Candidate, Citation, Sentence, candidates, is_abstention, verify_answer


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
    stage: str  # "loading" | "rewriting" | "searching" | "generating"
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
    _llms: dict[str, LLM] = field(default_factory=dict, repr=False)
    _articles: list[Article] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, llm: LLM | None = None) -> Assistant:
        """Load the embedder and the index (IndexMissing if there is none to answer from); the
        LLM loads on first use unless one is given."""
        embedder = make_embedder(settings)
        index = _load(settings, embedder)
        assistant = cls(settings, embedder, index, cls._retriever(index, embedder, settings))
        if llm is not None:
            assistant._llms[assistant.default_model] = llm
        return assistant

    @staticmethod
    def _retriever(index: VectorIndex, embedder: Embedder, settings: Settings) -> HybridRetriever:
        return HybridRetriever.from_index(index, embedder, k=settings.k, fetch_k=settings.fetch_k,
                                          rrf_k=settings.rrf_k, fusion=settings.fusion,
                                          weights=settings.fusion_weights)

    def refresh(self) -> bool:
        """Switch to the index generation a writer (ingest, rebuild) committed since this one loaded:
        one small file read per question."""
        if not self.index.generation or live_generation(self.settings.index_dir) == self.index.generation:
            return False
        with self._lock:
            index = _load(self.settings, self.embedder)
            if index.generation != self.index.generation:
                self.index, self._articles = index, None
                self.retriever = self._retriever(index, self.embedder, self.settings)
        return True

    @property
    def models(self) -> list[str]:
        """The models a request may name; the first is the default."""
        return model_choices(self.settings)

    @property
    def default_model(self) -> str:
        return self.models[0]

    def model_loaded(self, model: str | None = None) -> bool:
        return (model or self.default_model) in self._llms

    def llm(self, model: str | None = None) -> LLM:
        """The model a request names (validated by `validate`), loaded once and kept."""
        name = model or self.default_model
        if name not in self._llms:
            with self._lock:
                if name not in self._llms:
                    self._llms[name] = make_llm(self.settings, name)
        return self._llms[name]

    def articles(self) -> list[Article]:
        """The articles of the loaded index, read once per index generation."""
        if self._articles is None:
            indexed = self.index.documents
            self._articles = [a for a in load_corpus(self.settings.corpus_dir) if a.doc_id in indexed]
        return self._articles

    def validate(self, question: str, k=None, doc_ids=None, history=None, model=None):
        """(question, k, doc_ids, history, model) checked against the settings and this index, or InvalidRequest."""
        return validate_request(question, self.settings.max_question_chars, k, doc_ids, history,
                                self.index.documents, model, self.models)

    def retrieve(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                 mode: Mode | None = None) -> list[Passage]:
        self.refresh()
        question, k, doc_ids, _, _ = self.validate(question, k, doc_ids)
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

    def condense(self, question: str, history: list[Message], llm: LLM) -> str:
        """Rewrite a follow-up into a standalone question using the conversation so far."""
        messages = condense_messages(self.settings.prompts_dir, question, history)
        rewritten = llm.complete(messages, max_tokens=CONDENSE_TOKENS, temperature=0.0).strip().splitlines()
        return (rewritten[0].strip() if rewritten else "") or question

    def ask_stream(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                   history: list[Message] | None = None, model: str | None = None) -> Iterator[Event]:
        """Answer with citations, yielding progress; `model` is one of `models` (default: the first)."""
        started = time.perf_counter()
        self.refresh()
        question, k, doc_ids, history, model = self.validate(question, k, doc_ids, history, model)
        if not self.model_loaded(model):
            yield Status("loading", model or self.default_model)
        llm = self.llm(model)
        standalone, notes = None, []
        if history:
            yield Status("rewriting")
            history, note = fit_history(history, question, self.settings.prompts_dir, self.settings.n_ctx,
                                        CONDENSE_TOKENS, llm.count_tokens)
            notes += [note] if note else []
            standalone = self.condense(question, history, llm)
        query = standalone or question
        yield Status("searching", query)
        t0 = time.perf_counter()
        passages, scored, evidence = self.gather_evidence(query, k, doc_ids)
        retrieve_ms = _ms(time.perf_counter() - t0)
        yield Retrieved(passages, standalone, evidence)

        raw, first_token_ms, usage = "", None, Usage()
        t1 = time.perf_counter()
        gap = evidence_gap(query, passages, scored, self.settings.min_evidence_score)
        if gap is None:
            yield Status("generating")
            messages = answer_messages(self.settings.prompts_dir, query, evidence, llm.name.split(":", 1)[-1])
            grammar = citation_grammar(len(evidence)) if self.settings.citation_grammar else None
            for piece in llm.stream(messages, max_tokens=self.settings.max_tokens,
                                    temperature=self.settings.temperature, usage=usage, grammar=grammar):
                if first_token_ms is None:
                    first_token_ms = _ms(time.perf_counter() - t1)
                raw += piece
                yield Token(piece)
        generate_ms = _ms(time.perf_counter() - t1)
        t2 = time.perf_counter()
        checked = verify_answer(raw, evidence if gap is None else [], self._pool(evidence),
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
        yield Done(Answer(question, checked.text, checked.abstained, checked.citations, checked.sentences,
                          passages, evidence, llm.name, timings, usage, standalone, reason, raw, notes))

    def ask(self, question: str, **kwargs) -> Answer:
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("ask_stream ended without an answer")


def _load(settings: Settings, embedder: Embedder) -> VectorIndex:
    """The live generation, refused when it holds nothing to answer from or other chunking."""
    index = load_index(settings.index_dir, embedder)
    if not index.chunks:
        raise IndexMissing(f"the index in {settings.index_dir} is empty (no articles in {settings.corpus_dir}): "
                           "add some with `rag ingest PATH`")
    if index.manifest["chunking"] != chunking_params(settings):
        raise IndexMissing(f"the index in {settings.index_dir} was built with other chunking settings "
                           f"({index.manifest['chunking']}): run `rag index rebuild`")
    if (store := make_backend(settings).describe()) != index.store_description:
        raise IndexMissing(f"the index in {settings.index_dir} keeps its vectors in {location(index.store_description)}, "
                           f"the settings say {location(store)}: run `rag index rebuild`")
    return index
