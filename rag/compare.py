"""Stage 8 — compare the sources: one checked answer per article, then where they agree and differ.

`Assistant.compare` answers the question once per article from that article's evidence alone (the
ask path: evidence gate, prompt, claim check); an article whose answer is not supported is silent.
This module then works over the exact article sentences, with no second model call:
- every evidence sentence of an answering article is a claim, with its years, amounts ("US$1
  billion", "70 years") and other figures; a sentence with no year borrows the year of the
  sentence before it in the same paragraph ("During Putin's visit in December 2016, ... . A fund
  ... was also created.") and then quotes both;
- two claims of different articles are about the same thing when MiniLM finds them similar and
  they share key terms; they differ when a kind of value both state (year, amount, figure) has no
  value in common, and agree when they share one and differ in none;
- who speaks: a claim resting on reported speech ("Abe drew attention to", "said", a quotation)
  is `reported` with its speaker, else `asserted` by the article's authors. A difference between
  a reported claim and an asserted one is labelled as such, never as the authors disagreeing.
Judgements ("symbolic" vs "painful" sanctions) are not detected: they have no value to compare.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from rag.documents import Article
from rag.evidence import Evidence, adjacent
from rag.index import VectorIndex
from rag.text import ACTORS, CITATION_MARKER, STOP, content_words
from rag.verification import Citation, Sentence

TOPIC_SIMILARITY = 0.5  # MiniLM cosine of two claims about the same thing (with >= 2 shared key terms)
AGREE_SIMILARITY = 0.6  # ... and of two claims stating the same fact
SAME_SUM_SIMILARITY = 0.4  # two claims naming the same sum need less: the fund's "US$1 billion" in 002 and 003 (0.47)
TOPIC_TERMS = 2
CLAIM_RELEVANCE = 0.5  # MiniLM cosine of a claim with the question: below it, a claim is about something else
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
          r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_DAY = re.compile(rf"\b\d{{1,2}}(?:[–-]\d{{1,2}})?\s+{_MONTH}|{_MONTH}\s+\d{{1,2}}(?:[–-]\d{{1,2}})?\b")
_UNITS = r"(?:billion|million|trillion|thousand|percent|per cent|%|years?|months?|days?|km|kilometres?|islands?)"
_AMOUNT = re.compile(rf"(?:US\$|USD|\$|€|¥)?\s?(\d+(?:[.,]\d+)*)\s?(?:-|\s)?({_UNITS})(?![\w])", re.IGNORECASE)
_FIGURE = re.compile(r"(?<![\w.,\[])(\d+(?:[.,]\d+)*)(?:st|nd|rd|th)?(?![\w\]])")
_REPORTING = re.compile(
    r"\b(?:said|says|say|stated|states|told|noted|notes|replied|recalled|announced|declared|stressed|emphasi[sz]ed"
    r"|claimed|claims|believes|believe|argued|argues|insisted|insists|hinted|suggested|accused|writes|wrote|quotes"
    r"|drew (?:particular )?attention|pointed out|expressed)\b")
_SPEAKER = r"((?:the )?[A-Z][\w’'-]*(?:\s+(?:of\s+)?[A-Z][\w’'-]*)*)"
_ACCORDING = re.compile(rf"\b[Aa]ccording to {_SPEAKER}")
_PRONOUN = re.compile(r"(?:this|that|it|there|these|those|which)\b", re.IGNORECASE)
_QUOTED = re.compile(r"[“\"][^”\"]{12,}[”\"]")
_OWN_VOICE = re.compile(r"^the author\b", re.IGNORECASE)


@dataclass
class ArticleAnswer:
    """One article's part: its checked answer, or silent and why."""

    article: Article
    answer: str
    sentences: list[Sentence]
    citations: list[Citation]
    evidence: list[Evidence]
    silent_reason: str | None = None

    @property
    def silent(self) -> bool:
        return self.silent_reason is not None


def attribution(text: str) -> tuple[str, str | None]:
    """("reported", speaker) when the sentence relays what someone said, else ("asserted", None):
    a quoted official is not the author's own stance. The speaker may be None (a bare quotation)."""
    if m := _ACCORDING.search(text):
        return "reported", m.group(1)
    if verb := _REPORTING.search(text):
        before, after = text[: verb.start()], text[verb.end():]
        clause = re.split(r"[,;:]\s+|\bthat\s+|[”\"]\s*", before)[-1].strip()
        if _OWN_VOICE.match(clause):
            return "asserted", None
        if by := re.match(rf"\s+(?:by|in) {_SPEAKER}", after):  # "was stated in the Russian Foreign Ministry"
            return "reported", by.group(1)
        if re.match(rf"{_SPEAKER}", clause) and not _PRONOUN.match(clause) and len(clause.split()) <= 8:
            return "reported", clause
        if before.rstrip().endswith(("”", '"', ",")) and (named := re.match(rf"\s*{_SPEAKER}", after)):
            return "reported", named.group(1)  # “...,” says Kazakov
    if _QUOTED.search(text):
        return "reported", None
    return "asserted", None


def _number(text: str) -> str:
    return text.replace(",", "")


def values(text: str) -> dict[str, set[str]]:
    """The values a sentence states, by kind: years, amounts with their unit, other figures.
    Calendar days ("14 January") and footnote markers ("[1]") are not figures."""
    text = CITATION_MARKER.sub(" ", text)
    years = set(_YEAR.findall(text))
    amounts = {f"{_number(m.group(1))} {m.group(2).lower().rstrip('s')}" for m in _AMOUNT.finditer(text)}
    rest = _AMOUNT.sub(" ", _DAY.sub(" ", _YEAR.sub(" ", text)))
    figures = {_number(m.group(1)) for m in _FIGURE.finditer(rest)}
    return {"years": years, "amounts": amounts, "figures": figures}


def _time_frame(text: str) -> set[str]:
    """The year a sentence opens with ("During Putin's visit in December 2016, ..."), when it names
    no other: the time the next sentence's events belong to."""
    years = set(_YEAR.findall(text))
    opening = text.split(", ", 1)[0]
    return years if len(years) == 1 and len(opening.split()) <= 10 and years <= set(_YEAR.findall(opening)) else set()


def with_time_frames(evidence: list[Evidence], index: VectorIndex) -> list[Evidence]:
    """Each span whose opening sentence states no year, widened to the sentence before it when that
    one sets the time ("During Putin's visit in December 2016, ..."): without it a small model asked
    "when" made a year up (003: "2007"). Only for comparing: `ask` evidence is measured as it is."""
    out = []
    for e in evidence:
        first = e.rows[0]
        before = index.sentences[first - 1] if first > 0 else None
        if (before and not _YEAR.search(index.sentences[first].text) and adjacent(index, first - 1)
                and _time_frame(before.text) and not any(first - 1 in x.rows for x in evidence)):
            e = dataclasses.replace(e, start=before.start, text=f"{before.text} {e.text}", rows=(first - 1, *e.rows))
        out.append(e)
    return out


@dataclass
class Claim:
    """One article sentence (with the sentence giving its year, if borrowed) that an answering
    article's evidence holds."""

    doc_id: str
    start: int
    end: int
    text: str
    vector: np.ndarray
    evidence: Evidence
    values: dict[str, set[str]]
    terms: set[str]
    stance: str
    speaker: str | None


def claims(answer: ArticleAnswer, index: VectorIndex) -> list[Claim]:
    out = []
    for e in answer.evidence:
        for row in e.rows:
            s = index.sentences[row]
            found = values(s.text)
            start, text = s.start, s.text
            if not found["years"] and adjacent(index, row - 1) and (years := _time_frame(index.sentences[row - 1].text)):
                before = index.sentences[row - 1]
                found["years"], start, text = years, before.start, f"{before.text} {s.text}"
            stance, speaker = attribution(s.text)
            out.append(Claim(s.doc_id, start, s.end, text, index.sentence_vectors[row], e, found,
                             content_words(s.text) - set(_YEAR.findall(s.text)), stance, speaker))
    return out


@dataclass
class Point:
    """An agreement (all claims share a value) or a difference (each side its own value)."""

    kind: str  # "agreement" | "difference"
    topic: str
    claims: list[Claim]
    differ_on: list[str] = field(default_factory=list)  # the kinds of value that differ
    shared: list[str] = field(default_factory=list)  # the values an agreement's claims share


def topic(a: Claim, b: Claim) -> str:
    """The key terms both claims use, as the first one spells them."""
    shared = a.terms & b.terms
    seen, out = set(), []
    for w in re.findall(r"[^\W_]+", a.text):
        stem = w.lower()[:6]
        if stem in shared and stem not in seen and w.lower() not in STOP and not w.isdigit():
            seen.add(stem)
            out.append(w.lower())
    return " ".join(out[:5])


def relate(a: Claim, b: Claim, asked: set[str] = frozenset(), stated: dict | None = None) -> list[Point]:
    """Where two claims of different articles differ (a kind of value with nothing in common) and
    agree (values shared); with `asked` (the question's key terms), only about what it asks; with
    `stated` (doc_id -> kind -> every value its claims give), a value the other article gives in
    another sentence is no difference (002's trade "USD 18 billion" is not its fund's sum)."""
    shared = a.terms & b.terms
    if a.doc_id == b.doc_id or len(shared) < TOPIC_TERMS or (asked and not shared & asked):
        return []
    similarity = float(a.vector @ b.vector)
    same_sum = bool(a.values["amounts"] & b.values["amounts"])  # "US$1 billion" in both: likely the same thing
    if similarity < (SAME_SUM_SIMILARITY if same_sum else TOPIC_SIMILARITY):
        return []
    kinds = [k for k in ("years", "amounts", "figures") if a.values[k] and b.values[k]]
    stated = stated or {}
    differ = [k for k in kinds if not a.values[k] & stated.get(b.doc_id, b.values)[k]
              and not b.values[k] & stated.get(a.doc_id, a.values)[k]]
    shared = sorted(v for k in kinds for v in a.values[k] & b.values[k])
    out = []
    if differ:
        out.append(Point("difference", topic(a, b), [a, b], differ_on=differ))
    if shared and (same_sum or similarity >= AGREE_SIMILARITY):
        out.append(Point("agreement", topic(a, b), [a, b], shared=shared))  # e.g. the same sum, another year
    return out


def _merge(points: list[Point]) -> list[Point]:
    """Points of one kind that share a claim become one (three articles giving three years for
    the fund are one difference with three sides); one claim per article, the most similar kept."""
    merged: list[Point] = []
    for p in points:
        home = next((m for m in merged if (m.kind, m.differ_on) == (p.kind, p.differ_on)
                     and any(c is d for c in p.claims for d in m.claims)), None)
        if home is None:
            merged.append(dataclasses.replace(p, claims=list(p.claims), differ_on=list(p.differ_on),
                                              shared=list(p.shared)))
            continue
        for c in p.claims:
            if not any(d.doc_id == c.doc_id for d in home.claims):
                home.claims.append(c)
        home.differ_on = list(dict.fromkeys(home.differ_on + p.differ_on))
        home.shared = sorted(set(home.shared) & set(p.shared)) or home.shared
    return merged


def points(question: str, query_vector: np.ndarray, answers: list[ArticleAnswer], index: VectorIndex) -> list[Point]:
    """Agreements and differences among the answering articles about what the question asks, most
    similar pairs first; a claim takes part in at most one point of each kind with another article."""
    asked = content_words(question) - {w[:6] for w in ACTORS} - set(_YEAR.findall(question))
    pool = [c for a in answers if not a.silent for c in claims(a, index)
            if float(c.vector @ query_vector) >= CLAIM_RELEVANCE]
    stated: dict[str, dict[str, set[str]]] = {}
    for c in pool:
        for kind, found in c.values.items():
            stated.setdefault(c.doc_id, {}).setdefault(kind, set()).update(found)
    pairs = sorted(((float(a.vector @ b.vector), a, b) for a, b in combinations(pool, 2) if a.doc_id != b.doc_id),
                   key=lambda t: -t[0])
    found, used = [], set()
    for _, a, b in pairs:
        for point in relate(a, b, asked, stated):
            key_a, key_b = (point.kind, id(a), b.doc_id), (point.kind, id(b), a.doc_id)
            if key_a not in used and key_b not in used:
                used |= {key_a, key_b}
                found.append(point)
    return _merge(found)


# --- the comparison, numbered and serialised ---------------------------------------------------------

def _key(doc_id: str, start: int, end: int) -> tuple[str, int, int]:
    return doc_id, start, end


@dataclass
class Comparison:
    question: str
    articles: list[ArticleAnswer]
    points: list[Point]
    citations: list[Citation]  # every [n] of the comparison, numbered once across all articles
    model: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    def cite(self, claim: Claim) -> Citation:
        return next(c for c in self.citations if _key(c.evidence.doc_id, c.quote_start, c.quote_end)
                    == _key(claim.doc_id, claim.start, claim.end))

    @property
    def agreements(self) -> list[Point]:
        return [p for p in self.points if p.kind == "agreement"]

    @property
    def differences(self) -> list[Point]:
        return [p for p in self.points if p.kind == "difference"]

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "articles": [_article_dict(a) for a in self.articles],
            "agreements": [{"statement": min((c.text for c in p.claims), key=len), "topic": p.topic,
                            "values": p.shared, "doc_ids": [c.doc_id for c in p.claims],
                            "citations": [self.cite(c).to_dict() for c in p.claims]} for p in self.agreements],
            "differences": [{"topic": p.topic, "differ_on": p.differ_on, "between": between(p),
                             "sides": [_side(c, self.cite(c)) for c in p.claims]} for p in self.differences],
            "model": self.model,
            "usage": self.usage,
            "timings_ms": self.timings_ms,
        }


def between(point: Point) -> str:
    """Who disagrees: the articles' authors themselves, or sources they report."""
    stances = {c.stance for c in point.claims}
    if stances == {"asserted"}:
        return "authors"
    return "reported sources" if stances == {"reported"} else "reported and asserted"


def _side(claim: Claim, citation: Citation) -> dict:
    shown = sorted(claim.values["years"] | claim.values["amounts"] | claim.values["figures"])
    return {"doc_id": claim.doc_id, "statement": claim.text, "values": shown, "stance": claim.stance,
            "speaker": claim.speaker, "citations": [citation.to_dict()]}


def _article_dict(a: ArticleAnswer) -> dict:
    sentences = []
    for s in a.sentences:
        stance, speaker = attribution(s.support.quote) if s.support else ("asserted", None)
        sentences.append(s.to_dict() | {"stance": stance, "speaker": speaker})
    return {"doc_id": a.article.doc_id, "title": a.article.title,
            "author": ", ".join(a.article.authors) or None, "outlet": a.article.outlet, "date": a.article.date,
            "answer": "" if a.silent else a.answer, "citations": [c.to_dict() for c in a.citations],
            "sentences": [] if a.silent else sentences, "silent": a.silent, "silent_reason": a.silent_reason}


def _renumber(answer: ArticleAnswer, first: int) -> ArticleAnswer:
    """The article's citations as [first], [first+1]...: one numbering across the comparison."""
    shift = {c.n: c.n + first - 1 for c in answer.citations}
    for s in answer.sentences:
        s.citations = [shift[n] for n in s.citations]
    text = CITATION_MARKER.sub(lambda m: f"[{', '.join(str(shift[int(x)]) for x in m.group(1).split(','))}]",
                               answer.answer)
    return dataclasses.replace(answer, answer=text, citations=[dataclasses.replace(c, n=shift[c.n])
                                                                for c in answer.citations])


def _claim_citation(claim: Claim, n: int, index: VectorIndex) -> Citation:
    """[n] for a claim: its evidence, widened to the borrowed year's sentence when that lies outside."""
    e = claim.evidence
    if claim.start < e.start:
        rows = tuple(r for r in range(e.rows[0] - 1, e.rows[-1] + 1))
        e = dataclasses.replace(e, start=claim.start, text=" ".join(index.sentences[r].text for r in rows), rows=rows)
    return Citation(n, e, claim.start, claim.end, claim.text)


def compare_answers(question: str, query_vector: np.ndarray, answers: list[ArticleAnswer],
                    index: VectorIndex) -> Comparison:
    """Number every citation once, find the points, give each point's claims their [n]."""
    numbered, citations = [], []
    for a in answers:
        a = _renumber(a, len(citations) + 1)
        numbered.append(a)
        citations += a.citations
    found = points(question, query_vector, numbered, index)
    for p in found:
        for c in p.claims:
            if not any(_key(x.evidence.doc_id, x.quote_start, x.quote_end) == _key(c.doc_id, c.start, c.end)
                       for x in citations):
                citations.append(_claim_citation(c, len(citations) + 1, index))
    return Comparison(question, numbered, found, citations)

