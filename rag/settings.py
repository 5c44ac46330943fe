"""One typed settings tree: defaults < config file (TOML) < environment < explicit overrides.

Built once by the entry point (CLI, UI, eval harness) with `load_settings` and passed down;
nothing reads settings at import time.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

from rag.errors import SettingsError

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT = PACKAGE_DIR.parent  # the source tree, when the package runs from one (editable install, tests)

K_MAX = 20  # most chunks a question may retrieve (the chat's slider, the CLI and the API share it)
LLM_BACKENDS = ("auto", "local", "openai", "fake")
LOCAL_MODELS = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")  # their files: rag.llms.model_files
LocalModel = Literal[LOCAL_MODELS]


def bundled(name: str) -> Path:
    """The bundled `prompts/` or `corpus/`: package data in an installed wheel, the top-level folder
    of a checkout."""
    packaged = PACKAGE_DIR / "bundled" / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def default_home() -> Path:
    """Where the live index and ingested articles go when RAG_HOME is unset: the checkout itself
    (./index, ./corpus) when run from one, else the per-user data folder."""
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT
    import platformdirs

    return Path(platformdirs.user_data_dir("kuril-rag", appauthor=False))


_config_file: ContextVar[Path | None] = ContextVar("_config_file", default=None)


def _openai_alias(name: str) -> AliasChoices:
    """Accept the field name, RAG_-prefixed env var and the standard OpenAI env var."""
    return AliasChoices(name, f"RAG_{name.upper()}", name.upper())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid", populate_by_name=True)

    home: Path = Field(default_factory=default_home, description="data folder: RAG_HOME (see default_home)")
    corpus_dir: Path | None = Field(None, description="the articles (default: <home>/corpus, seeded with the bundled ones)")
    index_dir: Path | None = Field(None, description="the live index (default: <home>/index)")
    prompts_dir: Path = Field(default_factory=lambda: bundled("prompts"))
    model_cache_dir: Path = Path.home() / ".cache" / "kuril-rag" / "models"

    # chunking
    chunk_size: int = Field(900, ge=100, description="max characters per chunk")
    chunk_overlap: int = Field(150, ge=0)

    # embeddings
    embedder: Literal["openvino", "onnx", "minilm", "fake"] = Field(
        "openvino", description="all-MiniLM-L6-v2 exported to ONNX, run by OpenVINO (default: bf16 where the CPU "
                                "has it, fastest) or ONNX Runtime (fp32), neither importing torch; minilm: the "
                                "same model through sentence-transformers/torch, the reference")

    # the vector store
    vector_store: Literal["faiss", "qdrant"] = Field(
        "faiss", description="faiss: files in each index generation; qdrant: a collection per generation (rag.stores)")
    qdrant_url: str | None = Field(None, description="a Qdrant server or cluster (else local mode at qdrant_path)")
    qdrant_path: Path | None = Field(None, description="Qdrant local mode's folder (default: <index_dir>/qdrant)")
    qdrant_prefix: str = Field("kuril-rag", pattern=r"^[A-Za-z0-9_-]+$",
                               description="collection-name prefix: one per index sharing a Qdrant server")

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
    llm: Literal[LLM_BACKENDS] = Field(
        "auto", description="auto = openai when OPENAI_BASE_URL/OPENAI_API_KEY is set, else local"
    )
    local_model: LocalModel = "qwen2.5-coder-1.5b"
    n_ctx: int = 4096
    n_threads: int | None = None
    llama_extra_buffers: bool = Field(
        False, description="llama.cpp AMX/repacked weight buffers: they crash on Sapphire Rapids and slow the prefill on Zen 4")
    llama_contexts: int = Field(
        2, ge=1, description="llama.cpp contexts: one per system prompt (rewrite, answer) keeps its prefix cached")
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
    api_key: SecretStr | None = Field(
        None, description="RAG_API_KEY: once set, every route (chat page, /ask, /v1) wants it as a bearer token")

    # concurrency
    queue_size: int = Field(
        100, ge=1, description="chat/API questions that may wait for the model; more get 'queue is full' at once")
    lock_timeout_s: float = Field(
        300.0, ge=0, description="how long ingest and rebuild wait for another writer of the index to finish")

    @model_validator(mode="after")
    def _under_home(self) -> Settings:
        self.corpus_dir = self.corpus_dir or self.home / "corpus"
        self.index_dir = self.index_dir or self.home / "index"
        self.qdrant_path = self.qdrant_path or self.index_dir / "qdrant"
        if self.qdrant_url and self.vector_store != "qdrant":
            raise ValueError("qdrant_url is set but vector_store is not qdrant: set RAG_VECTOR_STORE=qdrant too")
        return self

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
        raise SettingsError(f"config file not found: {path}")
    token = _config_file.set(Path(path) if path else None)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(f"bad settings: {_describe(exc)}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    finally:
        _config_file.reset(token)


def _describe(exc: ValidationError) -> str:
    """One line per wrong value, named as the user set it (field, RAG_ variable or config key)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
