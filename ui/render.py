"""HTML for the chat UI, as pure functions of the conversation and the articles.

Every string that comes from a model, an article or a user passes through `esc` here and nowhere
else builds markup, so this module is the one place to audit for injection. Model output is
never interpreted as Markdown or HTML: no links, images or scripts can come out of an answer.
Gradio-free, so it is unit-tested without a server or a browser.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.sentences import sentence_bounds  # plain text splitting: no model, no index

if TYPE_CHECKING:  # types only: rendering must not pull in the retrieval stack
    from rag.documents import Article
    from rag.evidence import Evidence
    from rag.retrieval import Passage
    from rag.service import Answer
    from rag.settings import Settings
    from rag.timeline import Event as TimelineEvent
    from rag.verification import Citation, Sentence


@dataclass
class Turn:
    """One question of a conversation and what became of it; the UI re-renders from this alone."""

    id: str  # unique per page: anchors like #src-<id>-<n> must never point into an older answer
    question: str
    scope: str = ""  # which articles were searched, for the sources panel header
    stage: str = "searching"  # the latest Status.stage while the answer is being produced
    query: str = ""  # what retrieval searched for (the rewritten question for a follow-up)
    standalone: str | None = None
    passages: list[Passage] = field(default_factory=list)
    draft: str = ""  # raw tokens so far; replaced by the checked answer when done
    answer: Answer | None = None
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.answer is None and self.error is None


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def highlight(text: str, spans: dict[str, tuple[int, int]]) -> str:
    """Escape `text`, wrapping each stretch covered by a named span in <mark class="name ...">.

    Spans may nest (a quote inside a passage): the text is cut at every span edge and each piece
    gets the classes of all spans covering it, so the markup stays flat and well-formed.
    """
    size = len(text)
    cuts = sorted({0, size, *(min(max(x, 0), size) for span in spans.values() for x in span)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        classes = " ".join(name for name, (start, end) in spans.items() if start <= a and b <= end)
        piece = esc(text[a:b])
        out.append(f'<mark class="{classes}">{piece}</mark>' if classes else piece)
    return "".join(out)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def source_anchor(turn_id: str, n: int, sentence: int | None = None) -> str:
    """The card of [n] as answer sentence `sentence` uses it (each has its own supporting span)."""
    return f"src-{turn_id}-{n}" + ("" if sentence is None else f"-s{sentence}")


@dataclass(frozen=True)
class Check:
    """What a reader checks when clicking [n] in one sentence: the span of the article that
    supports that sentence. Two sentences citing the same [n] rest on different spans."""

    sentence: int | None  # index into Answer.sentences; None when no sentence rests on the citation
    claim: str  # the sentence, as the answer states it
    start: int  # the supporting span, offsets into the article's cleaned text
    end: int


def checks(answer: Answer) -> dict[int, list[Check]]:
    """For every [n] of an answer, one Check per sentence that cites it, in answer order."""
    shown = {c.evidence.n: c.n for c in answer.citations}  # evidence number the model saw -> [n]
    out: dict[int, list[Check]] = {c.n: [] for c in answer.citations}
    for i, s in enumerate(answer.sentences):
        n = shown.get(s.support.evidence) if s.support else None
        if n in s.citations:
            out[n].append(Check(i, s.text, s.support.start, s.support.end))
    for c in answer.citations:  # an Answer built by hand may cite without a sentence's support
        out[c.n] = out[c.n] or [Check(None, "", c.quote_start, c.quote_end)]
    return out


# --- article metadata --------------------------------------------------------------------------

def byline(article: Article | None) -> str:
    """Authors · outlet · date, saying explicitly what the article does not state."""
    if article is None:
        return '<span class="byline">metadata unavailable</span>'
    parts = [", ".join(article.authors) or "author not stated", article.outlet or "outlet not stated",
             article.date or "date not stated"]
    return '<span class="byline">' + " · ".join(esc(p) for p in parts) + "</span>"


def open_button(doc_id: str, label: str, passage: tuple[int, int] | None = None,
                quote: tuple[int, int] | None = None) -> str:
    """A button the panel's click handler turns into "show this article (at this passage, with
    this quote marked)"."""
    data = f' data-doc="{esc(doc_id)}"'
    if passage:
        data += f' data-start="{passage[0]}" data-end="{passage[1]}"'
    if quote:
        data += f' data-quote-start="{quote[0]}" data-quote-end="{quote[1]}"'
    return f'<button type="button" class="open-article"{data}>{esc(label)}</button>'


# --- header ------------------------------------------------------------------------------------

def header(model: str, n_articles: int, n_passages: int) -> str:
    return (
        '<div class="kr-header"><div><h1>Kuril Islands &amp; Russia–Japan relations</h1>'
        '<p>Ask the article collection. Every claim carries a [n] you can check against the '
        'article text it rests on.</p></div>'
        f'<div class="kr-model" title="The model writing the answers">answering: <strong>{esc(model)}</strong>'
        f'<br>{n_articles} articles · {n_passages} passages indexed</div></div>'
    )


def model_details(model: str, settings: Settings) -> str:
    """What answers and how, for the settings panel: the facts a reader needs to judge an answer."""
    rows = [
        ("Answering model", model),
        ("Back-end setting", settings.llm),
        ("Passages per question (default)", settings.k),
        ("Evidence shown to the model", f"up to {settings.evidence_tokens} tokens of numbered sentences "
                                        "from those passages"),
        ("Temperature", settings.temperature),
        ("Max answer tokens", settings.max_tokens),
        ("Retrieval", f"hybrid: dense embeddings ({settings.embedder}) + BM25, fused by rank"),
        ("Abstains when", f"no sentence of the passages scores {settings.min_evidence_score} "
                          "(cosine + half its share of the question's key terms)"),
    ]
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (f'<table class="kr-model-table">{cells}</table><p class="kr-hint">An OpenAI-compatible endpoint '
            "answers instead when <code>OPENAI_BASE_URL</code> is set before <code>rag serve</code>.</p>")


# --- conversation ------------------------------------------------------------------------------

WELCOME = (
    '<div class="kr-empty"><h3>Ask a question about Russia–Japan relations</h3>'
    "<p>Answers come only from the article collection (see the Articles tab). Each sentence cites its evidence as [n]; "
    "click it to see the article text, with the part that supports that sentence highlighted, in the sources panel. "
    "Follow-up questions use the conversation so far.</p></div>"
)

STAGES = {
    "rewriting": "Rewriting your follow-up as a standalone question…",
    "searching": "Searching {scope} for “{query}”…",
    "generating": "Found {passages} · writing the answer…",
}


def _marker(turn_id: str, n: int, title: str, sentence: int, cards: list[Check]) -> str:
    """[n] linking to the card of this sentence's support (the first card if it has none of its own)."""
    check = next((c for c in cards if c.sentence == sentence), cards[0])
    return (f'<a class="cite" href="#{source_anchor(turn_id, n, check.sentence)}" title="[{n}] {esc(title)}" '
            f'data-sentence="{sentence}" data-support-start="{check.start}" data-support-end="{check.end}">'
            f"[{n}]</a>")


def _sentence(turn_id: str, i: int, sentence: Sentence, titles: dict[int, str],
              cards: dict[int, list[Check]]) -> str:
    """One checked sentence with its markers before the final stop, as the library writes them."""
    text = sentence.text
    stop = text[-1] if text[-1:] in (".", "!", "?") else ""
    body = text[: len(text) - len(stop)]
    markers = "".join(_marker(turn_id, n, titles[n], i, cards[n]) for n in sentence.citations)
    inner = esc(body) + (" " + markers if markers else "") + esc(stop)
    if not sentence.supported:
        return ('<span class="sent unsupported" title="Nothing in the evidence supports this sentence">'
                f'{inner} <span class="flag">unsupported</span></span>')
    fixed = sentence.note in ("added", "re-pointed")
    note = f' title="citation {esc(sentence.note)} by the citation checker"' if fixed else ""
    return f'<span class="sent"{note}>{inner}</span>'


ABSTENTIONS = {  # Answer.abstention_reason -> why no answer is given
    "no evidence": "No sentence of the articles matches the question closely enough, so no answer was written.",
    "model": "The model found no answer in the evidence it was shown.",
    "unsupported": "Nothing the model wrote is supported by the evidence, so no answer is given.",
}


def answer_html(turn_id: str, answer: Answer) -> str:
    if answer.abstained:
        why = ABSTENTIONS.get(answer.abstention_reason or "", ABSTENTIONS["unsupported"])
        out = f'<div class="abstain"><strong>{esc(answer.answer)}</strong> {esc(why)}</div>'
        if answer.sentences:  # the model did say something, but nothing of it was backed
            out += ('<details class="kr-raw"><summary>What the model wrote (not supported by the '
                    f"evidence)</summary><p>{esc(answer.raw)}</p></details>")
        return out
    titles = {c.n: c.evidence.title for c in answer.citations}
    cards = checks(answer)
    return ('<div class="answer">' + " ".join(_sentence(turn_id, i, s, titles, cards)
                                              for i, s in enumerate(answer.sentences)) + "</div>")


def _answer_meta(answer: Answer) -> str:
    facts = [answer.model, f"{answer.timings_ms['total'] / 1000:.1f} s"]
    if not answer.abstained:
        facts.append(count(len(answer.citations), "source"))
    fixed = sum(s.note in ("added", "re-pointed") for s in answer.sentences)
    unsupported = sum(not s.supported for s in answer.sentences)
    if fixed:
        facts.append(f"{count(fixed, 'citation')} corrected by the checker")
    if unsupported and not answer.abstained:
        facts.append(count(unsupported, "unsupported sentence"))
    facts += answer.notes
    return '<div class="meta">' + " · ".join(esc(f) for f in facts) + "</div>"


def _status(turn: Turn) -> str:
    text = STAGES[turn.stage].format(scope=turn.scope, query=turn.query, passages=count(len(turn.passages), "passage"))
    return f'<div class="status"><span class="spinner"></span>{esc(text)}</div>'


def _bot(turn: Turn) -> str:
    out = ""
    if turn.standalone:
        out += ('<details class="rewritten"><summary>Searched as a standalone question</summary>'
                f"<p>{esc(turn.standalone)}</p></details>")
    if turn.error:
        return out + f'<div class="error">{esc(turn.error)}</div>'
    if turn.answer is not None:
        return out + answer_html(turn.id, turn.answer) + _answer_meta(turn.answer)
    if turn.draft:
        out += f'<div class="draft">{esc(turn.draft)}<span class="caret"></span></div>'
    return out + _status(turn)


def transcript(turns: list[Turn]) -> str:
    if not turns:
        return WELCOME
    return "".join(
        f'<div class="turn" id="turn-{esc(t.id)}"><div class="msg user">{esc(t.question)}</div>'
        f'<div class="msg bot{" pending" if t.pending else ""}">{_bot(t)}</div></div>'
        for t in turns
    )


# --- sources panel -----------------------------------------------------------------------------

SOURCES_INTRO = (
    '<p class="kr-empty">Sources appear here: each cited piece of evidence with its article, author, outlet '
    "and date, in the article text around it, the part supporting the sentence highlighted.</p>"
)
CONTEXT_CHARS = 900  # a longer paragraph is cut to whole sentences around the evidence


def context_span(text: str, start: int, end: int, limit: int = CONTEXT_CHARS) -> tuple[int, int]:
    """The paragraph holding text[start:end], so the evidence reads in context; when that is
    longer than `limit`, the evidence and as many whole sentences either side as fit."""
    a = text.rfind("\n\n", 0, start)
    a = 0 if a < 0 else a + 2
    b = text.find("\n\n", end)
    b = len(text) if b < 0 else b
    if b - a <= limit:
        return a, b
    bounds = [(a + s, a + e) for s, e in sentence_bounds(text[a:b])]
    lo = next((i for i, (_, e) in enumerate(bounds) if e > start), 0)
    hi = next((i for i in reversed(range(len(bounds))) if bounds[i][0] < end), lo)
    grew = True
    while grew:
        grew = False
        if lo > 0 and bounds[hi][1] - bounds[lo - 1][0] <= limit:
            lo, grew = lo - 1, True
        if hi < len(bounds) - 1 and bounds[hi + 1][1] - bounds[lo][0] <= limit:
            hi, grew = hi + 1, True
    return min(bounds[lo][0], start), max(bounds[hi][1], end)


def _context(start: int, end: int, shown: str, article: Article | None) -> tuple[int, str, bool, bool]:
    """(offset, text, cut before, cut after): the article text to show around text[start:end]."""
    text = article.text if article is not None else ""
    if text[start:end] != shown:  # no article, or it changed since indexing
        return start, shown, False, False
    a, b = context_span(text, start, end)
    return a, text[a:b], a > 0 and text[a - 2:a] != "\n\n", b < len(text) and text[b:b + 2] != "\n\n"


def passage_card(head: str, doc_id: str, title: str, cited: tuple[int, int, str], quote: tuple[int, int],
                 article: Article | None, claim: str = "", attrs: str = "") -> str:
    """The source card answers and the timeline share: `head` (trusted markup) and the title, the
    article's metadata, `claim` (trusted markup), the text around the cited span with it marked and
    `quote` marked strongly, and a button opening the article there."""
    start, end, shown = cited
    offset, text, cut_before, cut_after = _context(start, end, shown, article)
    marked = highlight(text, {"evidence": (start - offset, end - offset),
                              "quote": (quote[0] - offset, quote[1] - offset)})
    passage = ("… " if cut_before else "") + marked + (" …" if cut_after else "")
    button = open_button(doc_id, "Read it in the full article", (start, end), quote)
    return (
        f'<article class="source"{attrs}><div class="source-head">{head}'
        f'<span class="title">{esc(title)}</span></div>{byline(article)}{claim}'
        f'<blockquote class="passage">{passage}</blockquote>'
        f'<div class="source-foot"><span class="loc">{esc(doc_id)} · characters '
        f"{start:,}–{end:,}</span>{button}</div></article>"
    )


def source_card(turn_id: str, citation: Citation, article: Article | None, check: Check) -> str:
    """[n] as one sentence uses it: article metadata, the text around the evidence with the
    evidence marked, and the span supporting that sentence marked strongly."""
    e = citation.evidence
    claim = f'<div class="claim">Supports <q>{esc(check.claim)}</q></div>' if check.sentence is not None else ""
    sentence = "" if check.sentence is None else f' data-sentence="{check.sentence}"'
    return passage_card(f'<span class="num">[{citation.n}]</span> ', e.doc_id, e.title, (e.start, e.end, e.text),
                        (check.start, check.end), article, claim,
                        f' id="{source_anchor(turn_id, citation.n, check.sentence)}"{sentence}')


def citation_cards(turn_id: str, citation: Citation, article: Article | None, cards: list[Check]) -> str:
    """One card per sentence citing [n]; CSS shows the first, or the one a clicked marker targets."""
    return '<div class="cited">' + "".join(source_card(turn_id, citation, article, c) for c in cards) + "</div>"


def _overlaps(passage: Passage, evidence: Evidence) -> bool:
    c = passage.chunk
    return c.doc_id == evidence.doc_id and c.start < evidence.end and evidence.start < c.end


def _passage_list(passages: Iterable[Passage], articles: dict[str, Article]) -> str:
    items = "".join(
        f'<li><strong>{esc(p.chunk.title)}</strong> {byline(articles.get(p.chunk.doc_id))}'
        f'<div class="snippet">{esc(p.chunk.text)}</div>'
        f"{open_button(p.chunk.doc_id, 'Open in article', (p.chunk.start, p.chunk.end))}</li>"
        for p in passages
    )
    return f'<ol class="retrieved">{items}</ol>'


def _turn_sources(turn: Turn, articles: dict[str, Article]) -> str:
    head = (f'<div class="sources-head">Sources for <q>{esc(turn.question)}</q>'
            f'<span class="scope">{esc(turn.scope)}</span></div>')
    answer = turn.answer
    if turn.error:
        body = '<p class="kr-empty">No sources: the question was not answered.</p>'
    elif answer is None:
        body = ('<p class="kr-empty">Searching…</p>' if not turn.passages else
                '<p class="kr-empty">Retrieved, waiting for the answer to cite them:</p>'
                + _passage_list(turn.passages, articles))
    else:
        cited = [c.evidence for c in answer.citations]
        others = [p for p in answer.passages if not any(_overlaps(p, e) for e in cited)]
        if answer.abstained:
            body = ('<p class="kr-empty">No passage supports an answer.</p>' if answer.passages else
                    '<p class="kr-empty">Nothing relevant was found.</p>')
        else:
            cards = checks(answer)
            body = "".join(citation_cards(turn.id, c, articles.get(c.evidence.doc_id), cards[c.n])
                           for c in answer.citations)
        if others:
            label = "Searched passages" if answer.abstained else "Also retrieved, not cited"
            body += (f'<details class="others"><summary>{label} ({len(others)})</summary>'
                     f"{_passage_list(others, articles)}</details>")
    return f'<section class="turn-sources" id="sources-{esc(turn.id)}">{head}{body}</section>'


def sources(turns: list[Turn], articles: dict[str, Article]) -> str:
    """All turns' sources; CSS shows the latest turn's, or the one holding the clicked [n] (:target)."""
    if not turns:
        return SOURCES_INTRO
    return '<div class="sources">' + "".join(_turn_sources(t, articles) for t in turns) + "</div>"


# --- article browser ---------------------------------------------------------------------------

def catalogue(articles: Iterable[Article]) -> str:
    items = "".join(
        f'<li><div class="title">{esc(a.title)}</div>{byline(a)}'
        f'<div class="loc">{esc(a.doc_id)} · {len(a.text.split()):,} words</div>'
        f"{open_button(a.doc_id, 'Read')}</li>"
        for a in articles
    )
    return f'<ul class="catalogue">{items}</ul>'


def article_view(article: Article | None, passage: tuple[int, int] | None = None,
                 quote: tuple[int, int] | None = None) -> str:
    """The whole cleaned article; a cited passage (the evidence) and the span supporting the
    answer sentence highlighted."""
    if article is None:
        return '<p class="kr-empty">Choose an article to read it in full.</p>'
    spans = {name: span for name, span in (("passage", passage), ("quote", quote)) if span}
    located = (f'<p class="kr-hint">Highlighted: the {"cited evidence" if quote else "retrieved passage"} '
               f"(characters {passage[0]:,}–{passage[1]:,})"
               f"{', the part supporting the answer sentence marked more strongly' if quote else ''}.</p>"
               if passage else "")
    provenance = f'<p class="provenance">{esc(article.source)}</p>' if article.source else ""
    return (
        f'<article class="article-view"><h2>{esc(article.title)}</h2>{byline(article)}{provenance}'
        f'<p class="loc">{esc(article.doc_id)} · {len(article.text.split()):,} words</p>{located}'
        f'<div class="article-text">{highlight(article.text, spans)}</div></article>'
    )


# --- timeline ----------------------------------------------------------------------------------

TIMELINE_COLOURS = ("#4472c4", "#ed7d31", "#2a9d8f", "#7f6fb0", "#c0504d", "#d4a017", "#17becf", "#8c564b",
                    "#e377c2", "#70ad47")
TIMELINE_INTRO = ('<p class="kr-empty">Choose an event in the list to read the sentences it comes from. '
                  "Drag across the chart to keep only the events of that period.</p>")


def article_colours(doc_ids: Iterable[str]) -> dict[str, str]:
    """One colour per article, the same in the chart and the list."""
    return {d: TIMELINE_COLOURS[i % len(TIMELINE_COLOURS)] for i, d in enumerate(doc_ids)}


def _chip(doc_id: str, articles: dict[str, Article], colours: dict[str, str]) -> str:
    article = articles.get(doc_id)
    title = article.title if article else doc_id
    return (f'<span class="chip" style="--chip:{colours.get(doc_id, "#7f7f7f")}" title="{esc(title)}">'
            f"{esc(title)}</span>")


def timeline_list(events: list[TimelineEvent], articles: dict[str, Article], colours: dict[str, str],
                  selected: int | None = None) -> str:
    """The events in date order: date and precision, label, the articles citing it (coloured as in the
    chart), a conflict flagged; each item a button the panel's click handler turns into "show its
    sentences"."""
    if not events:
        return '<p class="kr-empty">No dated event matches these filters.</p>'
    items = []
    for i, e in enumerate(events):
        flag = '<span class="flag">dates differ</span> ' if e.conflict else ""
        chips = "".join(_chip(d, articles, colours) for d in e.doc_ids)
        current = ' aria-current="true"' if i == selected else ""
        items.append(f'<li><button type="button" class="tl-event" data-event="{i}"{current}>'
                     f'<span class="tl-date">{esc(e.date)}<small>{esc(e.precision)}</small></span>'
                     f'<span class="tl-body">{flag}<span class="tl-label">{esc(e.label)}</span>'
                     f'<span class="chips">{chips}</span></span></button></li>')
    return f'<p class="kr-hint">{count(len(events), "event")}</p><ol class="timeline">{"".join(items)}</ol>'


def timeline_event(event: TimelineEvent | None, articles: dict[str, Article]) -> str:
    """An event's cited sentences as source cards; a conflict says which article gives which date."""
    if event is None:
        return TIMELINE_INTRO
    note = ('<p class="tl-conflict">The articles date this event differently: '
            + "; ".join(dict.fromkeys(f"{esc(articles[c['doc_id']].title if c['doc_id'] in articles else c['doc_id'])}"
                                      f" says {esc(c['date'])}" for c in event.citations)) + ".</p>"
            if event.conflict else "")
    cards = "".join(
        passage_card(f'<span class="num">{esc(c["date"])}</span> ', c["doc_id"], c["title"],
                     (c["start"], c["end"], c["quote"]), (c["start"], c["end"]), articles.get(c["doc_id"]))
        for c in event.citations)
    return (f'<div class="sources-head">{esc(event.date)} <q>{esc(event.label)}</q>'
            f'<span class="scope">{count(len(event.citations), "sentence")} from '
            f'{count(len(event.doc_ids), "article")}</span></div>{note}{cards}')


# --- styles ------------------------------------------------------------------------------------

# Injected through a component's `head`, so it ships with the Blocks (tests launch without css=).
# Colours come from Gradio's theme variables, so dark mode works too.
CSS = """
/* Gradio 6.31 ships a SourceSansPro-SemiBold.woff2 that lacks most glyphs (bold text mixed fonts):
   serve its Bold cut for semibold and bold. The URL is relative like the theme's own font URLs. */
@font-face { font-family: 'Source Sans Pro'; src: url('static/fonts/SourceSansPro/SourceSansPro-Bold.woff2') format('woff2'); font-weight: 600 700; font-style: normal; }
.kr-header { display: flex; justify-content: space-between; align-items: flex-end; gap: 1rem; flex-wrap: wrap; }
.kr-header h1 { margin: 0; font-size: 1.45rem; }
.kr-header p { margin: .2rem 0 0; color: var(--body-text-color-subdued); }
.kr-model { font-size: var(--text-sm); color: var(--body-text-color-subdued); text-align: right; }
.kr-model strong { color: var(--body-text-color); }
.kr-empty { color: var(--body-text-color-subdued); }
.kr-hint { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.kr-model-table th { text-align: left; padding-right: 1rem; font-weight: 700; }
.kr-model-table td, .kr-model-table th { padding: .15rem .5rem .15rem 0; border: 0; }

#transcript { padding-right: .25rem; }
.turn { margin: 0 0 1.1rem; }
.msg { padding: .6rem .85rem; border-radius: var(--radius-lg); line-height: 1.55; }
.msg.user { background: var(--color-accent-soft); margin-left: 18%; white-space: pre-wrap; }
.msg.bot { background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); margin: .45rem 18% 0 0; }
.answer { white-space: pre-wrap; }
a.cite { font-weight: 700; text-decoration: none; color: var(--color-accent); padding: 0 1px; border-radius: 3px; }
a.cite:hover, a.cite:focus { background: var(--color-accent-soft); text-decoration: underline; }
.sent.unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; }
.flag { font-size: .72rem; font-weight: 700; text-transform: uppercase; color: #b45309; border: 1px solid #d97706; border-radius: 4px; padding: 0 .3em; white-space: nowrap; }
.abstain { border-left: 4px solid #d97706; padding-left: .6rem; }
.error { border-left: 4px solid #dc2626; padding-left: .6rem; }
.meta { margin-top: .45rem; font-size: .78rem; color: var(--body-text-color-subdued); }
.draft { white-space: pre-wrap; color: var(--body-text-color-subdued); }
.status { margin-top: .3rem; font-size: var(--text-sm); color: var(--body-text-color-subdued); display: flex; align-items: center; gap: .5rem; }
.spinner { width: .8rem; height: .8rem; border-radius: 50%; border: 2px solid var(--border-color-primary); border-top-color: var(--color-accent); animation: kr-spin .8s linear infinite; flex: none; }
.caret { display: inline-block; width: .5em; height: 1em; vertical-align: text-bottom; background: var(--color-accent); animation: kr-blink 1s steps(1) infinite; margin-left: 1px; }
@keyframes kr-spin { to { transform: rotate(360deg); } }
@keyframes kr-blink { 50% { opacity: 0; } }
details.rewritten, details.kr-raw { font-size: var(--text-sm); color: var(--body-text-color-subdued); margin-bottom: .35rem; }
details summary { cursor: pointer; }
details.rewritten p, details.kr-raw p { margin: .25rem 0 0 1rem; font-style: italic; white-space: pre-wrap; }

#sources-panel { position: sticky; top: .75rem; max-height: calc(100vh - 1.5rem); overflow-y: auto; }
.sources .turn-sources { display: none; }
.sources .turn-sources:last-of-type { display: block; }
.sources:has(.source:target) .turn-sources { display: none; }
.sources .turn-sources:has(.source:target) { display: block; }
.sources-head { font-weight: 700; margin-bottom: .5rem; }
.sources-head q { font-weight: 400; font-style: italic; }
.sources-head .scope { display: block; font-weight: 400; font-size: .78rem; color: var(--body-text-color-subdued); }
.source { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding: .6rem .75rem; margin-bottom: .7rem; scroll-margin-top: .5rem; background: var(--block-background-fill); }
.source:target { outline: 2px solid var(--color-accent); background: var(--color-accent-soft); animation: kr-flash 1.2s ease-out; }
@keyframes kr-flash { from { outline-offset: 6px; } to { outline-offset: 0; } }
/* One card per sentence citing [n]: the first shows, unless a marker targets another. */
.cited > .source ~ .source { display: none; }
.cited:has(> .source:target) > .source { display: none; }
.cited:has(> .source:target) > .source:target { display: block; }
.claim { font-size: .8rem; margin-top: .3rem; color: var(--body-text-color-subdued); }
.claim q { font-style: italic; }
.source-head .num { font-weight: 700; color: var(--color-accent); }
.source-head .title, .catalogue .title { font-weight: 700; }
.byline { display: block; font-size: .8rem; color: var(--body-text-color-subdued); }
blockquote.passage { margin: .5rem 0; padding: 0 0 0 .6rem; border-left: 3px solid var(--border-color-primary); white-space: pre-line; font-size: .9rem; line-height: 1.5; }
mark { color: inherit; border-radius: 2px; }
mark.quote { background: rgba(250, 204, 21, .55); box-shadow: 0 1px 0 #ca8a04; }
mark.passage, mark.evidence { background: rgba(250, 204, 21, .18); }
mark.passage.quote, mark.evidence.quote { background: rgba(250, 204, 21, .55); }
.source-foot { display: flex; justify-content: space-between; align-items: center; gap: .5rem; flex-wrap: wrap; }
.loc { font-size: .75rem; color: var(--body-text-color-subdued); }
button.open-article { font-size: .8rem; padding: .15rem .6rem; border-radius: var(--radius-md); border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); cursor: pointer; }
button.open-article:hover { border-color: var(--color-accent); }
details.others summary { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
ol.retrieved { padding-left: 1.2rem; font-size: .85rem; }
ol.retrieved li { margin-bottom: .6rem; }
.snippet { white-space: pre-line; max-height: 6.5em; overflow: hidden; color: var(--body-text-color-subdued); margin: .2rem 0; }

ul.catalogue { list-style: none; padding: 0; margin: 0; }
ul.catalogue li { border-bottom: 1px solid var(--border-color-primary); padding: .55rem 0; }
.article-view h2 { margin: 0 0 .2rem; font-size: 1.3rem; font-weight: 700; }
.kr-empty h3 { font-size: 1.1rem; font-weight: 700; margin: .2rem 0 .4rem; color: var(--body-text-color); }
.provenance { font-size: .8rem; font-style: italic; color: var(--body-text-color-subdued); margin: .3rem 0; }
ol.timeline { list-style: none; padding: 0; margin: 0; max-height: 46vh; overflow-y: auto; }
ol.timeline li { border-bottom: 1px solid var(--border-color-primary); }
button.tl-event { display: flex; gap: .75rem; width: 100%; text-align: left; padding: .45rem .3rem; background: none; border: 0; color: inherit; cursor: pointer; font: inherit; }
button.tl-event:hover, button.tl-event[aria-current] { background: var(--color-accent-soft); }
.tl-date { flex: none; width: 6.5rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.tl-date small { display: block; font-weight: 400; font-size: .72rem; color: var(--body-text-color-subdued); }
.tl-body { display: flex; flex-direction: column; gap: .2rem; }
.chips { display: flex; flex-wrap: wrap; gap: .25rem; }
.chip { font-size: .72rem; border-left: 4px solid var(--chip); padding: 0 .35rem; background: var(--background-fill-secondary); border-radius: 3px; max-width: 16rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tl-conflict { border-left: 4px solid #d97706; padding-left: .6rem; font-size: .9rem; }
.article-text { white-space: pre-line; line-height: 1.6; max-width: 46rem; max-height: 68vh; overflow-y: auto; position: relative; padding: .5rem .75rem 0 0; border-top: 1px solid var(--border-color-primary); }
"""
