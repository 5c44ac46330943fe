"""Word-level helpers shared by evidence selection and claim verification: content words,
numbers and named actors, each folded so that a claim and its source compare fairly."""

from __future__ import annotations

import re

ABSTAIN_TEXT = "The articles do not say."  # the one answer given when the articles hold none
CITATION_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")  # [2] or [1, 3]: what answers cite evidence with
_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z](?:[\w’']|-(?![A-Z]))*(?:\s+[A-Z](?:[\w’']|-(?![A-Z]))*)*")
STOP = frozenset(
    "the a an and or but of to in on at by for with from as is are was were be been being this that these "
    "those it its their there they them he she his her we our you your not no yes do does did has have had "
    "will would can could should may might also than then which who whom whose what when where why how all "
    "any some such more most other into over about after before between during under while both each only "
    "very so said says according".split()
)
# Names that refer to the same actor: a claim may say "Tokyo" where the source says "Japan".
ACTORS = {
    "japan": "japan", "japanese": "japan", "tokyo": "japan",
    "russia": "russia", "russian": "russia", "russians": "russia", "moscow": "russia", "kremlin": "russia",
    "soviet": "russia", "ussr": "russia", "soviets": "russia",
    "abe": "abe", "shinzo": "abe", "putin": "putin", "vladimir": "putin", "kishida": "kishida",
    "fumio": "kishida", "suga": "suga", "lavrov": "lavrov", "medvedev": "medvedev", "trump": "us",
    "us": "us", "america": "us", "american": "us", "washington": "us", "china": "china", "chinese": "china",
    "beijing": "china", "ukraine": "ukraine", "ukrainian": "ukraine", "kyiv": "ukraine",
}
# Capitalised words that start sentences or titles without naming anyone.
_NOT_NAMES = frozenset(
    "the a an in on at by for with from as this that these those it its their there they he she his her we "
    "our however but also and or of to after before since when while during president prime minister "
    "foreign ministry mr mrs ms dr according both each what how why who whom whose which where did does do "
    "was were is are has have had can could would should will may might under yes no not".split()
)
_POSSESSIVE = re.compile(r"['’]s?$")
_DEMONSTRATIVE = re.compile(r"(?:This|These|That|Those|Such)\s+([^\W\d_]+)")


def tokens(text: str) -> list[str]:
    """The words of a text as written (case kept: "US" is a name, "us" is not)."""
    return _WORD.findall(text)


def words(text: str) -> list[str]:
    return [w.lower() for w in tokens(text)]


def content_words(text: str) -> set[str]:
    """Lower-cased content words cut to 6 letters: a crude stem that matches 'declared'/'declaration'.
    "US" is the country, "us" the stop word."""
    return {w.lower()[:6] for w in _WORD.findall(text)
            if w == "US" or (w.lower() not in STOP and (len(w) > 2 or w.isdigit()))}


def named_again(text: str) -> str | None:
    """What a sentence that opens by naming again what was just said names ("This declaration
    stated..." -> "declar", folded like content words); None for "This was..." or no such opening."""
    opener = _DEMONSTRATIVE.match(text)
    noun = opener.group(1).lower() if opener else ""
    return noun[:6] if noun and noun not in STOP else None


def numbers(text: str) -> list[str]:
    """Years, figures and amounts, with thousands separators removed ('1,000' == '1000')."""
    return [n.replace(",", "") for n in _NUMBER.findall(text)]


_COUNTS = {w: str(n) for n, w in enumerate("two three four five six seven eight nine ten eleven twelve".split(), 2)}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_COUNTS |= {w: str(n) for n, w in zip(range(20, 100, 10), _TENS)}
_COUNTS |= {"fifteen": "15", "hundred": "100", "thousand": "1000"}
_COUNT = re.compile(r"\b(?:(the|both|these|those|its|their)\s+)?(" + "|".join(_COUNTS) + r")\b", re.IGNORECASE)


def quantities(text: str, definite: bool = True) -> set[str]:
    """Figures written in digits or words, as digits ("two of the four islands" -> {"2", "4"}): a claim
    saying "three islands" where its source says "two" must not pass. "One" is left out (it is a
    pronoun as often as a count); with `definite=False` so is a count after "the" ("the two
    countries" refers to a pair already named, it states no figure)."""
    found = set(numbers(text))
    for m in _COUNT.finditer(text):
        if definite or not m.group(1):
            found.add(_COUNTS[m.group(2).lower()])
    return found


def actors(text: str) -> list[str]:
    """Named actors in order of mention, folded to one name per actor (Tokyo → japan)."""
    out = []
    for w in _WORD.findall(text):
        folded = ACTORS.get(w.lower())
        if folded and w[:1].isupper():
            out.append(folded)
    return out


def name_groups(text: str) -> list[tuple[str, set[str]]]:
    """Runs of capitalised words that name someone or something, as written and folded like actors
    ("Mikhail Gorbachev's" -> ("Mikhail Gorbachev", {"mikhai", "gorbac"})). The word opening the text
    is capitalised anyway ("Because", "Negotiations"), so it counts only when it names a known actor.
    A hyphen before a capital separates two names, as a dash does: "US-Japan" is "US" and "Japan" (the
    articles write "Japanese-American"), while "G-20" stays one."""
    opening = re.match(r"\W*([^\W_]+)", text)
    groups = []
    for m in _NAME.finditer(text):
        written, folded = [], set()
        for i, w in enumerate(m.group().split()):
            w = _POSSESSIVE.sub("", w)
            low = w.lower()
            if i == 0 and opening and m.start() == opening.start(1) and low not in ACTORS:
                continue
            if low in _NOT_NAMES or len(low) < 3:
                continue
            written.append(w)
            folded.add(ACTORS.get(low, low.replace("-", "")[:6]))  # "G-20" is "G20"
        if folded:
            groups.append((" ".join(written), folded))
    return groups


def names(text: str) -> set[str]:
    """Proper names, folded like actors (see `name_groups`)."""
    return set().union(*(folded for _, folded in name_groups(text)))


def quote_balance(text: str) -> tuple[int, int]:
    """(quotes closed that opened before the text, quotes opened and left open): a quotation split
    over sentences ("Let us overcome all difficulties," Abe told...) needs its other half, in the
    evidence and in an answer. A straight quote opens at the start or after a space or bracket, else
    it closes."""
    closed_early = depth = 0
    for m in re.finditer(r'[“”"]', text):
        i = m.start()
        opens = m.group() == "“" or (m.group() == '"' and (i == 0 or text[i - 1] in " ([—-"))
        if opens:
            depth += 1
        elif depth:
            depth -= 1
        else:
            closed_early += 1
    return closed_early, depth
