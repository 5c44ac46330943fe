"""The bundled local model through llama-cpp-python (the default when no endpoint is configured)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.llms.base import LLM, Message


class LlamaCppLLM(LLM):
    def __init__(self, model_path: Path, name: str, n_ctx: int = 4096, n_threads: int | None = None):
        from llama_cpp import Llama

        self.name = f"local:{name}"
        self._llama = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count() or 2,
            verbose=False,
        )
        # One model, one context: concurrent calls would interleave state, so they queue here.
        self._lock = threading.Lock()

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float) -> Iterator[str]:
        with self._lock:
            for part in self._llama.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True
            ):
                piece = part["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
