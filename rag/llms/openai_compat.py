"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server) via LangChain.

The answer cap goes out as `max_tokens`, the field every such server reads. LangChain's ChatOpenAI
renames a `max_tokens` argument to `max_completion_tokens` (OpenAI's newer name), which llama.cpp's
server ignores: an answer capped at 256 tokens ran to 440. So the cap travels in `extra_body`,
which the client puts into the request as given.
"""

from __future__ import annotations

from collections.abc import Iterator

from rag.errors import LLMError
from rag.llms.base import LLM, Message, Usage


class OpenAICompatLLM(LLM):
    def __init__(self, model: str, base_url: str | None, api_key: str | None, timeout: float):
        from langchain_openai import ChatOpenAI

        self.name = f"openai:{model}"
        self._chat = ChatOpenAI(
            model=model,
            base_url=base_url,
            # Self-hosted servers (vLLM, Ollama, llama.cpp) accept any key, but the client wants one.
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=1,
            stream_usage=True,
        )

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               usage: Usage | None = None, grammar: str | None = None) -> Iterator[str]:
        try:
            for chunk in self._chat.stream(
                [(m["role"], m["content"]) for m in messages], temperature=temperature,
                extra_body={"max_tokens": max_tokens},
            ):
                if chunk.content:
                    yield chunk.content
                if usage is not None and chunk.usage_metadata:
                    usage["prompt_tokens"] = chunk.usage_metadata["input_tokens"]
                    usage["completion_tokens"] = chunk.usage_metadata["output_tokens"]
        except Exception as exc:  # the client raises many types; callers need one
            raise LLMError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
