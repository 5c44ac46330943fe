"""The hand-written gold evaluation set: loading, validation and offset repair.

Gold passages are stored twice, as quoted text and as character offsets into the *cleaned*
article text. The quote is the source of truth (it is what a human checked); the offsets are a
convenience for span-level metrics and go stale whenever cleaning changes, hence `relocate`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

REQUIRED_FIELDS = (
    "id",
    "user_input",
    "reference",
    "aliases",
    "reference_contexts",
    "gold_passages",
    "gold_doc_ids",
    "answerable",
    "question_type",
    "split",
)
QUESTION_TYPES = frozenset({"factual", "why_how", "multi_doc", "paraphrase", "followup", "unanswerable"})
SPLITS = frozenset({"dev", "heldout"})


def read_jsonl(path: Path, required: tuple[str, ...] = ()) -> list[dict]:
    """The JSON objects of a hand-edited JSONL file (blank lines skipped), each with the `required`
    fields; ValueError with the line number of the first bad line, which a bare JSONDecodeError
    would not give."""
    records = []
    with Path(path).open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            missing = [name for name in required if name not in record]
            if missing:
                raise ValueError(f"{path}:{lineno}: record {record.get('id', '?')} lacks {', '.join(missing)}")
            records.append(record)
    return records


def load_gold(path: Path) -> list[dict]:
    """Read the JSONL gold set, failing loudly with the line number of the first bad line."""
    return read_jsonl(path, REQUIRED_FIELDS)


def validate_gold(records: list[dict], articles: dict[str, str]) -> list[str]:
    """Return every problem found, as readable lines; an empty list means the set is sound.

    Collects rather than raises so one run shows all the fixes a hand edit needs.
    `articles` maps doc_id to the cleaned text that the offsets refer to.
    """
    problems: list[str] = []
    seen: set[str] = set()
    for record in records:
        rid = record.get("id", "?")

        def bad(message: str, rid: str = rid) -> None:
            problems.append(f"{rid}: {message}")

        if rid in seen:
            bad("duplicate id")
        seen.add(rid)
        if record.get("question_type") not in QUESTION_TYPES:
            bad(f"unknown question_type {record.get('question_type')!r}")
        if record.get("split") not in SPLITS:
            bad(f"unknown split {record.get('split')!r}")
        if record.get("question_type") == "followup" and not (record.get("history") and record.get("standalone")):
            bad("followup without history or standalone question")

        passages = record.get("gold_passages") or []
        contexts = record.get("reference_contexts") or []
        if record.get("answerable"):
            if not passages:
                bad("answerable but has no gold passages")
            if not record.get("aliases"):
                bad("answerable but has no aliases")
            if record.get("question_type") == "unanswerable":
                bad("question_type unanswerable but answerable is true")
        else:
            if passages or contexts or record.get("gold_doc_ids"):
                bad("unanswerable but has gold passages")
            if record.get("question_type") != "unanswerable":
                bad("answerable is false but question_type is not unanswerable")

        if [p.get("text") for p in passages] != list(contexts):
            bad("reference_contexts do not match gold_passages texts")
        if sorted({p.get("doc_id") for p in passages}) != sorted(set(record.get("gold_doc_ids") or [])):
            bad("gold_doc_ids do not match the passages' doc_ids")

        for number, passage in enumerate(passages, 1):
            doc_id, quote = passage.get("doc_id"), passage.get("text") or ""
            if doc_id not in articles:
                bad(f"passage {number}: unknown doc_id {doc_id!r}")
                continue
            text = articles[doc_id]
            if quote not in text:
                bad(f"passage {number}: quote not found in {doc_id}: {quote[:60]!r}")
                continue
            start, end = passage.get("start"), passage.get("end")
            if not (isinstance(start, int) and isinstance(end, int)) or text[start:end] != quote:
                bad(f"passage {number}: offsets {start}:{end} do not match the quote in {doc_id}")
    return problems


def relocate(records: list[dict], articles: dict[str, str]) -> list[dict]:
    """Return copies with passage offsets recomputed from the quotes.

    Lets the gold set survive changes to cleaning: the quotes stay, the offsets follow. A quote
    that occurs more than once is placed at the occurrence nearest its old offset.
    """
    relocated = []
    for record in records:
        record = copy.deepcopy(record)
        for passage in record.get("gold_passages") or []:
            doc_id, quote = passage["doc_id"], passage["text"]
            text = articles.get(doc_id)
            if text is None:
                raise ValueError(f"{record.get('id', '?')}: unknown doc_id {doc_id!r}")
            hits = _occurrences(text, quote)
            if not hits:
                raise ValueError(f"{record.get('id', '?')}: quote no longer found in {doc_id}: {quote[:60]!r}")
            old = passage.get("start") if isinstance(passage.get("start"), int) else 0
            start = min(hits, key=lambda hit: abs(hit - old))
            passage["start"], passage["end"] = start, start + len(quote)
        relocated.append(record)
    return relocated


def _occurrences(text: str, quote: str) -> list[int]:
    hits, start = [], text.find(quote)
    while quote and start != -1:
        hits.append(start)
        start = text.find(quote, start + 1)
    return hits


def load_gold_set(path: Path, articles: dict[str, str]) -> tuple[list[dict], list[str]]:
    """The gold records with offsets re-derived from their quotes, plus any validation problems.

    Relocating first lets the gold set survive a change to text cleaning; a quote that is gone
    raises ValueError, since no metric on that question would mean anything.
    """
    records = relocate(load_gold(path), articles)
    return records, validate_gold(records, articles)
