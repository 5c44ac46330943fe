"""The Qdrant store (local mode) against the contract, and an index kept in it: one collection per
generation, committed like the FAISS files, checked on load, dropped when no generation uses it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from rag.embedders.fake import FakeEmbedder
from rag.errors import IndexBusy, IndexDamaged, IndexMissing, SettingsError
from rag.index import load_index
from rag.ingest import ensure_index, ingest_paths, rebuild_index
from rag.service import Assistant
from rag.settings import load_settings
from rag.stores.qdrant import QdrantBackend, client_for, close_clients
from shells.cli import app
from tests.stores.contract import StoreContract


@pytest.fixture(autouse=True)
def release_clients():
    """Each test starts and ends with no client open (local mode locks its folder while one is)."""
    close_clients()
    yield
    close_clients()


class TestQdrantStore(StoreContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return QdrantBackend(path=tmp_path / "qdrant")

    def reopen(self) -> None:
        close_clients()


@pytest.fixture
def qdrant_settings(tmp_path, indexed, corpus_copy):
    return indexed(load_settings(embedder="fake", llm="fake", index_dir=tmp_path / "in-qdrant",
                                 corpus_dir=corpus_copy, vector_store="qdrant"))


def collections(settings) -> list[str]:
    client, _ = client_for(None, settings.qdrant_path)
    return sorted(c.name for c in client.get_collections().collections)


def test_an_index_in_qdrant_loads_as_the_faiss_one_does(qdrant_settings, fake_settings):
    in_qdrant, in_faiss = load_index(qdrant_settings.index_dir, FakeEmbedder()), load_index(fake_settings.index_dir)
    assert [c.chunk_id for c in in_qdrant.chunks] == [c.chunk_id for c in in_faiss.chunks]
    assert in_qdrant.sentences == in_faiss.sentences
    assert np.array_equal(in_qdrant.vectors, in_faiss.vectors)
    assert np.array_equal(in_qdrant.sentence_vectors, in_faiss.sentence_vectors)
    store = in_qdrant.manifest["store"]
    assert store["backend"] == "qdrant" and store["path"] == str(qdrant_settings.qdrant_path.resolve())
    assert set(in_qdrant.manifest["files"]) == {"chunks.jsonl", "sentences.jsonl", "timeline.json"}  # vectors: Qdrant
    assert collections(qdrant_settings) == sorted(p["collection"] for p in store["parts"].values())


def test_retrieval_on_qdrant_ranks_and_filters_as_on_faiss(qdrant_settings, fake_settings):
    question = "What did the 1956 Soviet-Japanese declaration say about Shikotan and Habomai?"
    on_qdrant, on_faiss = Assistant.from_settings(qdrant_settings), Assistant.from_settings(fake_settings)
    assert [p.chunk.chunk_id for p in on_qdrant.retrieve(question, k=6)] == \
        [p.chunk.chunk_id for p in on_faiss.retrieve(question, k=6)]
    doc = on_faiss.retrieve(question, k=1)[0].chunk.doc_id
    other = next(d for d in on_qdrant.index.documents if d != doc)
    filtered = on_qdrant.retrieve(question, k=5, doc_ids=[other])
    assert filtered and {p.chunk.doc_id for p in filtered} == {other}


def test_a_new_generation_drops_the_old_collections_and_what_a_crashed_writer_left(qdrant_settings):
    first = load_index(qdrant_settings.index_dir)
    orphan = QdrantBackend(path=qdrant_settings.qdrant_path).create(
        qdrant_settings.index_dir / "gen-20000101T000000-crashed0", "chunks", 256)  # a writer died before its commit
    assert orphan.collection in collections(qdrant_settings)
    assert load_index(qdrant_settings.index_dir).generation == first.generation  # the live index is untouched
    rebuild_index(qdrant_settings, FakeEmbedder())
    second = load_index(qdrant_settings.index_dir)
    assert second.generation != first.generation
    assert collections(qdrant_settings) == sorted(p["collection"] for p in second.manifest["store"]["parts"].values())


def test_a_changed_vector_or_a_dropped_collection_is_refused(qdrant_settings):
    index = load_index(qdrant_settings.index_dir)
    chunks = index.stores["chunks"]
    chunks.add([3], index.vectors[4:5], [{"doc_id": index.chunks[3].doc_id}])  # overwrite point 3
    with pytest.raises(IndexDamaged, match="chunks vectors do not match the manifest"):
        load_index(qdrant_settings.index_dir)
    client, _ = client_for(None, qdrant_settings.qdrant_path)
    client.delete_collection(index.manifest["store"]["parts"]["chunks"]["collection"])
    with pytest.raises(IndexDamaged, match="collection .*-chunks is missing.*rag index rebuild"):
        load_index(qdrant_settings.index_dir)


def test_switching_the_store_makes_the_index_stale(qdrant_settings):
    faiss_settings = qdrant_settings.model_copy(update={"vector_store": "faiss"})
    with pytest.raises(IndexMissing, match="keeps its vectors in qdrant .* the settings say faiss"):
        Assistant.from_settings(faiss_settings)
    assert ensure_index(faiss_settings, FakeEmbedder()).manifest["store"]["backend"] == "faiss"


def test_a_url_without_the_qdrant_store_is_a_settings_error(monkeypatch):
    monkeypatch.setenv("RAG_QDRANT_URL", "http://127.0.0.1:6333")
    with pytest.raises(SettingsError, match="RAG_VECTOR_STORE=qdrant"):
        load_settings()


def test_a_local_folder_another_process_has_open_is_busy_with_a_message(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from qdrant_client import QdrantClient; "
         f"c = QdrantClient(path={str(tmp_path / 'q')!r}); print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(IndexBusy, match="open in another process.*RAG_QDRANT_URL"):
            client_for(None, tmp_path / "q")
    finally:
        holder.communicate("")
    client_for(None, tmp_path / "q")  # free again once it closed


def test_ingest_into_qdrant_is_searchable_by_article_and_info_names_the_store(qdrant_settings, tmp_path, monkeypatch):
    note = tmp_path / "note.txt"
    note.write_text("Kunashir fishermen\n\nThe Kunashir fishing cooperative signed a salmon quota deal in spring.\n")
    report = ingest_paths([note], qdrant_settings, FakeEmbedder())
    passages = Assistant.from_settings(qdrant_settings).retrieve("salmon quota deal", k=3, doc_ids=report.added)
    assert [p.chunk.doc_id for p in passages] == report.added
    monkeypatch.setenv("RAG_INDEX_DIR", str(qdrant_settings.index_dir))
    monkeypatch.setenv("RAG_VECTOR_STORE", "qdrant")
    result = CliRunner().invoke(app, ["index", "info"])
    assert result.exit_code == 0 and f"store:     qdrant {qdrant_settings.qdrant_path.resolve()}" in result.output
