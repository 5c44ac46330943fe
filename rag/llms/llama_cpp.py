"""The bundled local model through llama-cpp-python (the default when no endpoint is configured)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from rag.llms.base import LLM, Message, Usage


_LOAD_LOCK = threading.Lock()
_GGML_LOG_ERROR = 4  # ggml_log_level today: 1 debug, 2 info, 3 warn, 4 error, 5 continuation
_log_callback = None  # kept referenced: llama.cpp holds only a C pointer to it


def only_errors_on_stderr() -> None:
    """Show llama.cpp's errors, not its warnings about the model file. llama-cpp-python maps the
    levels of an older ggml and prints warnings as errors (a tokenizer warning on every load)."""
    global _log_callback
    import ctypes
    import sys

    import llama_cpp

    def forward_errors(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if level == _GGML_LOG_ERROR:
            print(text.decode("utf-8", "replace"), end="", file=sys.stderr, flush=True)

    if _log_callback is None:
        _log_callback = llama_cpp.llama_log_callback(forward_errors)

    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


@contextmanager
def loading_settings(extra_buffers: bool):
    """Load weights without what breaks on this project's machines; one load at a time, since the
    patches are to module globals.

    - llama.cpp's extra CPU buffer types (AMX, repacked layouts): on Sapphire Rapids CPUs in a VM
      its AMX matmul segfaults on the first batched decode, and llama-cpp-python has no switch for
      `use_extra_bufts`, so the default model parameters are wrapped.
    - The quiet load's redirect of file descriptors 1 and 2 to /dev/null: it is process-wide, so a
      model loading in the background (beside the index, or a second model while the chat serves)
      would swallow what every other thread prints, an error message included. llama.cpp's own log
      callback already drops all but errors when not verbose.
    """
    import llama_cpp._internals as internals
    import llama_cpp.llama as llama
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    def keep_stdio(disable: bool = True):
        return nullcontext()

    patches = [(internals, "suppress_stdout_stderr", keep_stdio), (llama, "suppress_stdout_stderr", keep_stdio)]
    if not extra_buffers:
        patches.append((lib, "llama_model_default_params", params))
    with _LOAD_LOCK:
        saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
        for module, name, value in patches:
            setattr(module, name, value)
        try:
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)


class LlamaCppLLM(LLM):
    def __init__(self, model_path: Path, name: str, n_ctx: int = 4096, n_threads: int | None = None,
                 extra_buffers: bool = False):
        from llama_cpp import Llama

        self.name = f"local:{name}"
        only_errors_on_stderr()
        with loading_settings(extra_buffers):
            self._llama = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or 2,
                use_mmap=True,  # pages come from the OS file cache: a second process starts without a copy
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
