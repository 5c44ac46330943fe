"""Choose the LLM from settings: an OpenAI-compatible endpoint when one is configured, else local."""

from __future__ import annotations

from rag.llms.base import LLM
from rag.settings import Settings


def backend_name(settings: Settings) -> str:
    if settings.llm != "auto":
        return settings.llm
    return "openai" if (settings.openai_base_url or settings.openai_api_key) else "local"


def model_choices(settings: Settings) -> list[str]:
    """The models a request may choose from, the configured one first: every installed bundled
    model for the local backend, the configured model of an endpoint."""
    backend = backend_name(settings)
    if backend == "fake":
        return ["fake"]
    if backend == "openai":
        return [settings.openai_model]
    from rag.llms.model_files import installed_models

    installed = installed_models()
    return [settings.local_model] + [m for m in installed if m != settings.local_model]


def make_llm(settings: Settings, model: str | None = None) -> LLM:
    """The backend's LLM for `model` (one of `model_choices`; default the configured one)."""
    backend = backend_name(settings)
    if backend == "fake":
        from rag.llms.fake import FakeLLM

        return FakeLLM()
    if backend == "openai":
        from rag.llms.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(model or settings.openai_model, settings.openai_base_url, settings.openai_api_key,
                               settings.request_timeout_s)
    from rag.llms.llama_cpp import LlamaCppLLM
    from rag.llms.model_files import ensure_local_model

    name = model or settings.local_model
    path = ensure_local_model(name, settings.model_cache_dir)
    return LlamaCppLLM(path, name, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                       extra_buffers=settings.llama_extra_buffers, contexts=settings.llama_contexts)
