"""A deterministic stand-in LLM for tests: quotes the first sentence of the first passage it is given
(and returns a follow-up question unchanged when asked to rewrite it).

It reads the passages from the rendered prompt exactly as a real model would, so the whole
pipeline (prompting, streaming, citation checks) runs unchanged around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.llms.base import LLM, Message

_PASSAGE = re.compile(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)
_FOLLOW_UP = re.compile(r"^Follow-up: (.*)$", re.MULTILINE)
ABSTAIN = "The articles do not say."


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
        passages = _PASSAGE.findall(prompt)
        if not passages:
            return ABSTAIN
        n, text = passages[0]
        body = re.sub(r"^.*\n\n", "", text.strip(), count=1) if "\n\n" in text else text
        sentence = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
        return f"{sentence} [{n}]"

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float) -> Iterator[str]:
        self.calls.append(messages)
        for token in re.findall(r"\S+\s*", self._reply(messages)):
            yield token
