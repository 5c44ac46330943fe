"""The FAISS store against the contract, and the generation files it writes."""

from __future__ import annotations

import json

import pytest

from rag.index import CURRENT
from rag.stores.faiss import FaissBackend
from tests.stores.contract import StoreContract


class TestFaissStore(StoreContract):
    @pytest.fixture
    def backend(self):
        return FaissBackend()


def test_a_faiss_generation_keeps_its_hashed_files(fake_settings):
    gen = fake_settings.index_dir / (fake_settings.index_dir / CURRENT).read_text()
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["store"]["backend"] == "faiss"
    assert set(manifest["files"]) == {"index.faiss", "chunks.jsonl", "sentences.faiss", "sentences.jsonl",
                                      "timeline.json"}
    assert {p["file"] for p in manifest["store"]["parts"].values()} == {"index.faiss", "sentences.faiss"}
