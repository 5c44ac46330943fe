"""The store contract, run against each backend (tests/stores/test_faiss.py, test_qdrant.py) with the
fake embedder's vectors: add, search, article filter, delete by article, persistence across reopen."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedders.fake import FakeEmbedder

TEXTS = {
    "shikotan": ["Shikotan and Habomai would be handed over after a peace treaty.",
                 "The 1956 declaration names Shikotan and the Habomai islets."],
    "summit": ["Abe and Putin met in Nagasaki for a summit on joint economic activity.",
               "The summit agreed an eight-point economic cooperation plan."],
    "missiles": ["Russia objects to US missile defence systems deployed in Japan.",
                 "Aegis Ashore batteries worry the Russian general staff."],
}
PAYLOADS = [{"doc_id": doc} for doc, texts in TEXTS.items() for _ in texts]
VECTORS = np.asarray(FakeEmbedder().embed_documents([t for texts in TEXTS.values() for t in texts]), "float32")
QUERY = np.asarray(FakeEmbedder().embed_query("the Shikotan and Habomai islets after a peace treaty"), "float32")


class StoreContract:
    """Subclasses give `backend` (a StoreBackend) and may override `reopen` to drop cached state."""

    @pytest.fixture
    def gen(self, tmp_path):
        path = tmp_path / "gen-20260101T000000-contract"
        path.mkdir()
        return path

    @pytest.fixture
    def store(self, backend, gen):
        store = backend.create(gen, "chunks", VECTORS.shape[1])
        store.add(range(len(VECTORS)), VECTORS, PAYLOADS)
        return store

    def reopen(self) -> None:
        """Forget whatever the process holds, so the next open reads what was persisted."""

    def test_search_ranks_by_inner_product(self, store):
        hits = store.search(QUERY, 3)
        expected = np.argsort(-(VECTORS @ QUERY), kind="stable")[:3]
        assert [i for i, _ in hits] == expected.tolist()
        assert [s for _, s in hits] == pytest.approx((VECTORS @ QUERY)[expected].tolist(), abs=1e-5)
        assert store.count == len(VECTORS)

    def test_article_filter_keeps_to_the_articles_named(self, store):
        hits = store.search(QUERY, 10, {"summit", "missiles"})
        assert {PAYLOADS[i]["doc_id"] for i, _ in hits} == {"summit", "missiles"}
        assert len(hits) == 4
        assert store.search(QUERY, 10, {"no-such-article"}) == []

    def test_delete_by_article_removes_all_its_vectors_and_keeps_the_ids_of_the_rest(self, store):
        store.delete({"shikotan"})
        assert store.count == len(VECTORS) - 2
        ids, vectors = store.vectors()
        assert ids.tolist() == [2, 3, 4, 5]
        assert np.abs(vectors - VECTORS[2:]).max() < 1e-6
        assert {i for i, _ in store.search(QUERY, 10)} == {2, 3, 4, 5}
        assert [i for i, _ in store.search(QUERY, 10, {"summit"})] and store.search(QUERY, 10, {"shikotan"}) == []

    def test_persisted_store_reopens_with_the_same_vectors_and_answers(self, backend, store, gen):
        record = backend.persist(store, gen, "chunks")
        before = store.search(QUERY, 4, {"shikotan", "summit"})
        self.reopen()
        reopened = backend.open(gen, "chunks", record, PAYLOADS)
        ids, vectors = reopened.vectors()
        assert ids.tolist() == list(range(len(VECTORS)))
        assert np.array_equal(vectors, VECTORS)  # exactly: the manifest hashes them
        assert [i for i, _ in reopened.search(QUERY, 4, {"shikotan", "summit"})] == [i for i, _ in before]

    def test_an_empty_store_answers_nothing(self, backend, gen):
        store = backend.create(gen, "sentences", VECTORS.shape[1])
        assert store.search(QUERY, 5) == [] and store.count == 0
        ids, vectors = store.vectors()
        assert len(ids) == 0 and vectors.shape == (0, VECTORS.shape[1])
