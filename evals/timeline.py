"""Score the timeline (`rag timeline`) against `timeline_gold.jsonl`: deterministic, no LLM.

A gold event is *found* when one timeline event cites one of its articles with a date in the gold
year, and its cited sentences hold every key term (a term may list alternatives: "visit|meeting").
Of the events found, *date accuracy* is the share whose shown date equals the gold date at the gold
precision, and *article recall* the share of the gold articles they cite. The gold set is not
exhaustive (it lists events a reader would expect), so precision is reported with the number of
events that match no gold event, rather than as a claim that those are wrong.
"""

from __future__ import annotations

from pathlib import Path

from rag.gold import read_jsonl

GOLD = Path(__file__).with_name("timeline_gold.jsonl")
FIELDS = ("id", "date", "precision", "event", "key_terms", "doc_ids")


def load_timeline_gold(path: Path = GOLD) -> list[dict]:
    """The gold events; ValueError naming the line of the first bad one."""
    return read_jsonl(path, FIELDS)


def _terms_in(record: dict, event: dict) -> bool:
    text = " ".join(c["quote"] for c in event["citations"]).casefold()
    return all(any(alt.casefold() in text for alt in term.split("|")) for term in record["key_terms"])


def matches(record: dict, event: dict) -> bool:
    year = record["date"][:4]
    return _terms_in(record, event) and any(
        c["doc_id"] in record["doc_ids"] and c["date"][:4] == year for c in event["citations"])


def date_correct(record: dict, event: dict) -> bool:
    """The event's shown date says what the gold date says, at least as precisely."""
    return len(event["date"]) >= len(record["date"]) and event["date"].startswith(record["date"])


def score(events: list[dict], gold: list[dict]) -> tuple[dict, list[dict]]:
    """(metrics, one row per gold event: found, date correct, the event's date and articles)."""
    rows, matched = [], set()
    for record in gold:
        candidates = [i for i, e in enumerate(events) if matches(record, e)]
        matched |= set(candidates)
        best = max(candidates, key=lambda i: date_correct(record, events[i]), default=None)
        event = events[best] if best is not None else None
        rows.append({"id": record["id"], "gold_date": record["date"], "event": record["event"],
                     "found": event is not None, "date": event and event["date"],
                     "date_correct": bool(event and date_correct(record, event)),
                     "doc_ids": sorted({c["doc_id"] for c in event["citations"]}) if event else [],
                     "gold_doc_ids": record["doc_ids"]})
    found = [r for r in rows if r["found"]]
    metrics = {
        "gold_events": len(gold), "events": len(events), "found": len(found),
        "recall": round(len(found) / len(gold), 4) if gold else 0.0,
        "precision": round(len(matched) / len(events), 4) if events else 0.0,
        "unmatched_events": len(events) - len(matched),
        "date_accuracy": round(sum(r["date_correct"] for r in found) / len(found), 4) if found else 0.0,
        "article_recall": round(sum(len(set(r["doc_ids"]) & set(r["gold_doc_ids"])) / len(r["gold_doc_ids"])
                                    for r in found) / len(found), 4) if found else 0.0,
        "conflicts": sum(bool(e["conflict"]) for e in events),
    }
    return metrics, rows


def evaluate(assistant, path: Path = GOLD) -> dict:
    """metrics.json's "timeline" section: the numbers, and the gold events missed or misdated."""
    metrics, rows = score([e.to_dict() for e in assistant.timeline()], load_timeline_gold(path))
    missed = [f"{r['id']} {r['gold_date']} {r['event']}" + ("" if not r["found"] else f" (shown as {r['date']})")
              for r in rows if not (r["found"] and r["date_correct"])]
    return metrics | {"gold": path.name, "missed_or_misdated": missed}
