"""The UI's HTML, without a browser: markers link to sources, support spans are highlighted, nothing is raw HTML.

Answers come from the real claim checker (rag.verification) over a small article, with the fake embedder.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from rag.chunking import Chunk
from rag.documents import Article
from rag.embedders.fake import FakeEmbedder
from rag.evidence import Evidence
from rag.retrieval import Passage
from rag.sentences import split_article
from rag.service import Answer
from rag.verification import candidates, verify_answer
from ui import render
from ui.render import Turn

TEXT = ("Talks resumed in 2016.\n\nThe 1956 declaration promised Japan two islands after a peace treaty. "
        "It was never implemented <because> of the alliance & the treaty.\n\n"
        "Trade grew by 17 percent in 2018, to 21.3 billion dollars.")
ARTICLE = Article("d1", "Ties <i>revisited</i>", TEXT, "0" * 64, authors=["A. Author"], date="2019-01-22")
ARTICLES = {"d1": ARTICLE}
SENTENCES = split_article("d1", TEXT)  # 0: talks, 1: declaration, 2: never implemented, 3: trade
EMBED = FakeEmbedder().embed_documents
VECTORS = np.asarray(EMBED([s.text for s in SENTENCES]), "float32")
DECLARATION = TEXT.split("\n\n")[1]


def passage(rank: int, text: str) -> Passage:
    start = TEXT.index(text)
    return Passage(rank, Chunk(f"c{rank}", "d1", ARTICLE.title, start, start + len(text), text), 1.0 / rank, 0.9, None)


def evidence(n: int, rows: list[int], chunk: str) -> Evidence:
    first, last = SENTENCES[rows[0]], SENTENCES[rows[-1]]
    return Evidence(n, "d1", ARTICLE.title, "Ties | A. Author | 2019-01-22", chunk, first.start, last.end,
                    TEXT[first.start:last.end], tuple(rows), 1.0)


PASSAGES = [passage(1, "Trade grew by 17 percent in 2018, to 21.3 billion dollars."), passage(2, DECLARATION),
            passage(3, "Talks resumed in 2016.")]
EVIDENCE = [evidence(1, [3], "c1"), evidence(2, [1, 2], "c2")]
POOL = candidates(EVIDENCE, lambda r: (SENTENCES[r].start, SENTENCES[r].end, SENTENCES[r].text), lambda r: VECTORS[r])


def answer(raw: str) -> Answer:
    """What the service returns for a model that wrote `raw` after seeing EVIDENCE."""
    checked = verify_answer(raw, EVIDENCE, POOL, EMBED, "q?")
    return Answer("q?", checked.text, checked.abstained, checked.citations, checked.sentences, PASSAGES, EVIDENCE,
                  "fake", {"total": 1234.0}, abstention_reason="unsupported" if checked.abstained else None, raw=raw)


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def marked(markup: str, name: str) -> str:
    """The text of every <mark> carrying class `name`, joined."""
    return "".join(text_of(m) for m in re.findall(rf'<mark class="[^"]*\b{name}\b[^"]*">(.*?)</mark>', markup, re.S))


def card(sources: str, anchor: str) -> str:
    return re.search(rf'<article class="source" id="{anchor}".*?</article>', sources, re.S).group(0)


def test_markers_link_to_sources_in_citation_order():
    a = answer("The 1956 declaration promised Japan two islands [2]. Trade grew by 17 percent in 2018 [1].")
    out = render.answer_html("t1", a)
    # renumbered by first use; each marker names the sentence it belongs to
    assert re.findall(r'href="#(src-t1-\d-s\d)"', out) == ["src-t1-1-s0", "src-t1-2-s1"]
    assert re.findall(r'data-sentence="(\d)"', out) == ["0", "1"]
    assert 'islands <a class="cite" href="#src-t1-1-s0"' in out and "[1]</a>." in out  # marker before the stop
    assert a.citations[0].evidence == EVIDENCE[1]
    assert text_of(out) == a.answer


@pytest.mark.parametrize("raw", [
    # different evidence, different [n]
    "The 1956 declaration promised Japan two islands after a peace treaty [2]. Trade grew by 17 percent in 2018 [1].",
    # the same evidence, the same [n]: each sentence rests on its own sentence of it
    "The 1956 declaration promised Japan two islands after a peace treaty [2]. "
    "The declaration was never implemented because of the alliance [2].",
])
def test_each_marker_highlights_the_support_of_its_own_sentence(raw):
    a = answer(raw)
    out, sources = render.answer_html("t1", a), render.sources([Turn("t1", "q?", answer=a)], ARTICLES)
    markers = re.findall(r'<a class="cite" href="#([^"]+)"[^>]*data-sentence="(\d+)" '
                         r'data-support-start="(\d+)" data-support-end="(\d+)"', out)
    assert len(markers) == 2
    highlighted = []
    for anchor, sentence, start, end in markers:
        support = a.sentences[int(sentence)].support
        assert (int(start), int(end)) == (support.start, support.end)
        shown = card(sources, anchor)
        assert f'data-sentence="{sentence}"' in shown and html.escape(a.sentences[int(sentence)].text) in shown
        assert marked(shown, "quote") == TEXT[support.start:support.end] == support.quote
        assert f'data-quote-start="{support.start}" data-quote-end="{support.end}"' in shown  # full-article link
        highlighted.append(marked(shown, "quote"))
    assert highlighted[0] != highlighted[1]


def test_sentences_citing_the_same_evidence_share_one_group_of_cards():
    a = answer("The 1956 declaration promised Japan two islands after a peace treaty [2]. "
               "The declaration was never implemented because of the alliance [2].")
    sources = render.sources([Turn("t1", "q?", answer=a)], ARTICLES)
    assert [c.n for c in a.citations] == [1]
    group = re.findall(r'<div class="cited">(.*?)</div></article></div>', sources, re.S)
    assert len(group) == 1 and re.findall(r'<article class="source" id="([^"]+)"', group[0]) == ["src-t1-1-s0",
                                                                                             "src-t1-1-s1"]


def test_unsupported_sentence_is_marked():
    out = render.answer_html("t1", answer("The 1956 declaration promised Japan two islands [2]. "
                                          "The moon landing happened on Iturup in 1969 [1]."))
    flagged = re.search(r'<span class="sent unsupported"[^>]*>(.*?)</span></span>', out).group(1)
    assert "moon landing" in flagged and 'class="flag">unsupported' in flagged
    assert out.count("sent unsupported") == 1


def test_abstention_is_shown_as_such_with_what_the_model_wrote():
    a = answer("Bananas are yellow and grow on tall plants [1].")
    assert a.abstained
    out = render.answer_html("t1", a)
    assert "<strong>The articles do not say.</strong> Nothing the model wrote is supported by the evidence" in out
    assert 'class="cite"' not in out and 'class="answer"' not in out
    assert "What the model wrote" in out and "Bananas are yellow" in out


OWN_TAGS = {"div", "span", "a", "details", "summary", "p", "section", "q", "article", "blockquote", "mark",
            "button", "ol", "li", "strong"}


def test_model_output_never_becomes_markup():
    raw = ('<img src=x onerror="alert(1)"> The 1956 declaration promised <b>Japan</b> two islands [2]. '
           "![map](http://example.invalid/map.png) <script>alert(2)</script> [see](javascript:alert(3))")
    turn = Turn("t1", "<b>q</b>", answer=answer(raw))
    streaming = Turn("t2", "q", stage="generating", draft=raw)
    outputs = [render.transcript([turn]), render.sources([turn], ARTICLES), render.transcript([streaming])]
    for out in outputs:
        assert set(re.findall(r"<([a-z0-9]+)", out)) <= OWN_TAGS  # only the renderer's own elements
        assert all(h.startswith("#src-") for h in re.findall(r'href="([^"]*)"', out))  # links only to sources
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in outputs[2]


def test_source_card_shows_metadata_and_the_evidence_in_its_paragraph():
    a = answer("The declaration was never implemented because of the alliance [2].")
    c, support = a.citations[0], a.sentences[0].support
    sources = render.sources([Turn("t1", "q?", answer=a)], ARTICLES)
    shown = card(sources, "src-t1-1-s0")
    assert "Ties &lt;i&gt;revisited&lt;/i&gt;" in shown
    assert "A. Author · outlet not stated · 2019-01-22" in shown
    passage_text = re.search(r'<blockquote class="passage">(.*?)</blockquote>', shown, re.S).group(1)
    assert text_of(passage_text) == DECLARATION  # the paragraph around the evidence
    assert marked(passage_text, "evidence") == c.evidence.text == DECLARATION
    assert f'<mark class="evidence quote">{html.escape(support.quote)}</mark>' in shown
    assert (f'data-doc="d1" data-start="{c.evidence.start}" data-end="{c.evidence.end}" '
            f'data-quote-start="{support.start}" data-quote-end="{support.end}"') in shown


def test_source_card_without_the_article_shows_the_evidence_alone():
    a = answer("Trade grew by 17 percent in 2018 [1].")
    check = render.checks(a)[1][0]
    shown = render.source_card("t1", a.citations[0], None, check)
    assert "metadata unavailable" in shown
    quoted = re.search(r'<blockquote class="passage">(.*?)</blockquote>', shown, re.S).group(1)
    assert text_of(quoted) == EVIDENCE[0].text


def test_long_paragraph_is_cut_to_whole_sentences_around_the_evidence():
    text = "Intro.\n\n" + " ".join(f"Sentence number {i} is here." for i in range(10)) + "\n\nOutro."
    start = text.index("Sentence number 5")
    end = start + len("Sentence number 5 is here.")
    lo, hi = render.context_span(text, start, end, limit=90)
    assert text[lo:hi] == "Sentence number 4 is here. Sentence number 5 is here. Sentence number 6 is here."
    assert render.context_span(text, start, end) == (8, text.index("\n\nOutro"))  # the whole paragraph fits


def test_also_retrieved_lists_only_passages_without_cited_evidence():
    a = answer("Trade grew by 17 percent in 2018 [1].")
    sources = render.sources([Turn("t1", "q?", answer=a)], ARTICLES)
    others = re.search(r'<details class="others">(.*?)</details>', sources, re.S).group(1)
    assert "Also retrieved, not cited (2)" in others and "Talks resumed in 2016." in others
    assert "Trade grew" not in others


@pytest.mark.parametrize("spans", [{}, {"passage": (23, 160)}, {"passage": (23, 160), "quote": (23, 92)},
                                   {"quote": (-5, 10_000)}])
def test_highlight_keeps_the_text_and_nests_spans(spans):
    out = render.highlight(TEXT, spans)
    assert text_of(out) == TEXT
    for name, (start, end) in spans.items():
        assert marked(out, name) == TEXT[max(start, 0):end]


def test_article_view_marks_passage_and_quote():
    p, quote = PASSAGES[1].chunk, "The 1956 declaration promised Japan two islands after a peace treaty."
    out = render.article_view(ARTICLE, (p.start, p.end), (p.start, p.start + len(quote)))
    assert f'<mark class="passage quote">{quote}</mark><mark class="passage"> It was never' in out
    assert text_of(out.split('class="article-text">', 1)[1]) == TEXT
    assert "A. Author · outlet not stated · 2019-01-22" in out and "the cited evidence" in out


def test_pending_turn_shows_its_stage():
    turn = Turn("t1", "q", scope="all 5 articles · top 4 passages", query="the 1956 declaration")
    assert "Searching all 5 articles · top 4 passages for “the 1956 declaration”…" in render.transcript([turn])
    turn.stage, turn.passages, turn.draft = "generating", PASSAGES[:1], "Trade grew"
    out = render.transcript([turn])
    assert "Found 1 passage · writing the answer…" in out and 'class="draft">Trade grew<span class="caret">' in out
    assert "waiting for the answer to cite them" in render.sources([turn], ARTICLES)


def test_rewritten_question_is_collapsed():
    turn = Turn("t1", "And Tokyo?", standalone="How did Tokyo react to the 2021 plan?",
                answer=answer("Trade grew by 17 percent in 2018 [1]."))
    out = render.transcript([turn])
    assert ('<details class="rewritten"><summary>Searched as a standalone question</summary>'
            "<p>How did Tokyo react to the 2021 plan?</p></details>") in out


def test_sources_panel_keeps_every_turn_latest_last():
    turns = [Turn("a", "first", answer=answer("Trade grew by 17 percent in 2018 [1].")),
             Turn("b", "second", error="Could not answer: boom")]
    out = render.sources(turns, ARTICLES)
    assert out.index('id="sources-a"') < out.index('id="sources-b"')
    assert 'id="src-a-1-s0"' in out and "the question was not answered" in out
    assert render.sources([], {}) == render.SOURCES_INTRO


def test_catalogue_lists_articles_with_read_buttons():
    out = render.catalogue([ARTICLE])
    assert "Ties &lt;i&gt;revisited&lt;/i&gt;" in out and 'data-doc="d1"' in out and "words" in out
