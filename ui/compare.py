"""The "Compare sources" tab: one question, each article's own cited answer (or why it is silent),
then where the articles agree and differ, every [n] linking to a source card.

Markup is built here from a `Comparison` with ui.render's escaping and source cards (so it reads
like the Ask tab); `compare_tab` lays the tab out inside the Blocks ui.app builds, and
`compare_endpoint` is the /compare API. Gradio loads inside functions; no `from __future__ import
annotations`, for the same reason as ui.app.
"""

import itertools
import logging
import uuid
from typing import TYPE_CHECKING

from ui import render
from ui.render import Check, esc

if TYPE_CHECKING:
    from rag.compare import Comparison
    from rag.service import Assistant

log = logging.getLogger(__name__)

EXAMPLE = "When was the Russia–Japan investment fund set up and with how much capital?"
INTRO = ('<div class="kr-empty"><h3>Compare the sources</h3><p>Each article answers the question from its own '
         "text alone, with citations checked like any answer; articles that do not address it are listed as "
         "silent. Below: where they agree, and where they differ (each side cited, and whether the article "
         "states it itself or reports what someone said).</p></div>")
CSS = """
.cmp-articles { display: grid; grid-template-columns: repeat(auto-fill, minmax(17rem, 1fr)); gap: .7rem; }
.cmp-card { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding: .6rem .75rem; background: var(--block-background-fill); }
.cmp-card h4 { margin: 0 0 .15rem; font-size: .95rem; font-weight: 700; }
.cmp-card .answer { margin-top: .4rem; line-height: 1.5; white-space: normal; }
.cmp-silent { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.cmp-points h4 { margin: 1rem 0 .3rem; font-weight: 700; }
.cmp-points li { margin-bottom: .45rem; line-height: 1.45; }
.cmp-side { display: block; margin-left: .8rem; }
.stance { font-size: .72rem; border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 .3em; white-space: nowrap; color: var(--body-text-color-subdued); }
.between { font-size: .78rem; color: var(--body-text-color-subdued); }
#compare-sources { position: sticky; top: .75rem; max-height: calc(100vh - 1.5rem); overflow-y: auto; }
#compare-sources .source:target { outline: 2px solid var(--color-accent); background: var(--color-accent-soft); }
"""


def _marker(cid: str, n: int) -> str:
    return f'<a class="cite" href="#{render.source_anchor(cid, n)}">[{n}]</a>'


def _markers(cid: str, citations) -> str:
    return "".join(_marker(cid, c["n"]) for c in citations)


def _answer(cid: str, article: dict) -> str:
    sentences = []
    for s in article["sentences"]:
        voice = (f' <span class="stance">reported: {esc(s["speaker"] or "a quoted source")}</span>'
                 if s["stance"] == "reported" else "")
        flag = "" if s["supported"] else ' <span class="flag">unsupported</span>'
        sentences.append(f'<span class="sent">{esc(s["text"])} {"".join(_marker(cid, n) for n in s["citations"])}'
                         f"{voice}{flag}</span>")
    return '<div class="answer">' + " ".join(sentences) + "</div>"


def _byline(article: dict) -> str:
    parts = [article["author"] or "author not stated", article["outlet"] or "outlet not stated",
             article["date"] or "date not stated"]
    return '<span class="byline">' + " · ".join(esc(p) for p in parts) + "</span>"


def _side(cid: str, side: dict, titles: dict[str, str]) -> str:
    voice = (f'<span class="stance">reported: {esc(side["speaker"] or "a quoted source")}</span>'
             if side["stance"] == "reported" else '<span class="stance">the article’s own statement</span>')
    return (f'<span class="cmp-side" data-doc="{esc(side["doc_id"])}"><strong>{esc(titles[side["doc_id"]])}</strong>: '
            f'{esc(", ".join(side["values"]))} {voice} {_markers(cid, side["citations"])}</span>')


BETWEEN = {"authors": "the articles’ own statements disagree",
           "reported and asserted": "one side is what an article reports someone said, not its own claim",
           "reported sources": "both sides are what the articles report others said"}


def view(cid: str, comparison: "Comparison") -> str:
    """Per-article cards, then agreements and differences."""
    data = comparison.to_dict()
    titles = {a["doc_id"]: a["title"] for a in data["articles"]}
    cards = "".join(
        f'<article class="cmp-card{" silent" if a["silent"] else ""}" data-doc="{esc(a["doc_id"])}">'
        f'<h4>{esc(a["title"])}</h4>{_byline(a)}'
        + (f'<div class="cmp-silent">Silent: {esc(a["silent_reason"])}.</div>' if a["silent"] else _answer(cid, a))
        + "</article>" for a in data["articles"])
    agree = "".join(f'<li class="agreement">{esc(p["statement"])} {_markers(cid, p["citations"])}</li>'
                    for p in data["agreements"]) or '<li class="kr-empty">No fact stated alike by two articles.</li>'
    differ = "".join(
        f'<li class="difference"><strong>{esc(p["topic"])}</strong> ({esc(", ".join(p["differ_on"]))}) '
        f'<span class="between">{esc(BETWEEN[p["between"]])}</span>'
        + "".join(_side(cid, s, titles) for s in p["sides"]) + "</li>"
        for p in data["differences"]) or '<li class="kr-empty">No differing dates, amounts or figures found.</li>'
    meta = f'{esc(comparison.model)} · {comparison.timings_ms["total"] / 1000:.1f} s'
    return (f'<div class="comparison" id="cmp-{esc(cid)}"><div class="sources-head">Who says what: '
            f'<q>{esc(comparison.question)}</q></div><div class="cmp-articles">{cards}</div>'
            f'<div class="cmp-points"><h4>Where they agree</h4><ul class="agreements">{agree}</ul>'
            f'<h4>Where they differ</h4><ul class="differences">{differ}</ul></div>'
            f'<div class="meta">{meta}</div></div>')


def sources(cid: str, comparison: "Comparison", articles: dict) -> str:
    """A source card for every [n] of the comparison, its quoted span highlighted."""
    cards = "".join(render.source_card(cid, c, articles.get(c.evidence.doc_id),
                                       Check(None, "", c.quote_start, c.quote_end)) for c in comparison.citations)
    return f'<div class="cmp-sources">{cards}</div>'


def progress(question: str, stage: str, done: int, total: int) -> str:
    return (f'<div class="status"><span class="spinner"></span>{esc(stage)} '
            f"(article {done} of {total}) · <q>{esc(question)}</q></div>")


def compare_tab(assistant: "Assistant", group: str) -> None:
    """The tab's components and events, inside the Blocks being built; `group` is the model's
    concurrency group (one answer or comparison at a time)."""
    import gradio as gr

    from rag.errors import RagError
    from rag.service import Compared, Status

    def run(question: str):
        events = assistant.compare_stream(question)
        try:
            first = next(events)  # the request is validated before the first event
        except RagError as exc:
            if exc.bad_input:
                gr.Warning(esc(f"{str(exc)[:1].upper()}{str(exc)[1:]}."), title="Question not accepted")
                yield gr.skip(), gr.skip()
                return
            yield f'<div class="error">{esc(f"Could not compare: {exc}")}</div>', ""
            return
        total, done = len(assistant.articles()), 0
        try:
            for event in itertools.chain([first], events):
                if isinstance(event, Status):
                    done += event.stage == "reading"
                    stage = f"Reading {event.detail}…" if event.stage == "reading" else "Loading the model…"
                    yield progress(question, stage, done, total), gr.skip()
                elif isinstance(event, Compared):
                    cid = uuid.uuid4().hex[:8]
                    articles = {a.doc_id: a for a in assistant.articles()}
                    yield view(cid, event.comparison), sources(cid, event.comparison, articles)
        except RagError as exc:
            yield f'<div class="error">{esc(f"Could not compare: {exc}")}</div>', ""
        except Exception:
            log.exception("comparing %r failed", question)
            yield '<div class="error">Could not compare: something went wrong on the server.</div>', ""

    with gr.Row():
        with gr.Column(scale=3):
            box = gr.Textbox(placeholder="A question to put to every article, e.g. when was the investment fund "
                             "set up?", show_label=False, lines=1, max_lines=4, submit_btn="Compare",
                             elem_id="compare-question")
            gr.Examples([[EXAMPLE]], inputs=box, label="Example", api_visibility="private")
            result = gr.HTML(INTRO, elem_id="comparison", apply_default_css=False, js_on_load=None,
                             head=f"<style>{CSS}</style>")
        with gr.Column(scale=2):
            cards = gr.HTML("", elem_id="compare-sources", apply_default_css=False, js_on_load=None)
    box.submit(run, box, [result, cards], concurrency_limit=1, concurrency_id=group, show_progress="minimal",
               show_progress_on=result, api_visibility="private")


def compare_endpoint(assistant: "Assistant"):
    """The /compare API: the same comparison as the tab and `rag compare --json`."""
    import gradio as gr

    from rag.errors import RagError

    def compare(question: str, k: int | None = None, doc_ids: list[str] | None = None,
                model: str | None = None) -> dict:
        """Who says what: {"question", "articles": [{"doc_id", "title", "author", "date", "answer",
        "citations", "silent", "silent_reason"...}], "agreements": [{"statement", "citations"}],
        "differences": [{"topic", "between", "sides": [{"doc_id", "statement", "stance", "speaker",
        "citations"}]}]}; offsets point into each article's cleaned text."""
        try:
            return assistant.compare(question, k=k, doc_ids=doc_ids, model=model).to_dict()
        except RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return compare
