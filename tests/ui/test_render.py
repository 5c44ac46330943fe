"""The UI's HTML, without a browser: markers link to sources, quotes are highlighted, nothing is raw HTML."""

from __future__ import annotations

import html
import re

import pytest

from rag.chunking import Chunk
from rag.citations import check_answer
from rag.documents import Article
from rag.retrieval import Passage
from rag.service import Answer
from ui import render
from ui.render import Turn

TEXT = ("Talks resumed in 2016.\n\nThe 1956 declaration promised Japan two islands after a peace treaty. "
        "It was never implemented <because> of the alliance & the treaty.\n\n"
        "Trade grew by 17 percent in 2018, to 21.3 billion dollars.")
ARTICLE = Article("d1", "Ties <i>revisited</i>", TEXT, "0" * 64, authors=["A. Author"], date="2019-01-22")


def passage(rank: int, text: str) -> Passage:
    start = TEXT.index(text)
    return Passage(rank, Chunk(f"c{rank}", "d1", ARTICLE.title, start, start + len(text), text), 1.0 / rank, 0.9, None)


PASSAGES = [
    passage(1, "Trade grew by 17 percent in 2018, to 21.3 billion dollars."),
    passage(2, "The 1956 declaration promised Japan two islands after a peace treaty. "
               "It was never implemented <because> of the alliance & the treaty."),
]


def answer(raw: str, passages: list[Passage] = PASSAGES) -> Answer:
    checked = check_answer(raw, passages)
    return Answer("q?", checked.text, checked.abstained, checked.citations, checked.sentences, passages,
                  "fake", {"total": 1234.0}, raw=raw)


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_markers_link_to_sources_in_citation_order():
    a = answer("The 1956 declaration promised Japan two islands [2]. Trade grew by 17 percent in 2018 [1].")
    out = render.answer_html("t1", a)
    assert re.findall(r'href="#(src-t1-\d)"', out) == ["src-t1-1", "src-t1-2"]  # renumbered by first use
    assert 'islands <a class="cite" href="#src-t1-1"' in out and "[1]</a>." in out  # marker before the stop
    assert a.citations[0].passage == PASSAGES[1]
    assert text_of(out) == a.answer


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
    assert "<strong>The articles do not say.</strong> Nothing in the retrieved passages supports" in out
    assert 'class="cite"' not in out and 'class="answer"' not in out
    assert "What the model wrote" in out and "Bananas are yellow" in out


OWN_TAGS = {"div", "span", "a", "details", "summary", "p", "section", "q", "article", "blockquote", "mark",
            "button", "ol", "li", "strong"}


def test_model_output_never_becomes_markup():
    raw = ('<img src=x onerror="alert(1)"> The 1956 declaration promised <b>Japan</b> two islands [2]. '
           "![map](http://example.invalid/map.png) <script>alert(2)</script> [see](javascript:alert(3))")
    turn = Turn("t1", "<b>q</b>", answer=answer(raw))
    streaming = Turn("t2", "q", stage="generating", draft=raw)
    outputs = [render.transcript([turn]), render.sources([turn], {"d1": ARTICLE}), render.transcript([streaming])]
    for out in outputs:
        assert set(re.findall(r"<([a-z0-9]+)", out)) <= OWN_TAGS  # only the renderer's own elements
        assert all(h.startswith("#src-") for h in re.findall(r'href="([^"]*)"', out))  # links only to sources
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in outputs[2]


def test_source_card_shows_metadata_and_highlights_the_supporting_sentence():
    a = answer("The 1956 declaration promised Japan two islands after a peace treaty [2].")
    c = a.citations[0]
    card = render.source_card("t1", c, ARTICLE)
    assert 'id="src-t1-1"' in card
    assert f'<mark class="quote">{html.escape(c.quote)}</mark>' in card
    assert TEXT[c.quote_start:c.quote_end] == c.quote
    assert "Ties &lt;i&gt;revisited&lt;/i&gt;" in card
    assert "A. Author · outlet not stated · 2019-01-22" in card
    chunk = c.passage.chunk
    assert (f'data-doc="d1" data-start="{chunk.start}" data-end="{chunk.end}" '
            f'data-quote-start="{c.quote_start}" data-quote-end="{c.quote_end}"') in card
    assert text_of(re.search(r'<blockquote class="passage">(.*?)</blockquote>', card, re.S).group(1)) == chunk.text


@pytest.mark.parametrize("spans", [{}, {"passage": (23, 160)}, {"passage": (23, 160), "quote": (23, 92)},
                                   {"quote": (-5, 10_000)}])
def test_highlight_keeps_the_text_and_nests_spans(spans):
    out = render.highlight(TEXT, spans)
    assert text_of(out) == TEXT
    for name, (start, end) in spans.items():
        marked = "".join(text_of(m) for m in re.findall(rf'<mark class="[^"]*\b{name}\b[^"]*">(.*?)</mark>', out, re.S))
        assert marked == TEXT[max(start, 0):end]


def test_article_view_marks_passage_and_quote():
    p, quote = PASSAGES[1].chunk, "The 1956 declaration promised Japan two islands after a peace treaty."
    out = render.article_view(ARTICLE, (p.start, p.end), (p.start, p.start + len(quote)))
    assert f'<mark class="passage quote">{quote}</mark><mark class="passage"> It was never' in out
    assert text_of(out.split('class="article-text">', 1)[1]) == TEXT
    assert "A. Author · outlet not stated · 2019-01-22" in out


def test_pending_turn_shows_its_stage():
    turn = Turn("t1", "q", scope="all 5 articles · top 4 passages", query="the 1956 declaration")
    assert "Searching all 5 articles · top 4 passages for “the 1956 declaration”…" in render.transcript([turn])
    turn.stage, turn.passages, turn.draft = "generating", PASSAGES[:1], "Trade grew"
    out = render.transcript([turn])
    assert "Found 1 passage · writing the answer…" in out and 'class="draft">Trade grew<span class="caret">' in out
    assert "waiting for the answer to cite them" in render.sources([turn], {"d1": ARTICLE})


def test_rewritten_question_is_collapsed():
    turn = Turn("t1", "And Tokyo?", standalone="How did Tokyo react to the 2021 plan?", answer=answer("x [1]."))
    out = render.transcript([turn])
    assert ('<details class="rewritten"><summary>Searched as a standalone question</summary>'
            "<p>How did Tokyo react to the 2021 plan?</p></details>") in out


def test_sources_panel_keeps_every_turn_latest_last():
    turns = [Turn("a", "first", answer=answer("Trade grew by 17 percent in 2018 [1].")),
             Turn("b", "second", error="Could not answer: boom")]
    out = render.sources(turns, {"d1": ARTICLE})
    assert out.index('id="sources-a"') < out.index('id="sources-b"')
    assert 'id="src-a-1"' in out and "the question was not answered" in out
    assert render.sources([], {}) == render.SOURCES_INTRO


def test_catalogue_lists_articles_with_read_buttons():
    out = render.catalogue([ARTICLE])
    assert "Ties &lt;i&gt;revisited&lt;/i&gt;" in out and 'data-doc="d1"' in out and "words" in out
