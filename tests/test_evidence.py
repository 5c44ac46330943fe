import pytest

from rag.documents import load_corpus
from rag.embedders.fake import FakeEmbedder
from rag.evidence import (HEADER, Scored, candidate_rows, estimate_tokens, evidence_gap, format_evidence,
                          lexical_score, score_sentences, select_evidence)
from rag.ingest import ensure_index
from rag.retrieval import HybridRetriever
from rag.text import content_words
from tests.conftest import CORPUS

QUESTION = "What did the 1956 Japanese-Soviet declaration provide about Shikotan and the Habomai islands?"


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    from rag.settings import load_settings

    settings = load_settings(embedder="fake", llm="fake", index_dir=tmp_path_factory.mktemp("index"))
    embedder = FakeEmbedder()
    return HybridRetriever.from_index(ensure_index(settings, embedder), embedder, k=4)


def gather(retriever, question=QUESTION, budget=350):
    vector = retriever.embed(question)
    passages = retriever.search(question, query_vector=vector)
    scored = score_sentences(question, vector, passages, retriever)
    return passages, scored, select_evidence(scored, retriever, budget)


def test_evidence_spans_are_exact_article_text_within_budget(retriever):
    _, scored, evidence = gather(retriever)
    texts = {a.doc_id: a.text for a in load_corpus(CORPUS)}
    assert evidence and [e.n for e in evidence] == list(range(1, len(evidence) + 1))
    for e in evidence:
        assert texts[e.doc_id][e.start:e.end] == e.text
    assert sum(estimate_tokens(e.text) for e in evidence) <= 350 + 2 * len(evidence)
    assert any("Habomai" in e.text for e in evidence)
    assert scored == sorted(scored, key=lambda s: -s.score)


def test_a_smaller_budget_keeps_the_best_sentence_and_fewer_tokens(retriever):
    _, scored, wide = gather(retriever, budget=350)
    _, _, narrow = gather(retriever, budget=60)
    assert sum(len(e.text) for e in narrow) < sum(len(e.text) for e in wide)
    assert any(scored[0].row in e.rows for e in narrow)


def test_a_sentence_opening_with_a_pronoun_brings_the_one_before(retriever):
    index = retriever.index
    row = next(i for i, s in enumerate(index.sentences) if s.text.startswith("This declaration stated"))
    _, _, evidence = gather(retriever, "This declaration stated that Moscow would hand over two islands")
    span = next(e for e in evidence if row in e.rows)
    assert row - 1 in span.rows and span.text.startswith(index.sentences[row - 1].text)


def test_the_best_sentence_brings_the_one_after_it_where_answers_follow(retriever):
    """The sentence that restates the question is followed by its answer (the "why")."""
    question = "How does the domestic situation in Russia reduce the likelihood of territorial concessions?"
    _, scored, evidence = gather(retriever, question, budget=120)
    index = retriever.index
    assert index.sentences[scored[0].row].text.startswith("Another factor reducing the likelihood")
    span = next(e for e in evidence if scored[0].row in e.rows)
    assert scored[0].row + 1 in span.rows and "unpatriotic" in span.text


def test_the_us_is_a_key_term_and_the_pronoun_is_not():
    terms = content_words("How does Moscow regard the US–Japan security alliance?")
    country = lexical_score(terms, "There is also the Japanese-US treaty on security guarantees.", set())
    pronoun = lexical_score(terms, "Let us talk about security guarantees.", set())
    assert country > pronoun > 0


def test_a_chosen_sentence_brings_the_next_when_it_goes_on_about_what_it_names(retriever):
    """"...based on the Japanese-Soviet declaration of 1956." / "This declaration stated that Moscow
    would hand over...": the second answers "What did the 1956 declaration provide?" yet scores below
    the cut (it never says 1956); read after the first, it is the answer. A next sentence that opens
    with a connective ("In addition, ...") or names something else is not brought."""
    index = retriever.index
    row = next(i for i, s in enumerate(index.sentences) if s.text.startswith("This declaration stated"))
    other = next(i for i, s in enumerate(index.sentences) if s.text.startswith("Another factor reducing"))
    passages, _, _ = gather(retriever)
    best, chosen, after = (Scored(other, passages[0], 0.9, 0.5), Scored(row - 1, passages[0], 0.6, 0.5),
                           Scored(row, passages[0], 0.1, 0.25))
    evidence = select_evidence([best, chosen, after], retriever, 350)
    assert any({row - 1, row} <= set(e.rows) for e in evidence)

    no_term = Scored(row, passages[0], 0.1, 0.0)  # the next sentence shares no key term of the question
    evidence = select_evidence([best, chosen, no_term], retriever, 350)
    assert not any(row in e.rows for e in evidence)

    addition = next(i for i, s in enumerate(index.sentences) if s.text.startswith("In addition,")
                    and index.sentences[i - 1].end + 1 == s.start)
    evidence = select_evidence([best, Scored(addition - 1, passages[0], 0.6, 0.5),
                                Scored(addition, passages[0], 0.1, 0.5)], retriever, 350)
    assert not any(addition in e.rows for e in evidence)


def test_grouped_per_article_under_one_header_in_number_order(retriever):
    _, _, evidence = gather(retriever)
    text = format_evidence(evidence)
    headers = [line for line in text.splitlines() if line.startswith(HEADER)]
    assert len(headers) == len({e.doc_id for e in evidence})
    numbered = [int(line[1:line.index("]")]) for line in text.splitlines() if line.startswith("[")]
    assert numbered == [e.n for e in evidence]
    docs = [e.doc_id for e in evidence]
    assert docs == sorted(docs, key=docs.index)  # one article's evidence is contiguous


def test_gap_rules(retriever):
    passages, scored, _ = gather(retriever)
    assert evidence_gap(QUESTION, passages, scored, 0.0) is None
    assert evidence_gap(QUESTION, passages, scored, 99.0) == "no evidence sentence matches the question"
    assert evidence_gap("What did the declaration provide in 2031?", passages, scored, 0.0) == \
        "the articles retrieved never mention 2031"
    assert evidence_gap("Was the 1956 declaration cited in 2031?", passages, scored, 0.0) is None  # 1956 is there


def test_gap_when_no_retrieved_article_names_who_or_where_the_question_asks_about(retriever):
    vocabulary = retriever.index.vocabulary
    question = "What did Mikhail Gorbachev's visit to Tokyo achieve on Shikotan and the Habomai islands?"
    passages, scored, _ = gather(retriever, question)
    assert evidence_gap(question, passages, scored, 0.0, vocabulary) == \
        "the articles retrieved never mention Mikhail Gorbachev"
    assert evidence_gap(question, passages, scored, 0.0) is None  # the rule needs the articles' words
    # a name far from the retrieved sentences, but in their article, is no gap ("according to Kistanov")
    kistanov = "According to Kistanov, is Abe scheduled to meet with Putin in Moscow in late April and in Vladivostok?"
    passages, scored, _ = gather(retriever, kistanov)
    assert scored[0].passage.chunk.doc_id == "001_d2eccef5ff420657"
    assert not any("Kistanov" in p.chunk.text for p in passages)
    assert evidence_gap(kistanov, passages, scored, 0.0, vocabulary) is None
    # an article's author counts too: Streltsov is named in article 004's byline only
    streltsov = "According to Streltsov, why did the new approach stop bringing political dividends to Abe?"
    passages, scored, _ = gather(retriever, streltsov)
    assert "004_64aac8d9b7cb9707" in {p.chunk.doc_id for p in passages}
    assert evidence_gap(streltsov, passages, scored, 0.0, vocabulary) is None

    # a name spelt another way is still named: article 000 writes "Kuriles" and "Kuril", never "Kurils"
    zone = "What did Putin's special economic zone on the Kurils promise?"
    vector = retriever.embed(zone)
    passages = retriever.search(zone, query_vector=vector, doc_ids=["000_41d5e930bca1f221"])
    scored = score_sentences(zone, vector, passages, retriever)
    assert "Kurils" not in CORPUS.joinpath("000_41d5e930bca1f221.txt").read_text()
    assert evidence_gap(zone, passages, scored, 0.0, vocabulary) is None
    assert evidence_gap("What did Gorbachev promise for the Kurils?", passages, scored, 0.0, vocabulary) == \
        "the articles retrieved never mention Gorbachev"
    # two names joined by a hyphen are each named, as with a dash: article 003 writes "Japanese-American"
    # and "the US", never "US-Japan"; "G-20" stays one name
    alliance = "What did Russia demand regarding the US-Japan alliance?"
    passages, scored, _ = gather(retriever, alliance)
    assert "US-Japan" not in CORPUS.joinpath("003_aac86c86413ce24b.txt").read_text()
    assert evidence_gap(alliance, passages, scored, 0.0, vocabulary) is None
    assert evidence_gap("What did the US-Gorbachev talks settle?", passages, scored, 0.0, vocabulary) == \
        "the articles retrieved never mention Gorbachev"

def test_a_quotation_split_over_sentences_comes_whole(retriever):
    question = "What personal appeal did Abe make to Putin at the Eastern Economic Forum?"
    _, _, evidence = gather(retriever, question)
    told = next(e for e in evidence if "Let us overcome all difficulties" in e.text)
    assert "Vladimir, let you and me fulfill our duty together" in told.text


def test_a_question_in_the_text_is_never_evidence(retriever):
    """A section title such as "Can security be a new foundation of Russian-Japanese relations?"
    echoes the question word for word and answers nothing."""
    title = "Can security be a new foundation of Russian-Japanese relations?"
    index = retriever.index
    assert any(s.text == title for s in index.sentences)
    _, scored, evidence = gather(retriever, title)
    assert scored and not any(index.sentences[s.row].text.endswith("?") for s in scored)
    assert all(title not in e.text for e in evidence)


def test_a_sentence_of_a_higher_ranked_chunk_wins_a_tie(retriever):
    """The retriever's verdict on the whole chunk is a prior: equal cosine and key terms, the
    sentence of the first chunk ranks above the one of the fourth."""
    passages, scored, _ = gather(retriever)
    first, fourth = passages[0], passages[3]
    a, b = Scored(0, first, 0.5, 0.5), Scored(1, fourth, 0.5, 0.5)
    assert a.score > b.score


def test_within_an_article_the_best_evidence_comes_first(retriever):
    """Best first, not reading order: the small model answers from the first lines it reads."""
    _, _, evidence = gather(retriever, "How many kinds of goods did Japan's export ban to Russia cover?")
    by_doc: dict[str, list] = {}
    for e in evidence:
        by_doc.setdefault(e.doc_id, []).append(e)
    assert any(len(spans) > 1 for spans in by_doc.values())
    for spans in by_doc.values():
        assert [e.score for e in spans] == sorted((e.score for e in spans), reverse=True)
    assert evidence[0].score == max(e.score for e in evidence)


def test_the_sentence_after_a_retrieved_chunk_is_a_candidate(retriever):
    """A chunk cut at a paragraph break leaves out how its last sentence goes on: "...the place of
    Japan in the Kremlin's system of foreign political priorities remains invariable" is answered by
    the next paragraph's "The role of Japan can be reviewed only in two cases"."""
    from rag.retrieval import Passage

    index = retriever.index
    row = next(i for i, s in enumerate(index.sentences) if s.text.startswith("The role of Japan can be reviewed"))
    pos = next(p for p, c in enumerate(index.chunks) if retriever.sentence_rows(p).stop == row)
    assert index.chunks[pos].end < index.sentences[row].start  # the chunk ends before it
    passage = Passage(rank=1, chunk=index.chunks[pos], score=1.0, dense=None, bm25=None, position=pos)
    question = "Under what circumstances could Japan's place in Kremlin priorities be reconsidered?"
    scored = score_sentences(question, retriever.embed(question), [passage], retriever)
    rows = {s.row for s in scored}
    assert row in rows and row + 1 not in rows  # the one after the chunk, not more


def test_of_a_deeper_chunk_only_the_sentence_closest_to_the_question_joins(retriever):
    """The chunk holding the index's best-matching sentence can rank below k; that one sentence is a
    candidate, the rest of its chunk is not, and a deeper chunk without it adds nothing."""
    index = retriever.index
    row = next(i for i, s in enumerate(index.sentences) if s.text.startswith("This declaration stated"))
    question = index.sentences[row].text
    vector = retriever.embed(question)
    ranked = retriever.search(question, k=len(index.chunks), query_vector=vector)
    holds = [p for p in ranked if row in candidate_rows(retriever, p.position)]
    others = [p for p in ranked if p not in holds]
    top, unrelated = others[:2], others[2:4]

    scored = score_sentences(question, vector, top, retriever, deeper=unrelated + holds[:1])
    joined = [s for s in scored if s.passage in holds]
    assert [s.row for s in joined] == [row]
    assert not any(s.passage in unrelated for s in scored)
    assert {s.row for s in score_sentences(question, vector, top, retriever, deeper=unrelated)} == {
        s.row for s in scored} - {row}
