"""The chat as a reader uses it, in headless Chromium: ask, watch it stream, check a citation, read the article."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import screenshot
from ui.screenshot import VIEWPORT, ask

pytestmark = pytest.mark.browser

QUESTION = "What did the 1956 Japanese-Soviet declaration provide?"

# Records every state the transcript passes through, so a streamed answer can be checked afterwards.
WATCH_TRANSCRIPT = """() => {
  window.seen = [];
  const transcript = document.querySelector('#transcript');
  new MutationObserver(() => {
    const status = transcript.querySelector('.msg.bot.pending .status');
    if (status) window.seen.push(status.textContent);
    if (transcript.querySelector('.msg.bot.pending .draft')) window.seen.push('draft');
  }).observe(transcript, {subtree: true, childList: true, characterData: true});
}"""




def visible_sources(page: Page):
    return page.locator("#sources-panel .turn-sources").locator("visible=true")


def test_streamed_answer_and_checkable_citation(page, assistant, articles):
    expected = assistant.ask(QUESTION)
    first = expected.citations[0]
    page.evaluate(WATCH_TRANSCRIPT)

    turn = ask(page, QUESTION)

    seen = page.evaluate("window.seen")
    assert any(s.startswith(f"Searching all {len(articles)} articles") for s in seen)
    assert any("writing the answer" in s for s in seen) and "draft" in seen
    assert " ".join(turn.locator(".answer").inner_text().split()) == " ".join(expected.answer.split())

    marker = turn.locator("a.cite").first
    anchor = marker.get_attribute("href")
    marker.click()
    card = page.locator(anchor)
    expect(card).to_be_visible()
    assert page.evaluate("document.querySelector(':target')?.id") == anchor[1:]
    assert page.evaluate("location.hash") == anchor
    article = articles[first.evidence.doc_id]
    expect(card.locator(".title")).to_have_text(article.title)
    expect(card.locator(".byline")).to_contain_text(", ".join(article.authors) or "author not stated")
    expect(card.locator("mark.quote")).to_have_text(first.quote)
    assert first.quote in card.locator(".passage").inner_text()
    assert card.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    assert card.locator("mark.quote").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    screenshot(page, "answer-and-source")


def two_claims(assistant, question: str, same_evidence: bool) -> str:
    """A scripted reply of two real evidence sentences, each cited: from two evidence items, or
    two sentences of one item (so both cite the same [n])."""
    evidence, sentences = assistant.gather_evidence(question)[2], assistant.index.sentences
    if same_evidence:
        e = next(e for e in evidence if len(e.rows) > 1)
        return f"{sentences[e.rows[0]].text} [{e.n}] {sentences[e.rows[1]].text} [{e.n}]"
    e1, e2 = evidence[:2]
    return f"{sentences[e1.rows[0]].text} [{e1.n}] {sentences[e2.rows[0]].text} [{e2.n}]"


@pytest.mark.parametrize("same_evidence", [False, True], ids=["two-sources", "one-source"])
def test_each_marker_highlights_the_support_of_its_own_sentence(page, assistant, articles, same_evidence):
    reply = two_claims(assistant, QUESTION, same_evidence)
    assistant.llm().replies.append(reply)
    expected = assistant.ask(QUESTION)
    supports = [s.support for s in expected.sentences]
    assert [s.citations for s in expected.sentences] == ([[1], [1]] if same_evidence else [[1], [2]])
    assert None not in supports and supports[0] != supports[1]

    assistant.llm().replies.append(reply)
    markers = ask(page, QUESTION).locator("a.cite")
    expect(markers).to_have_count(2)
    highlighted = []
    for i, support in enumerate(supports):
        marker = markers.nth(i)
        assert marker.get_attribute("data-sentence") == str(i)
        start, end = int(marker.get_attribute("data-support-start")), int(marker.get_attribute("data-support-end"))
        marker.click()
        card = page.locator(marker.get_attribute("href"))
        expect(card).to_be_visible()
        expect(visible_sources(page).locator(".source").locator("visible=true")).to_have_count(
            1 if same_evidence else 2)  # one card per [n]: the clicked sentence's
        quote = card.locator("mark.quote")
        expect(quote).to_be_in_viewport()
        highlighted.append(quote.text_content())
        assert highlighted[-1] == support.quote == articles[support.doc_id].text[start:end]
        screenshot(page, f"two-claims-{'one-source' if same_evidence else 'two-sources'}-{i + 1}")
    assert highlighted[0] != highlighted[1]


def test_follow_up_is_rewritten_and_each_answer_keeps_its_sources(page):
    ask(page, QUESTION)
    follow_up = ask(page, "And how did Tokyo react?")

    rewritten = follow_up.locator("details.rewritten")
    expect(rewritten.locator("p")).to_be_hidden()  # collapsed until asked for
    rewritten.locator("summary").click()
    expect(rewritten.locator("p")).to_have_text(f"And how did Tokyo react? (regarding: {QUESTION})")

    expect(visible_sources(page)).to_have_count(1)
    expect(visible_sources(page).locator(".sources-head q")).to_have_text("And how did Tokyo react?")
    page.locator("#transcript .turn").first.locator("a.cite").first.click()  # an earlier answer's [1]
    expect(visible_sources(page).locator(".sources-head q")).to_have_text(QUESTION)

    ask(page, "What position does Valery Kistanov hold?")  # a new question shows its own sources again
    expect(visible_sources(page).locator(".sources-head q")).to_have_text("What position does Valery Kistanov hold?")


def test_source_opens_the_full_article_at_the_passage(page, assistant, articles):
    first = assistant.ask(QUESTION).citations[0]
    ask(page, QUESTION)
    visible_sources(page).locator("button.open-article").first.click()

    expect(page.get_by_role("tab", name="Articles")).to_have_attribute("aria-selected", "true")
    view = page.locator("#article-view")
    expect(view.locator("h2")).to_have_text(articles[first.evidence.doc_id].title)
    expect(view.locator("mark.passage.quote")).to_have_text(first.quote)
    expect(view.locator("mark.passage").first).to_be_in_viewport()  # scrolled to, not just somewhere below
    screenshot(page, "article-at-passage")

    page.get_by_role("button", name="← Back to the conversation").click()
    expect(page.locator("#transcript .turn")).to_have_count(1)


def test_a_citation_link_from_the_openai_api_opens_the_article_at_the_passage(browser, app_url, assistant, articles):
    import openai

    reply = openai.OpenAI(base_url=f"{app_url}v1", api_key="x").chat.completions.create(
        model="kuril-rag", messages=[{"role": "user", "content": QUESTION}])
    link, first = reply.choices[0].message.annotations[0].url_citation, reply.choices[0].message.citations[0]
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(link.url)
    expect(page.get_by_role("tab", name="Articles")).to_have_attribute("aria-selected", "true")
    view = page.locator("#article-view")
    expect(view.locator("h2")).to_have_text(link.title)
    expect(view.locator("mark.passage.quote")).to_have_text(first["quote"])
    expect(view.locator("mark.passage").first).to_be_in_viewport()
    page.goto(app_url)  # without a link: the conversation, as always
    expect(page.get_by_role("tab", name="Ask")).to_have_attribute("aria-selected", "true")
    context.close()


def test_article_browser_reads_every_article(page, articles):
    page.get_by_role("tab", name="Articles").click()
    entries = page.locator("#catalogue li")
    expect(entries).to_have_count(len(articles))
    for i, article in enumerate(articles.values()):
        entries.nth(i).get_by_role("button", name="Read").click()
        expect(page.locator("#article-view h2")).to_have_text(article.title)
    text = page.locator("#article-view .article-text").inner_text()
    assert " ".join(text.split()) == " ".join(article.text.split())


def test_too_long_question_gets_a_friendly_message(page):
    box = page.locator("#question textarea")
    box.fill("x" * 2001)
    box.press("Enter")
    expect(page.get_by_text("The question is 2,001 characters long; the limit is 2,000.")).to_be_visible()
    expect(page.locator("#transcript .turn")).to_have_count(0)
    expect(box).to_have_value("x" * 2001)  # kept, to be shortened


def test_model_output_is_shown_as_text_never_as_html(page, assistant):
    assistant.llm().replies.append('<img src=x onerror="window.pwned = 1"> The 1956 declaration <b>promised</b> '
                                 "islands [1]. ![map](http://example.invalid/map.png) <script>window.pwned = 2</script>")
    turn = ask(page, QUESTION)
    assert turn.locator("img, b, script, a:not(.cite)").count() == 0
    assert '<img src=x onerror="window.pwned = 1">' in turn.text_content()
    assert page.evaluate("window.pwned") is None


def test_new_conversation_starts_afresh(page):
    ask(page, QUESTION)
    page.locator("#transcript a.cite").first.click()
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#transcript .turn")).to_have_count(0)
    expect(page.locator("#sources-panel .source")).to_have_count(0)
    assert page.evaluate("location.hash") == ""
    turn = ask(page, "What position does Valery Kistanov hold?")
    expect(turn.locator("details.rewritten")).to_have_count(0)  # no history left to rewrite with


def test_compare_tab_shows_each_article_and_a_cited_difference(page, assistant, articles):
    question = "When was the Russia–Japan investment fund set up and with how much capital?"
    expected = assistant.compare(question)
    page.get_by_role("tab", name="Compare sources").click()
    box = page.locator("#compare-question textarea")
    box.fill(question)
    box.press("Enter")
    view = page.locator("#comparison .comparison")
    view.wait_for(timeout=120_000)

    cards = view.locator(".cmp-card")
    expect(cards).to_have_count(len(articles))
    for i, a in enumerate(expected.articles):
        card = cards.nth(i)
        expect(card.locator("h4")).to_have_text(a.article.title)
        if a.silent:
            expect(card.locator(".cmp-silent")).to_contain_text(a.silent_reason)
        else:
            expect(card.locator("a.cite")).to_have_count(sum(len(s.citations) for s in a.sentences))
    difference = view.locator("li.difference").first
    expect(difference).to_contain_text("2016")
    expect(difference).to_contain_text("2018")
    sides = difference.locator(".cmp-side")
    assert len({sides.nth(i).get_attribute("data-doc") for i in range(sides.count())}) >= 2

    screenshot(page, "compare", readme=True, full_page=True)

    marker = sides.first.locator("a.cite").first
    marker.click()
    card = page.locator(marker.get_attribute("href"))
    expect(card).to_be_visible()
    assert card.evaluate("e => getComputedStyle(e).outlineStyle") != "none"  # the clicked source stands out
    n = int(marker.inner_text().strip("[]"))
    cited = next(c for c in expected.citations if c.n == n)
    expect(card.locator("mark.quote")).to_have_text(cited.quote)
    screenshot(page, "compare-source")
