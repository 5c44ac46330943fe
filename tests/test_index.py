import json
import subprocess
import sys

import pytest

from rag.chunking import chunk_articles
from rag.documents import load_corpus
from rag.embedders.fake import FakeEmbedder
from rag.errors import IndexUnavailable
from rag.index import CURRENT, build_index, load_index, save_index
from rag.ingest import ensure_index
from tests.conftest import CORPUS


@pytest.fixture
def built(fake_settings):
    articles = load_corpus(CORPUS)
    chunks = chunk_articles(articles, fake_settings.chunk_size, fake_settings.chunk_overlap)
    index = build_index(articles, chunks, FakeEmbedder(), fake_settings)
    save_index(index, fake_settings.index_dir)
    return index, fake_settings


def test_round_trip_keeps_chunks_vectors_and_manifest(built):
    index, settings = built
    loaded = load_index(settings.index_dir, FakeEmbedder())
    assert [c.chunk_id for c in loaded.chunks] == [c.chunk_id for c in index.chunks]
    assert loaded.vectors.shape == index.vectors.shape
    manifest = loaded.manifest
    assert manifest["chunk_count"] == len(index.chunks) and manifest["dimension"] == 256
    assert manifest["embedding_model"] == "fake-hashed-bow"
    assert set(manifest["documents"]) == {a.doc_id for a in load_corpus(CORPUS)}
    assert manifest["chunking"]["chunk_size"] == settings.chunk_size
    assert loaded.sentences == index.sentences and manifest["sentence_count"] == len(index.sentences)
    assert loaded.sentence_vectors.shape == (len(index.sentences), 256)
    assert abs(loaded.sentence_vectors - index.sentence_vectors).max() < 1e-6


def test_tampered_sentence_file_is_refused(built):
    _, settings = built
    gen = settings.index_dir / (settings.index_dir / CURRENT).read_text()
    path = gen / "sentences.jsonl"
    path.write_text(path.read_text().replace("Shikotan", "Hokkaido", 1))
    with pytest.raises(IndexUnavailable, match="sentences.jsonl does not match its manifest"):
        load_index(settings.index_dir)


def test_refuses_other_embedder_and_tampered_files(built):
    _, settings = built
    with pytest.raises(IndexUnavailable, match="built with fake-hashed-bow"):
        load_index(settings.index_dir, _Other())
    gen = settings.index_dir / (settings.index_dir / CURRENT).read_text()
    with (gen / "chunks.jsonl").open("a") as fh:
        fh.write(json.dumps({"chunk_id": "x", "doc_id": "x", "title": "x", "start": 0, "end": 1, "text": "x"}) + "\n")
    with pytest.raises(IndexUnavailable, match="chunks.jsonl does not match its manifest"):
        load_index(settings.index_dir)


class _Other(FakeEmbedder):
    name = "other-model"


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexUnavailable, match="rag index rebuild"):
        load_index(tmp_path / "nothing")


def test_exception_mid_write_leaves_previous_index(built, monkeypatch):
    index, settings = built
    before = load_index(settings.index_dir).manifest["created"]
    import rag.index as index_module

    real = index_module._fsync_write

    def fail_on_manifest(path, data):
        if path.name == "manifest.json":
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(index_module, "_fsync_write", fail_on_manifest)
    with pytest.raises(OSError, match="disk full"):
        save_index(index, settings.index_dir)
    assert load_index(settings.index_dir).manifest["created"] == before


def test_killed_writer_leaves_previous_index(built):
    """SIGKILL the writer just before the commit point: the old generation still loads."""
    _, settings = built
    before = load_index(settings.index_dir).manifest
    script = f"""
import os, signal
import rag.index as ix
from rag.settings import load_settings
from rag.ingest import rebuild_index
from rag.embedders.fake import FakeEmbedder
real = os.replace
def die(src, dst):
    if str(dst).endswith("CURRENT"):
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
ix.os.replace = die
settings = load_settings(embedder="fake", index_dir={str(settings.index_dir)!r}, chunk_size=500)
rebuild_index(settings, FakeEmbedder())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    after = load_index(settings.index_dir, FakeEmbedder())
    assert after.manifest == before  # the half-written chunk_size=500 generation is not live
    assert len(list(settings.index_dir.glob("gen-*"))) == 2  # it was written, just never committed


def test_rebuilds_only_when_corpus_or_settings_change(built):
    index, settings = built
    embedder = FakeEmbedder()
    assert ensure_index(settings, embedder).manifest["created"] == index.manifest["created"]
    changed = settings.model_copy(update={"chunk_size": 500})
    rebuilt = ensure_index(changed, embedder)
    assert rebuilt.manifest["chunking"]["chunk_size"] == 500
    assert len(rebuilt.chunks) > len(index.chunks)


def test_a_change_in_cleaning_makes_the_index_stale(built, monkeypatch):
    index, settings = built
    import rag.documents as documents

    real = documents.clean_text
    monkeypatch.setattr(documents, "clean_text", lambda raw, drop_lines=frozenset(): real(raw, drop_lines).upper())
    assert not index.is_current(load_corpus(CORPUS), settings, FakeEmbedder())


def test_progress_is_reported_per_kind_so_the_rate_reads_as_chunks_per_second(fake_settings):
    articles = load_corpus(CORPUS)
    chunks = chunk_articles(articles, fake_settings.chunk_size, fake_settings.chunk_overlap)
    bars = {}

    def progress_factory(total, label):
        bars[label] = [total, 0]
        return lambda n: bars[label].__setitem__(1, bars[label][1] + n)

    index = build_index(articles, chunks, FakeEmbedder(), fake_settings, progress_factory)
    assert bars == {"embedding chunks": [len(chunks), len(chunks)],
                    "embedding sentences": [len(index.sentences), len(index.sentences)]}
    assert len(index.sentences) > len(chunks)
