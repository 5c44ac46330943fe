"""Stage 0 — reject bad questions before any model is loaded or called."""

from __future__ import annotations

import re
import unicodedata

# Invisible characters that can hide instructions or spoof text: tag characters, zero-width
# characters, bidi controls and other format characters (Unicode category Cf).
_INVISIBLE = re.compile(r"[\U000E0000-\U000E007F\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF\u061C\u180E]")


class InvalidQuestion(ValueError):
    """The question cannot be answered as given; the message tells the user why."""


def validate_question(question: str, max_chars: int) -> str:
    """Return the question stripped, or raise InvalidQuestion with a message for the user."""
    if question is None or not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestion(f"the question is {len(question):,} characters long; the limit is {max_chars:,}")
    hidden = _INVISIBLE.search(question) or next(
        (m for m in re.finditer(r"\S", question) if unicodedata.category(m.group()) == "Cf"), None
    )
    if hidden:
        raise InvalidQuestion(
            f"the question contains an invisible Unicode character (U+{ord(hidden.group()):04X}) "
            f"at position {hidden.start()}; retype it as plain text"
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in question):
        raise InvalidQuestion("the question contains control characters")
    return question.strip()
