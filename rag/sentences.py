"""Stage 2b — sentences with exact character offsets: the unit of evidence and of citation.

Chunks are what retrieval ranks; sentences are what the model is shown and what a claim is
checked against. Paragraphs (the cleaned text's blank-line blocks) are split at sentence ends;
a heading, a list item or a footnote is a paragraph of its own and so stays one unit.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# A sentence ends at . ! ? (and any closing quote or bracket) followed by space and a likely start.
_END = re.compile(r"[.!?][\"”’')\]]*(?=\s+[\"“‘(\[]?[A-Z0-9])")
# "St. Petersburg", "Mr. Abe", "U.S. bases", "No. 3": a period that does not end a sentence.
ABBREVIATION = re.compile(
    r"(?:\b(?:St|Mr|Mrs|Ms|Dr|Prof|Gen|Jr|Sr|No|Nos|vs|etc|cf|e\.g|i\.e|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept"
    r"|Oct|Nov|Dec|approx|Vol|pp|p)|\b[A-Z])\.$"
)
_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]*)*")
_TERMINAL = tuple(".!?:;\"”’)]")


@dataclass(frozen=True)
class SentenceSpan:
    """One sentence (or heading, list item, footnote) of an article, by offsets into its cleaned text."""

    doc_id: str
    start: int
    end: int
    text: str
    heading: bool = False  # a short paragraph with no closing punctuation: a section title

    def to_dict(self) -> dict:
        return asdict(self)


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence in `text`, whitespace trimmed, in order."""
    bounds = []
    for para in _PARAGRAPH.finditer(text):
        start = para.start()
        for m in _END.finditer(para.group()):
            end = para.start() + m.end()
            if ABBREVIATION.search(text[start:end]):
                continue
            bounds.append((start, end))
            start = end
        bounds.append((start, para.end()))
    out = []
    for start, end in bounds:
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > start + lead:
            out.append((start + lead, end - trail))
    return out


def is_heading(text: str) -> bool:
    return len(text) <= 120 and not text.endswith(_TERMINAL) and len(text.split()) <= 14


def split_article(doc_id: str, text: str) -> list[SentenceSpan]:
    spans = []
    for start, end in sentence_bounds(text):
        piece = text[start:end]
        whole_paragraph = (start == 0 or text[start - 2 : start] == "\n\n") and (
            end == len(text) or text[end : end + 2] == "\n\n")
        spans.append(SentenceSpan(doc_id, start, end, piece, heading=whole_paragraph and is_heading(piece)))
    return spans
