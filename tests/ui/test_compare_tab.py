"""The Compare sources markup, as pure functions of a comparison (fake LLM, real embedder)."""

from __future__ import annotations

import re

import pytest

from ui.compare import sources, view

QUESTION = "When was the Russia–Japan investment fund set up and with how much capital?"


@pytest.fixture(scope="module")
def comparison(assistant):
    return assistant.compare(QUESTION)


def test_one_card_per_article_silent_ones_say_why(assistant, comparison):
    html = view("c1", comparison)
    assert html.count('class="cmp-card') == len(assistant.articles())
    for a in comparison.articles:
        assert f'data-doc="{a.article.doc_id}"' in html
        if a.silent:
            assert f"Silent: {a.silent_reason}." in html


def test_the_fund_years_are_a_difference_with_each_side_cited(comparison):
    html = view("c1", comparison)
    difference = re.search(r'<li class="difference">.*?</li>', html).group()
    for year in ("2016", "2017", "2018"):
        assert year in difference
    assert "reported: Prime Minister Abe" in difference
    assert "one side is what an article reports someone said" in difference


def test_every_marker_has_its_source_card(articles, comparison):
    html, cards = view("c1", comparison), sources("c1", comparison, articles)
    targets = set(re.findall(r'href="#(src-c1-\d+)"', html))
    assert targets and targets == set(re.findall(r'id="(src-c1-\d+)"', cards))
    assert cards.count('<mark class="evidence quote">') >= len(comparison.citations)  # each card marks its quote


def test_model_output_is_escaped(assistant):
    fund = ("Although most of them were non-binding memoranda, two Russian companies (Novatek and Gazprom) received "
            "Japanese loans worth a total of US$1 billion; a joint Japanese-Russian investment fund worth a further "
            "US$1 billion was also created.")
    assistant.llm().replies.append(f"{fund} [1] <script>window.pwned = 1</script> Bananas grow on Mars [1].")
    html = view("c2", assistant.compare(QUESTION, doc_ids=["003_aac86c86413ce24b"]))
    assert "<script>" not in html and "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert '<span class="flag">unsupported</span>' in html
