"""The retrieval eval (the `make test` gate) on both vector stores: the same MiniLM index kept in FAISS
files and in Qdrant local mode passes the gate on each, and the two agree (recall@5 within 0.01)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rag.index import load_index, save_index
from rag.settings import load_settings
from rag.stores import make_backend
from rag.stores.qdrant import close_clients
from shells.cli import full_app

pytestmark = pytest.mark.integration
GATE = ["--fail-under", "retrieval.recall@5=0.75", "--fail-under", "retrieval.mrr@10=0.70"]


@pytest.fixture(scope="module")
def index_dirs(tmp_path_factory, indexed):
    """The bundled articles embedded once with MiniLM, then committed a second time into Qdrant."""
    faiss_dir, qdrant_dir = tmp_path_factory.mktemp("faiss") / "index", tmp_path_factory.mktemp("qdrant") / "index"
    indexed(load_settings(index_dir=faiss_dir))
    save_index(load_index(faiss_dir), qdrant_dir, make_backend(load_settings(index_dir=qdrant_dir,
                                                                             vector_store="qdrant")))
    close_clients()
    yield {"faiss": faiss_dir, "qdrant": qdrant_dir}
    close_clients()


def retrieval_eval(monkeypatch, out, index_dir, store: str) -> dict:
    monkeypatch.setenv("RAG_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("RAG_VECTOR_STORE", store)
    result = CliRunner().invoke(full_app(), ["eval", "--retrieval-only", "--no-judge", "--out", str(out), *GATE])
    assert result.exit_code == 0, result.output  # the gate passes
    return json.loads((out / "metrics.json").read_text())


def test_the_retrieval_eval_passes_and_agrees_on_faiss_and_qdrant(index_dirs, tmp_path, monkeypatch):
    on_faiss = retrieval_eval(monkeypatch, tmp_path / "faiss", index_dirs["faiss"], "faiss")
    on_qdrant = retrieval_eval(monkeypatch, tmp_path / "qdrant", index_dirs["qdrant"], "qdrant")
    assert (on_faiss["run"]["vector_store"], on_qdrant["run"]["vector_store"]) == ("faiss", "qdrant")
    assert on_qdrant["retrieval"]["questions"] == on_faiss["retrieval"]["questions"] > 0
    assert abs(on_qdrant["retrieval"]["recall@5"] - on_faiss["retrieval"]["recall@5"]) <= 0.01
    assert abs(on_qdrant["retrieval"]["mrr@10"] - on_faiss["retrieval"]["mrr@10"]) <= 0.01
