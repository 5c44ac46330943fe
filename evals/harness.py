"""Run gold questions through the assistant and turn each into a result row of evidence and metrics.

Only the service is called (Assistant.retrieve / ask / embedder), so what is measured is what a
user gets. Each row keeps the answer, citations and ranking next to its numbers, so reports and
run comparisons never re-run anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evals import metrics as M
from evals.gold import load_gold, relocate, validate_gold

GOLD = Path(__file__).with_name("gold.jsonl")
QRELS_DIR = Path(__file__).with_name("qrels")
SPLITS = ("dev", "heldout")
RANK_DEPTH = 10  # MRR@10 and nDCG@10 need a ranking this deep, whatever k the LLM gets
RECALL_AT = (1, 3, 5)
SECTIONS = ("retrieval", "answers", "citations", "abstention", "judge")
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


def load_gold_set(path: Path, articles: dict[str, str]) -> tuple[list[dict], list[str]]:
    """The gold records with offsets re-derived from their quotes, plus any validation problems.

    Relocating first lets the gold set survive a change to text cleaning; a quote that is gone
    raises ValueError, since no metric on that question would mean anything.
    """
    records = relocate(load_gold(path), articles)
    return records, validate_gold(records, articles)


def select(records: list[dict], split: str, limit: int | None) -> list[dict]:
    chosen = [r for r in records if split == "all" or r["split"] == split]
    return chosen[:limit] if limit else chosen


def make_judge(settings):
    """The judge LLM, or None and why not: only an OpenAI-compatible endpoint is trusted to grade."""
    if not (settings.openai_base_url or settings.openai_api_key):
        return None, JUDGE_SKIPPED_NO_ENDPOINT
    from rag.llms import make_llm

    return make_llm(settings.model_copy(update={"llm": "openai"})), None


def _retrieval_metrics(ranked: list[dict], record: dict, n_relevant: int) -> dict[str, float]:
    gold = record["gold_passages"]
    flags = [r["relevant"] for r in ranked]
    out = {f"retrieval.recall@{k}": M.recall_at_k(ranked, gold, k) for k in RECALL_AT}
    out["retrieval.mrr@10"] = M.mrr_at_k(flags, RANK_DEPTH)
    out["retrieval.ndcg@10"] = M.ndcg_at_k(flags, n_relevant, RANK_DEPTH)
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
    cited = row["citations"]
    out = {"citations.validity": float(M.citations_valid(row["answer"], cited, articles))}
    if row["sentences"]:
        out["citations.cited_sentence_share"] = row["cited_sentences"] / row["sentences"]
    if record["answerable"]:
        gold, gold_docs = record["gold_passages"], record["gold_doc_ids"]
        out["citations.recall"] = M.recall(cited, gold)
        out["citations.doc_recall"] = M.doc_recall([c["doc_id"] for c in cited], gold_docs)
        if cited:
            out["citations.precision"] = M.precision(cited, gold)
            out["citations.doc_precision"] = M.doc_precision([c["doc_id"] for c in cited], gold_docs)
    return out


def _judge(judge, settings, record: dict, reply) -> dict[str, float]:
    from rag.generation import format_passages
    from rag.prompts import render

    messages = render(settings.prompts_dir, "judge", question=record.get("standalone") or record["user_input"],
                      passages=format_passages(reply.passages), reference=record["reference"],
                      answer=reply.answer)
    verdict = M.parse_judgement(judge.complete(messages, max_tokens=64, temperature=0.0))
    if verdict is None:
        return {"judge.unparsed_rate": 1.0}
    return {"judge.unparsed_rate": 0.0} | {f"judge.{k}": v for k, v in verdict.items() if v is not None}


def _ranked(passage, gold: list[dict]) -> dict:
    data = passage.to_dict() | {"dense": passage.dense, "bm25": passage.bm25}
    return data | {"relevant": M.relevant(data, gold)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def evaluate(assistant, record: dict, corpus: Corpus, *, answer: bool, mode: str | None = None,
             closed_book: bool = False, judge=None) -> dict:
    """One gold question → one result row. Retrieval is scored on the query the system searched:
    its own rewrite of a follow-up when answering, the gold standalone question otherwise."""
    row = {key: record.get(key) for key in ("id", "split", "question_type", "user_input", "answerable",
                                            "reference", "aliases", "gold_passages", "gold_doc_ids")}
    query = record.get("standalone") or record["user_input"]
    metrics: dict[str, float] = {}
    if answer:
        reply = assistant.ask(record["user_input"], history=record.get("history"), closed_book=closed_book)
        query = reply.standalone_question or record["user_input"]
        row |= {"answer": reply.answer, "abstained": reply.abstained, "model": reply.model,
                "citations": [c.to_dict() for c in reply.citations], "sentences": len(reply.sentences),
                "cited_sentences": sum(bool(s.passages) for s in reply.sentences),
                "timings_ms": reply.timings_ms}
        row["outcome"], scores = _answer_metrics(reply.answer, reply.abstained, record)
        metrics |= scores
        if not closed_book and not reply.abstained:
            metrics |= _citation_metrics(row, record, corpus.articles)
            if judge is not None:
                metrics |= _judge(judge, assistant.settings, record, reply)
    row["query"] = query
    if not closed_book:
        started = time.perf_counter()
        passages = assistant.retrieve(query, k=max(RANK_DEPTH, assistant.settings.k), mode=mode)
        elapsed = _ms(time.perf_counter() - started)
        row.setdefault("timings_ms", {"retrieve": elapsed, "total": elapsed})
        row["retrieved"] = [_ranked(p, record["gold_passages"]) for p in passages]
        if record["answerable"]:
            metrics |= _retrieval_metrics(row["retrieved"], record, len(corpus.relevant_chunks(record)))
    for c in row.get("citations", []):
        c["relevant"] = M.relevant(c, record["gold_passages"])
    row["metrics"] = metrics
    row["failures"] = failures(row, answer)
    return row


def failures(row: dict, answered: bool) -> list[str]:
    """Why a question counts as failed: answer faults in a full run, missing evidence otherwise."""
    m = row["metrics"]
    if not answered:
        return ["gold evidence not in the top 5"] if m.get("retrieval.recall@5", 1.0) < 1.0 else []
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


def run(assistant, records: list[dict], corpus: Corpus, *, answer: bool, mode: str | None = None,
        closed_book: bool = False, judge=None, progress_factory: Callable | None = None,
        label: str = "evaluating") -> list[dict]:
    advance = progress_factory(len(records), label) if progress_factory else None
    rows = []
    for record in records:
        rows.append(evaluate(assistant, record, corpus, answer=answer, mode=mode, closed_book=closed_book,
                             judge=judge))
        if advance:
            advance(1)
    if answer:
        add_semantic_similarity(rows, assistant.embedder)
    return rows


def aggregate(rows: list[dict]) -> dict:
    """Mean of each metric over the questions it applies to; latency as p50/p95 per timing."""
    keys = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    out: dict = {"questions": len(rows)}
    for section in SECTIONS:
        names = [k for k in keys if k.split(".", 1)[0] == section]
        if names:
            answered = sum(any(k in r["metrics"] for k in names) for r in rows)
            out[section] = {"questions": answered} | {
                k.split(".", 1)[1]: round(M.mean(r["metrics"].get(k) for r in rows), 4) for k in names}
    timings = dict.fromkeys(k for r in rows for k in r.get("timings_ms", {}))
    for key in timings:
        values = [r["timings_ms"][key] for r in rows if r["timings_ms"].get(key) is not None]
        if values:
            for q in (50, 95):
                out.setdefault("latency", {})[f"{key}_p{q}_ms"] = round(M.percentile(values, q), 1)
    return out


def summarize(rows: list[dict]) -> dict:
    """Aggregates overall, per split (held-out kept apart from dev) and per question type."""
    def by(field: str) -> dict:
        return {v: aggregate([r for r in rows if r[field] == v]) for v in dict.fromkeys(r[field] for r in rows)}

    return aggregate(rows) | {"by_split": by("split"), "by_type": by("question_type")}


def run_baselines(assistant, records: list[dict], corpus: Corpus, *, answer: bool,
                  progress_factory: Callable | None = None) -> dict:
    """BM25-only, dense-only and hybrid retrieval on the gold standalone questions, and closed-book
    answers (when answering) to show what grounding adds."""
    out = {}
    for mode in ("bm25", "dense", "hybrid"):
        rows = run(assistant, records, corpus, answer=False, mode=mode, progress_factory=progress_factory,
                   label=f"baseline: {mode}")
        out[mode] = {"retrieval": aggregate(rows).get("retrieval", {})}
    if answer:
        rows = run(assistant, records, corpus, answer=True, closed_book=True, progress_factory=progress_factory,
                   label="baseline: closed-book")
        summary = aggregate(rows)
        out["closed_book"] = {s: summary[s] for s in ("answers", "abstention", "latency") if s in summary}
    return out


def chunk_qrels(records: list[dict], corpus: Corpus) -> list[tuple[str, str, int]]:
    """Chunk-level qrels for the current index: valid only until the next re-chunking."""
    return [(r["id"], chunk_id, 1) for r in records for chunk_id in corpus.relevant_chunks(r)]


def doc_qrels(records: list[dict]) -> list[tuple[str, str, int]]:
    """Article-level qrels: stable across re-chunking and cleaning, so they can be committed."""
    return [(r["id"], doc_id, 1) for r in records for doc_id in r["gold_doc_ids"]]


def write_qrels(rows: list[tuple[str, str, int]], path: Path) -> None:
    lines = ["\t".join(QRELS_HEADER)] + ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def export_doc_qrels(records: list[dict], directory: Path = QRELS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = directory / f"{split}.tsv"
        write_qrels(doc_qrels([r for r in records if r["split"] == split]), path)
        paths.append(path)
    return paths


def write_run(out: Path, metrics: dict, rows: list[dict], qrels: list[tuple[str, str, int]]) -> list[Path]:
    from evals import report

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics.json": json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
        "results.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
        "report.md": report.markdown(metrics, rows),
        "report.html": report.html_page(metrics, rows),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    write_qrels(qrels, out / "qrels.tsv")
    return [out / name for name in files] + [out / "qrels.tsv"]


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
