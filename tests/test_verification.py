"""Claim-level verification against numbered evidence (fake embedder: similarity is lexical)."""

import numpy as np
import pytest

from rag.embedders.fake import FakeEmbedder
from rag.evidence import Evidence
from rag.sentences import split_article
from rag.verification import (ABSTAIN_TEXT, DraftChecker, cached, candidates, cut_loop, missing_ask, settled,
                              split_answer, verify_answer)

ARTICLE = (
    "The summit in Moscow brought no progress. Putin asked Japan for more investment in Russia.\n\n"
    "This declaration stated that Moscow would hand over to Japan two of the four disputed islands "
    "(Shikotan and the Habomai group) after Japan has signed a peace treaty.\n\n"
    "Moscow cut off dialogue with Tokyo after the sanctions. Prime Minister Abe criticized Putin for the delay."
)
EMBEDDER = FakeEmbedder()


def evidence_and_pool(article=ARTICLE, groups=((0, 1), (2,), (3, 4))):
    sentences = split_article("doc1", article)
    vectors = np.asarray(EMBEDDER.embed_documents([s.text for s in sentences]), "float32")
    evidence = []
    for n, rows in enumerate(groups, start=1):
        first, last = sentences[rows[0]], sentences[rows[-1]]
        evidence.append(Evidence(n, "doc1", "Title", "Title", f"c{n}", first.start, last.end,
                                 article[first.start:last.end], tuple(rows), 1.0))
    pool = candidates(evidence, lambda r: (sentences[r].start, sentences[r].end, sentences[r].text),
                      lambda r: vectors[r])
    return evidence, pool


def check(raw, question="", article=ARTICLE, groups=((0, 1), (2,), (3, 4))):
    evidence, pool = evidence_and_pool(article, groups)
    return verify_answer(raw, evidence, pool, lambda texts: np.asarray(EMBEDDER.embed_documents(texts)), question)


def test_each_sentence_gets_its_own_exact_supporting_span():
    answer = check("Putin asked Japan for more investment [1]. The summit in Moscow brought no progress [1].")
    first, second = answer.sentences
    assert first.support.quote == "Putin asked Japan for more investment in Russia."
    assert second.support.quote == "The summit in Moscow brought no progress."
    for s in answer.sentences:  # spans are real offsets into the article
        assert ARTICLE[s.support.start:s.support.end] == s.support.quote
    assert first.citations == second.citations == [1]


def test_a_claim_drawn_from_two_sentences_of_one_evidence_rests_on_both():
    answer = check("The summit in Moscow brought no progress, so Putin asked Japan for more investment [1].")
    [sentence] = answer.sentences
    assert sentence.support.quote == "The summit in Moscow brought no progress. Putin asked Japan for more investment in Russia."
    assert ARTICLE[sentence.support.start:sentence.support.end] == sentence.support.quote
    assert answer.citations[0].quote == sentence.support.quote  # what the reader sees for [1]


def test_wrong_number_is_repointed_and_missing_marker_added_then_renumbered():
    raw = ("Moscow would hand over Shikotan and the Habomai group after a peace treaty [1]. "
           "Putin asked Japan for more investment in Russia.")
    answer = check(raw)
    assert [s.note for s in answer.sentences] == ["re-pointed", "added"]
    assert [s.evidence for s in answer.sentences] == [[2], [1]]
    assert answer.text.endswith("in Russia [2].")  # renumbered by first use
    assert [c.evidence.n for c in answer.citations] == [2, 1]


def test_out_of_range_marker_dropped_and_unsupported_sentence_flagged_not_cited():
    answer = check("Putin asked Japan for more investment in Russia [7]. The islands were sold to Canada for gold [1].")
    first, second = answer.sentences
    assert first.evidence == [1] and first.note == "added; invalid citation [7]"
    assert second.supported is False and second.citations == [] and second.support is None
    assert "[7]" not in answer.text


def test_number_missing_from_the_evidence_is_unsupported():
    assert check("Putin asked Japan for more investment in Russia in 2022 [1].").abstained
    assert not check("Putin asked Japan for more investment in Russia [1].").abstained


def test_a_count_in_words_must_match_the_evidence_but_a_definite_pair_is_no_count():
    # the source: "two of the four disputed islands"
    assert check("Moscow would hand over three of the disputed islands after a peace treaty [2].").abstained
    assert check("Moscow would hand over 3 of the disputed islands after a peace treaty [2].").abstained
    assert not check("Moscow would hand over two of the disputed islands after a peace treaty [2].").abstained
    assert not check("Moscow would hand over 2 of the four disputed islands after a peace treaty [2].").abstained
    # "the two countries" refers to Russia and Japan; it states no figure the source must contain
    assert not check("Putin asked the two countries' firms for more investment in Russia [1].").abstained
    # a count the question gave proves nothing and needs no proof
    assert not check("Putin asked Japan for more investment in three sectors of Russia [1].",
                     "What did Putin ask Japan for in three sectors?").abstained


def test_a_sentence_that_loops_ends_at_the_clause_break_before_the_repeat():
    looped = ("Moscow would hand over two of the four disputed islands after a peace treaty, "
              "and Japan has signed two of the four disputed islands after a peace treaty [2].")
    answer = check(looped)
    assert answer.text == "Moscow would hand over two of the four disputed islands after a peace treaty [1]."
    assert answer.sentences[0].support.quote.startswith("This declaration stated")
    # three words said twice, or four with no clause break between, stay as written
    for text in ("Abe met Putin in November 2018 and again in November 2018.",
                 "Abe wanted the return of the islands as the return of the islands."):
        assert cut_loop(text) == text


def test_a_name_given_as_the_answer_needs_a_span_that_puts_it_in_the_role_asked_about():
    # [3] names Abe, but as the one who criticized Putin, not as anyone who signed a treaty
    question = "Who signed the peace treaty after the summit in Moscow?"
    assert check("Abe signed the peace treaty after the summit in Moscow [3].", question).abstained
    assert not check("Abe criticized Putin for the delay [3].", "Who criticized Putin for the delay?").abstained


def test_an_unsupported_sentence_joining_two_claims_keeps_the_supported_one_cited_and_flags_the_other():
    answer = check("Putin asked Japan for more investment in Russia, and Kishida sold the islands to Canada [1].")
    assert not answer.abstained
    assert answer.text == "Putin asked Japan for more investment in Russia [1], and Kishida sold the islands to Canada."
    first, second = answer.sentences
    assert first.supported and first.support.quote == "Putin asked Japan for more investment in Russia."
    assert not second.supported and second.citations == []
    # one claim that no evidence supports is still the whole sentence, and the answer abstains
    assert check("Kishida sold the islands to Canada, and Kishida bought them back [1].").abstained


def test_a_claim_opening_on_what_was_just_said_needs_a_span_that_names_it():
    """"This appeal was part of..." links the appeal to something else: a span silent on the appeal
    cannot back the link, one that names what the demonstrative points at can."""
    linked = check("Abe criticized Putin for the delay [3]. This appeal was part of the summit in Moscow [1].")
    assert [s.supported for s in linked.sentences] == [True, False]
    named = check("This declaration stated that Moscow would hand over Shikotan and the Habomai group [2].")
    assert named.sentences[0].supported and named.sentences[0].citations == [1]
    assert check("This was the summit in Moscow that brought no progress [1].").sentences[0].supported


def test_name_missing_from_the_evidence_is_unsupported():
    assert check("Kishida asked Japan for more investment in Russia [1].").abstained


def test_a_name_the_question_gave_in_part_counts_whole_but_not_through_an_actor():
    question = "What did Abe criticize Putin for, according to Kistanov?"
    assert not check("According to Valery Kistanov, Prime Minister Abe criticized Putin for the delay [3].",
                     question).abstained
    assert check("According to Valery Kistanov, Prime Minister Abe criticized Putin for the delay [3].").abstained
    # "Japan" is in the question, but an actor every article names vouches for no one
    assert check("Japan's Ambassador Ivan Petrov asked for more investment in Russia [1].",
                 "What did Japan ask for?").abstained
    # nor does a common word the question used: "which corporation" does not vouch for a company's name
    assert check("Putin asked Sojitz JECT Corporation for more investment in Russia [1].",
                 "Which corporation did Putin ask for more investment?").abstained


@pytest.mark.parametrize("raw", [
    "Prime Minister Abe criticized Abe for the delay [3].",  # one actor twice where the source has two
    "Tokyo cut off dialogue with Moscow after the sanctions [3].",  # roles reversed
])
def test_who_did_what_swaps_are_caught(raw):
    answer = check(raw)
    assert answer.abstained and not answer.sentences[0].supported


DEEDS = ("Russia’s concern was Japan’s decision to deploy the US Aegis Ashore missile defence system, as the US "
         "plans to deploy a global missile defence system. "
         "Russia’s refusal to respond to the enquiries by the British government was condemned.")


def check_deed(raw, question):
    return check(raw, question, DEEDS, ((0,), (1,)))


def test_a_deed_the_evidence_gives_to_another_actor_is_not_supported_even_when_the_question_says_so():
    assert check_deed("Russia deploys the US Aegis Ashore missile defence system [1].", "What does Russia deploy?").abstained
    kept = check_deed("Japan deploys the US Aegis Ashore missile defence system [1].", "What does Japan deploy?")
    assert not kept.abstained and kept.sentences[0].support.quote.startswith("Russia’s concern")


def test_the_same_verb_on_another_object_is_another_deed():
    # Russia refused to respond to the enquiries; Tokyo's response to the attack is not contradicted by it
    answer = check_deed("Tokyo responded to the Salisbury attack by condemning Russia’s refusal [2].",
                        "How did Tokyo respond to the Salisbury attack?")
    assert not answer.abstained and answer.sentences[0].support.quote.startswith("Russia’s refusal")


def test_same_actors_in_the_source_order_are_supported():
    answer = check("Moscow cut off dialogue with Tokyo after the sanctions [3].")
    assert not answer.abstained and answer.sentences[0].support.quote.startswith("Moscow cut off")


def test_restating_the_question_is_not_support():
    question = "What did the declaration say about a peace treaty?"
    assert check("The declaration said something about a peace treaty [2].", question).abstained


def test_a_new_figure_after_a_restated_question_is_verified():
    answer = check("Moscow would hand over two islands [2].", "What would Moscow hand over?")
    assert not answer.abstained and answer.sentences[0].support.evidence == 2


def test_model_abstention_bare_marker_and_no_evidence_abstain():
    assert check("The articles do not say.").abstained
    assert check("[2]").abstained
    evidence, pool = evidence_and_pool()
    assert verify_answer("Anything [1].", [], pool, EMBEDDER.embed_documents).abstained
    assert check("[2]").text == ABSTAIN_TEXT


def test_naming_the_source_is_not_part_of_the_claim_but_a_leading_year_is():
    answer = check("According to the evidence [2], Moscow would hand over Shikotan and the Habomai group.")
    assert answer.text == "Moscow would hand over Shikotan and the Habomai group [1]."
    trailing = check("Moscow would hand over Shikotan and the Habomai group, according to the evidence [2].")
    assert trailing.text == "Moscow would hand over Shikotan and the Habomai group [1]."
    kept = check("In Moscow, the summit brought no progress [1].")
    assert kept.sentences[0].text.startswith("In Moscow")


def test_a_yes_that_its_own_claim_negates_is_left_out():
    question = "Did the summit in Moscow bring progress?"
    assert check("Yes, the summit in Moscow brought no progress [1].", question).text == \
        "The summit in Moscow brought no progress [1]."
    assert check("Yes. The summit in Moscow brought no progress [1].", question).text == \
        "The summit in Moscow brought no progress [1]."
    agreeing = check("Yes, Putin asked Japan for more investment in Russia [1].", "Did Putin ask Japan for investment?")
    assert agreeing.text.startswith("Yes, Putin asked")
    negative_question = check("Yes, the summit in Moscow brought no progress [1].", "Didn't the summit bring progress?")
    assert negative_question.text.startswith("Yes, the summit")


def test_an_answer_without_the_date_or_amount_the_question_asks_for_abstains_with_the_reason():
    undated = check("Moscow would hand over Shikotan and the Habomai group [2].", "When would Moscow hand them over?")
    assert undated.abstained and undated.reason == "the question asks for a date; the answer gives none"
    assert check("Putin asked Japan for more investment in Russia [1].", "How much did Putin ask Japan for?").abstained
    # a year is not an amount; a figure, a number word or a month answers
    assert check("Moscow would hand over two of the four disputed islands [2].",
                 "How many islands would Moscow hand over?").reason is None
    assert check("Moscow would hand over two of the four disputed islands [2].",
                 "And when would Moscow hand them over?").abstained  # "two" is no date
    assert missing_ask("And when was it signed?", "It was signed in September 2019.") is None
    assert missing_ask("In what year was it signed?", "It was signed in the autumn.") is None
    assert missing_ask("When did the USSR take control of the Kurils?",
                       "The USSR took control of the Kurils after the defeat of Tokyo in World War II.") is None
    assert missing_ask("When did Moscow hand them over?", "Moscow handed them over to Tokyo.") == "a date"
    assert missing_ask("How many deals were signed when Putin came?", "It was in 2016.") == "an amount"
    # a question with a second part is still answered in part
    assert missing_ask("When did Abe resign, and for what reason?", "He resigned for health reasons.") is None
    assert not check("Putin asked Japan for more investment in Russia [1].", "Why did the summit fail?").abstained


def test_answer_split_keeps_trailing_markers():
    assert split_answer("One claim. [1] Two claims [2]. Three?") == ["One claim. [1]", "Two claims [2].", "Three?"]


def test_answer_split_keeps_a_quotation_whole_and_splits_after_it():
    answer = ('Abe told him, "Vladimir, let us fulfill our duty together. Let us overcome all difficulties." '
              'It was in 2016 [2]. He said “We will win.” [1] Then he left.')
    assert split_answer(answer) == [
        'Abe told him, "Vladimir, let us fulfill our duty together. Let us overcome all difficulties."',
        "It was in 2016 [2].", "He said “We will win.” [1]", "Then he left."]
    # a quotation that never closes does not swallow the rest of the answer
    assert split_answer('He called it "a mistake. It failed.') == ['He called it "a mistake.', "It failed."]
    # while the quotation is still open, none of it is settled
    assert settled('Abe told him, "Vladimir, let us fulfill our duty together. Let us') == ""
    assert settled('Abe told him, "We can. Let us win." It was') == 'Abe told him, "We can. Let us win."'


def test_json_shape_of_a_sentence():
    data = check("Putin asked Japan for more investment in Russia [1].").sentences[0].to_dict()
    assert set(data) == {"text", "citations", "support", "supported", "note"}
    assert set(data["support"]) == {"doc_id", "start", "end", "quote", "score"}


def test_the_opening_word_is_not_taken_for_a_name():
    answer = check("Because the summit in Moscow brought no progress [1].", "Why was Putin unhappy?")
    assert not answer.abstained and answer.sentences[0].support.quote.startswith("The summit in Moscow")


def test_a_name_written_with_or_without_its_hyphen_is_one_name():
    from rag.text import names

    assert names("Abe and Putin met at the G20 summit") == names("Abe and Putin met at the G-20 summit")
    assert names("the G7 statement") != names("the G20 statement")


def draft_checker(question=""):
    evidence, pool = evidence_and_pool()
    return DraftChecker(evidence, pool, cached(lambda texts: np.asarray(EMBEDDER.embed_documents(texts))), question)


def test_settled_is_the_sentences_the_next_one_has_started_after():
    assert settled("Putin asked Japan for more") == ""
    assert settled("Putin asked Japan for more investment [1].") == ""  # a second marker may follow
    assert settled("Putin asked Japan for more investment. [") == ""  # the marker is still arriving
    assert settled("Putin asked Japan for more investment. [1] The sum") == "Putin asked Japan for more investment. [1]"


def test_draft_checked_piece_by_piece_adds_up_to_the_final_answer():
    raw = ("Moscow would hand over Shikotan and the Habomai group after a peace treaty [1]. "
           "Putin asked Japan for more investment in Russia. The islands were sold to Canada for gold [1].")
    checker, draft, pieces = draft_checker(), "", []
    for word in raw.split(" "):
        draft += ("" if not draft else " ") + word
        pieces.append(checker.feed(draft))
    final = verify_answer(raw, *evidence_and_pool(), checker.embed).text
    pieces.append(checker.rest(final))
    sent = [p for p in pieces if p]
    assert len(sent) == 3 and "".join(sent) == final  # re-pointed, added, then the unsupported one at the end
    assert sent[0] == "Moscow would hand over Shikotan and the Habomai group after a peace treaty [1]."
    assert pieces.index(sent[0]) < len(raw.split(" ")) - 1  # before the draft was finished


@pytest.mark.parametrize("opening", ["Yes, the", "Yes. The"])
def test_a_streamed_answer_never_sends_the_yes_its_claim_negates(opening):
    question = "Did the summit in Moscow bring progress?"
    raw = f"{opening} summit in Moscow brought no progress [1]. Putin asked Japan for more investment in Russia [1]."
    checker, draft, pieces = draft_checker(question), "", []
    for word in raw.split(" "):
        draft += ("" if not draft else " ") + word
        pieces.append(checker.feed(draft))
    final = verify_answer(raw, *evidence_and_pool(), checker.embed, question).text
    pieces.append(checker.rest(final))
    assert "".join(p for p in pieces if p) == final
    assert final.startswith("The summit in Moscow brought no progress [1].")


def test_nothing_is_sent_before_a_supported_sentence_and_a_late_abstention_is_told():
    checker = draft_checker()
    assert checker.feed("The islands were sold to Canada for gold. Putin") == ""  # may yet abstain
    assert checker.feed("Putin asked Japan for more investment in Russia [1]. The articles do not say wh") != ""
    assert checker.rest(ABSTAIN_TEXT) is None  # the final answer does not begin with what was sent
