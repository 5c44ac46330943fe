"""The timeline: date forms, years taken from context, merging across articles, conflicts, filters,
the persisted copy and, on the bundled corpus with the real embedder, the events a reader expects."""

from __future__ import annotations

import json
from datetime import date

import pytest

from rag.documents import load_corpus
from rag.embedders.fake import FakeEmbedder
from rag.errors import InvalidDate, InvalidRequest
from rag.index import load_index
from rag.sentences import split_article
from rag.service import Assistant
from rag.settings import load_settings
from rag.timeline import build_timeline, compatible, date_bound, extract, find_dates, label_for, select
from tests.conftest import CORPUS

EMBED = FakeEmbedder().embed_documents


def dates(text: str) -> list[tuple[str, int | None, int | None, int | None]]:
    return [(text[f.start:f.end], f.year, f.month, f.day) for f in find_dates(text)]


@pytest.mark.parametrize("text, expected", [
    ("Putin visited Tokyo in December 2016.", [("December 2016", 2016, 12, None)]),
    ("On May 25–26, 2018, Abe visited Russia.", [("May 25–26, 2018", 2018, 5, 25)]),
    ("Batin wrote on 6 September 2017.", [("6 September 2017", 2017, 9, 6)]),
    ("Abe's efforts since 2013 failed.", [("2013", 2013, None, None)]),
    ("Talks in Moscow on January 22 stalled.", [("January 22", None, 1, 22)]),
    ("The minister's recent (14 January) visit.", [("14 January", None, 1, 14)]),
    ("Flights were arranged in summer 2017.", [("summer 2017", 2017, None, None)]),
    ("The summits held in 2016–2017 stated it.", [("2016–2017", 2016, None, None)]),
])
def test_date_forms(text, expected):
    assert dates(text) == expected


@pytest.mark.parametrize("text", [
    "Turnover rose to $21.3 billion, 2018 tons and 1,000 troops.",  # "2018 tons" is an amount
    "The documents of the 1990s were cited.",  # a decade is not a date
    "Russia solidarizes with China [Koizumi 2016].",  # a cited work, not an event
    "A 2+2 meeting of 57 goods on February 30.",  # no such day
    "They may meet in March.",  # a month alone is too vague
])
def test_not_dates(text):
    assert dates(text) == []


def test_label_is_the_clause_around_the_date_without_a_leading_date():
    sentence = "In September 2017, Nikolai Patrushev and Shotaro Yachi signed a memorandum of understanding."
    assert label_for(sentence, 3, 17) == "Nikolai Patrushev and Shotaro Yachi signed a memorandum of understanding"
    sentence = "The sides were not close to reiterating the Irkutsk Statement of 2001, which pledged the commitment."
    start = sentence.index("2001")
    label = label_for(sentence, start, start + 4)
    assert label.startswith("…not close to reiterating the Irkutsk Statement of 2001,")


def test_a_year_less_date_takes_the_paragraph_year_then_the_article_date():
    text = ("On May 25–26, 2018, Abe visited Russia. On May 26, the leaders held talks.\n\n"
            "Abe's efforts since 2013 failed. In December 2018, they met in Buenos Aires.\n\n"
            "Talks in Moscow on January 22 brought nothing.")
    mentions = extract(split_article("d", text), {"d": None})
    by_quote = {m.quote[:12]: m.date for m in mentions}
    assert by_quote["On May 26, t"] == "2018-05-26"  # the full date earlier in its paragraph
    # not "since 2013", the nearest preceding year: the article was written after December 2018
    assert by_quote["Talks in Mos"] == "2019-01-22"
    dated = extract(split_article("d", "Talks in Moscow on January 22 brought nothing."), {"d": "2019-02-10"})
    assert [m.date for m in dated] == ["2019-01-22"]
    assert extract(split_article("d", "Talks on January 22 brought nothing."), {"d": None}) == []  # no year at all


def test_headings_and_references_are_not_events():
    text = ("June 14, 2018 Asia , Europe , Opinion\n\nIn March 2018, Lavrov met Kono.\n\nReferences\n\n"
            "Batin Yu. (2017) A bridge. 6 September // Rossiyskaya Gazeta.")
    assert [m.date for m in extract(split_article("d", text), {"d": None})] == ["2018-03"]


def test_a_sentence_giving_a_year_and_its_month_is_one_mention():
    text = "These include the Naval Interaction 2016 exercises held in the South China Sea in September 2016."
    assert [m.date for m in extract(split_article("d", text), {"d": None})] == ["2016-09"]


def test_compatible_dates_agree_at_the_coarser_precision():
    assert compatible("2016", "2016-12") and compatible("2016-12-15", "2016-12")
    assert not compatible("2016-05", "2016-12") and not compatible("2017", "2016-12")


def timeline_of(texts: dict[str, str], meta: dict[str, dict] | None = None):
    sentences = [s for doc_id, text in texts.items() for s in split_article(doc_id, text)]
    documents = {d: {"title": f"Title {d}", "date": None} | (meta or {}).get(d, {}) for d in texts}
    return build_timeline(sentences, documents, EMBED)


def test_one_event_reported_by_two_articles_cites_both():
    events = timeline_of({"a": "Putin made a visit to Tokyo in December 2016 and signed deals.",
                          "b": "In 2016, Putin made a visit to Tokyo and signed deals with Abe.",
                          "c": "In March 2018, Lavrov met Kono in Moscow."})
    visit = next(e for e in events if e.date.startswith("2016"))
    assert (visit.date, visit.precision, visit.doc_ids, visit.conflict) == ("2016-12", "month", ["a", "b"], False)
    assert [c["date"] for c in visit.citations] == ["2016-12", "2016"]
    assert [e.date for e in events] == ["2016-12", "2018-03"]  # sorted by date


def test_the_same_event_dated_differently_by_two_articles_is_one_conflict():
    events = timeline_of({"a": "In 2018, they created a Russian-Japanese investment platform for the Far East.",
                          "b": "The Russian-Japanese investment platform was created in 2017 for the Far East."})
    assert len(events) == 1 and events[0].conflict
    assert sorted((c["doc_id"], c["date"]) for c in events[0].citations) == [("a", "2018"), ("b", "2017")]


def test_one_article_telling_a_series_is_no_conflict():
    events = timeline_of({"a": "In 2016, the leaders held four meetings. In 2017, the leaders held four meetings."})
    assert [(e.date, e.conflict) for e in events] == [("2016", False), ("2017", False)]


def test_citations_quote_the_article_and_the_json_has_the_documented_shape():
    text = "Putin made a visit to Tokyo in December 2016 and signed deals."
    event = timeline_of({"a": "Intro.\n\n" + text})[0].to_dict()
    assert set(event) == {"date", "precision", "label", "citations", "conflict"}
    cited = event["citations"][0]
    assert {"doc_id", "title", "start", "end", "quote"} <= set(cited)
    assert ("Intro.\n\n" + text)[cited["start"]:cited["end"]] == cited["quote"] == text
    assert json.loads(json.dumps(event)) == event


def test_filters_by_period_article_and_words():
    events = timeline_of({"a": "Putin made a visit to Tokyo in December 2016.\n\nIn 2018, the platform was created.",
                          "b": "On 22 January 2019, Abe held talks in Moscow."})
    assert [e.date for e in select(events, date(2016, 6, 1), date(2018, 12, 31))] == ["2016-12", "2018"]
    # a year-precise event overlaps a filter starting inside its year
    assert [e.date for e in select(events, date(2018, 6, 1))] == ["2018", "2019-01-22"]
    assert [e.date for e in select(events, doc_ids=["b"])] == ["2019-01-22"]
    assert [e.date for e in select(events, query="Tokyo visit")] == ["2016-12"]
    assert select(events, query="Beijing") == []


@pytest.mark.parametrize("value", ["2016-13", "December", "2016/12", "16-12-2016", "2016-02-30"])
def test_a_bad_filter_date_is_refused_with_the_accepted_forms(value):
    with pytest.raises(InvalidDate, match="YYYY, YYYY-MM or YYYY-MM-DD"):
        date_bound(value, "from")


def test_filter_bounds_cover_whole_periods():
    assert date_bound("2016", "from") == date(2016, 1, 1) and date_bound("2016-02", "to", end=True) == date(2016, 2, 29)
    assert date_bound("", "from") is None


@pytest.fixture(scope="module")
def fake_assistant(tmp_path_factory, indexed):
    settings = indexed(load_settings(embedder="fake", llm="fake", index_dir=tmp_path_factory.mktemp("t") / "index"))
    return Assistant.from_settings(settings)


def test_the_timeline_is_saved_with_the_index_and_validated_by_the_service(fake_assistant):
    settings = fake_assistant.settings
    saved = load_index(settings.index_dir)
    gen = settings.index_dir / saved.generation
    assert saved.manifest["files"]["timeline.json"] and (gen / "timeline.json").is_file()
    assert [e.to_dict() for e in saved.timeline] == [e.to_dict() for e in fake_assistant.timeline()]
    articles = {a.doc_id: a for a in load_corpus(CORPUS)}
    for event in saved.timeline:  # offsets are real
        for c in event.citations:
            assert articles[c["doc_id"]].text[c["start"]:c["end"]] == c["quote"]
    with pytest.raises(InvalidDate, match="after"):
        fake_assistant.timeline("2019", "2016")
    with pytest.raises(InvalidRequest, match="unknown doc_ids: nope"):
        fake_assistant.timeline(doc_ids=["nope"])


def test_ingest_adds_the_new_articles_events(tmp_path, corpus_copy):
    from rag.embedders import make_embedder
    from rag.ingest import ingest_paths, rebuild_index

    settings = load_settings(embedder="fake", llm="fake", index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    rebuild_index(settings, make_embedder(settings))
    new = tmp_path / "new.txt"
    new.write_text("Shikotan news\n\nOn 3 March 2023, a new Kuril ferry line to Shikotan opened.\n", encoding="utf-8")
    ingest_paths([new], settings, make_embedder(settings))
    events = Assistant.from_settings(settings).timeline(query="ferry")
    assert [(e.date, e.doc_ids[0].startswith("new_")) for e in events] == [("2023-03-03", True)]


@pytest.mark.integration
def test_the_bundled_corpus_timeline_has_the_key_events_cited_to_their_articles(tmp_path, indexed):
    """Done when: the 1956 declaration, the 2001 Irkutsk statement, Putin's December 2016 visit to
    Japan and the January 2019 Moscow summit, each cited to the articles that mention them."""
    settings = indexed(load_settings(llm="fake", index_dir=tmp_path / "index"))
    events = Assistant.from_settings(settings).timeline()

    def event(date_: str, words: str):
        found = [e for e in events if e.date == date_ and all(
            w in " ".join(c["quote"] for c in e.citations) for w in words.split("|"))]
        assert len(found) == 1, (date_, words, [e.label for e in events if e.date == date_])
        return found[0]

    assert event("1956", "declaration").doc_ids == ["003_aac86c86413ce24b", "004_64aac8d9b7cb9707"]
    assert event("2001", "Irkutsk").doc_ids == ["004_64aac8d9b7cb9707"]
    visit = event("2016-12", "Putin|visit")
    assert {"001_d2eccef5ff420657", "002_6583139472fcbe27", "003_aac86c86413ce24b",
            "004_64aac8d9b7cb9707"} <= set(visit.doc_ids)
    assert event("2019-01-22", "Moscow|talks").doc_ids == ["003_aac86c86413ce24b"]
    conflict = [e for e in events if e.conflict]
    assert [sorted(c["date"] for c in e.citations) for e in conflict] == [["2017", "2018"]]  # the investment platform
    assert [e.date for e in events] == sorted(e.date for e in events)
