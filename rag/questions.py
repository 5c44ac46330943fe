"""Stage 0 — reject bad requests before any model is loaded or called.

Every entry point (CLI, chat, API) goes through these checks, so a bad request gets the same
message wherever it comes from, instead of a type error deep inside the tokenizer or retrieval.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from rag.errors import InvalidQuestion, InvalidRequest
from rag.llms import Message
from rag.settings import K_MAX

# Invisible characters that can hide instructions or spoof text: tag characters, zero-width
# characters, bidi controls and other format characters (Unicode category Cf).
_INVISIBLE = re.compile(r"[\U000E0000-\U000E007F\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF\u061C\u180E]")
_SURROGATE = re.compile(r"[\uD800-\uDFFF]")


def undecodable(text: str, what: str) -> str | None:
    """Why `text` is not real text, or None. Python smuggles bytes that are not UTF-8 (a latin-1
    argument, a mis-encoded file) into str as lone surrogates, which no tokenizer accepts."""
    found = _SURROGATE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's escape for one raw byte
        return f"{what} is not valid UTF-8 (byte 0x{code - 0xDC00:02X} at position {found.start()})"
    return f"{what} contains a lone surrogate (U+{code:04X}) at position {found.start()}, which is not text"


def validate_question(question: str, max_chars: int) -> str:
    """Return the question stripped, or raise InvalidQuestion with a message for the user."""
    if question is not None and not isinstance(question, str):
        raise InvalidQuestion(f"the question must be text, not {type(question).__name__}")
    if question is None or not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestion(f"the question is {len(question):,} characters long; the limit is {max_chars:,}")
    if reason := undecodable(question, "the question"):
        raise InvalidQuestion(f"{reason}; send it as UTF-8 text (check the terminal's or the file's encoding)")
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


def validate_k(k: object) -> int | None:
    """API callers send JSON: "5" or 5.0 is refused by name rather than failing inside retrieval."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidRequest(f"k must be a whole number from 1 to {K_MAX}, not {k!r}", "k")
    if not 1 <= k <= K_MAX:
        raise InvalidRequest(f"k must be between 1 and {K_MAX}", "k")
    return k


def validate_doc_ids(doc_ids: object, known: Collection[str]) -> list[str] | None:
    if not doc_ids:
        return None
    if not isinstance(doc_ids, list) or not all(isinstance(d, str) for d in doc_ids):
        raise InvalidRequest("doc_ids must be a list of article ids (strings)", "doc_ids")
    unknown = sorted(set(doc_ids) - set(known))
    if unknown:
        raise InvalidRequest(f"unknown doc_ids: {', '.join(map(printable, unknown))}", "doc_ids")
    return doc_ids


def validate_history(history: object) -> list[Message] | None:
    """API callers send history as [{role, content}, ...]; anything else is refused with the expected shape."""
    if not history:
        return None
    messages = []
    for m in history if isinstance(history, list) else [None]:
        if not (isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)):
            raise InvalidRequest('history must be a list of {"role": "user"|"assistant", "content": str} messages',
                                 "history")
        if reason := undecodable(m["content"], "a history message"):
            raise InvalidRequest(reason, "history")
        messages.append({"role": m["role"], "content": m["content"]})
    return messages


def validate_model(model: object, choices: Collection[str]) -> str | None:
    if model is None or model == "":
        return None
    if not isinstance(model, str) or model not in choices:
        shown = printable(model) if isinstance(model, str) else repr(model)
        raise InvalidRequest(f"unknown model {shown!r}; choose one of {', '.join(choices)}", "model")
    return model


def validate_request(question: object, max_chars: int, k: object = None, doc_ids: object = None,
                     history: object = None, known_doc_ids: Collection[str] = (), model: object = None,
                     models: Collection[str] = ()
                     ) -> tuple[str, int | None, list[str] | None, list[Message] | None, str | None]:
    """The whole request checked at once: (question stripped, k, doc_ids, history, model), or InvalidRequest."""
    return (validate_question(question, max_chars), validate_k(k), validate_doc_ids(doc_ids, known_doc_ids),
            validate_history(history), validate_model(model, models))


def printable(text: str) -> str:
    """`text` printable on any terminal: a raw byte smuggled in as a surrogate is shown escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
