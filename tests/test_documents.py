import pytest

from rag.documents import DocumentError, clean_text, decode_text, load_corpus
from tests.conftest import CORPUS


def test_undoes_hyphenation_but_keeps_compounds():
    raw = "Many annou-nced programs. Howev-er the summit in Vladivos-\ntok was visa-free and re-election came."
    text = clean_text(raw)
    assert "announced" in text and "However" in text and "Vladivostok" in text
    assert "visa-free" in text and "re-election" in text


def test_drops_web_boilerplate_and_repeated_byline():
    raw = "Title\n\nAP photo\n\nBy\n\nAnna Kireeva\n\nBody text here.\n\n0 Comments\nLeave a Reply\n"
    assert clean_text(raw, drop_lines={"Anna Kireeva"}) == "Title\n\nBody text here."


def test_bundled_corpus_is_clean_with_metadata():
    articles = {a.doc_id: a for a in load_corpus(CORPUS)}
    assert len(articles) == 5
    kireeva = articles["002_6583139472fcbe27"]
    assert kireeva.authors == ["Anna Kireeva"] and kireeva.date == "2018-06-14"
    assert "Akismet" not in kireeva.text and "AP photo" not in kireeva.text
    assert "Anna Kireeva" not in kireeva.text  # byline lines removed
    assert "1 – There are well-founded doubts" in kireeva.text  # footnotes stay citable
    text = " ".join(a.text for a in articles.values())
    for broken in ("annou-nced", "an-nounced", "Howev-er", "Vladivos-", "betwe-en"):
        assert broken not in text


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"  \n", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"), (b"caf\xe9 au lait", "UTF-8")],
)
def test_decode_rejects_bad_files_with_their_name(data, message):
    with pytest.raises(DocumentError, match=message) as err:
        decode_text(data, "some/file.txt")
    assert "some/file.txt" in str(err.value)
