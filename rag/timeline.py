"""Stage 3c — the cited timeline: every dated event the articles mention, merged across articles.

Deterministic and model-free, so it is built with the index (rag.index) and rebuilt on ingest:

1. Find date expressions in each sentence with a closed set of patterns ("22 January 2019",
   "May 25–26, 2018", "December 2016", "in 2013", "since 2014", "on January 22", "last December").
   A date without a year takes it from the paragraph it is in (a preceding full date there), else
   from the article's date: its metadata date, else the latest full date the article mentions (a
   bound on when it was written: "on January 22" after "December 2018" is January 2019, where the
   nearest preceding year, "since 2013", would be wrong). Headings (a dateline) and everything after
   a "References" heading (publication dates of cited works) are not events.
2. Group mentions into events: dates that agree at the coarser precision ("2016" and "2016-12") and
   sentences about the same thing (key terms of the clause around the date shared, or MiniLM
   sentence vectors close) become one event citing every sentence.
3. Events from *different* articles describing the same thing with dates that disagree become one
   entry marked `conflict`, each citation keeping the date its article gives.

No `dateparser`: the forms are a closed set, and a general parser both finds "dates" in figures and
verbs ("may", "2+2") and does not say which precision a text gave.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date as Date

import numpy as np

from rag.errors import InvalidDate
from rag.sentences import SentenceSpan
from rag.text import STOP, content_words

PRECISIONS = ("year", "month", "day")
YEAR_MIN, YEAR_MAX = 1850, 2030

_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}
_MONTH = (r"(?P<month>" + "|".join(calendar.month_name[1:])
          + r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.)")
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>1[89]\d\d|20[0-3]\d)"
_DAYS_TAIL = r"(?:\s*[–-]\s*[0-3]?\d)?"  # "May 25–26": the event starts on the first day
# "2016–2017", "September 2018 to 2021": one event from its first year on.
_RANGE_TAIL = r"(?:\s*(?:[–-]|to|until)\s*(?:1[89]\d\d|20[0-3]\d)\b)?"
_NOT_A_YEAR_AFTER = r"(?!\s*(?:%|percent|per\s?cent|km|kilomet|miles|people|tons|tonnes|billion|million|thousand"\
                    r"|dollars|rubles|roubles|yen|troops)\b)"
_NOT_A_YEAR_BEFORE = r"(?<![$€£¥#№.,\d])(?<!USD )(?<!No\. )"
_SEASON = (r"(?:(?:early|late|mid-?|the\s+(?:first|second)\s+half\s+of\s+)?"
           r"(?:spring|summer|autumn|fall|winter)\s+(?:of\s+)?)?")

# Most specific first: a span already matched is not matched again by a looser pattern.
PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((precision, re.compile(rx)) for precision, rx in (
    ("day", rf"\b{_DAY}{_DAYS_TAIL}\s+{_MONTH},?\s+{_YEAR}\b"),
    ("day", rf"\b{_MONTH}\s+{_DAY}{_DAYS_TAIL},?\s+{_YEAR}\b"),
    ("month", rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b{_RANGE_TAIL}"),
    ("day", rf"\b{_MONTH}\s+{_DAY}{_DAYS_TAIL}\b(?!\s*,?\s*\d)"),  # "on January 22": year from context
    ("day", rf"(?<![\d.,])\b{_DAY}{_DAYS_TAIL}\s+{_MONTH}\b(?!,?\s*\d)"),  # "(14 January)"
    ("month", rf"\blast\s+{_MONTH}\b(?!,?\s*\d)"),  # "last December": the latest one before the article
    ("year", rf"{_NOT_A_YEAR_BEFORE}\b{_SEASON}{_YEAR}\b(?!s\b|['’]s\b|-\d){_NOT_A_YEAR_AFTER}{_RANGE_TAIL}"),
))
_REFERENCES = re.compile(r"(?i)(?:references|bibliography|literature|works cited|sources|notes)")
_BRACKETED = re.compile(r"\[[^\[\]]*\]|^[^\[\]]*\]|\[[^\[\]]*$")  # also when a sentence split cuts one
_CLAUSE_EDGE = re.compile(r"\s*(?:[;:()\[\]—]|\s–\s|,\s)\s*")
_OPENER = re.compile(r"\s*(?:(?:in|on|since|by|after|before|until|from|during|at|of|as early as|as of)\s+)?"
                     r"(?:the\s+)?", re.IGNORECASE)
_CONJUNCTION = re.compile(r"^(?:and|but|or|so|yet)\s+", re.IGNORECASE)
LABEL_WORDS = 16  # a label is the clause around the date, cut to this many words
# Event labels (the clause around the date) embedded with the index's embedder: near-paraphrases
# are one event; so are labels sharing a key term ("declaration", "charter") that are fairly close.
MERGE_COSINE = 0.85
MERGE_FLOOR = 0.45
# Stricter, as two articles dating one event differently is a strong claim: close labels sharing
# two key terms ("investment platform" created in 2017 / in 2018).
CONFLICT_COSINE = 0.7
CONFLICT_TERMS = 2


@dataclass(frozen=True)
class Mention:
    """One date expression in one sentence, resolved to a date at the precision the text gives."""

    row: int  # the sentence's position in the index (its vector's row)
    doc_id: str
    start: int  # the sentence's offsets into the article's cleaned text
    end: int
    quote: str
    date: str  # "2016", "2016-12" or "2016-12-15"
    precision: str
    label: str
    terms: frozenset[str]  # key terms of the label: what the event is


@dataclass
class Event:
    """One entry of the timeline, as `rag timeline --json` prints it."""

    date: str
    precision: str
    label: str
    citations: list[dict]  # doc_id, title, start, end, quote, and the date this article gives
    conflict: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def doc_ids(self) -> list[str]:
        return list(dict.fromkeys(c["doc_id"] for c in self.citations))


def iso(year: int, month: int | None = None, day: int | None = None) -> str:
    return f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if day else "")


def parse_iso(text: str | None) -> tuple[str, str] | None:
    """'2018-06-14' → ('2018-06-14', 'day'); None for anything that is not YYYY[-MM[-DD]]."""
    m = re.fullmatch(r"\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?\s*", text or "")
    if not m:
        return None
    year, month, day = (int(g) if g else None for g in m.groups())
    try:
        Date(year, month or 1, day or 1)
    except ValueError:
        return None
    return iso(year, month, day), PRECISIONS[(month is not None) + (day is not None)]


def compatible(a: str, b: str) -> bool:
    """The two dates agree at the coarser precision: '2016' and '2016-12' do, '2016-05' and '2016-12' do not."""
    return a.startswith(b) or b.startswith(a)


def _as_date(value: str) -> Date:
    parts = [int(p) for p in value.split("-")]
    return Date(parts[0], parts[1] if len(parts) > 1 else 7, parts[2] if len(parts) > 2 else 15)


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    precision: str
    year: int | None
    month: int | None
    day: int | None
    relative: bool  # "last December": the latest such month up to the article's date


def find_dates(text: str) -> list[_Found]:
    """Every date expression in `text`, in order, none overlapping (the most specific form wins);
    none inside square brackets, where a year dates a cited work ("[Koizumi 2016]")."""
    taken: list[tuple[int, int]] = [m.span() for m in _BRACKETED.finditer(text)]
    found = []
    for precision, pattern in PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            groups = m.groupdict()
            year = int(groups["year"]) if groups.get("year") else None
            month = _MONTHS[groups["month"].rstrip(".").lower()] if groups.get("month") else None
            day = int(groups["day"]) if groups.get("day") else None
            if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
                continue
            if day is not None and not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
                continue
            taken.append(m.span())
            found.append(_Found(m.start(), m.end(), precision, year, month, day, m.group().startswith("last")))
    return sorted(found, key=lambda f: f.start)


# Words nearly every dated sentence of this domain has: they say nothing about which event it is.
_GENERIC = frozenset(w[:6] for w in (
    "russia russian russians japan japanese soviet moscow tokyo kremlin two countries country since year years last "
    "first also sides side leaders leader parties same number event events held made took part "
    "abe shinzo shinzō putin vladimir prime minister "
    "ministers president presidential government head mr pm").split())


def key_terms(text: str) -> frozenset[str]:
    """Content words cut to 6 letters, without dates, numbers and month names: what the event is."""
    words = re.findall(r"[^\W\d_]+", text)
    return frozenset(w.lower()[:6] for w in words if len(w) > 2 and w.lower() not in STOP
                     and w.lower() not in _MONTHS and w.lower()[:6] not in _GENERIC)


def label_for(sentence: str, start: int, end: int) -> str:
    """The clause around the date, without a leading "In May 2016," and cut to LABEL_WORDS words
    (a window around the date when the clause is longer)."""
    if sentence[start - 1:start] == "(" and sentence[end:end + 1] == ")":  # "recent (14 January) visit"
        start, end = start - 1, end + 1
    edges = [0] + [m.end() for m in _CLAUSE_EDGE.finditer(sentence) if m.end() <= start or m.start() >= end]
    left = max(e for e in edges if e <= start)
    opener = _OPENER.match(sentence, left)
    if opener and opener.end() == start and len(sentence[end:].split()) >= 3:
        text = sentence[end:].lstrip(" ,;:–—")  # the clause opens with the date: what follows it
    else:
        before = sentence[left:start].split()
        skip = max(0, len(before) - LABEL_WORDS // 2) if len(before) > LABEL_WORDS - 6 else 0
        text = ("…" if skip else "") + " ".join(before[skip:] + sentence[start:].split())
    text = _CONJUNCTION.sub("", text)
    words = text.split()
    label = " ".join(words[:LABEL_WORDS]).rstrip(",;:–—")
    label = label + "…" if len(words) > LABEL_WORDS else label.rstrip(".")
    return label[:1].upper() + label[1:]


def _resolve(found: _Found, paragraph_date: tuple[int, int] | None, reference: Date | None) -> str | None:
    """The date a found expression means; None when a year-less one has nothing to take its year from."""
    if found.year is not None:
        return iso(found.year, found.month, found.day)
    if found.relative:
        if reference is None:
            return None
        year = reference.year if found.month <= reference.month else reference.year - 1
        return iso(year, found.month)
    if paragraph_date is not None:  # "On May 25–26, 2018 … On May 25, …"
        return iso(paragraph_date[0], found.month, found.day)
    if reference is None:
        return None
    year = min((reference.year - 1, reference.year, reference.year + 1),
               key=lambda y: abs((Date(y, found.month, found.day) - reference).days))
    return iso(year, found.month, found.day)


def _events_part(sentences: Sequence[SentenceSpan]) -> list[tuple[int, SentenceSpan]]:
    """The sentences that can report events: not headings, nothing after a References heading."""
    out, references = [], set()
    for row, s in enumerate(sentences):
        if s.doc_id in references:
            continue
        if s.heading:
            if _REFERENCES.fullmatch(s.text.strip().rstrip(":")):
                references.add(s.doc_id)
            continue
        out.append((row, s))
    return out


def _paragraph_ids(text_of: Sequence[tuple[int, SentenceSpan]]) -> dict[int, int]:
    """Row → paragraph number within its article: a new paragraph after a blank line's gap in offsets."""
    ids, paragraph, last = {}, 0, None
    for row, s in text_of:
        if last is not None and (s.doc_id != last.doc_id or s.start > last.end + 1):
            paragraph += 1
        ids[row] = paragraph
        last = s
    return ids


def extract(sentences: Sequence[SentenceSpan], article_dates: Mapping[str, str | None]) -> list[Mention]:
    """Every dated mention in the sentences (offsets and rows as the index keeps them)."""
    usable = _events_part(sentences)
    found = [(row, s, f) for row, s in usable for f in find_dates(s.text)]
    reference: dict[str, Date] = {}
    for doc_id in dict.fromkeys(s.doc_id for _, s in usable):
        given = parse_iso(article_dates.get(doc_id))
        if given:
            reference[doc_id] = _as_date(given[0])
        else:  # the latest full date the article gives: it was written after that
            full = [Date(f.year, f.month, f.day or 1) for _, s, f in found
                    if s.doc_id == doc_id and f.year is not None and f.month is not None]
            if full:
                reference[doc_id] = max(full)
    paragraphs = _paragraph_ids(usable)
    mentions, context, seen = [], {}, set()
    for row, s, f in found:
        if f.year is not None and f.month is not None:
            context[paragraphs[row]] = (f.year, f.month)
        resolved = _resolve(f, context.get(paragraphs[row]), reference.get(s.doc_id))
        if resolved is None or (row, resolved) in seen:
            continue
        seen.add((row, resolved))
        label = label_for(s.text, f.start, f.end)
        mentions.append(Mention(row, s.doc_id, s.start, s.end, s.text, resolved, PRECISIONS[resolved.count("-")],
                                label, key_terms(label)))
    # "the Naval Interaction 2016 exercises … in September 2016": one date, said twice
    return [m for m in mentions if not any(o.row == m.row and o.date != m.date and o.date.startswith(m.date)
                                           for o in mentions)]


def _similar(vectors: np.ndarray, mentions: Sequence[Mention], i: int, j: int) -> tuple[float, int]:
    return float(vectors[i] @ vectors[j]), len(mentions[i].terms & mentions[j].terms)


def _clusters(mentions: Sequence[Mention], vectors: np.ndarray) -> list[list[int]]:
    """Single-link grouping, most similar pairs first, of mentions whose dates agree; a group's dates
    must all agree with each other ("2016" may join "2016-05" or "2016-12", not both)."""
    group = list(range(len(mentions)))
    members = {i: [i] for i in group}
    finest = {i: mentions[i].date for i in group}
    pairs = []
    for i in range(len(mentions)):
        for j in range(i + 1, len(mentions)):
            if mentions[i].row == mentions[j].row or not compatible(mentions[i].date, mentions[j].date):
                continue
            cosine, shared = _similar(vectors, mentions, i, j)
            if cosine >= MERGE_COSINE or (shared and cosine >= MERGE_FLOOR):
                pairs.append((-cosine, i, j))
    for _, i, j in sorted(pairs):
        a, b = group[i], group[j]
        if a == b or not compatible(finest[a], finest[b]):
            continue
        for k in members[b]:
            group[k] = a
        members[a] += members.pop(b)
        finest[a] = max(finest[a], finest.pop(b), key=len)
    return [sorted(m) for m in members.values()]


def _conflicts(clusters: list[list[int]], mentions: Sequence[Mention], vectors: np.ndarray) -> list[list[list[int]]]:
    """Clusters joined when other articles tell the same event with another date: the most similar
    pair of their mentions is close and shares at least CONFLICT_TERMS key terms."""
    docs = [{mentions[i].doc_id for i in c} for c in clusters]
    joined = list(range(len(clusters)))
    for x in range(len(clusters)):
        for y in range(x + 1, len(clusters)):
            if docs[x] & docs[y] or joined[x] == joined[y]:
                continue
            best = max(_similar(vectors, mentions, i, j) for i in clusters[x] for j in clusters[y])
            if best[0] >= CONFLICT_COSINE and best[1] >= CONFLICT_TERMS:
                old = joined[y]
                joined = [joined[x] if g == old else g for g in joined]
    out: dict[int, list[list[int]]] = {}
    for c, g in zip(clusters, joined):
        out.setdefault(g, []).append(c)
    return list(out.values())


def _citation(m: Mention, titles: Mapping[str, str]) -> dict:
    return {"doc_id": m.doc_id, "title": titles.get(m.doc_id, m.doc_id), "start": m.start, "end": m.end,
            "quote": m.quote, "date": m.date, "precision": m.precision}


def _event(parts: list[list[int]], mentions: Sequence[Mention], vectors: np.ndarray,
           titles: Mapping[str, str]) -> Event:
    """One entry: dated by its best-attested part (the finest date there); labelled by the mention
    most like the others; citations in article order, one per sentence."""
    main = max(parts, key=lambda p: (len({mentions[i].doc_id for i in p}), len(p), -min(p)))
    date = max((mentions[i].date for i in main), key=len)
    every = sorted(i for p in parts for i in p)
    centre = max(every, key=lambda i: (not mentions[i].label.startswith("…"),  # a whole clause reads better
                                       sum(float(vectors[i] @ vectors[j]) for j in every), -i))
    cited, rows = [], set()
    for i in sorted(every, key=lambda i: (mentions[i].doc_id, mentions[i].start, mentions[i].date)):
        if mentions[i].row not in rows:
            rows.add(mentions[i].row)
            cited.append(_citation(mentions[i], titles))
    return Event(date, PRECISIONS[date.count("-")], mentions[centre].label, cited, conflict=len(parts) > 1)


def build_timeline(sentences: Sequence[SentenceSpan], documents: Mapping[str, Mapping],
                   embed: Callable[[list[str]], list[list[float]]]) -> list[Event]:
    """The timeline of the indexed articles, sorted by date. `documents` maps doc_id to its manifest
    entry (title, date); `embed` is the index's embedder, used on the short event labels."""
    mentions = extract(sentences, {doc_id: doc.get("date") for doc_id, doc in documents.items()})
    if not mentions:
        return []
    vectors = np.asarray(embed([m.label for m in mentions]), dtype="float32")
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    titles = {doc_id: doc.get("title", doc_id) for doc_id, doc in documents.items()}
    groups = _conflicts(_clusters(mentions, vectors), mentions, vectors)
    events = [_event(parts, mentions, vectors, titles) for parts in groups]
    return sorted(events, key=lambda e: (e.date, e.citations[0]["doc_id"], e.citations[0]["start"]))


def date_bound(text: str | None, name: str, end: bool = False) -> Date | None:
    """A filter's date ('2016', '2016-12' or '2016-12-15') as its first day, or its last with `end`;
    InvalidDate saying what is accepted."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    parsed = parse_iso(text) if isinstance(text, str) else None
    if parsed is None:
        raise InvalidDate(f"the '{name}' date must be written YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2016-12), not {text!r}")
    return period(parsed[0])[1 if end else 0]


def period(value: str) -> tuple[Date, Date]:
    """The first and last day a date of any precision covers ('2016' → 2016-01-01, 2016-12-31)."""
    parts = [int(p) for p in value.split("-")]
    year, month, day = parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None
    if day:
        return Date(year, month, day), Date(year, month, day)
    if month:
        return Date(year, month, 1), Date(year, month, calendar.monthrange(year, month)[1])
    return Date(year, 1, 1), Date(year, 12, 31)


def select(events: Sequence[Event], date_from: Date | None = None, date_to: Date | None = None,
           doc_ids: Sequence[str] | None = None, query: str | None = None) -> list[Event]:
    """The events overlapping [date_from, date_to] (a "2016" event is in a filter from 2016-06), that
    one of `doc_ids` reports (with all their citations: what other articles say about it stays in
    view), and whose label and quotes hold every content word of `query` (lexically, stems as in
    rag.text: "declared" finds "declaration")."""
    wanted = content_words(query or "")

    def keep(event: Event) -> bool:
        first, last = period(event.date)
        return not ((date_from and last < date_from) or (date_to and first > date_to)
                    or (doc_ids and not set(doc_ids) & set(event.doc_ids))
                    or not wanted <= content_words(" ".join([event.label] + [c["quote"] for c in event.citations])))

    return [e for e in events if keep(e)]
