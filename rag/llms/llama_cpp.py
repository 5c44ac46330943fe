"""The bundled local model through llama-cpp-python (the default when no endpoint is configured)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from rag.llms.base import LLM, Message, Usage


_LOAD_LOCK = threading.Lock()


@contextmanager
def without_extra_buffers():
    """Load weights without llama.cpp's extra CPU buffer types (AMX, repacked layouts).

    On this project's machines (Sapphire Rapids CPUs in a VM) llama.cpp's AMX matmul segfaults on the
    first batched decode; llama-cpp-python has no switch for `use_extra_bufts`, so the default model
    parameters are wrapped while the model loads.
    """
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    with _LOAD_LOCK:
        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = original


class LlamaCppLLM(LLM):
    def __init__(self, model_path: Path, name: str, n_ctx: int = 4096, n_threads: int | None = None,
                 extra_buffers: bool = False):
        from llama_cpp import Llama

        self.name = f"local:{name}"
        with nullcontext() if extra_buffers else without_extra_buffers():
            self._llama = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or 2,
                verbose=False,
            )
        # One model, one context: concurrent calls would interleave state, so they queue here.
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               usage: Usage | None = None, grammar: str | None = None) -> Iterator[str]:
        """llama.cpp keeps the previous prompt's KV cache and re-evaluates only from the first token
        that differs: prompts that start with the same fixed instructions skip their prefill."""
        from llama_cpp import LlamaGrammar

        constraint = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
        with self._lock:
            reply = ""
            for part in self._llama.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True,
                grammar=constraint,
            ):
                piece = part["choices"][0]["delta"].get("content")
                if piece:
                    reply += piece
                    yield piece
            if usage is not None:
                # Streaming replies carry no usage; the context holds prompt + reply (the last token unevaluated).
                completion = len(self._llama.tokenize(reply.encode(), add_bos=False, special=True)) if reply else 0
                usage["completion_tokens"] = completion
                usage["prompt_tokens"] = max(self._llama.n_tokens - max(completion - 1, 0), 0)
