"""The LLM contract: stream the reply to a list of chat messages, token by token."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TypedDict


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int


class LLM(ABC):
    name: str

    @abstractmethod
    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               usage: Usage | None = None, grammar: str | None = None) -> Iterator[str]:
        """Yield pieces of the reply as the model produces them; fill `usage` (token counts) at the end.
        `grammar` (GBNF) constrains the reply where the backend can; others ignore it and rely on
        the checks after generation."""

    def prepare(self, instructions: Message) -> None:
        """Get ready for prompts that open with this system message. A backend that caches a prompt
        prefix (llama.cpp) evaluates it now, so the first question pays only for its own part; an
        endpoint does nothing (a request would cost money and warm nothing we control)."""

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in a prompt. Without the model's tokenizer, its UTF-8 length: a byte-level
        tokenizer never needs more tokens than bytes, so a budget kept with this is never exceeded."""
        return len(text.encode("utf-8", "surrogatepass"))

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float,
                 usage: Usage | None = None, grammar: str | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, usage=usage,
                                   grammar=grammar))
