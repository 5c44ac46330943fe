"""Stage 5c — check the model's citations against the passages it was given.

Small local models cite the wrong passage, invent passage numbers, or forget markers. After
generation every sentence is matched against the passages by content-word overlap:
- a marker that points to no retrieved passage is dropped;
- a sentence whose cited passage does not support it is re-pointed to the passage that does,
  or flagged as unsupported when none does;
- a sentence without a marker gets the passage that clearly supports it.
Citations are then renumbered [1], [2]... in order of first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.retrieval import Passage

ABSTAIN_TEXT = "The articles do not say."
SUPPORTED = 0.5  # share of a sentence's content words found in a passage
CLEAR_SUPPORT = 0.6  # needed to add a citation the model forgot
_ABSTAIN = re.compile(
    r"articles? (?:do|does) not (?:say|mention|contain|specify|provide)|not (?:mentioned|stated|specified) in the"
    r"|passages? (?:do|does) not (?:say|mention|contain|provide)|cannot answer|no information",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])((?:\s*\[\d+(?:\s*,\s*\d+)*\])*)(?:\s+(?=\S)|\s*$)")
# "St. Petersburg", "Mr. Abe", "U.S. bases": a period that does not end a sentence.
_ABBREVIATION = re.compile(r"(?:\b(?:St|Mr|Mrs|Ms|Dr|Prof|Gen|Jr|Sr|No|vs|etc|cf|e\.g|i\.e)|\b[A-Z])\.$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# "According to passage [1], ..." / "Passage 2: ...": the model naming its source is not a claim.
_SOURCE_PREFIX = re.compile(
    r"^(?:(?:according to|as stated in|in) (?:the )?passages? \[?\d+\]?,?\s*|passages? \[?\d+\]?:\s*"
    r"|the passages? (?:states?|says?|mentions?) that\s*)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+")
_STOP = frozenset(
    "the a an and or but of to in on at by for with from as is are was were be been being this that these "
    "those it its their there they them he she his her we our you your not no yes do does did has have had "
    "will would can could should may might also than then which who whom whose what when where why how all "
    "any some such more most other into over about after before between during under while both each only "
    "very so said says according".split()
)


def content_words(text: str) -> set[str]:
    """Lower-cased content words cut to 6 letters: a crude stem that matches 'declared'/'declaration'."""
    return {w.lower()[:6] for w in _WORD.findall(text) if w.lower() not in _STOP and (len(w) > 2 or w.isdigit())}


def support(sentence: str, passage_text: str, given: frozenset[str] = frozenset()) -> float:
    """Share of the sentence's content words found in the passage, not counting words `given` by
    the question (restating the question proves nothing); 0 when the sentence states a number
    (year, figure) the passage does not contain, the commonest small-model invention."""
    words = content_words(sentence) - given
    if not words or not set(_NUMBER.findall(sentence)) <= set(_NUMBER.findall(passage_text)):
        return 0.0
    return len(words & content_words(passage_text)) / len(words)


def split_sentences(text: str) -> list[str]:
    """Split after . ! ? keeping any trailing [n] markers with the sentence they follow."""
    parts, last = [], 0
    for m in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text[last : m.start()]):
            continue
        parts.append(text[last : m.end(1)].strip())
        last = m.end()
    parts.append(text[last:].strip())
    return [p for p in parts if p]


@dataclass
class Sentence:
    text: str  # without markers
    passages: list[int] = field(default_factory=list)  # 1-based passage numbers as given to the model
    citations: list[int] = field(default_factory=list)  # the [n] shown in the answer, after renumbering
    supported: bool = True
    note: str | None = None  # "added", "re-pointed", "unsupported", "invalid citation [n]"


@dataclass
class Citation:
    n: int
    passage: Passage
    quote_start: int  # the supporting sentence, as offsets into the article's cleaned text
    quote_end: int
    quote: str

    def to_dict(self) -> dict:
        c = self.passage.chunk
        return {"n": self.n, "doc_id": c.doc_id, "title": c.title, "chunk_id": c.chunk_id, "start": c.start,
                "end": c.end, "text": c.text, "quote": self.quote, "quote_start": self.quote_start,
                "quote_end": self.quote_end}


@dataclass
class CheckedAnswer:
    text: str
    abstained: bool
    sentences: list[Sentence]
    citations: list[Citation]


def is_abstention(text: str) -> bool:
    return not text.strip() or bool(_ABSTAIN.search(text))


def _best(sentence: str, passages: list[Passage], among: list[int], given: frozenset[str]) -> tuple[int | None, float]:
    scored = [(support(sentence, passages[n - 1].chunk.text, given), n) for n in among]
    score, n = max(scored, default=(0.0, None))
    return n, score


def _check_sentence(raw: str, passages: list[Passage], given: frozenset[str]) -> Sentence:
    numbers = [int(x) for m in _MARKER.finditer(raw) for x in m.group(1).split(",")]
    text = _SOURCE_PREFIX.sub("", raw.strip())
    text = re.sub(r"\s+([.!?,;:])", r"\1", _MARKER.sub("", text)).strip()
    text = text[:1].upper() + text[1:]
    valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(passages)]
    invalid = sorted(set(numbers) - set(valid))
    sentence = Sentence(text, note=f"invalid citation {invalid}" if invalid else None)
    if len(content_words(text)) < 3:  # "Yes." or a fragment: nothing to verify
        sentence.passages = valid
        return sentence
    everyone = list(range(1, len(passages) + 1))
    best_n, best_score = _best(text, passages, everyone, given)
    cited_n, cited_score = _best(text, passages, valid, given)
    if valid and cited_score >= SUPPORTED:
        sentence.passages = [n for n in valid if support(text, passages[n - 1].chunk.text, given) >= SUPPORTED]
    elif best_n is not None and best_score >= (SUPPORTED if valid else CLEAR_SUPPORT):
        sentence.passages = [best_n]
        sentence.note = "re-pointed" if valid else "added"
    else:
        sentence.passages = valid
        sentence.supported = False
        sentence.note = "unsupported"
    return sentence


def _quote(sentences: list[Sentence], passage: Passage, n: int) -> tuple[int, int, str]:
    """The passage sentence that best supports the answer sentences citing it."""
    claims = " ".join(s.text for s in sentences if n in s.passages)
    chunk = passage.chunk
    best, best_score = (0, len(chunk.text)), -1.0
    offset = 0
    for piece in split_sentences(chunk.text):
        pos = chunk.text.find(piece, offset)
        offset = pos + len(piece)
        score = support(piece, claims) if content_words(piece) else 0.0
        if score > best_score:
            best, best_score = (pos, pos + len(piece)), score
    start, end = best
    return chunk.start + start, chunk.start + end, chunk.text[start:end]


def _with_markers(sentence: Sentence) -> str:
    if not sentence.citations:
        return sentence.text
    markers = "".join(f"[{n}]" for n in sentence.citations)
    text = sentence.text
    if text and text[-1] in ".!?":
        return f"{text[:-1]} {markers}{text[-1]}"
    return f"{text} {markers}"


def check_answer(raw: str, passages: list[Passage], question: str = "") -> CheckedAnswer:
    """Verify and repair the citations of a generated answer; decide whether it is an abstention."""
    if not passages or is_abstention(raw):
        return CheckedAnswer(ABSTAIN_TEXT, True, [], [])
    given = frozenset(content_words(question))
    sentences = [_check_sentence(s, passages, given) for s in split_sentences(raw.strip())]
    sentences = [s for s in sentences if s.text]  # a bare "[2]" says nothing
    if not any(s.supported and s.passages for s in sentences):
        # Nothing the model said is backed by the passages: saying so beats a confident guess.
        return CheckedAnswer(ABSTAIN_TEXT, True, sentences, [])
    numbering: dict[int, int] = {}
    for s in sentences:
        for n in s.passages:
            numbering.setdefault(n, len(numbering) + 1)
    for s in sentences:
        s.citations = [numbering[n] for n in s.passages]
    citations = [Citation(new, passages[old - 1], *_quote(sentences, passages[old - 1], old))
                 for old, new in numbering.items()]
    text = " ".join(_with_markers(s) for s in sentences)
    return CheckedAnswer(text, False, sentences, citations)
