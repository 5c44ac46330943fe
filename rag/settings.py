"""One typed settings tree: defaults < config file (TOML) < environment < explicit overrides.

Built once by the entry point (CLI, UI, eval harness) with `load_settings` and passed down;
nothing reads settings at import time.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parent.parent

K_MAX = 20  # most chunks a question may retrieve (the chat's slider and the API share it)

LocalModel = Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]

_config_file: ContextVar[Path | None] = ContextVar("_config_file", default=None)


def _openai_alias(name: str) -> AliasChoices:
    """Accept the field name, RAG_-prefixed env var and the standard OpenAI env var."""
    return AliasChoices(name, f"RAG_{name.upper()}", name.upper())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid", populate_by_name=True)

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index"
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    model_cache_dir: Path = Path.home() / ".cache" / "kuril-rag" / "models"

    # chunking
    chunk_size: int = Field(900, ge=100, description="max characters per chunk")
    chunk_overlap: int = Field(150, ge=0)

    # embeddings
    embedder: Literal["minilm", "onnx", "fake"] = "minilm"  # onnx: the same MiniLM on ONNX Runtime, without torch

    # retrieval
    k: int = Field(4, ge=1, le=K_MAX, description="chunks retrieved; evidence is selected from their sentences")
    fetch_k: int = Field(20, ge=1, description="candidates per ranking before fusion")
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted", description="how the dense, sentence and BM25 rankings combine (weighted measured better)")
    rrf_k: int = Field(60, ge=1, description="reciprocal-rank-fusion constant")
    fusion_weights: tuple[float, float, float] = Field(
        (1.0, 1.0, 0.5), description="weighted fusion: dense chunk, best sentence, BM25 (max-normalised)")

    # evidence
    evidence_tokens: int = Field(350, ge=50, le=3000, description="token budget of the numbered evidence")
    min_evidence_score: float = Field(
        0.56, description="no evidence sentence scoring this much (cosine + key-term share / 2): abstain")

    # generation
    llm: Literal["auto", "local", "openai", "fake"] = Field(
        "auto", description="auto = openai when OPENAI_BASE_URL/OPENAI_API_KEY is set, else local"
    )
    local_model: LocalModel = "qwen2.5-coder-1.5b"
    n_ctx: int = 4096
    n_threads: int | None = None
    llama_extra_buffers: bool = Field(
        False, description="llama.cpp AMX/repacked weight buffers: they crash on this project's CPUs")
    # The claim check after generation re-points or adds every citation anyway; the grammar only forces
    # the form, and llama.cpp then filters the whole vocabulary at each token. Dev, one run each:
    # grammar on 9.0 tok/s, answer p50 6.8 s, combined 0.56; off 11.6 tok/s, 5.0 s, 0.56.
    citation_grammar: bool = Field(
        False, description="constrain local answers to sentences ending in an existing [n] (llama.cpp grammar)")
    max_tokens: int = Field(160, ge=16, description="answer length cap: 1-3 sentences need far less")
    temperature: float = 0.0
    openai_base_url: str | None = Field(None, validation_alias=_openai_alias("openai_base_url"))
    openai_api_key: str | None = Field(None, validation_alias=_openai_alias("openai_api_key"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_openai_alias("openai_model"))
    request_timeout_s: float = 120.0

    # input limits
    max_question_chars: int = 2000

    # the chat server
    allowed_hosts: tuple[str, ...] = Field(
        (), description="Host names the chat answers besides loopback and --host (e.g. a LAN name with --host 0.0.0.0)")

    # concurrency
    queue_size: int = Field(
        100, ge=1, description="chat/API questions that may wait for the model; more get 'queue is full' at once")
    lock_timeout_s: float = Field(
        300.0, ge=0, description="how long ingest and rebuild wait for another writer of the index to finish")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        path = _config_file.get()
        sources = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(config_file: Path | str | None = None, **overrides) -> Settings:
    """Build the settings once. The config file is `config_file`, else $RAG_CONFIG, else ./rag.toml."""
    path = config_file or os.environ.get("RAG_CONFIG")
    if path is None and (Path.cwd() / "rag.toml").is_file():
        path = Path.cwd() / "rag.toml"
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    token = _config_file.set(Path(path) if path else None)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _config_file.reset(token)
