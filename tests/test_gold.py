"""The bundled gold set must stay consistent with the cleaned corpus, and the checks must bite."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from rag.gold import load_gold, relocate, validate_gold
from rag.documents import load_corpus

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "evals" / "gold.jsonl"


@pytest.fixture(scope="module")
def articles() -> dict[str, str]:
    return {a.doc_id: a.text for a in load_corpus(ROOT / "corpus")}


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return load_gold(GOLD)


def first_answerable(records: list[dict]) -> dict:
    return copy.deepcopy(next(r for r in records if r["answerable"]))


def test_bundled_gold_set_validates(gold, articles):
    assert validate_gold(gold, articles) == []


def test_bundled_gold_set_shape(gold):
    assert len(gold) >= 60
    types = Counter(r["question_type"] for r in gold)
    assert types["unanswerable"] >= 10
    assert sum(not r["answerable"] for r in gold) >= 10
    assert {r["split"] for r in gold} == {"dev", "heldout"}
    assert all(r["history"] and r["standalone"] for r in gold if r["question_type"] == "followup")
    assert all(len(r["gold_doc_ids"]) >= 2 for r in gold if r["question_type"] == "multi_doc")


def test_every_article_is_used(gold, articles):
    used = {d for r in gold for d in r["gold_doc_ids"]}
    assert used == set(articles)


def test_tampered_quote_is_reported(gold, articles):
    record = first_answerable(gold)
    record["gold_passages"][0]["text"] += " (invented)"
    record["reference_contexts"][0] = record["gold_passages"][0]["text"]
    problems = validate_gold([record], articles)
    assert any("quote not found" in p and record["id"] in p for p in problems)


def test_wrong_offset_is_reported(gold, articles):
    record = first_answerable(gold)
    record["gold_passages"][0]["start"] += 1
    problems = validate_gold([record], articles)
    assert any("offsets" in p for p in problems)


def test_structural_problems_are_reported(gold, articles):
    answerable = first_answerable(gold)
    unanswerable = copy.deepcopy(next(r for r in gold if not r["answerable"]))
    unanswerable["gold_passages"] = copy.deepcopy(answerable["gold_passages"])
    unanswerable["reference_contexts"] = list(answerable["reference_contexts"])
    unanswerable["gold_doc_ids"] = list(answerable["gold_doc_ids"])
    no_aliases = copy.deepcopy(answerable) | {"id": "x1", "aliases": []}
    bad_values = copy.deepcopy(answerable) | {"id": "x2", "split": "test", "question_type": "trivia"}
    unknown_doc = copy.deepcopy(answerable) | {"id": "x3"}
    unknown_doc["gold_passages"][0]["doc_id"] = "999_nope"
    problems = "\n".join(validate_gold([answerable, answerable, unanswerable, no_aliases, bad_values, unknown_doc], articles))
    assert "duplicate id" in problems
    assert "unanswerable but has gold passages" in problems
    assert "no aliases" in problems
    assert "unknown split" in problems and "unknown question_type" in problems
    assert "unknown doc_id" in problems


def test_relocate_fixes_shifted_offsets(gold, articles):
    shifted = copy.deepcopy(gold)
    for record in shifted:
        for passage in record["gold_passages"]:
            passage["start"] += 7
            passage["end"] += 7
    assert validate_gold(shifted, articles)
    fixed = relocate(shifted, articles)
    assert validate_gold(fixed, articles) == []
    assert fixed == gold
    assert shifted[0]["gold_passages"][0]["start"] != gold[0]["gold_passages"][0]["start"]  # input untouched


def test_relocate_follows_changed_cleaning(gold, articles):
    record = first_answerable(gold)
    doc_id = record["gold_passages"][0]["doc_id"]
    changed = dict(articles) | {doc_id: "A new preamble line.\n\n" + articles[doc_id]}
    fixed = relocate([record], changed)[0]
    assert validate_gold([fixed], changed) == []


def test_relocate_names_record_when_quote_is_gone(gold, articles):
    record = first_answerable(gold)
    doc_id = record["gold_passages"][0]["doc_id"]
    changed = dict(articles) | {doc_id: "Nothing left of the article."}
    with pytest.raises(ValueError, match=record["id"]):
        relocate([record], changed)


def test_load_gold_reports_line_of_broken_json(tmp_path, gold):
    lines = [json.dumps(r, ensure_ascii=False) for r in gold[:3]]
    lines[1] = lines[1][:-5]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"gold\.jsonl:2: invalid JSON"):
        load_gold(path)


def test_load_gold_reports_missing_fields(tmp_path, gold):
    record = copy.deepcopy(gold[0])
    del record["reference"]
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(gold[1]) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r":2: record .* lacks reference"):
        load_gold(path)
