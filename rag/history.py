"""A question asked in a conversation: whether it needs the follow-up rewrite, and the
conversation kept inside the model's context window for it.

The rewrite prompt carries the conversation; a long one (an API caller may send any history)
would overflow the window and fail inside llama.cpp. The most recent messages are kept, the
oldest dropped, and the note says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from rag.generation import condense_messages
from rag.llms import Message
from rag.text import name_groups, numbers

# Words that point back into the conversation: "Does he think...", "that vision", "later that year".
_REFERS_BACK = re.compile(r"\b(?:he|him|his|she|her|it|its|they|them|their|this|that|these|those|there|then|such"
                          r"|former|latter|same|else|other|another|also|too|again)\b", re.IGNORECASE)
_CONTINUES = re.compile(r"^\W*(?:and|but|so|or|what about|how about|why not)\b", re.IGNORECASE)
SELF_CONTAINED_WORDS = 5  # "Why?", "When was it signed?", "How did Tokyo react?" lean on what came before

PER_MESSAGE = 16  # tokens around each message: chat-template markers, or "assistant: " in the rewrite prompt
Counter = Callable[[str], int]


def needs_rewrite(question: str) -> bool:
    """Whether a question asked in a conversation leans on it, so the model must first rewrite it
    into a standalone one (1-3 s on 2 cores, and a chance to distort it). A question of five words
    or more that names what it asks about (a name or a figure) and has no word pointing back is
    searched as asked: "Who signed the September 2017 memorandum on security consultations?"."""
    if len(question.split()) < SELF_CONTAINED_WORDS or _REFERS_BACK.search(question) or _CONTINUES.match(question):
        return True
    return not (name_groups(question) or numbers(question))


def _tokens(messages: list[Message], count: Counter) -> int:
    return sum(count(m["content"]) + PER_MESSAGE for m in messages)


def _tail(text: str, budget: int, count: Counter) -> str:
    """The longest end of `text` within `budget` tokens (binary search: token counts are not additive)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count("…" + text[-mid:]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return "…" + text[len(text) - lo:] if lo else ""


def trim_history(history: list[Message], budget: int, count: Counter) -> list[Message]:
    """The most recent messages whose tokens fit in `budget`; when even the latest alone does not
    fit, its end, cut to fit."""
    kept: list[Message] = []
    used = 0
    for message in reversed(history):
        cost = count(message["content"]) + PER_MESSAGE
        if used + cost > budget:
            if not kept and (tail := _tail(message["content"], budget - PER_MESSAGE, count)):
                kept.append({"role": message["role"], "content": tail})
            break
        kept.append(message)
        used += cost
    return kept[::-1]


def fit_history(history: list[Message], question: str, prompts_dir: Path, window: int, reply_tokens: int,
                count: Counter) -> tuple[list[Message], str | None]:
    """`history` trimmed so the rewrite prompt and its reply fit in `window` tokens, and a note for
    the user when anything was left out."""
    budget = window - reply_tokens - _tokens(condense_messages(prompts_dir, question, []), count)
    if _tokens(history, count) <= budget:
        return history, None
    return trim_history(history, budget, count), (
        f"the conversation is longer than the model's {window:,}-token context window: its oldest part was "
        "left out when the follow-up was rewritten")
