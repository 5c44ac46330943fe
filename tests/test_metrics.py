"""The metric definitions, each checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from rag import metrics as M


def span(doc_id, start, end, **extra):
    return {"doc_id": doc_id, "start": start, "end": end, **extra}


GOLD = [span("a", 100, 200), span("b", 0, 50)]
# ranks:     1: wrong place   2: overlaps gold a   3: touches b's end only   4: overlaps gold b   5: other doc
RANKED = [span("a", 300, 400), span("a", 150, 250), span("b", 50, 100), span("b", 40, 60), span("c", 0, 900)]


def test_overlap_is_same_doc_and_half_open_ranges():
    assert M.overlaps(span("a", 150, 250), GOLD[0])
    assert not M.overlaps(span("b", 50, 100), GOLD[1])  # [0,50) and [50,100) share no character
    assert not M.overlaps(span("x", 100, 200), GOLD[0])
    assert [M.relevant(s, GOLD) for s in RANKED] == [False, True, False, True, False]


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (3, 0.5), (5, 1.0)])
def test_recall_at_k_counts_gold_passages_found(k, expected):
    assert M.recall_at_k(RANKED, GOLD, k) == expected


def test_mrr_is_reciprocal_rank_of_first_relevant():
    flags = [M.relevant(s, GOLD) for s in RANKED]
    assert M.mrr_at_k(flags, 10) == 0.5
    assert M.mrr_at_k(flags, 1) == 0.0
    assert M.mrr_at_k([False] * 10, 10) == 0.0


def test_ndcg_against_the_ideal_ranking_of_all_relevant_chunks():
    flags = [False, True, False, True, False]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # 0.63093 + 0.43068
    assert M.ndcg_at_k(flags, n_relevant=2) == pytest.approx(dcg / (1 + 1 / math.log2(3)))  # 0.65093
    assert M.ndcg_at_k(flags, n_relevant=2) == pytest.approx(0.65093, abs=1e-5)
    assert M.ndcg_at_k(flags, n_relevant=3) == pytest.approx(0.49819, abs=1e-5)  # one never retrieved
    assert M.ndcg_at_k([True, True], n_relevant=2) == pytest.approx(1.0)
    assert M.ndcg_at_k([], n_relevant=0) == 0.0


def test_precision_and_doc_level_scores():
    cited = [span("a", 150, 250), span("c", 0, 10)]
    assert M.precision(cited, GOLD) == 0.5
    assert M.recall(cited, GOLD) == 0.5
    assert M.doc_precision(["a", "c", "a"], ["a", "b"]) == pytest.approx(2 / 3)
    assert M.doc_recall(["a", "c"], ["a", "b"]) == 0.5


def test_token_f1_squad_style():
    # prediction tokens: treaty was signed in 1956 (marker and "the" dropped) — reference: treaty signed in 1956
    assert M.token_f1("The treaty was signed in 1956 [1].", "A treaty signed in 1956.") == pytest.approx(8 / 9)
    assert M.token_f1("Yes.", "No.") == 0.0
    assert M.token_f1("", "anything") == 0.0
    assert M.token_f1("Same words, same order!", "same words same order") == 1.0


def test_key_fact_recall_variants_and_boundaries():
    aliases = [["12"], ["68", "sixty-eight"]]
    assert M.key_fact_recall("They signed 12 agreements [1].", aliases) == 0.5
    assert M.key_fact_recall("Twelve and sixty-eight.", aliases) == 0.5
    assert M.key_fact_recall("In 2012, 120 deals were made [12].", aliases) == 0.0  # no digit run and no marker
    assert M.fact_found("Economic ties", ["econom"]) and not M.fact_found("socioeconomic", ["econom"])
    assert M.fact_found("“Waters of peace” — he said", ['"waters of peace"'])  # quotes folded
    assert M.fact_found("Talks did not  advance.", ["not advance"])


def test_outcome_and_combined_score():
    cases = [
        (True, True, 0.0, "abstained"),   # false abstention: 0
        (True, False, 0.5, "correct"),    # half the key facts: +1
        (True, False, 0.49, "wrong"),     # -1
        (False, True, None, "correct"),   # abstaining on an unanswerable question: +1
        (False, False, None, "wrong"),    # answering it: -1
    ]
    outcomes = [M.outcome(a, ab, r) for a, ab, r, _ in cases]
    assert outcomes == [expected for *_, expected in cases]
    assert sum(M.SCORES[o] for o in outcomes) / len(outcomes) == 0.0


def test_percentile_interpolates_linearly():
    assert M.percentile([4, 1, 3, 2], 50) == 2.5
    assert M.percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert M.percentile([7], 95) == 7


def test_citation_validity_checks_markers_and_offsets():
    article = "Intro. The 1956 Declaration ended the state of war. More text follows here."
    chunk = {"n": 1, "doc_id": "a", "start": 7, "end": 51, "text": article[7:51]}
    good = chunk | {"quote": article[7:51], "quote_start": 7, "quote_end": 51}
    assert M.citations_valid("It ended the war [1].", [good], {"a": article})
    assert not M.citations_valid("It ended the war [2].", [good], {"a": article})  # no citation 2
    assert not M.citations_valid("It ended [1].", [good | {"quote_start": 8}], {"a": article})  # quote moved
    assert not M.citations_valid("It ended [1].", [good | {"doc_id": "zzz"}], {"a": article})
    assert M.markers("a [1, 3] b [2].") == [1, 3, 2]


def test_parse_judgement():
    assert M.parse_judgement('Sure: {"claims": 4, "supported": 3, "correct": "partly"}') == {
        "faithfulness": 0.75, "correctness": 0.5}
    assert M.parse_judgement('{"claims": 0, "supported": 0, "correct": "no"}') == {
        "faithfulness": None, "correctness": 0.0}
    assert M.parse_judgement('{"claims": 1, "supported": 2, "correct": "yes"}') is None
    assert M.parse_judgement('{"claims": 1, "supported": 1, "correct": "maybe"}') is None
    assert M.parse_judgement("no json here") is None


def test_flatten_and_mean():
    assert M.flatten({"run": {"mode": "full"}, "retrieval": {"recall@5": 0.5, "questions": 3}, "ok": True}) == {
        "retrieval.recall@5": 0.5, "retrieval.questions": 3}
    assert M.mean([1.0, None, 0.0]) == 0.5
    assert M.mean([None]) is None


def test_answer_sentence_shares_and_support_precision():
    sentences = [
        {"citations": [1], "supported": True, "support": span("a", 120, 180)},  # support inside gold a
        {"citations": [2], "supported": True, "support": span("b", 50, 80)},  # touches b's end only
        {"citations": [], "supported": False, "support": None},  # no span found: shown uncited
        {"citations": [], "supported": True, "support": None},  # "Yes.": nothing to verify
    ]
    assert M.support_precision(sentences, GOLD) == 0.5  # 1 of the 2 sentences with a span
    assert M.unsupported_share(sentences) == 0.25
    assert M.cited_share(sentences) == 0.5
    assert M.support_precision(sentences[2:], GOLD) is None
