from rag.chunking import chunk_article, chunk_articles
from rag.documents import load_corpus
from tests.conftest import CORPUS


def test_chunks_point_at_their_text_and_ids_are_stable():
    articles = load_corpus(CORPUS)
    chunks = chunk_articles(articles, 600, 100)
    texts = {a.doc_id: a.text for a in articles}
    assert len(chunks) > 20
    for c in chunks:
        assert texts[c.doc_id][c.start : c.end] == c.text
        assert len(c.text) <= 600
    again = chunk_articles(articles, 600, 100)
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_chunks_end_on_sentence_or_paragraph_boundaries():
    article = load_corpus(CORPUS)[3]
    chunks = chunk_article(article, 700, 0)
    endings = sum(c.text.rstrip()[-1] in ".?!”’\"" or article.text[c.end : c.end + 2] in ("\n\n", "")
                  for c in chunks)
    assert endings / len(chunks) > 0.8
