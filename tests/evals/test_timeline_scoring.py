"""Timeline scoring: what counts as found, a misdated event, precision with unmatched events, and the gold file."""

from evals.timeline import GOLD, load_timeline_gold, score


def cite(doc_id: str, date: str, quote: str) -> dict:
    return {"doc_id": doc_id, "title": "t", "start": 0, "end": len(quote), "quote": quote, "date": date,
            "precision": "year"}


GOLD_EVENTS = [
    {"id": "g1", "date": "2016-12", "precision": "month", "event": "visit", "key_terms": ["Putin", "visit|trip"],
     "doc_ids": ["a", "b"]},
    {"id": "g2", "date": "2001", "precision": "year", "event": "Irkutsk", "key_terms": ["Irkutsk"], "doc_ids": ["c"]},
    {"id": "g3", "date": "2017", "precision": "year", "event": "platform", "key_terms": ["platform"], "doc_ids": ["a"]},
]


def test_found_misdated_missed_and_unmatched():
    events = [
        {"date": "2016", "label": "x", "conflict": False,  # found (year agrees), but only to the year: misdated
         "citations": [cite("a", "2016", "Putin made a trip to Tokyo.")]},
        {"date": "2001", "label": "x", "conflict": False,  # right year and words, wrong article: not found
         "citations": [cite("b", "2001", "The Irkutsk statement.")]},
        {"date": "2018", "label": "x", "conflict": True,  # a conflict citing the gold article with the gold year
         "citations": [cite("a", "2017", "The platform was created."), cite("b", "2018", "It was created.")]},
        {"date": "2020", "label": "x", "conflict": False, "citations": [cite("c", "2020", "Something else.")]},
    ]
    metrics, rows = score(events, GOLD_EVENTS)
    assert [(r["id"], r["found"], r["date_correct"]) for r in rows] == [
        ("g1", True, False), ("g2", False, False), ("g3", True, False)]
    assert (metrics["recall"], metrics["precision"], metrics["unmatched_events"]) == (
        round(2 / 3, 4), 0.5, 2)
    assert (metrics["date_accuracy"], metrics["article_recall"], metrics["conflicts"]) == (0.0, 0.75, 1)


def test_the_bundled_gold_has_enough_well_formed_events():
    gold = load_timeline_gold(GOLD)
    assert len(gold) >= 25 and len({g["id"] for g in gold}) == len(gold)
    assert all(g["precision"] == ("year", "month", "day")[g["date"].count("-")] and g["doc_ids"] for g in gold)
