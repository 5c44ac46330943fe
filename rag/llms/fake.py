"""A deterministic stand-in LLM for tests: quotes the first sentence of the first numbered evidence
line it is given, cited (and returns a follow-up question unchanged when asked to rewrite it).

It reads the evidence from the rendered prompt exactly as a real model would, so the whole
pipeline (prompting, streaming, claim verification) runs unchanged around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.llms.base import LLM, Message, Usage
from rag.text import ABSTAIN_TEXT

_EVIDENCE = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)
_FOLLOW_UP = re.compile(r"^Follow-up: (.*)$", re.MULTILINE)


class FakeLLM(LLM):
    name = "fake"

    def __init__(self, replies: list[str] | None = None):
        self.replies = list(replies or [])
        self.calls: list[list[Message]] = []

    def _reply(self, messages: list[Message]) -> str:
        if self.replies:
            return self.replies.pop(0)
        prompt = messages[-1]["content"]
        if follow_up := _FOLLOW_UP.search(prompt):
            return follow_up.group(1)
        evidence = _EVIDENCE.findall(prompt)
        if not evidence:
            return ABSTAIN_TEXT
        n, text = evidence[0]
        sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
        return f"{sentence} [{n}]"

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               usage: Usage | None = None, grammar: str | None = None) -> Iterator[str]:
        self.calls.append(messages)
        tokens = re.findall(r"\S+\s*", self._reply(messages))
        yield from tokens
        if usage is not None:  # a word a token: deterministic, and enough to test the plumbing
            usage["prompt_tokens"] = sum(len(m["content"].split()) for m in messages)
            usage["completion_tokens"] = len(tokens)
