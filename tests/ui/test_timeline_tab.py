"""The Timeline tab: its chart data and markup, then in headless Chromium: choose an event, read its
cited sentence, open it in the article (screenshot in test-output/ui/, the README's docs/timeline.png)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rag.timeline import Event
from tests.ui.conftest import screenshot
from ui import render
from ui.timeline import brushed, chart_frame, chart_limits



def event(date: str, *docs: str, label: str = "Putin visits <b>Tokyo</b>", conflict: bool = False) -> Event:
    return Event(date, ("year", "month", "day")[date.count("-")], label,
                 [{"doc_id": d, "title": f"T {d}", "start": 0, "end": 5, "quote": "Putin", "date": date,
                   "precision": "year"} for d in docs], conflict)


def test_chart_has_a_point_per_article_in_the_middle_of_its_period():
    frame = chart_frame([event("2016", "a", "b"), event("2019-01-22", "b")], {"a": "Alpha", "b": "Beta"})
    assert list(frame["article"]) == ["Alpha", "Beta", "Beta"]
    assert [str(t.date()) for t in frame["when"]] == ["2016-07-01", "2016-07-01", "2019-01-22"]
    low, high = chart_limits(frame)
    assert low < frame["when"].min().timestamp() and high > frame["when"].max().timestamp()
    assert chart_limits(chart_frame([], {})) is None


def test_a_dragged_period_becomes_from_and_to():
    assert brushed(SimpleNamespace(index=[1481846400.0, 1548115200.0])) == ("2016-12-16", "2019-01-22")
    assert brushed(SimpleNamespace(index=None)) is None


def test_list_and_cards_escape_and_flag_conflicts():
    colours = render.article_colours(["a", "b"])
    listing = render.timeline_list([event("2016-12", "a", "b", conflict=True)], {}, colours, selected=0)
    assert "&lt;b&gt;Tokyo&lt;/b&gt;" in listing and "<b>" not in listing
    assert 'data-event="0" aria-current="true"' in listing and "dates differ" in listing
    assert f"--chip:{colours['b']}" in listing
    card = render.timeline_event(event("2016-12", "a"), {})
    assert 'class="source"' in card and 'data-doc="a" data-start="0" data-end="5"' in card
    assert render.timeline_list([], {}, colours).startswith('<p class="kr-empty">No dated event')


def test_the_timeline_api_returns_the_libraries_events_and_its_errors(app_url, assistant):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    data = client.predict("2016-12", "2016-12", None, "Putin visit", api_name="/timeline")
    expected = [e.to_dict() for e in assistant.timeline("2016-12", "2016-12", None, "Putin visit")]
    assert data == {"events": expected} and expected
    with pytest.raises(AppError, match="the 'from' date must be written"):
        client.predict("Dec 2016", api_name="/timeline")


@pytest.mark.browser
def test_timeline_tab_shows_an_events_sentences_and_opens_the_article(page, articles):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Timeline").click()
    items = page.locator("#timeline-list button.tl-event")
    expect(items.first).to_be_visible()
    expect(page.locator("#timeline-chart svg").first).to_be_visible()  # the chart is drawn
    visit = items.filter(has_text="Tokyo visit in December 2016")
    expect(visit).to_have_count(1)
    visit.click()
    cards = page.locator("#timeline-event article.source")
    expect(cards.first).to_be_visible()
    expect(page.locator("#timeline-event")).to_contain_text("Vladimir Putin’s Tokyo visit in December 2016")
    assert cards.count() >= 4
    page.wait_for_timeout(500)  # let the chart settle for the picture
    screenshot(page, "timeline", readme=True)

    page.locator("#timeline-query input, #timeline-query textarea").fill("Irkutsk")
    page.locator("#timeline-query input, #timeline-query textarea").press("Enter")
    expect(items).to_have_count(2)  # the Irkutsk Statement, and the 1956 declaration its sentence recalls
    irkutsk = items.filter(has_text="Irkutsk Statement of 2001")
    expect(irkutsk).to_contain_text("2001")

    irkutsk.click()
    page.locator("#timeline-event button.open-article").first.click()
    expect(page.get_by_role("tab", name="Articles")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#article-view mark.quote")).to_contain_text("Irkutsk Statement of 2001")
    screenshot(page, "timeline-article")
