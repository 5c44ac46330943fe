"""Run gold questions through the assistant and turn each into a result row of evidence and metrics.

Only the service is called (Assistant.ask_stream / gather_evidence / retrieve / embedder), so
what is measured is what a user gets. Each row keeps the evidence the model saw, the answer
sentence by sentence with its support, and a compact ranking next to its numbers, so reports and
run comparisons never re-run anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag import metrics as M
from rag.gold import load_gold, load_gold_set

GOLD = Path(__file__).with_name("gold.jsonl")
QRELS_DIR = Path(__file__).with_name("qrels")
SPLITS = ("dev", "heldout")
RANK_DEPTH = 10  # MRR@10 and nDCG@10 need a ranking this deep, whatever k the evidence comes from
RECALL_AT = (1, 3, 5)
SECTIONS = ("retrieval", "evidence", "answers", "citations", "abstention", "judge")
ROW_FIELDS = ("id", "split", "question_type", "user_input", "answerable", "reference", "aliases", "gold_passages",
              "gold_doc_ids")
# The retrieval ablation: each ranking alone, then all three fused each way (retriever attributes).
ABLATIONS = {"bm25": {"mode": "bm25"}, "dense": {"mode": "dense"}, "sentences": {"mode": "sentences"},
             "hybrid_rrf": {"mode": "hybrid", "fusion": "rrf"},
             "hybrid_weighted": {"mode": "hybrid", "fusion": "weighted"}}
RUN_NAME = "kuril-rag"  # the TREC run name of the run's own ranking
QRELS_HEADER = ("query-id", "corpus-id", "score")
JUDGE_SKIPPED_NO_ENDPOINT = "no OpenAI-compatible endpoint configured (set OPENAI_BASE_URL or OPENAI_API_KEY)"
# Per-question values a run comparison reports when they change.
TRACKED = ("retrieval.recall@5", "retrieval.mrr@10", "answers.key_fact_recall", "citations.validity")


@dataclass(frozen=True)
class Corpus:
    """What relevance and citation checks are measured against: the live articles and chunks."""

    articles: dict[str, str]
    chunks: list[dict]

    @classmethod
    def of(cls, assistant) -> Corpus:
        return cls({a.doc_id: a.text for a in assistant.articles()},
                   [c.to_dict() for c in assistant.index.chunks])

    def relevant_chunks(self, record: dict) -> list[str]:
        return [c["chunk_id"] for c in self.chunks if M.relevant(c, record["gold_passages"])]


def select(records: list[dict], split: str, limit: int | None) -> list[dict]:
    chosen = [r for r in records if split == "all" or r["split"] == split]
    return chosen[:limit] if limit else chosen


def make_judge(settings):
    """The judge LLM, or None and why not: only an OpenAI-compatible endpoint is trusted to grade."""
    if not (settings.openai_base_url or settings.openai_api_key):
        return None, JUDGE_SKIPPED_NO_ENDPOINT
    from rag.llms import make_llm

    return make_llm(settings.model_copy(update={"llm": "openai"})), None


def _retrieval_metrics(ranking: list[dict], record: dict, n_relevant: int) -> dict[str, float]:
    gold = record["gold_passages"]
    flags = [r["relevant"] for r in ranking]
    out = {f"retrieval.recall@{k}": M.recall_at_k(ranking, gold, k) for k in RECALL_AT}
    out["retrieval.mrr@10"] = M.mrr_at_k(flags, RANK_DEPTH)
    out["retrieval.ndcg@10"] = M.ndcg_at_k(flags, n_relevant, RANK_DEPTH)
    return out


def evidence_metrics(evidence: list[dict], record: dict) -> dict[str, float]:
    """What the model was shown: did it include the gold passages (recall), how much of it was
    on target (precision, answerable questions) and how long it was (tokens, every question)."""
    from rag.evidence import estimate_tokens

    out = {"evidence.tokens": float(sum(estimate_tokens(e["text"]) for e in evidence))}
    if record["answerable"]:
        out["evidence.recall"] = M.recall(evidence, record["gold_passages"])
        if evidence:
            out["evidence.precision"] = M.precision(evidence, record["gold_passages"])
    return out


def _answer_metrics(answer: str, abstained: bool, record: dict) -> tuple[str, dict[str, float]]:
    """The outcome, answer quality on answerable questions (abstentions included: they score 0)
    and the abstention scores."""
    out: dict[str, float] = {}
    fact_recall = None
    if record["answerable"]:
        fact_recall = M.key_fact_recall(answer, record["aliases"])
        out["answers.key_fact_recall"] = fact_recall
        out["answers.token_f1"] = M.token_f1(answer, record["reference"])
        out["abstention.false_abstention_rate"] = float(abstained)
    else:
        out["abstention.abstention_rate"] = float(abstained)
    outcome = M.outcome(record["answerable"], abstained, fact_recall)
    out["abstention.combined_score"] = float(M.SCORES[outcome])
    out["abstention.correct_rate"] = float(outcome == "correct")
    return outcome, out


def _citation_metrics(row: dict, record: dict, articles: dict[str, str]) -> dict[str, float]:
    """Only for grounded answers that were given: an abstention cites nothing by design."""
    cited, sentences = row["citations"], row["sentences"]
    out = {"citations.validity": float(M.citations_valid(row["answer"], cited, articles))}
    if sentences:
        out["citations.cited_sentence_share"] = M.cited_share(sentences)
        out["citations.unsupported_sentence_share"] = M.unsupported_share(sentences)
    if record["answerable"]:
        gold, gold_docs = record["gold_passages"], record["gold_doc_ids"]
        out["citations.recall"] = M.recall(cited, gold)
        out["citations.doc_recall"] = M.doc_recall([c["doc_id"] for c in cited], gold_docs)
        if cited:
            out["citations.precision"] = M.precision(cited, gold)
            out["citations.doc_precision"] = M.doc_precision([c["doc_id"] for c in cited], gold_docs)
        if (support := M.support_precision(sentences, gold)) is not None:
            out["citations.support_precision"] = support
    return out


def _judge(judge, settings, record: dict, reply) -> tuple[dict[str, float], str]:
    """The judge's scores and its raw reply: kept so an unparsed or surprising grade can be read."""
    from rag.evidence import format_evidence
    from rag.prompts import render

    messages = render(settings.prompts_dir, "judge", question=record.get("standalone") or record["user_input"],
                      passages=format_evidence(reply.evidence), reference=record["reference"],
                      answer=reply.answer)
    raw = judge.complete(messages, max_tokens=64, temperature=0.0)
    verdict = M.parse_judgement(raw)
    if verdict is None:
        return {"judge.unparsed_rate": 1.0}, raw
    return {"judge.unparsed_rate": 0.0} | {f"judge.{k}": v for k, v in verdict.items() if v is not None}, raw


def _flagged(span: dict, gold: list[dict]) -> dict:
    return span | {"relevant": M.relevant(span, gold)}


def _ranked(passage, gold: list[dict]) -> dict:
    """A ranking entry: enough for MRR/nDCG, qrels and TREC runs; the texts are in the index."""
    c = passage.chunk
    return _flagged({"rank": passage.rank, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "start": c.start,
                     "end": c.end, "score": round(passage.score, 6)}, gold)


def _sentence(sentence, gold: list[dict]) -> dict:
    """An answer sentence with its support span flagged against gold and the evidence number the
    model saw (the answer's [n] are renumbered, so they differ from the evidence numbers)."""
    data = sentence.to_dict()
    if sentence.support is not None:
        data["support"] = _flagged(data["support"], gold) | {"evidence": sentence.support.evidence}
    return data


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _ask(assistant, record: dict, closed_book: bool):
    """The answer, and whether the model was prompted at all: the evidence gate can abstain before
    generation, and then the evidence selected was never shown to the model."""
    from rag.service import Done, Status

    if closed_book:
        return _closed_book(assistant, record.get("standalone") or record["user_input"]), True
    generated = False
    for event in assistant.ask_stream(record["user_input"], history=record.get("history")):
        generated |= isinstance(event, Status) and event.stage == "generating"
        if isinstance(event, Done):
            return event.answer, generated
    raise AssertionError("ask_stream ended without an answer")


def _closed_book(assistant, question: str):
    """The baseline that shows what grounding adds: the same model answering from what it knows,
    no retrieval, nothing to cite or check, only whether it abstained."""
    from rag.llms import Usage
    from rag.prompts import render
    from rag.service import Answer
    from rag.text import ABSTAIN_TEXT
    from rag.verification import is_abstention

    llm, usage, started = assistant.llm(), Usage(), time.perf_counter()
    messages = render(assistant.settings.prompts_dir, "closed_book", question=question, abstain=ABSTAIN_TEXT)
    raw = llm.complete(messages, max_tokens=assistant.settings.max_tokens, temperature=0.0, usage=usage)
    abstained = is_abstention(raw)
    elapsed = _ms(time.perf_counter() - started)
    return Answer(question, ABSTAIN_TEXT if abstained else raw.strip(), abstained, [], [], [], [], llm.name,
                  {"generate": elapsed, "total": elapsed}, usage, raw=raw)


def evaluate(assistant, record: dict, corpus: Corpus, *, answer: bool, closed_book: bool = False,
             judge=None) -> dict:
    """One gold question → one result row. Evidence and ranking are for the query the system
    searched: its own rewrite of a follow-up when answering, the gold standalone question otherwise."""
    row = {key: record.get(key) for key in ROW_FIELDS}
    gold = record["gold_passages"]
    query = record.get("standalone") or record["user_input"]
    metrics: dict[str, float] = {}
    evidence = []
    if answer:
        reply, generated = _ask(assistant, record, closed_book)
        query = reply.standalone_question or record["user_input"]
        evidence = reply.evidence
        row |= {"answer": reply.answer, "abstained": reply.abstained, "abstention_reason": reply.abstention_reason,
                "generated": generated, "model": reply.model, "raw": reply.raw,
                "citations": [_flagged(c.to_dict(), gold) | {"evidence": c.evidence.n} for c in reply.citations],
                "sentences": [_sentence(s, gold) for s in reply.sentences],
                "cited_sentences": sum(bool(s.citations) for s in reply.sentences),
                "usage": reply.to_dict()["usage"], "timings_ms": reply.timings_ms}
        row["outcome"], scores = _answer_metrics(reply.answer, reply.abstained, record)
        metrics |= scores
        if not closed_book and not reply.abstained:
            metrics |= _citation_metrics(row, record, corpus.articles)
            if judge is not None:
                judged, row["judge_raw"] = _judge(judge, assistant.settings, record, reply)
                metrics |= judged
    elif not closed_book:
        started = time.perf_counter()
        evidence = assistant.gather_evidence(query)[2]  # exactly what ask() would show the model
        elapsed = _ms(time.perf_counter() - started)
        row["timings_ms"] = {"retrieve": elapsed, "total": elapsed}
    row["query"] = query
    if record.get("history"):  # a RAGAS multi-turn sample: the earlier turns and the rewrite searched
        row |= {"history": record["history"], "standalone": record.get("standalone"), "standalone_question": query}
    if not closed_book:
        row["evidence"] = [_flagged(e.to_dict(), gold) for e in evidence]
        metrics |= evidence_metrics(row["evidence"], record)
        passages = assistant.retrieve(query, k=max(RANK_DEPTH, assistant.settings.k))
        row["ranking"] = [_ranked(p, gold) for p in passages]
        if record["answerable"]:
            metrics |= _retrieval_metrics(row["ranking"], record, len(corpus.relevant_chunks(record)))
    row["metrics"] = metrics
    row["failures"] = failures(row, answer)
    return row


def failures(row: dict, answered: bool) -> list[str]:
    """Why a question counts as failed: answer faults in a full run, missing evidence otherwise."""
    m = row["metrics"]
    if not answered:
        reasons = ["gold evidence not in the top 5"] if m.get("retrieval.recall@5", 1.0) < 1.0 else []
        if m.get("evidence.recall", 1.0) < 1.0:
            reasons.append("a gold passage is missing from the evidence the model would see")
        return reasons
    reasons = []
    if row["outcome"] == "wrong":
        reasons.append(f"wrong answer (key-fact recall {m['answers.key_fact_recall']:.2f})" if row["answerable"]
                       else "answered an unanswerable question")
    elif row["outcome"] == "abstained":
        reasons.append("abstained on an answerable question")
    if m.get("citations.validity") == 0.0:
        reasons.append("invalid citation")
    return reasons


def add_semantic_similarity(rows: list[dict], embedder) -> None:
    """Cosine between answer and gold answer with the bundled embedder, in one batch."""
    scored = [r for r in rows if "answers.key_fact_recall" in r["metrics"]]
    if not scored:
        return
    texts = [M.strip_markers(r["answer"]) for r in scored] + [r["reference"] for r in scored]
    vectors = embedder.embed_documents(texts)
    for row, u, v in zip(scored, vectors, vectors[len(scored):]):
        row["metrics"]["answers.semantic_similarity"] = M.cosine(u, v)


def run(assistant, records: list[dict], corpus: Corpus, *, answer: bool, closed_book: bool = False,
        judge=None, progress_factory: Callable | None = None, label: str = "evaluating") -> list[dict]:
    advance = progress_factory(len(records), label) if progress_factory else None
    rows = []
    for record in records:
        rows.append(evaluate(assistant, record, corpus, answer=answer, closed_book=closed_book, judge=judge))
        if advance:
            advance(1)
    if answer:
        add_semantic_similarity(rows, assistant.embedder)
    return rows


def _percentiles(values: list[float], name: str, suffix: str = "") -> dict[str, float]:
    return {f"{name}_p{q}{suffix}": round(M.percentile(values, q), 1) for q in (50, 95)}


def aggregate(rows: list[dict]) -> dict:
    """Mean of each metric over the questions it applies to; latency and token usage as p50/p95."""
    keys = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    out: dict = {"questions": len(rows)}
    for section in SECTIONS:
        names = [k for k in keys if k.split(".", 1)[0] == section]
        if names:
            answered = sum(any(k in r["metrics"] for k in names) for r in rows)
            out[section] = {"questions": answered} | {
                k.split(".", 1)[1]: round(M.mean(r["metrics"].get(k) for r in rows), 4) for k in names}
    for key in dict.fromkeys(k for r in rows for k in r.get("timings_ms", {})):
        values = [r["timings_ms"][key] for r in rows if r["timings_ms"].get(key) is not None]
        if values:
            out.setdefault("latency", {}).update(_percentiles(values, key, "_ms"))
    generated = [r["usage"] for r in rows if r.get("usage", {}).get("prompt_tokens")]  # the model was called
    if generated:
        out["usage"] = {"questions": len(generated)}
        for key in ("prompt_tokens", "completion_tokens"):
            out["usage"] |= _percentiles([u[key] for u in generated], key)
    return out


def summarize(rows: list[dict]) -> dict:
    """Aggregates overall, per split (held-out kept apart from dev) and per question type."""
    def by(field: str) -> dict:
        return {v: aggregate([r for r in rows if r[field] == v]) for v in dict.fromkeys(r[field] for r in rows)}

    return aggregate(rows) | {"by_split": by("split"), "by_type": by("question_type")}


@contextmanager
def retriever_config(retriever, **changes):
    """Set retriever attributes (mode, fusion, embedder) for one ablation and restore them
    afterwards, so an ablation never leaks into the answers or into the next ablation."""
    saved = {name: getattr(retriever, name) for name in changes}
    try:
        for name, value in changes.items():
            setattr(retriever, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(retriever, name, value)


class QueryVectorCache:
    """The embedder with query vectors memoised. Every ablation searches the same gold questions
    and a vector does not depend on the retrieval mode, so the ablation embeds each question once
    (MiniLM dominates its cost); it reports no latency, so nothing it measures changes."""

    def __init__(self, embedder):
        self._embedder = embedder
        self._vectors: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self._vectors:
            self._vectors[text] = self._embedder.embed_query(text)
        return self._vectors[text]

    def __getattr__(self, name: str):
        return getattr(self._embedder, name)


def run_baselines(assistant, records: list[dict], corpus: Corpus, *, answer: bool,
                  progress_factory: Callable | None = None) -> tuple[dict, dict[str, list[dict]]]:
    """The retrieval ablation (each ranking alone, then hybrid with each fusion) on the gold
    standalone questions, and closed-book answers (when answering) to show what grounding adds.
    Returns the summaries and each ablation's rows (for its TREC run file)."""
    out, rankings = {}, {}
    cached = QueryVectorCache(assistant.retriever.embedder)
    for name, config in ABLATIONS.items():
        with retriever_config(assistant.retriever, embedder=cached, **config):
            rows = run(assistant, records, corpus, answer=False, progress_factory=progress_factory,
                       label=f"baseline: {name}")
        summary = aggregate(rows)
        out[name] = {"retrieval": summary.get("retrieval", {}), "evidence": summary.get("evidence", {})}
        rankings[name] = rows
    if answer:
        rows = run(assistant, records, corpus, answer=True, closed_book=True, progress_factory=progress_factory,
                   label="baseline: closed-book")
        summary = aggregate(rows)
        out["closed_book"] = {s: summary[s] for s in ("answers", "abstention", "latency", "usage") if s in summary}
    return out, rankings


def compare_section(assistant, corpus: Corpus, progress_factory: Callable | None = None) -> dict:
    """metrics.json's "compare" section (full runs): `evals/compare_gold.jsonl` through Assistant.compare."""
    from evals import compare

    summary, _ = compare.run(assistant, compare.load(), corpus.articles, progress_factory)
    return summary


def chunk_qrels(records: list[dict], corpus: Corpus) -> list[tuple[str, str, int]]:
    """Chunk-level qrels for the current index: valid only until the next re-chunking."""
    return [(r["id"], chunk_id, 1) for r in records for chunk_id in corpus.relevant_chunks(r)]


def doc_qrels(records: list[dict]) -> list[tuple[str, str, int]]:
    """Article-level qrels: stable across re-chunking and cleaning, so they can be committed."""
    return [(r["id"], doc_id, 1) for r in records for doc_id in r["gold_doc_ids"]]


def write_qrels(rows: list[tuple[str, str, int]], path: Path) -> None:
    lines = ["\t".join(QRELS_HEADER)] + ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def trec_qrels(rows: list[tuple[str, str, int]]) -> str:
    """The qrels in TREC's 4 columns (`qid 0 docid rel`), as trec_eval and ir_measures read them."""
    return "".join(f"{qid} 0 {docid} {rel}\n" for qid, docid, rel in rows)


def trec_run(rows: list[dict], name: str) -> str:
    """A TREC run (`qid Q0 docid rank score run_name`) of each row's ranking. trec_eval re-sorts by
    score, so on an exact tie it may order two chunks differently from `rank`."""
    return "".join(f"{row['id']} Q0 {r['chunk_id']} {r['rank']} {r['score']} {name}\n"
                   for row in rows for r in row.get("ranking", []))


def export_doc_qrels(records: list[dict], directory: Path = QRELS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = directory / f"{split}.tsv"
        write_qrels(doc_qrels([r for r in records if r["split"] == split]), path)
        paths.append(path)
    return paths


def portable_path(path: Path, root: Path) -> str:
    """A path as a committed output may show it: relative to the project root, else only the file
    name, so no run leaks the machine's directory layout or breaks when the checkout moves."""
    path = Path(path).resolve()
    return path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else path.name


def load_run(directory: Path) -> tuple[dict, list[dict]]:
    metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    with (directory / "results.jsonl").open(encoding="utf-8") as fh:
        return metrics, [json.loads(line) for line in fh if line.strip()]


def parse_threshold(text: str) -> tuple[str, float]:
    """'retrieval.recall@5=0.8' → ('retrieval.recall@5', 0.8); ValueError names the bad part."""
    name, sep, value = text.rpartition("=")
    if not sep or not name.strip():
        raise ValueError(f"expected METRIC=VALUE, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise ValueError(f"{text!r}: {value!r} is not a number") from None


def below_thresholds(metrics: dict, thresholds: list[tuple[str, float]]) -> list[str]:
    """One line per metric under its floor; KeyError for a name metrics.json does not have."""
    flat = M.flatten(metrics)
    missing = [name for name, _ in thresholds if name not in flat]
    if missing:
        raise KeyError(f"not in metrics.json: {', '.join(missing)} (known: {', '.join(flat)})")
    return [f"{name} = {flat[name]:.4f} < {floor}" for name, floor in thresholds if flat[name] < floor]
