import pytest

from rag.embedders.fake import FakeEmbedder
from rag.ingest import ensure_index
from rag.documents import load_corpus
from rag.retrieval import HybridRetriever, by_author
from tests.conftest import CORPUS

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


@pytest.mark.parametrize("mode,score", [("dense", "dense"), ("bm25", "bm25"), ("sentences", "sentence")])
def test_single_ranking_modes_order_by_their_own_score(retriever, mode, score):
    passages = retriever.search(QUESTION, mode=mode, k=6)
    values = [getattr(p, score) for p in passages]
    assert passages and values == sorted(values, reverse=True)


def test_a_sentence_hit_votes_for_the_chunk_that_holds_it(retriever):
    row = next(i for i, s in enumerate(retriever.index.sentences) if "Habomai group" in s.text)
    sentence = retriever.index.sentences[row].text
    (passage,) = retriever.search(sentence, mode="sentences", k=1)
    rows = retriever.sentence_rows(passage.position)
    assert row in rows and passage.sentence > 0.99
    assert all(passage.chunk.start <= retriever.index.sentences[r].end and
               retriever.index.sentences[r].start <= passage.chunk.end for r in rows)


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_both_fusions_rank_the_declaration_first_two(retriever, fusion):
    retriever.fusion = fusion
    passages = retriever.search(QUESTION)
    assert any("Shikotan and the Habomai group" in p.chunk.text for p in passages[:2])
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_contextual_header_is_searched_but_not_cited(retriever):
    chunk = next(c for c in retriever.chunks if "Section:" in c.header)
    assert chunk.header.splitlines()[0].startswith(chunk.title)
    assert chunk.search_text.startswith(chunk.header) and chunk.header not in chunk.text


def test_filter_by_article_restricts_both_retrievers(retriever):
    only = "001_d2eccef5ff420657"
    passages = retriever.search(QUESTION, k=6, doc_ids=[only])
    assert passages and {p.chunk.doc_id for p in passages} == {only}


def test_a_question_naming_an_author_is_for_the_articles_that_name_them(retriever):
    """Kistanov wrote article 001; Streltsov wrote 004 and article 000 quotes him; Abe wrote none."""
    articles, vocabulary = {a.doc_id: a.authors for a in load_corpus(CORPUS)}, retriever.index.vocabulary
    assert by_author("How does Moscow regard the US–Japan alliance, in Kistanov's view?", articles,
                     vocabulary) == ["001_d2eccef5ff420657"]
    assert by_author("Kistanov on the alliance?", articles, vocabulary) == ["001_d2eccef5ff420657"]
    assert by_author("Why did Dmitry Streltsov consider the decision predictable?", articles, vocabulary) == [
        "000_41d5e930bca1f221", "004_64aac8d9b7cb9707"]
    assert by_author("What did Abe promise Putin?", articles, vocabulary) == []
    assert by_author("What did Valery say?", articles, vocabulary) == []  # a first name is no surname


def test_is_a_langchain_retriever(retriever):
    docs = retriever.invoke(QUESTION)
    assert len(docs) == 4 and docs[0].metadata["rank"] == 1 and docs[0].page_content
