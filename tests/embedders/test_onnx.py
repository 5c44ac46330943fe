"""The embedders that run the ONNX export (ONNX Runtime, OpenVINO): cache handling and the numpy side
without the model, parity with the torch backend and the torch-free run time with them (integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from rag.embedders import onnx as onnx_embedder
from rag.embedders.onnx import (OnnxMiniLMEmbedder, ensure_onnx_model, length_batches, load_tokenizer,
                                mean_pool_normalised, minilm_dir)
from rag.settings import CHECKOUT, load_settings


# --- model cache -------------------------------------------------------------------------------------

@pytest.fixture
def fake_export(tmp_path, monkeypatch):
    """A source folder and an exporter that writes known bytes and counts its calls."""
    source = tmp_path / "minilm"
    source.mkdir()
    (source / "model.safetensors").write_bytes(b"weights")
    calls = []

    def export(source_dir, target):
        calls.append(target)
        target.write_bytes(b"onnx-model-bytes")

    monkeypatch.setattr(onnx_embedder, "export_onnx", export)
    return source, tmp_path / "cache", calls


def test_exports_once_then_reuses(fake_export):
    source, cache, calls = fake_export
    path = ensure_onnx_model(cache, source)
    assert path.read_bytes() == b"onnx-model-bytes"
    assert ensure_onnx_model(cache, source) == path
    assert len(calls) == 1
    assert sorted(p.name for p in cache.iterdir()) == [
        "all-MiniLM-L6-v2.v1.lock", "all-MiniLM-L6-v2.v1.onnx", "all-MiniLM-L6-v2.v1.verified.json"]


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[:5]),  # truncated
    lambda p: p.write_bytes(b"X" * len(p.read_bytes())),  # same size, other bytes
    lambda p: p.with_suffix(".verified.json").unlink(),  # export finished, marker never written
    lambda p: p.with_suffix(".verified.json").write_text("{not json"),
])
def test_damaged_export_is_redone(fake_export, damage):
    source, cache, calls = fake_export
    damage(ensure_onnx_model(cache, source))
    path = ensure_onnx_model(cache, source)
    assert len(calls) == 2
    assert path.read_bytes() == b"onnx-model-bytes"
    assert ensure_onnx_model(cache, source) == path and len(calls) == 2


def test_new_weights_are_exported_again(fake_export):
    source, cache, calls = fake_export
    ensure_onnx_model(cache, source)
    (source / "model.safetensors").write_bytes(b"other weights")
    ensure_onnx_model(cache, source)
    assert len(calls) == 2


def test_failed_export_leaves_no_file(fake_export, monkeypatch):
    source, cache, calls = fake_export

    def half_then_crash(source_dir, target):
        target.write_bytes(b"onnx-mo")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_embedder, "export_onnx", half_then_crash)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        ensure_onnx_model(cache, source)
    assert [p.name for p in cache.iterdir()] == ["all-MiniLM-L6-v2.v1.lock"]


def test_concurrent_callers_export_once(fake_export, monkeypatch):
    source, cache, calls = fake_export
    export = onnx_embedder.export_onnx

    def slow_export(source_dir, target):
        time.sleep(0.3)  # the other callers arrive while this one exports
        export(source_dir, target)

    monkeypatch.setattr(onnx_embedder, "export_onnx", slow_export)
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_onnx_model(cache, source))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 3 and all(p.read_bytes() == b"onnx-model-bytes" for p in results)


# --- pooling and batching ----------------------------------------------------------------------------

def test_mean_pool_ignores_padding_and_normalises():
    hidden = np.array([[[3.0, 0.0], [1.0, 2.0], [100.0, 100.0]],
                       [[0.0, 5.0], [100.0, -100.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    pooled = mean_pool_normalised(hidden, mask)
    np.testing.assert_allclose(pooled, [[2 / 5 ** 0.5, 1 / 5 ** 0.5], [0.0, 1.0]], rtol=1e-6)


def test_length_batches_cover_every_index_once_within_the_budget():
    lengths = [5, 1, 3, 300, 2, 3, 1]
    batches = length_batches(lengths, max_tokens=6)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches == [[1, 6, 4], [2, 5], [0], [3]]  # shortest first; 300 alone, over the budget
    assert all(len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 6 for b in batches)


class TokenCountSession:
    """Stands in for the ONNX model: each token's vector is a one-hot of its id, so a pooled vector
    identifies the text, and padding (id 0) would show if the mask were not applied."""

    def __init__(self):
        self.batch_shapes = []

    def run(self, outputs, feeds):
        ids = feeds["input_ids"]
        self.batch_shapes.append(ids.shape)
        hidden = np.zeros((*ids.shape, OnnxMiniLMEmbedder.dimension), dtype=np.float32)
        np.put_along_axis(hidden, (ids % OnnxMiniLMEmbedder.dimension)[..., None], 1.0, axis=2)
        return [hidden]


def test_batching_keeps_input_order_and_ignores_padding():
    session = TokenCountSession()
    embedder = OnnxMiniLMEmbedder(session, load_tokenizer(minilm_dir()), max_batch_tokens=24)
    texts = ["a much longer sentence about the Kuril Islands and the 1956 declaration",
             "short", "", "a medium sentence about Japan", "tiny one", "short"]
    together = embedder.embed_documents(texts)
    assert len(session.batch_shapes) > 2  # the budget really split them
    alone = [embedder.embed_documents([t])[0] for t in texts]
    np.testing.assert_allclose(together, alone, atol=1e-6)
    assert len({tuple(np.round(v, 5)) for v in together}) == 5  # distinct texts, distinct vectors


# --- the real model ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """One real export for this module's integration tests."""
    cache = tmp_path_factory.mktemp("models")
    ensure_onnx_model(cache, minilm_dir())
    return cache


EXPORT_BACKENDS = ("onnx", "openvino")  # both run the same export


@pytest.mark.integration
@pytest.mark.parametrize("backend", EXPORT_BACKENDS)
def test_matches_sentence_transformers_on_every_chunk_and_sentence(onnx_cache, backend):
    from rag.chunking import chunk_articles
    from rag.documents import load_corpus
    from rag.embedders import make_embedder
    from rag.embedders.minilm import MiniLMEmbedder
    from rag.index import article_sentences

    articles = load_corpus(CHECKOUT / "corpus")
    chunks = [c.search_text for c in chunk_articles(articles, 900, 150)]
    sentences = [s.text for s in article_sentences(articles)]
    embedder = make_embedder(load_settings(embedder=backend, model_cache_dir=onnx_cache))
    assert isinstance(embedder, OnnxMiniLMEmbedder) and embedder.name != MiniLMEmbedder.name
    torch_embedder = MiniLMEmbedder()
    for texts in (chunks, sentences):
        ours, theirs = np.array(embedder.embed_documents(texts)), np.array(torch_embedder.embed_documents(texts))
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.99, (cosines.min(), texts[int(cosines.argmin())][:80])


@pytest.mark.integration
@pytest.mark.parametrize("backend", EXPORT_BACKENDS)
def test_embedding_with_an_existing_export_never_imports_torch(onnx_cache, tmp_path, backend):
    code = (
        "import sys, json\n"
        "from rag.embedders import make_embedder\n"
        "from rag.settings import load_settings\n"
        f"e = make_embedder(load_settings(embedder={backend!r}, model_cache_dir={str(onnx_cache)!r}))\n"
        "vectors = e.embed_documents(['The Kuril Islands', 'Shikotan and Habomai']) + [e.embed_query('Who?')]\n"
        "print(json.dumps({'dims': [len(v) for v in vectors], 'torch': 'torch' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"dims": [384, 384, 384], "torch": False}


@pytest.mark.integration
def test_retrieval_eval_agrees_with_the_torch_backend(onnx_cache, tmp_path):
    """The export run by ONNX Runtime and by OpenVINO (the default) ranks the gold evidence as the torch
    reference does."""
    from evals import harness
    from rag.embedders import make_embedder
    from rag.ingest import rebuild_index
    from rag.service import Assistant

    scores = {}
    for backend in ("minilm", *EXPORT_BACKENDS):
        settings = load_settings(embedder=backend, llm="fake", model_cache_dir=onnx_cache,
                                 index_dir=tmp_path / backend)
        rebuild_index(settings, make_embedder(settings))
        assistant = Assistant.from_settings(settings)
        corpus = harness.Corpus.of(assistant)
        records, _ = harness.load_gold_set(harness.GOLD, corpus.articles)
        retrieval = harness.summarize(harness.run(assistant, records, corpus, answer=False))["retrieval"]
        scores[backend] = retrieval["recall@5"], retrieval["mrr@10"]
    torch_recall, torch_mrr = scores.pop("minilm")
    for recall, mrr in scores.values():
        assert abs(recall - torch_recall) <= 0.01 and abs(mrr - torch_mrr) <= 0.01, scores


@pytest.mark.integration
@pytest.mark.parametrize("backend", EXPORT_BACKENDS)
def test_rag_retrieve_loads_neither_torch_nor_the_llm(onnx_cache, tmp_path, backend):
    from rag.embedders import make_embedder
    from rag.ingest import rebuild_index

    settings = load_settings(embedder=backend, model_cache_dir=onnx_cache, index_dir=tmp_path / "index")
    rebuild_index(settings, make_embedder(settings))
    code = (
        "import json, sys\n"
        "from shells.cli import full_app\n"
        "try:\n"
        "    full_app()(['retrieve', '--json', 'Shikotan and Habomai'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = ['torch', 'sentence_transformers', 'transformers', 'llama_cpp', 'openai', 'gradio']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT), "RAG_EMBEDDER": backend, "RAG_MODEL_CACHE_DIR": str(onnx_cache),
           "RAG_INDEX_DIR": str(settings.index_dir)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["doc_id"]
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


def test_openvino_uses_bf16_only_where_the_cpu_computes_it():
    from rag.embedders.openvino import precision

    assert precision(["FP32", "BF16", "INT8"]) == "bf16"
    assert precision(["FP32", "FP16", "INT8"]) == "f32"


def test_same_weights_in_another_install_reuse_the_export(fake_export):
    """A second venv or a CI clone installs the same bytes with another mtime: no second export."""
    source, cache, calls = fake_export
    path = ensure_onnx_model(cache, source)
    weights = source / "model.safetensors"
    os.utime(weights, ns=(1, 1))
    assert ensure_onnx_model(cache, source) == path and len(calls) == 1
    assert ensure_onnx_model(cache, source) == path and len(calls) == 1  # and the new mtime is remembered
