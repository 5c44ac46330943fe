"""The bundled local model through llama-cpp-python (the default when no endpoint is configured)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rag.llms.base import LLM, Message, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama


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
    """llama.cpp keeps one prompt's KV cache per context and re-evaluates a new prompt only from its
    first token that differs. A conversation alternates two fixed instruction sets (the follow-up
    rewrite, then the answer), and with one context each would evict the other's. So each system
    prompt gets a context of its own, up to `contexts` (the least recently used one is reused
    beyond that): the weights are mapped once by the OS (`use_mmap`), a context adds its KV cache."""

    def __init__(self, model_path: Path, name: str, n_ctx: int = 4096, n_threads: int | None = None,
                 extra_buffers: bool = False, contexts: int = 2):
        self.name = f"local:{name}"
        self._load = partial(_load_llama, model_path, n_ctx, n_threads or os.cpu_count() or 2, extra_buffers)
        self._idle = [self._load()]  # the first context loads now: a broken model file fails here
        self._tokenizer = self._idle[0]
        self._contexts: OrderedDict[str, Llama] = OrderedDict()  # system prompt -> its context, oldest use first
        self._max_contexts = max(contexts, 1)
        # One model call at a time: concurrent calls would share the CPU and interleave a context's state.
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _context(self, messages: list[Message]) -> Llama:
        key = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        if key in self._contexts:
            self._contexts.move_to_end(key)
        elif len(self._contexts) < self._max_contexts:
            self._contexts[key] = self._idle.pop() if self._idle else self._load()
        else:
            self._contexts[key] = self._contexts.popitem(last=False)[1]
        return self._contexts[key]

    def prepare(self, instructions: Message) -> None:
        """Prefill the instructions in their own context: a prompt with an empty question, one token
        generated. The next prompt that opens with them re-evaluates only from its user turn on."""
        with self._lock:
            self._context([instructions]).create_chat_completion(
                messages=[instructions, {"role": "user", "content": ""}], max_tokens=1, temperature=0.0)

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               usage: Usage | None = None, grammar: str | None = None) -> Iterator[str]:
        """Prompts that start with the same fixed instructions skip their prefill (see the class)."""
        from llama_cpp import LlamaGrammar

        constraint = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
        with self._lock:
            llama = self._context(messages)
            prompt_tokens, finish = None, None
            for part in llama.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True,
                grammar=constraint,
            ):
                if prompt_tokens is None:
                    prompt_tokens = llama.n_tokens  # the first part comes before any reply token is evaluated
                choice = part["choices"][0]
                finish = choice.get("finish_reason") or finish
                if piece := choice["delta"].get("content"):
                    yield piece
            if usage is not None and prompt_tokens is not None:
                # Streaming replies carry no usage. The context holds the prompt and the reply's tokens;
                # a reply cut at max_tokens leaves its last token sampled but not evaluated, and one that
                # ends on the end-of-turn token leaves that token out (counting the reply's tokens as if
                # the last were unevaluated put one token too many in every prompt).
                usage["prompt_tokens"] = prompt_tokens
                usage["completion_tokens"] = llama.n_tokens - prompt_tokens + (finish == "length")


def _load_llama(model_path: Path, n_ctx: int, n_threads: int, extra_buffers: bool) -> Llama:
    from llama_cpp import Llama

    only_errors_on_stderr()
    with loading_settings(extra_buffers):
        return Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            use_mmap=True,  # pages come from the OS file cache: a second context or process maps the same copy
            verbose=False,
        )
