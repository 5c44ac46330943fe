import pytest

from rag.embedders.fake import FakeEmbedder
from rag.ingest import ensure_index
from rag.retrieval import HybridRetriever

QUESTION = "What did the 1956 Japanese-Soviet declaration provide about Shikotan and the Habomai islands?"


@pytest.fixture
def retriever(fake_settings):
    embedder = FakeEmbedder()
    return HybridRetriever.from_index(ensure_index(fake_settings, embedder), embedder, k=4)


def test_hybrid_finds_the_declaration_passage(retriever):
    passages = retriever.search(QUESTION)
    assert [p.rank for p in passages] == [1, 2, 3, 4]
    assert any("Shikotan and the Habomai group" in p.chunk.text for p in passages[:2])
    assert passages == sorted(passages, key=lambda p: -p.score)


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_retriever_modes_only_use_their_scores(retriever, mode):
    passages = retriever.search(QUESTION, mode=mode)
    other = "bm25" if mode == "dense" else "dense"
    assert passages and all(getattr(p, other) is None for p in passages)


def test_filter_by_article_restricts_both_retrievers(retriever):
    only = "001_d2eccef5ff420657"
    passages = retriever.search(QUESTION, k=6, doc_ids=[only])
    assert passages and {p.chunk.doc_id for p in passages} == {only}


def test_is_a_langchain_retriever(retriever):
    docs = retriever.invoke(QUESTION)
    assert len(docs) == 4 and docs[0].metadata["rank"] == 1 and docs[0].page_content
