"""Scoring of "compare the sources" against its gold file: coverage, citation validity, difference recall."""

from __future__ import annotations

from evals.compare import GOLD, citation_validity, coverage, difference_found, load, score
from tests.conftest import CORPUS

A, B, C = "000_41d5e930bca1f221", "002_6583139472fcbe27", "003_aac86c86413ce24b"


def citation(doc: str, text: str, quote: str, start: int = 0) -> dict:
    return {"n": 1, "doc_id": doc, "start": start, "end": start + len(text), "text": text, "quote": quote,
            "quote_start": start, "quote_end": start + len(quote)}


def test_the_gold_file_has_ten_questions_and_three_known_differences_of_real_articles():
    records = load(GOLD)
    docs = {p.stem for p in CORPUS.glob("*.txt")}
    assert len(records) >= 10 and sum(len(r["differences"]) for r in records) >= 3
    for r in records:
        assert set(r["addresses"]) <= docs and set(r["silent"]) <= docs and not set(r["addresses"]) & set(r["silent"])
        for d in r["differences"]:
            assert {s["doc_id"] for s in d["sides"]} <= set(r["addresses"]) and len(d["sides"]) >= 2


def test_coverage_scores_answered_and_silent_articles_and_skips_unscored_ones():
    result = {"articles": [{"doc_id": A, "silent": False}, {"doc_id": B, "silent": True},
                           {"doc_id": C, "silent": True}]}
    record = {"addresses": [A, B], "silent": [C]}
    assert coverage(result, record) == {"coverage_accuracy": 2 / 3, "addresses_answered": 0.5,
                                        "silent_kept_silent": 1.0}
    assert coverage(result, {"addresses": [A], "silent": []}) == {"coverage_accuracy": 1.0,
                                                                  "addresses_answered": 1.0}


def test_citation_validity_needs_real_spans_of_the_right_article():
    articles = {A: "In 2018, we managed to create a platform. More text.", C: "A fund was created."}
    good = citation(A, "In 2018, we managed to create a platform.", "In 2018, we managed to create a platform.")
    moved = citation(A, "we managed to create a platform.", "we managed to create a platform.")  # offsets wrong
    result = {"articles": [{"doc_id": A, "citations": [good]}], "agreements": [],
              "differences": [{"sides": [{"doc_id": C, "citations": [good]}]}]}  # A's span cited for C's side
    assert citation_validity(result, articles) == 0.5
    result["articles"][0]["citations"] = [moved]
    result["differences"] = []
    assert citation_validity(result, articles) == 0.0


def test_a_difference_counts_as_found_only_with_two_of_its_articles_on_different_sides():
    gold = {"sides": [{"doc_id": A}, {"doc_id": B}, {"doc_id": C}], "kind": "dates"}
    assert difference_found(gold, [{"sides": [{"doc_id": A}, {"doc_id": C}]}])
    assert not difference_found(gold, [{"sides": [{"doc_id": A}, {"doc_id": "other"}]}])
    record = {"addresses": [A, C], "silent": [], "differences": [gold, {"sides": gold["sides"], "kind": "judgement"}]}
    result = {"articles": [{"doc_id": A, "silent": False, "citations": []}], "agreements": [],
              "differences": [{"sides": [{"doc_id": A, "citations": []}, {"doc_id": C, "citations": []}]}]}
    scores = score(result, record, {})
    assert scores["difference_recall"] == 1.0 and scores["judgement_difference_recall"] == 1.0
