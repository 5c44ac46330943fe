from rag.documents import load_corpus
from rag.sentences import sentence_bounds, split_article
from tests.conftest import CORPUS


def test_sentences_are_exact_slices_of_every_article():
    for article in load_corpus(CORPUS):
        spans = split_article(article.doc_id, article.text)
        assert len(spans) > 20
        for s in spans:
            assert article.text[s.start:s.end] == s.text and s.text == s.text.strip()
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


def test_abbreviations_do_not_end_sentences_and_headings_are_units():
    text = "Title of the piece\n\nMr. Abe met Putin in St. Petersburg. The U.S. objected. Trade grew 17.5 percent."
    spans = split_article("d", text)
    assert [s.text for s in spans] == ["Title of the piece", "Mr. Abe met Putin in St. Petersburg.",
                                       "The U.S. objected.", "Trade grew 17.5 percent."]
    assert [s.heading for s in spans] == [True, False, False, False]


def test_footnotes_and_list_items_stay_whole():
    text = "Intro sentence here.\n\n[1] See the Foreign Ministry statement of 2018.\n\n- first item of a list"
    assert [text[a:b] for a, b in sentence_bounds(text)] == [
        "Intro sentence here.", "[1] See the Foreign Ministry statement of 2018.", "- first item of a list"]
