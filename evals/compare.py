"""Score "compare the sources" against `compare_gold.jsonl`: per-article coverage (addresses vs
silent), citation validity and recall of the known differences.

Each gold line: {"id", "question", "addresses": [doc_id], "silent": [doc_id], "differences":
[{"topic", "kind", "sides": [{"doc_id", "says"}]}]}. An article in neither list only partly
addresses the question and is not scored. The scoring functions are pure; `run` calls only
`Assistant.compare`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag import metrics as M
from rag.gold import read_jsonl

GOLD = Path(__file__).with_name("compare_gold.jsonl")
VALUE_KINDS = ("dates", "amounts", "figures")  # what the deterministic comparison can find; "judgement" it cannot


def load(path: Path = GOLD) -> list[dict]:
    """The comparison questions; ValueError naming the line of the first bad one."""
    return read_jsonl(path, ("id", "question", "addresses", "silent", "differences"))


def coverage(result: dict, record: dict) -> dict[str, float]:
    """Per scored article: did it answer when it addresses the question, stay silent when not."""
    silent = {a["doc_id"]: a["silent"] for a in result["articles"]}
    hits = [not silent[d] for d in record["addresses"] if d in silent] + [silent[d] for d in record["silent"]
                                                                          if d in silent]
    out = {"coverage_accuracy": sum(hits) / len(hits)} if hits else {}
    if record["addresses"]:
        out["addresses_answered"] = M.mean(float(not silent[d]) for d in record["addresses"] if d in silent)
    if record["silent"]:
        out["silent_kept_silent"] = M.mean(float(silent[d]) for d in record["silent"] if d in silent)
    return out


def citation_validity(result: dict, articles: dict[str, str]) -> float | None:
    """Share of citations (answers, agreements, difference sides) whose quote and evidence are the
    article text at their offsets and whose article is the one answering or the side's own."""
    checked = []
    for a in result["articles"]:
        checked += [(c, a["doc_id"]) for c in a["citations"]]
    for p in result["agreements"]:
        checked += [(c, c["doc_id"]) for c in p["citations"]]
    for d in result["differences"]:
        checked += [(c, s["doc_id"]) for s in d["sides"] for c in s["citations"]]
    if not checked:
        return None
    return M.mean(float(c["doc_id"] == owner and M.citations_valid("", [c], articles)) for c, owner in checked)


def difference_found(gold: dict, found: list[dict]) -> bool:
    """A gold difference is found when one reported difference has sides from two of its articles
    (all of them when it has two)."""
    docs = {s["doc_id"] for s in gold["sides"]}
    return any(len(docs & {s["doc_id"] for s in d["sides"]}) >= 2 for d in found)


def score(result: dict, record: dict, articles: dict[str, str]) -> dict[str, float]:
    out = coverage(result, record)
    if (validity := citation_validity(result, articles)) is not None:
        out["citation_validity"] = validity
    for kinds, name in ((VALUE_KINDS, "difference_recall"), (("judgement",), "judgement_difference_recall")):
        golds = [d for d in record["differences"] if d["kind"] in kinds]
        if golds:
            out[name] = M.mean(float(difference_found(d, result["differences"])) for d in golds)
    out["differences_reported"] = float(len(result["differences"]))
    return out


def summarize(rows: list[dict]) -> dict:
    """Means over the questions each metric applies to, the gold difference counts, and each
    question's own numbers (the report's table)."""
    keys = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    gold_differences = {k: sum(r["gold_differences"].get(k, 0) for r in rows) for k in ("value", "judgement")}
    return ({"questions": len(rows), "gold_differences": gold_differences}
            | {k: round(M.mean(r["metrics"].get(k) for r in rows), 4) for k in keys}
            | {"by_question": {r["id"]: {k: round(v, 4) for k, v in r["metrics"].items()} for r in rows}})


def run(assistant, records: list[dict], articles: dict[str, str], progress_factory: Callable | None = None
        ) -> tuple[dict, list[dict]]:
    """Every gold question compared; the summary for metrics.json and one row per question."""
    advance = progress_factory(len(records), "comparing") if progress_factory else None
    rows = []
    for record in records:
        result = assistant.compare(record["question"]).to_dict()
        kinds = [d["kind"] for d in record["differences"]]
        rows.append({"id": record["id"], "question": record["question"], "result": result,
                     "gold_differences": {"value": sum(k in VALUE_KINDS for k in kinds),
                                          "judgement": kinds.count("judgement")},
                     "metrics": score(result, record, articles)})
        if advance:
            advance(1)
    return summarize(rows), rows
