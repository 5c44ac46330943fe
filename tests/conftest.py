"""Shared fixtures. Network is off: only loopback connections are allowed (local test servers)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from rag.settings import CHECKOUT, load_settings

CORPUS = CHECKOUT / "corpus"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
            raise RuntimeError(f"network access in tests is off (tried {address})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Settings come from the test, not from the developer's shell or a stray rag.toml."""
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "RAG_CONFIG", "RAG_HOME", "RAG_LLM", "RAG_INDEX_DIR",
                "RAG_CORPUS_DIR", "RAG_EMBEDDER", "RAG_K", "RAG_LOCAL_MODEL", "RAG_API_KEY", "RAG_VECTOR_STORE",
                "RAG_QDRANT_URL", "RAG_QDRANT_PATH"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the bundled corpus, for tests that ingest."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def indexed():
    """`indexed(settings)` builds the index those settings name and returns them: the service only
    loads an index, building one is the explicit step a user takes (`rag index rebuild`)."""
    from rag.embedders import make_embedder
    from rag.ingest import rebuild_index

    def build(settings):
        rebuild_index(settings, make_embedder(settings))
        return settings

    return build


@pytest.fixture
def fake_settings(tmp_path, indexed):
    """Fake embedder and fake LLM over the bundled corpus, its index built in a temp folder."""
    return indexed(load_settings(embedder="fake", llm="fake", index_dir=tmp_path / "index"))
