"""The chat's Timeline tab: the dated events of the articles on a time axis and as a list.

`timeline_tab` builds the tab's components inside the current Blocks and wires them; markup comes
from ui.render, events from `Assistant.timeline` (built with the index, no model). Choosing an event
shows its cited sentences as the same source cards answers use; their "Read it in the full
article" button is wired by ui.app like every other source panel. Dragging across the chart keeps
the events of that period. Not `from __future__ import annotations`: Gradio reads the handlers'
`gr.EventData` hints at runtime (see ui.app).
"""

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ui import render

if TYPE_CHECKING:
    import gradio as gr
    import pandas as pd

    from rag.service import Assistant
    from rag.timeline import Event

# A list item asks the server for its event's sentences by its position in the list shown.
PICK_EVENT_JS = """
element.addEventListener('click', (event) => {
  const item = event.target.closest('button.tl-event');
  if (item) trigger('click', {index: item.dataset.event});
});
"""
COLUMNS = ("when", "article", "event", "date")


def short_title(title: str, limit: int = 38) -> str:
    return title if len(title) <= limit else title[:limit - 1].rstrip() + "…"


def chart_frame(events: "list[Event]", titles: dict[str, str]) -> "pd.DataFrame":
    """One point per event and article reporting it: x its date (the middle of a year or month, so a
    coarse date sits where it could fall), y and colour the article."""
    import pandas as pd

    from rag.timeline import period

    rows = []
    for e in events:
        first, last = period(e.date)
        when = pd.Timestamp(first) + (pd.Timestamp(last) - pd.Timestamp(first)) / 2
        rows += [{"when": when, "article": short_title(titles.get(d, d)), "event": e.label, "date": e.date}
                 for d in e.doc_ids]
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype({"when": "datetime64[ns]"})


def chart_limits(frame: "pd.DataFrame") -> list[float] | None:
    """The time axis a year wider than the events on each side (epoch seconds), so none sits on its edge."""
    if frame.empty:
        return None
    year = 365 * 24 * 3600
    return [frame["when"].min().timestamp() - year, frame["when"].max().timestamp() + year]


def brushed(evt: "gr.SelectData") -> tuple[str, str] | None:
    """The period dragged across the chart as (from, to) dates; Gradio sends epoch seconds."""
    try:
        start, end = (datetime.fromtimestamp(float(v), tz=timezone.utc).date() for v in evt.index)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return start.isoformat(), end.isoformat()


def timeline_tab(assistant: "Assistant", open_article_js: str) -> "gr.HTML":
    """The Timeline tab's content (call inside `with gr.Tab(...)`); returns the panel of source cards,
    whose "Read it in the full article" buttons the caller wires to the article view."""
    import gradio as gr

    from rag.errors import RagError

    def lookups():
        articles = {a.doc_id: a for a in assistant.articles()}
        return articles, {d: a.title for d, a in articles.items()}, render.article_colours(articles)

    def chart_args(events: "list[Event]", titles: dict[str, str], colours: dict[str, str]) -> dict:
        """The chart's data, colours (as in the list) and time axis."""
        frame = chart_frame(events, titles)
        return {"value": frame, "color_map": {short_title(titles[d]): c for d, c in colours.items()},
                "x_lim": chart_limits(frame)}

    def show(date_from: str, date_to: str, doc_ids: list[str], query: str):
        """The events these filters keep: chart, list, and the empty source panel."""
        try:
            events = assistant.timeline(date_from or None, date_to or None, doc_ids or None, query or None)
        except RagError as exc:
            if not exc.bad_input:
                raise gr.Error(str(exc), print_exception=False) from None
            gr.Warning(render.esc(f"{str(exc)[:1].upper()}{str(exc)[1:]}."), title="Filter not applied")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        articles, titles, colours = lookups()
        return (events, gr.ScatterPlot(**chart_args(events, titles, colours)),
                render.timeline_list(events, articles, colours), render.timeline_event(None, articles))

    def pick(events: list, evt: gr.EventData):  # no string hint: Gradio must resolve them all
        try:
            index = int(getattr(evt, "index"))
        except (AttributeError, TypeError, ValueError):
            return gr.skip(), gr.skip()
        if not 0 <= index < len(events):
            return gr.skip(), gr.skip()
        articles, _, colours = lookups()
        return render.timeline_event(events[index], articles), render.timeline_list(events, articles, colours, index)

    def select_period(evt: gr.SelectData):
        period = brushed(evt)
        return period if period else (gr.skip(), gr.skip())

    def timeline(date_from: str | None = None, date_to: str | None = None, doc_ids: list[str] | None = None,
                 query: str | None = None) -> dict:
        """The dated events the articles mention, sorted by date: {"events": [{date, precision
        (year|month|day), label, citations: [{doc_id, title, start, end, quote, date, precision}],
        conflict}]}; offsets are into the article's cleaned text. Filters: dates YYYY[-MM[-DD]]
        (inclusive), events these articles report, events whose sentences hold every word of `query`."""
        try:
            return {"events": [e.to_dict() for e in assistant.timeline(date_from, date_to, doc_ids, query)]}
        except RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    articles, titles, colours = lookups()
    events = assistant.timeline()
    shown = gr.State(events)
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row(equal_height=True):
                query = gr.Textbox(placeholder="Filter by words (e.g. declaration), Enter", show_label=False,
                                   container=False, scale=4, elem_id="timeline-query")
                date_from = gr.Textbox(placeholder="from YYYY[-MM]", show_label=False, container=False, scale=1,
                                       elem_id="timeline-from")
                date_to = gr.Textbox(placeholder="to YYYY[-MM]", show_label=False, container=False, scale=1,
                                     elem_id="timeline-to")
                reset = gr.Button("Show all", size="sm", scale=0, min_width=90)
            doc_filter = gr.Dropdown([(a.title, d) for d, a in articles.items()], value=[], multiselect=True,
                                     show_label=False, info="Only events these articles report (empty: all)")
            chart = gr.ScatterPlot(**chart_args(events, titles, colours), x="when", y="article", color="article",
                                   tooltip=["date", "event", "article"],
                                   x_title="date", y_title="", color_title="article", height=300,
                                   show_label=False, elem_id="timeline-chart")
            listing = gr.HTML(render.timeline_list(events, articles, colours), elem_id="timeline-list",
                              apply_default_css=False, js_on_load=PICK_EVENT_JS)
        with gr.Column(scale=2):
            detail = gr.HTML(render.timeline_event(None, articles), elem_id="timeline-event",
                             apply_default_css=False, js_on_load=open_article_js)

    filters = [date_from, date_to, doc_filter, query]
    outputs = [shown, chart, listing, detail]
    for box in (query, date_from, date_to):
        box.submit(show, filters, outputs, api_visibility="private")
    doc_filter.change(show, filters, outputs, api_visibility="private")
    chart.select(select_period, None, [date_from, date_to], api_visibility="private").then(
        show, filters, outputs, api_visibility="private")
    reset.click(lambda: ("", "", [], ""), None, filters, queue=False, api_visibility="private").then(
        show, filters, outputs, api_visibility="private")
    listing.click(pick, shown, [detail, listing], queue=False, api_visibility="private")
    gr.api(timeline, api_name="timeline")
    return detail

