"""Pure metric functions: plain data in, numbers out, so every definition is unit-tested by hand.

Spans are mappings with `doc_id`, `start` and `end` (character offsets into the cleaned article
text): gold passages, ranked chunks, evidence shown to the model, cited evidence and the spans
supporting answer sentences all have that shape. Relevance is span overlap rather than chunk
identity so the gold set survives re-chunking.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from rag.text import CITATION_MARKER

Span = Mapping  # {"doc_id": str, "start": int, "end": int, ...}

# An answer is "correct" when it is not an abstention and recalls at least this share of the key facts.
CORRECT_FACT_RECALL = 0.5
SCORES = {"correct": 1, "abstained": 0, "wrong": -1}

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "−": "-"})
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def overlaps(a: Span, b: Span) -> bool:
    """Same article and the half-open character ranges share at least one character."""
    return a["doc_id"] == b["doc_id"] and a["start"] < b["end"] and b["start"] < a["end"]


def relevant(span: Span, gold: Sequence[Span]) -> bool:
    return any(overlaps(span, g) for g in gold)


def recall(spans: Sequence[Span], gold: Sequence[Span]) -> float:
    """Share of gold passages overlapped by at least one span: the evidence found, all of it needed."""
    return sum(relevant(g, spans) for g in gold) / len(gold)


def precision(spans: Sequence[Span], gold: Sequence[Span]) -> float:
    return sum(relevant(s, gold) for s in spans) / len(spans)


def recall_at_k(ranked: Sequence[Span], gold: Sequence[Span], k: int) -> float:
    return recall(ranked[:k], gold)


def mrr_at_k(relevance: Sequence[bool], k: int = 10) -> float:
    """Reciprocal rank of the first relevant result within the top k, 0 when there is none."""
    return next((1.0 / rank for rank, rel in enumerate(relevance[:k], 1) if rel), 0.0)


def ndcg_at_k(relevance: Sequence[bool], n_relevant: int, k: int = 10) -> float:
    """Binary-gain nDCG; the ideal ranking puts all `n_relevant` relevant chunks of the index first."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, rel in enumerate(relevance[:k], 1) if rel)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_relevant, k) + 1))
    return dcg / ideal if ideal else 0.0


def support_precision(sentences: Sequence[Mapping], gold: Sequence[Span]) -> float | None:
    """Share of the supported answer sentences whose supporting span overlaps a gold passage:
    the verifier found support, but was it the text the gold set answers from? None when no
    sentence has a supporting span (nothing to measure)."""
    spans = [s["support"] for s in sentences if s["supported"] and s.get("support")]
    return precision(spans, gold) if spans else None


def unsupported_share(sentences: Sequence[Mapping]) -> float:
    """Share of answer sentences the verifier found no supporting span for (shown uncited)."""
    return sum(not s["supported"] for s in sentences) / len(sentences)


def cited_share(sentences: Sequence[Mapping]) -> float:
    """Share of answer sentences that carry at least one [n]."""
    return sum(bool(s["citations"]) for s in sentences) / len(sentences)


def doc_precision(cited: Sequence[str], gold: Iterable[str]) -> float:
    gold = set(gold)
    return sum(d in gold for d in cited) / len(cited)


def doc_recall(cited: Iterable[str], gold: Sequence[str]) -> float:
    cited = set(cited)
    return sum(d in cited for d in gold) / len(gold)


def strip_markers(text: str) -> str:
    """Drop [n] citation markers so '[1]' never counts as the fact '1' or as an answer token."""
    return CITATION_MARKER.sub("", text)


def markers(text: str) -> list[int]:
    return [int(n) for m in CITATION_MARKER.finditer(text) for n in m.group(1).split(",")]


def _fold(text: str) -> str:
    return " ".join(strip_markers(text).translate(_QUOTES).lower().split())


def fact_found(answer: str, variants: Sequence[str]) -> bool:
    """Any variant occurs starting at a word boundary ('econom' matches 'economic'); a variant
    ending in a digit must also end at one, so '12' does not match '120' or '2012'."""
    folded = _fold(answer)
    for variant in variants:
        v = _fold(variant)
        tail = r"(?!\d)" if v[-1:].isdigit() else ""
        if v and re.search(r"(?<!\w)" + re.escape(v) + tail, folded):
            return True
    return False


def key_fact_recall(answer: str, aliases: Sequence[Sequence[str]]) -> float:
    """Share of key facts the answer states; each fact is a list of accepted variants."""
    return sum(fact_found(answer, variants) for variants in aliases) / len(aliases)


def _squad_tokens(text: str) -> list[str]:
    text = strip_markers(text).translate(_QUOTES).lower().translate(_PUNCT)
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: lower-cased, punctuation and a/an/the removed, bag-of-tokens overlap."""
    pred, ref = _squad_tokens(prediction), _squad_tokens(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    p, r = common / len(pred), common / len(ref)
    return 2 * p * r / (p + r)


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """The embedder normalises its vectors, so the dot product is the cosine."""
    return float(sum(a * b for a, b in zip(u, v)))


def citations_valid(answer: str, citations: Sequence[Mapping], articles: Mapping[str, str]) -> bool:
    """Every [n] in the answer is a listed citation, and every citation's chunk and quote are
    exactly the article text at their offsets, with the quote inside the chunk."""
    if set(markers(answer)) - {c["n"] for c in citations}:
        return False
    for c in citations:
        text = articles.get(c["doc_id"])
        if (text is None or not c["quote"] or text[c["start"]:c["end"]] != c["text"]
                or text[c["quote_start"]:c["quote_end"]] != c["quote"]
                or not c["start"] <= c["quote_start"] <= c["quote_end"] <= c["end"]):
            return False
    return True


def outcome(answerable: bool, abstained: bool, fact_recall: float | None) -> str:
    """'correct', 'abstained' or 'wrong'. Abstaining is correct only on an unanswerable question;
    any answer to one is wrong; an answer to an answerable one is correct when it recalls at
    least CORRECT_FACT_RECALL of the key facts."""
    if not answerable:
        return "correct" if abstained else "wrong"
    if abstained:
        return "abstained"
    return "correct" if (fact_recall or 0.0) >= CORRECT_FACT_RECALL else "wrong"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that apply (None means 'not applicable to this question')."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


_VERDICT = {"yes": 1.0, "partly": 0.5, "no": 0.0}


def parse_judgement(reply: str) -> dict[str, float | None] | None:
    """Read the judge's JSON reply into faithfulness (supported / claims) and correctness
    (yes 1, partly 0.5, no 0); None when the reply is not the JSON the prompt asks for."""
    match = re.search(r"\{.*\}", reply, re.DOTALL)
    try:
        data = json.loads(match.group(0)) if match else None
        claims, supported = int(data["claims"]), int(data["supported"])
        verdict = str(data["correct"]).strip().lower()
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not 0 <= supported <= claims or verdict not in _VERDICT:
        return None
    return {"faithfulness": supported / claims if claims else None, "correctness": _VERDICT[verdict]}


def flatten(tree: Mapping, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested metrics under dotted names, as --fail-under and compare use them."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat
