"""Stage 7 — the service the CLI, the Gradio UI and the eval harness all call.

A question goes: validate (questions) → [rewrite follow-up (generation)] → retrieve chunks
(retrieval) → select numbered evidence sentences (evidence) → generate (llms) → verify each
claim against the evidence (verification). `ask_stream` yields events as each step finishes so
a UI can show "loading / searching / writing" and tokens as they arrive.

The local model is not re-entrant, and the chat, the /ask API and the OpenAI-compatible API all
call one Assistant from their own threads: every model call takes the Assistant's model lock, so
one request generates at a time whichever door it came in by.

The service answers from the index it finds; building one is an explicit step (`rag index
rebuild`, ingest). It follows the index a writer commits while it runs, and the model is chosen
per request, so one chat user switching models does not switch it for another.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from rag.compare import ArticleAnswer, Comparison, compare_answers, with_time_frames
from rag.documents import Article, load_corpus
from rag.embedders import Embedder, make_embedder
from rag.errors import IndexMissing, InvalidDate, InvalidRequest
from rag.evidence import Evidence, Scored, evidence_gap, score_sentences, select_evidence
from rag.generation import (QUOTE_REPLY_TOKENS, answer_messages, citation_grammar, condense_messages,
                            quote_evidence)
from rag.history import fit_history, needs_rewrite
from rag.index import VectorIndex, chunking_params, live_generation, load_index
from rag.llms import LLM, Message, Usage, make_llm
from rag.llms.factory import model_choices
from rag.prompts import reply_kind
from rag.questions import validate_doc_ids, validate_request
from rag.retrieval import HybridRetriever, Mode, Passage, by_author
from rag.settings import Settings
from rag.stores import make_backend
from rag.stores.factory import location
from rag.timeline import Event as TimelineEvent, date_bound, select
from rag.verification import (Candidate, Citation, DraftChecker, Sentence, cached, candidates, is_abstention,
                               verify_answer)


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
class Checked:
    """The next piece of the checked answer (`ask_stream(checked_pieces=True)`): a settled sentence of the
    draft, checked, as the final answer's text will have it."""

    text: str


@dataclass
class Done:
    answer: Answer


@dataclass
class Compared:
    comparison: Comparison


Event = Status | Retrieved | Token | Checked | Done
CONDENSE_TOKENS = 64  # a standalone question is one line


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


@dataclass
class Assistant:
    settings: Settings
    embedder: Embedder
    index: VectorIndex
    retriever: HybridRetriever
    _llms: dict[str, Future[LLM]] = field(default_factory=dict, repr=False)
    _articles: list[Article] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Held for every model call, from any thread (a plain Lock: a stream abandoned by its reader is
    # closed from another thread, and releases it there).
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, llm: LLM | None = None, preload: bool = False,
                      warm: bool = False) -> Assistant:
        """Load the embedder and the index (IndexMissing if there is none to answer from). The LLM
        loads on first use unless one is given; `preload` starts loading the default one now, in the
        background, so it loads while the embedder and the index do. `warm` (a server, which waits
        for its first question) also has it prefill the answer instructions there, so the first
        question pays only for its evidence; a one-shot `rag ask` would only wait longer for it."""
        default = model_choices(settings)[0]
        llms = {default: _ready(llm)} if llm is not None else {}
        if (preload or warm) and llm is None:
            llms[default] = _load_in_background(settings, default, warm)
        embedder = make_embedder(settings)
        index = _load(settings, embedder)
        return cls(settings, embedder, index, cls._retriever(index, embedder, settings), llms)

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
        loading = self._llms.get(model or self.default_model)
        return loading is not None and loading.done() and loading.exception() is None

    def _loaded(self, model: str | None) -> Generator[Event, None, LLM]:
        """The request's model, after a Status("loading") when it is not loaded yet."""
        if not self.model_loaded(model):
            yield Status("loading", model or self.default_model)
        return self.llm(model)

    def with_llm(self, llm: LLM) -> Assistant:
        """The same index and embedder answering with `llm` as the default model (tests, embedding apps)."""
        return dataclasses.replace(self, _llms={self.default_model: _ready(llm)}, _lock=threading.Lock())

    def llm(self, model: str | None = None) -> LLM:
        """The model a request names (validated by `validate`), loaded once and kept. A failed load
        is raised to the request that waits for it, then tried again by the next one."""
        name = model or self.default_model
        with self._lock:
            loading = self._llms.get(name)
            if loading is None:
                loading = self._llms[name] = _load_in_background(self.settings, name)
        try:
            return loading.result()
        except BaseException:
            with self._lock:
                if self._llms.get(name) is loading:
                    del self._llms[name]
            raise

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

    def timeline(self, date_from: str | None = None, date_to: str | None = None, doc_ids: list[str] | None = None,
                 query: str | None = None) -> list[TimelineEvent]:
        """The dated events of the articles (built with the index), sorted by date and filtered: dates
        YYYY[-MM[-DD]] inclusive, events these articles report, events mentioning every word of `query`."""
        self.refresh()
        first, last = date_bound(date_from, "from"), date_bound(date_to, "to", end=True)
        if first and last and first > last:
            raise InvalidDate(f"from ({date_from}) is after to ({date_to})")
        if query is not None and (not isinstance(query, str) or len(query) > self.settings.max_question_chars):
            raise InvalidRequest(f"query must be text of at most {self.settings.max_question_chars:,} characters")
        return select(self.index.timeline, first, last, validate_doc_ids(doc_ids, self.index.documents), query)

    def retrieve(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                 mode: Mode | None = None) -> list[Passage]:
        self.refresh()
        question, k, doc_ids, _, _ = self.validate(question, k, doc_ids)
        return self.retriever.search(question, k=k or self.settings.k, doc_ids=doc_ids, mode=mode)

    def gather_evidence(self, query: str, k: int | None = None, doc_ids: list[str] | None = None
                        ) -> tuple[list[Passage], list[Scored], list[Evidence]]:
        """Retrieve chunks, score their sentences against the question, select numbered evidence.
        The chunks returned are the top k and the deeper one whose sentence joined the candidates."""
        vector, k = self.retriever.embed(query), k or self.settings.k
        authors = {doc_id: doc.get("authors", []) for doc_id, doc in self.index.documents.items()}
        doc_ids = doc_ids or by_author(query, authors, self.index.vocabulary) or None
        ranked = self.retriever.search(query, k=2 * k, doc_ids=doc_ids, query_vector=vector)
        scored = score_sentences(query, vector, ranked[:k], self.retriever, deeper=ranked[k:])
        passages = ranked[:k] + [s.passage for s in scored if s.passage.rank > k]
        return passages, scored, select_evidence(scored, self.retriever, self.settings.evidence_tokens)

    def _pool(self, evidence: list[Evidence]) -> list[Candidate]:
        sentences, vectors = self.index.sentences, self.index.sentence_vectors
        return candidates(evidence, lambda r: (sentences[r].start, sentences[r].end, sentences[r].text),
                          lambda r: vectors[r])

    def condense(self, question: str, history: list[Message], llm: LLM) -> str:
        """Rewrite a follow-up into a standalone question using the conversation so far."""
        messages = condense_messages(self.settings.prompts_dir, question, history)
        with self._model_lock:
            rewritten = llm.complete(messages, max_tokens=CONDENSE_TOKENS, temperature=0.0).strip().splitlines()
        return (rewritten[0].strip() if rewritten else "") or question

    def ask_stream(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                   history: list[Message] | None = None, model: str | None = None,
                   checked_pieces: bool = False) -> Iterator[Event]:
        """Answer with citations, yielding progress; `model` is one of `models` (default: the first).
        `checked_pieces`: also yield the checked answer in Checked pieces as the draft settles (for clients
        that can only append to what they were sent)."""
        started = time.perf_counter()
        self.refresh()
        question, k, doc_ids, history, model = self.validate(question, k, doc_ids, history, model)
        llm = yield from self._loaded(model)
        standalone, notes = None, []
        if history and needs_rewrite(question):
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

        answer = yield from self.write_answer(question, query, passages, scored, evidence, llm,
                                              checked_pieces=checked_pieces)
        answer.standalone_question, answer.notes = standalone, notes
        answer.timings_ms = {"retrieve": retrieve_ms} | answer.timings_ms | {"total": _ms(time.perf_counter() - started)}
        yield Done(answer)

    def write_answer(self, question: str, query: str, passages: list[Passage], scored: list[Scored],
                     evidence: list[Evidence], llm: LLM, prompt: str = "answer", checked_pieces: bool = False
                     ) -> Generator[Event, None, Answer]:
        """Answer `query` from this evidence and check every claim, yielding the tokens (and with
        `checked_pieces` the Checked pieces); returns the Answer (timings: generate, first_token,
        verify). The one path `ask` and `compare` share: the evidence gate, the prompt `prompt`, the
        claim check and the abstention reasons."""
        raw, first_token_ms, usage = "", None, Usage()
        t1 = time.perf_counter()
        gap = evidence_gap(query, passages, scored, self.settings.min_evidence_score, self.index.vocabulary)
        pool, embed = self._pool(evidence), cached(self.embedder.embed_documents)
        draft = DraftChecker(evidence, pool, embed, query) if checked_pieces else None
        if gap is None:
            yield Status("generating")
            for piece in self._reply(llm, query, evidence, prompt, usage):
                if first_token_ms is None:
                    first_token_ms = _ms(time.perf_counter() - t1)
                raw += piece
                yield Token(piece)
                if draft and (settled := draft.feed(raw)):
                    yield Checked(settled)
        generate_ms = _ms(time.perf_counter() - t1)
        t2 = time.perf_counter()
        checked = verify_answer(raw, evidence if gap is None else [], pool, embed, query)
        verify_ms = _ms(time.perf_counter() - t2)
        if checked.abstained and not raw:
            yield Token(checked.text)
        if draft and (rest := draft.rest(checked.text)):
            yield Checked(rest)
        reason = None
        if checked.abstained:
            reason = gap or ("the model found no answer in the evidence" if is_abstention(raw) else checked.reason)
        timings = {"generate": generate_ms, "first_token": first_token_ms, "verify": verify_ms}
        return Answer(question, checked.text, checked.abstained, checked.citations, checked.sentences,
                      passages, evidence, llm.name, timings, usage, None, reason, raw)

    def _reply(self, llm: LLM, query: str, evidence: list[Evidence], prompt: str, usage: Usage) -> Iterator[str]:
        """The answer's text as it comes: the model's tokens, or for a prompt whose reply is "quote"
        the evidence lines the model named, quoted whole once it has named them."""
        model = _prompt_model(llm)
        messages = answer_messages(self.settings.prompts_dir, query, evidence, model, prompt)
        quote = reply_kind(self.settings.prompts_dir, prompt, model) == "quote"
        grammar = citation_grammar(len(evidence)) if self.settings.citation_grammar and not quote else None
        max_tokens = min(QUOTE_REPLY_TOKENS, self.settings.max_tokens) if quote else self.settings.max_tokens
        with self._model_lock:
            pieces = llm.stream(messages, max_tokens=max_tokens, temperature=self.settings.temperature,
                                usage=usage, grammar=grammar)
            if not quote:
                yield from pieces
                return
            named = "".join(pieces)
        if text := quote_evidence(named, evidence):
            yield text

    def compare_stream(self, question: str, k: int | None = None, doc_ids: list[str] | None = None,
                       model: str | None = None) -> Iterator[Status | Compared]:
        """Who says what: each article (of `doc_ids`, default all) answers from its own evidence alone,
        through the ask path; an article the gate, the model or the claim check finds no answer in is
        silent. Yields Status("reading", title) per article, then Compared."""
        started = time.perf_counter()
        self.refresh()
        question, k, doc_ids, _, model = self.validate(question, k, doc_ids, None, model)
        llm = yield from self._loaded(model)
        usage = Usage(prompt_tokens=0, completion_tokens=0)
        parts = []
        for article in [a for a in self.articles() if not doc_ids or a.doc_id in doc_ids]:
            yield Status("reading", article.title)
            passages, scored, evidence = self.gather_evidence(question, k, [article.doc_id])
            evidence = with_time_frames(evidence, self.index)
            answer = _result(self.write_answer(question, question, passages, scored, evidence, llm, prompt="compare"))
            for key in usage:
                usage[key] += answer.usage.get(key, 0)
            parts.append(ArticleAnswer(article, answer.answer, answer.sentences, answer.citations, evidence,
                                       answer.abstention_reason))
        comparison = compare_answers(question, self.retriever.embed(question), parts, self.index)
        comparison.model, comparison.usage = llm.name, dict(usage)
        comparison.timings_ms = {"total": _ms(time.perf_counter() - started)}
        yield Compared(comparison)

    def compare(self, question: str, **kwargs) -> Comparison:
        return next(e.comparison for e in self.compare_stream(question, **kwargs) if isinstance(e, Compared))

    def ask(self, question: str, **kwargs) -> Answer:
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("ask_stream ended without an answer")


def _ready(llm: LLM) -> Future[LLM]:
    done: Future[LLM] = Future()
    done.set_result(llm)
    return done


def _prompt_model(llm: LLM) -> str:
    """The model name that picks a per-model prompt file ("local:qwen2.5-coder-0.5b" -> its own)."""
    return llm.name.split(":", 1)[-1]


def _load_in_background(settings: Settings, name: str, warm: bool = False) -> Future[LLM]:
    """Load a model on a daemon thread (an exit, e.g. on a missing index, does not wait for it);
    `warm`: then prefill the answer instructions there (see `Assistant.from_settings`)."""
    loading: Future[LLM] = Future()

    def load() -> None:
        try:
            llm = make_llm(settings, name)
            if warm:
                llm.prepare(answer_messages(settings.prompts_dir, "", [], _prompt_model(llm))[0])
            loading.set_result(llm)
        except BaseException as exc:  # handed to whoever waits for the model
            loading.set_exception(exc)

    threading.Thread(target=load, name=f"load-{name}", daemon=True).start()
    return loading


def _result(steps: Generator[Event, None, Answer]) -> Answer:
    """Run a `write_answer` to its end without showing its tokens."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


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
