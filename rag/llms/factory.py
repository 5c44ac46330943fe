"""Choose the LLM from settings: an OpenAI-compatible endpoint when one is configured, else local."""

from __future__ import annotations

from rag.llms.base import LLM
from rag.settings import Settings


def backend_name(settings: Settings) -> str:
    if settings.llm != "auto":
        return settings.llm
    return "openai" if (settings.openai_base_url or settings.openai_api_key) else "local"


def make_llm(settings: Settings) -> LLM:
    backend = backend_name(settings)
    if backend == "fake":
        from rag.llms.fake import FakeLLM

        return FakeLLM()
    if backend == "openai":
        from rag.llms.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings.openai_model, settings.openai_base_url, settings.openai_api_key,
                               settings.request_timeout_s)
    from rag.llms.llama_cpp import LlamaCppLLM
    from rag.llms.model_files import ensure_local_model

    path = ensure_local_model(settings.local_model, settings.model_cache_dir)
    return LlamaCppLLM(path, settings.local_model, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                       extra_buffers=settings.llama_extra_buffers)
