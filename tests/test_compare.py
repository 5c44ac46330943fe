"""Compare the sources: per-article answers through the ask path, silence, agreements and
differences over exact sentences, reported vs asserted, one numbering, the JSON shape."""

from __future__ import annotations

import numpy as np
import pytest

from rag.compare import ArticleAnswer, Claim, attribution, between, claims, compare_answers, points, relate, values
from rag.documents import Article
from rag.errors import InvalidQuestion, InvalidRequest
from rag.evidence import Evidence
from rag.index import VectorIndex
from rag.llms.fake import FakeLLM
from rag.sentences import split_article
from rag.service import Assistant, Compared, Status
from rag.text import content_words

QUESTION = "When was the Russia–Japan investment fund set up and with how much capital?"


@pytest.fixture
def assistant(fake_settings):
    return Assistant.from_settings(fake_settings)


def texts(assistant) -> dict[str, str]:
    return {a.doc_id: a.text for a in assistant.articles()}


def test_each_article_answers_from_its_own_evidence_or_is_silent(fake_settings):
    llm = FakeLLM(replies=["The articles do not say."])  # the first article declines; the rest quote their evidence
    lenient = fake_settings.model_copy(update={"min_evidence_score": 0.0})  # no article silenced by the gate
    assistant = Assistant.from_settings(lenient, llm=llm)
    comparison = assistant.compare(QUESTION)
    first, *rest = comparison.articles
    assert [a.article.doc_id for a in comparison.articles] == [a.doc_id for a in assistant.articles()]
    assert first.silent and first.silent_reason == "the model found no answer in the evidence" and not first.citations
    assert rest and all(not a.silent for a in rest)
    for a in rest:  # one prompt per article, holding only that article's evidence
        assert a.citations and {c.evidence.doc_id for c in a.citations} == {a.article.doc_id}
        assert {e.doc_id for e in a.evidence} == {a.article.doc_id}
    assert len(llm.calls) == len(comparison.articles)
    assert all("reply exactly: The articles do not say." in call[0]["content"] for call in llm.calls)


def test_an_unsupported_answer_makes_the_article_silent(fake_settings):
    assistant = Assistant.from_settings(fake_settings, llm=FakeLLM(replies=["Bananas were first grown on Mars in 1999 [1]."]))
    first = assistant.compare(QUESTION).articles[0]
    assert first.silent and first.silent_reason == "no sentence of the answer is supported by the evidence"


def test_the_evidence_gate_silences_articles_without_calling_the_model(fake_settings):
    llm = FakeLLM()
    strict = Assistant.from_settings(fake_settings.model_copy(update={"min_evidence_score": 9.0}), llm=llm)
    comparison = strict.compare(QUESTION)
    assert all(a.silent for a in comparison.articles) and llm.calls == []
    assert {a.silent_reason for a in comparison.articles} == {"no evidence sentence matches the question"}
    assert comparison.points == [] and comparison.citations == []


def test_citations_are_numbered_once_across_articles_and_point_at_real_spans(assistant):
    comparison = assistant.compare(QUESTION)
    numbers = [c.n for c in comparison.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    articles = texts(assistant)
    for a in comparison.articles:
        for c in a.citations:
            assert f"[{c.n}]" in a.answer
        for s in a.sentences:
            assert set(s.citations) <= {c.n for c in a.citations}
    for c in comparison.citations:
        e = c.evidence
        assert articles[e.doc_id][e.start:e.end] == e.text
        assert articles[e.doc_id][c.quote_start:c.quote_end] == c.quote
        assert e.start <= c.quote_start <= c.quote_end <= e.end


def test_stream_reports_each_article_then_the_comparison(assistant):
    events = list(assistant.compare_stream(QUESTION, doc_ids=["002_6583139472fcbe27", "003_aac86c86413ce24b"]))
    assert [e.detail for e in events if isinstance(e, Status) and e.stage == "reading"] == [
        "Asymmetry of Russia–Japan Relations", "Russia/Japan: slim chances for a peace treaty"]
    assert isinstance(events[-1], Compared) and len(events[-1].comparison.articles) == 2


def test_json_shape(assistant):
    data = assistant.compare(QUESTION).to_dict()
    assert {"question", "articles", "agreements", "differences"} <= set(data) and data["question"] == QUESTION
    article = data["articles"][2]
    assert {"doc_id", "title", "author", "date", "answer", "citations", "silent", "silent_reason"} <= set(article)
    assert article["author"] == "Anna Kireeva" and article["date"] == "2018-06-14"
    assert {"n", "doc_id", "quote", "quote_start", "quote_end"} <= set(article["citations"][0])
    assert {"text", "citations", "support", "stance", "speaker"} <= set(article["sentences"][0])


@pytest.mark.parametrize("question, doc_ids, message", [
    ("   ", None, "the question is empty"),
    (QUESTION, ["nope"], "unknown doc_ids: nope"),
])
def test_a_bad_request_is_refused_before_any_article_is_read(assistant, question, doc_ids, message):
    with pytest.raises((InvalidQuestion, InvalidRequest), match=message):
        assistant.compare(question, doc_ids=doc_ids)


# --- attribution and values -------------------------------------------------------------------------

@pytest.mark.parametrize("sentence, expected", [
    ("Prime Minister Abe drew particular attention to the fact that the platform was established in 2017.",
     ("reported", "Prime Minister Abe")),
    ("Revealingly, Russian businesspersons said that the fund had received more applications.",
     ("reported", "Russian businesspersons")),
    ("“The current situation cannot be perceived solely within bilateral relations,” says Kazakov.",
     ("reported", "Kazakov")),
    ("This was directly stated in the Russian Foreign Ministry.", ("reported", "the Russian Foreign Ministry")),
    ("According to the Asahi Shimbun newspaper, Abe promised that Japan would not allow US troops.",
     ("reported", "the Asahi Shimbun")),
    ("The author of this paper believes that Abe hardly had any faith in Putin's readiness.", ("asserted", None)),
    ("A joint Japanese-Russian investment fund worth a further US$1 billion was also created.", ("asserted", None)),
])
def test_reported_speech_is_kept_apart_from_the_articles_own_statements(sentence, expected):
    assert attribution(sentence) == expected


def test_values_by_kind_without_calendar_days_or_footnotes():
    found = values("On May 25–26, 2018, Abe made his 21st visit [1]; turnover rose 17 percent to $21.3 billion, "
                   "unsolved for more than 70 years, as of 14 January.")
    assert found == {"years": {"2018"}, "amounts": {"17 percent", "21.3 billion", "70 year"}, "figures": {"21"}}


# --- agreements and differences on constructed sentences ---------------------------------------------

def unit(*components: float) -> np.ndarray:
    v = np.zeros(8, dtype="float32")
    v[: len(components)] = components
    return v / np.linalg.norm(v)


def claim(doc: str, text: str, vector: np.ndarray) -> Claim:
    e = Evidence(1, doc, doc, doc, f"{doc}-0", 0, len(text), text, (0,), 1.0)
    return Claim(doc, 0, len(text), text, vector, e, values(text), content_words(text), *attribution(text))


def test_similar_claims_with_different_years_differ_and_with_the_same_sum_agree():
    a = claim("a", "A joint investment fund worth US$1 billion was created in 2016.", unit(1, 0.1))
    b = claim("b", "The investment fund with USD 1 billion in capital was established in 2017.", unit(1, 0.2))
    kinds = {p.kind: p for p in relate(a, b)}
    assert kinds["difference"].differ_on == ["years"]
    assert kinds["agreement"].shared == ["1 billion"]
    assert "investment" in kinds["difference"].topic and "fund" in kinds["difference"].topic


def test_unrelated_or_dissimilar_claims_are_not_compared():
    a = claim("a", "A joint investment fund was created in 2016.", unit(1, 0))
    far = claim("b", "A joint investment fund was created in 2018.", unit(0, 1))  # same words, other meaning
    off = claim("c", "The hospital in Kaliningrad was announced in 2019.", unit(1, 0.1))  # similar, nothing shared
    same_doc = claim("a", "A joint investment fund was created in 2018.", unit(1, 0))
    assert relate(a, far) == [] and relate(a, off) == [] and relate(a, same_doc) == []


def test_three_articles_giving_three_years_make_one_difference_with_three_sides():
    answers = []
    sentences = {"a": "In 2018, we managed to create a Russian-Japanese investment fund for the Far East.",
                 "b": "Prime Minister Abe drew attention to the Russian-Japanese investment fund created in 2017.",
                 "c": "A joint Russian-Japanese investment fund was created in December 2016."}
    rows, vectors = [], []
    for i, (doc, text) in enumerate(sentences.items()):
        rows += split_article(doc, text)
        vectors.append(unit(1, 0.1 * i))
    index = VectorIndex([], np.zeros((0, 8), "float32"), {}, rows, np.asarray(vectors))
    for i, (doc, text) in enumerate(sentences.items()):
        evidence = [Evidence(1, doc, doc, doc, f"{doc}-0", 0, len(text), text, (i,), 1.0)]
        answers.append(ArticleAnswer(Article(doc, doc, text, ""), text, [], [], evidence))
    found = points("When was the investment fund created?", unit(1, 0.1), answers, index)
    assert [p.kind for p in found] == ["difference"]
    sides = {c.doc_id: (c.values["years"], c.stance, c.speaker) for c in found[0].claims}
    assert sides == {"a": ({"2018"}, "asserted", None), "b": ({"2017"}, "reported", "Prime Minister Abe"),
                     "c": ({"2016"}, "asserted", None)}
    assert between(found[0]) == "reported and asserted"  # not "the authors disagree": Abe is quoted


def test_a_sentence_without_a_year_borrows_the_time_frame_before_it_and_cites_both():
    text = ("During Putin’s visit to Tokyo in December 2016, companies signed more than 80 agreements. "
            "A joint Japanese-Russian investment fund worth US$1 billion was also created.")
    other = "In 2018, we managed to create a Russian-Japanese investment fund for the Far East."
    rows = split_article("c", text) + split_article("a", other)
    index = VectorIndex([], np.zeros((0, 8), "float32"), {}, rows, np.asarray([unit(0, 1), unit(1, 0), unit(1, 0.1)]))
    fund = rows[1]
    answers = [ArticleAnswer(Article("c", "C", text, ""), "x", [], [],
                             [Evidence(1, "c", "C", "C", "c-0", fund.start, fund.end, fund.text, (1,), 1.0)]),
               ArticleAnswer(Article("a", "A", other, ""), "y", [], [],
                             [Evidence(1, "a", "A", "A", "a-0", 0, len(other), other, (2,), 1.0)])]
    assert claims(answers[0], index)[0].values["years"] == {"2016"}
    comparison = compare_answers("When was the investment fund created?", unit(1, 0.05), answers, index)
    (difference,) = comparison.differences
    cited = comparison.cite(next(c for c in difference.claims if c.doc_id == "c"))
    assert cited.quote == text and (cited.quote_start, cited.quote_end) == (0, len(text))
    assert text[cited.evidence.start:cited.evidence.end] == cited.evidence.text
    side = comparison.to_dict()["differences"][0]["sides"]
    assert {s["doc_id"]: s["values"] for s in side} == {"c": ["1 billion", "2016"], "a": ["2018"]}


def test_a_year_in_the_middle_of_the_sentence_before_is_not_borrowed():
    text = "He referred to the 1956 declaration at the 2018 summit in Singapore. This declaration promised two islands."
    rows = split_article("d", text)
    index = VectorIndex([], np.zeros((0, 8), "float32"), {}, rows, np.asarray([unit(1), unit(1)]))
    answer = ArticleAnswer(Article("d", "D", text, ""), "x", [], [],
                           [Evidence(1, "d", "D", "D", "d-0", rows[1].start, rows[1].end, rows[1].text, (1,), 1.0)])
    assert claims(answer, index)[0].values["years"] == set()


def test_evidence_opening_without_a_year_is_shown_with_the_time_frame_before_it():
    from rag.compare import with_time_frames

    text = ("During Putin’s visit to Tokyo in December 2016, companies signed more than 80 agreements. "
            "A joint Japanese-Russian investment fund worth US$1 billion was also created.")
    rows = split_article("c", text)
    index = VectorIndex([], np.zeros((0, 8), "float32"), {}, rows, np.asarray([unit(1), unit(1)]))
    fund = Evidence(1, "c", "C", "C", "c-0", rows[1].start, rows[1].end, rows[1].text, (1,), 1.0)
    (widened,) = with_time_frames([fund], index)
    assert (widened.start, widened.end, widened.rows, widened.text) == (0, len(text), (0, 1), text)
    dated = Evidence(1, "c", "C", "C", "c-0", 0, rows[0].end, rows[0].text, (0,), 1.0)
    assert with_time_frames([dated], index) == [dated]  # states its year already
