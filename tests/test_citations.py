from rag.chunking import Chunk
from rag.citations import ABSTAIN_TEXT, check_answer, split_sentences
from rag.retrieval import Passage

TEXTS = [
    "The summit in Moscow brought no progress. Putin asked Japan for more investment in Russia.",
    "This declaration stated that Moscow would hand over to Japan two of the four disputed islands "
    "(Shikotan and the Habomai group) after Japan has signed a peace treaty.",
]


def passages():
    out, start = [], 100
    for i, text in enumerate(TEXTS, start=1):
        out.append(Passage(i, Chunk(f"c{i}", f"doc{i}", f"Title {i}", start, start + len(text), text), 1 / i, 0.6, 1.0))
    return out


def test_valid_citation_is_kept_and_quote_points_into_the_article():
    answer = check_answer("Moscow would hand over Shikotan and the Habomai group after a peace treaty [2].", passages())
    assert not answer.abstained
    assert answer.text == "Moscow would hand over Shikotan and the Habomai group after a peace treaty [1]."
    (citation,) = answer.citations
    assert citation.n == 1 and citation.passage.chunk.chunk_id == "c2"  # renumbered by first use
    chunk = citation.passage.chunk
    assert TEXTS[1][citation.quote_start - chunk.start : citation.quote_end - chunk.start] == citation.quote


def test_wrong_number_is_repointed_and_missing_marker_added():
    raw = "Moscow would hand over Shikotan and the Habomai group after a peace treaty [1]. Putin asked Japan for more investment in Russia."
    answer = check_answer(raw, passages())
    notes = [s.note for s in answer.sentences]
    assert notes == ["re-pointed", "added"]
    assert [s.passages for s in answer.sentences] == [[2], [1]]
    assert answer.text.endswith("in Russia [2].")


def test_out_of_range_marker_is_dropped_and_unsupported_sentence_flagged():
    raw = "Putin asked Japan for more investment in Russia [7]. The islands were sold to Canada for gold [1]."
    answer = check_answer(raw, passages())
    first, second = answer.sentences
    assert first.passages == [1]  # [7] dropped, the supporting passage added
    assert second.supported is False and second.note == "unsupported"
    assert "[7]" not in answer.text


def test_answer_with_no_support_at_all_becomes_an_abstention():
    answer = check_answer("The islands were sold to Canada for gold in 1867 [1].", passages())
    assert answer.abstained and answer.text == ABSTAIN_TEXT and not answer.citations


def test_model_abstention_and_empty_retrieval_abstain():
    assert check_answer("The articles do not say.", passages()).abstained
    assert check_answer("Anything at all [1].", []).abstained


def test_sentence_split_keeps_trailing_markers():
    assert split_sentences("One claim. [1] Two claims [2]. Three?") == ["One claim. [1]", "Two claims [2].", "Three?"]


def test_restating_the_question_is_not_support():
    question = "What did the declaration say about a peace treaty?"
    answer = check_answer("The declaration said something about a peace treaty [2].", passages(), question)
    assert answer.abstained  # every content word came from the question itself


def test_a_number_the_passage_lacks_is_unsupported():
    raw = "Putin asked Japan for more investment in Russia in 2022 [1]."
    assert check_answer(raw, passages()).abstained
    assert not check_answer(raw.replace(" in 2022", ""), passages()).abstained


def test_bare_marker_is_no_answer():
    assert check_answer("[2]", passages()).abstained


def test_naming_the_source_is_not_part_of_the_claim():
    answer = check_answer("According to passage [2], Moscow would hand over Shikotan and the Habomai group.", passages())
    assert answer.text == "Moscow would hand over Shikotan and the Habomai group [1]."
    assert answer.sentences[0].citations == [1] and answer.sentences[0].passages == [2]
