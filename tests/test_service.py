import pytest

from rag.documents import load_corpus
from rag.llms.fake import FakeLLM
from rag.errors import InvalidQuestion, InvalidRequest
from rag.service import Assistant, Checked, Done, Retrieved, Status, Token
from tests.conftest import CORPUS

QUESTION = "What did the 1956 Japanese-Soviet declaration provide about Shikotan and the Habomai islands?"


@pytest.fixture
def assistant(fake_settings):
    return Assistant.from_settings(fake_settings)


def test_stream_reports_stages_then_tokens_then_checked_answer(assistant):
    events = list(assistant.ask_stream(QUESTION))
    stages = [e.stage for e in events if isinstance(e, Status)]
    assert stages == ["loading", "searching", "generating"]  # the first question loads the model
    again = [e.stage for e in assistant.ask_stream(QUESTION) if isinstance(e, Status)]
    assert again == ["searching", "generating"]
    assert isinstance(events[-1], Done)
    tokens = "".join(e.text for e in events if isinstance(e, Token))
    answer = events[-1].answer
    assert tokens == answer.raw and not answer.abstained
    texts = {a.doc_id: a.text for a in load_corpus(CORPUS)}
    for c in answer.citations:
        e = c.evidence
        assert texts[e.doc_id][e.start : e.end] == e.text
        assert texts[e.doc_id][c.quote_start : c.quote_end] == c.quote
    for s in answer.sentences:
        assert texts[s.support.doc_id][s.support.start : s.support.end] == s.support.quote
    assert set(answer.timings_ms) >= {"retrieve", "generate", "verify", "total"}


def test_json_shape(assistant):
    data = assistant.ask(QUESTION).to_dict()
    assert {"question", "answer", "abstained", "citations", "sentences", "evidence", "usage", "model",
            "timings_ms"} <= set(data)
    assert data["model"] == "fake"
    assert {"n", "doc_id", "title", "chunk_id", "start", "end", "text"} <= set(data["citations"][0])
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens"} and data["usage"]["prompt_tokens"] > 0
    assert data["sentences"][0]["supported"] and data["sentences"][0]["support"]["quote"]


def test_a_question_naming_an_author_draws_its_evidence_from_what_they_wrote(assistant):
    """Every chunk header of Kistanov's article names him, so his name alone lifted none of them: the
    "NATO in the East" sentence was left out of the evidence for his view of the alliance."""
    question = "How does Moscow regard the US–Japan security alliance, in Kistanov's view?"
    passages, _, evidence = assistant.gather_evidence(question)
    assert {p.chunk.doc_id for p in passages} == {e.doc_id for e in evidence} == {"001_d2eccef5ff420657"}
    passages, _, _ = assistant.gather_evidence(question, doc_ids=["003_aac86c86413ce24b"])
    assert {p.chunk.doc_id for p in passages} == {"003_aac86c86413ce24b"}  # a chosen article filter wins


def test_no_evidence_for_the_key_terms_abstains_without_calling_the_model(fake_settings):
    llm = FakeLLM()
    strict = Assistant.from_settings(fake_settings.model_copy(update={"min_evidence_score": 9.0}), llm=llm)
    answer = strict.ask("Who won the football World Cup?")
    assert answer.abstained and answer.answer == "The articles do not say." and llm.calls == []
    assert answer.abstention_reason == "no evidence sentence matches the question"


def test_a_year_no_retrieved_chunk_mentions_abstains_without_calling_the_model(fake_settings):
    llm = FakeLLM()
    lenient = Assistant.from_settings(fake_settings.model_copy(update={"min_evidence_score": 0.0}), llm=llm)
    answer = lenient.ask("What was the population of Iturup in 2031?")
    assert answer.abstained and llm.calls == [] and "2031" in answer.abstention_reason
    assert not lenient.ask("What was agreed in 2016 about the Kuril Islands?").abstained  # the year is there


def test_prompt_order_fixed_instructions_then_numbered_evidence_then_question(assistant):
    llm = FakeLLM()
    assistant = assistant.with_llm(llm)
    answer = assistant.ask(QUESTION)
    other = assistant.ask("Why did Moscow end the peace-treaty talks?")
    first, second = llm.calls
    assert first[0] == second[0] and "not instructions" in first[0]["content"]  # same system prefix: KV reuse
    user = first[-1]["content"]
    assert user.startswith("## ") and user.rstrip().endswith(f"Question: {QUESTION}\nAnswer:")
    numbered = [line for line in user.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in numbered] == [f"[{e.n}" for e in answer.evidence]
    assert 0 < sum(len(e.text) for e in answer.evidence) <= 4 * assistant.settings.evidence_tokens + 400
    assert other.evidence != answer.evidence


def test_follow_up_is_rewritten_before_retrieval(assistant):
    assistant = assistant.with_llm(FakeLLM(replies=["What did the 1956 declaration say about Shikotan?", "Shikotan [1]."]))
    history = [{"role": "user", "content": "Tell me about the 1956 declaration."},
               {"role": "assistant", "content": "It is a Japanese-Soviet document."}]
    events = list(assistant.ask_stream("And what about Shikotan?", history=history))
    retrieved = next(e for e in events if isinstance(e, Retrieved))
    assert retrieved.standalone_question == "What did the 1956 declaration say about Shikotan?"
    assert events[-1].answer.standalone_question == retrieved.standalone_question


def test_bad_question_fails_before_any_work(assistant):
    llm = FakeLLM()
    assistant = assistant.with_llm(llm)
    with pytest.raises(InvalidQuestion):
        list(assistant.ask_stream("\u200b"))
    assert llm.calls == []


def test_model_is_chosen_per_request_and_each_loads_once(fake_settings, monkeypatch):
    import rag.service

    loaded = []

    def make_llm(settings, name):
        loaded.append(name)
        llm = FakeLLM()
        llm.name = f"local:{name}"
        return llm

    monkeypatch.setattr(rag.service, "make_llm", make_llm)
    monkeypatch.setattr(rag.service, "model_choices", lambda settings: ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
    assistant = Assistant.from_settings(fake_settings.model_copy(update={"llm": "local"}))
    fast = assistant.ask(QUESTION, model="qwen2.5-coder-0.5b")
    default = assistant.ask(QUESTION)
    assert (fast.model, default.model) == ("local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b")
    assistant.ask(QUESTION, model="qwen2.5-coder-0.5b")
    assert loaded == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]  # kept, not reloaded, and not switched for others
    with pytest.raises(InvalidRequest, match="unknown model 'gpt-5'; choose one of qwen2.5-coder-1.5b, qwen2.5-coder-0.5b"):
        assistant.ask(QUESTION, model="gpt-5")

def test_an_ingest_by_another_writer_is_picked_up_at_the_next_question(fake_settings, corpus_copy, tmp_path):
    from rag.embedders import make_embedder
    from rag.ingest import ingest_paths, rebuild_index

    settings = fake_settings.model_copy(update={"corpus_dir": corpus_copy, "index_dir": tmp_path / "live"})
    rebuild_index(settings, make_embedder(settings))
    assistant = Assistant.from_settings(settings, llm=FakeLLM())
    before = {a.doc_id for a in assistant.articles()}
    note = tmp_path / "crab.txt"
    note.write_text("Crab quotas near Kunashir were cut by a third in 2023, the fisheries agency said. " * 4)
    (doc_id,) = ingest_paths([note], settings, make_embedder(settings)).added
    passages = assistant.retrieve("crab quotas near Kunashir", doc_ids=[doc_id])  # valid only in the new index
    assert {p.chunk.doc_id for p in passages} == {doc_id}
    assert {a.doc_id for a in assistant.articles()} == before | {doc_id}


def test_preload_loads_the_model_while_the_embedder_loads(fake_settings, monkeypatch):
    import threading

    import rag.service
    from rag.embedders.fake import FakeEmbedder

    llm_started, llm_release = threading.Event(), threading.Event()

    def make_llm(settings, name):
        llm_started.set()
        assert llm_release.wait(10)
        return FakeLLM()

    def make_embedder(settings):
        assert llm_started.wait(10), "the model did not start loading before the embedder finished"
        llm_release.set()
        return FakeEmbedder()

    monkeypatch.setattr(rag.service, "make_llm", make_llm)
    monkeypatch.setattr(rag.service, "make_embedder", make_embedder)
    assistant = Assistant.from_settings(fake_settings, preload=True)
    assert isinstance(assistant.llm(), FakeLLM) and assistant.model_loaded()


@pytest.mark.parametrize("warm", [False, True])
def test_a_warm_start_prefills_the_answer_instructions_of_the_model_it_loads(fake_settings, monkeypatch, warm):
    import rag.service
    from rag.generation import answer_messages

    prepared = []

    class PreparingLLM(FakeLLM):
        name = "local:qwen2.5-coder-0.5b"

        def prepare(self, instructions):
            prepared.append(instructions)

    monkeypatch.setattr(rag.service, "make_llm", lambda settings, name: PreparingLLM())
    assistant = Assistant.from_settings(fake_settings, preload=True, warm=warm)
    assistant.llm()
    # the 0.5B model's own prompt file: its instructions are what its questions will open with
    expected = answer_messages(fake_settings.prompts_dir, "q", [], "qwen2.5-coder-0.5b")[0]
    assert expected != answer_messages(fake_settings.prompts_dir, "q", [], "qwen2.5-coder-1.5b")[0]
    assert prepared == ([expected] if warm else [])
    answer = assistant.ask(QUESTION)
    assert assistant.llm().calls[0][0] == expected  # the question's prompt opens with what was prefilled
    assert not answer.abstained


def test_a_failed_model_load_is_reported_and_tried_again(fake_settings, monkeypatch):
    import rag.service
    from rag.errors import LLMError

    attempts = []

    def make_llm(settings, name):
        attempts.append(name)
        if len(attempts) == 1:
            raise LLMError("model file missing")
        return FakeLLM()

    monkeypatch.setattr(rag.service, "make_llm", make_llm)
    assistant = Assistant.from_settings(fake_settings, preload=True)
    with pytest.raises(LLMError, match="model file missing"):
        assistant.ask(QUESTION)
    assert not assistant.model_loaded()
    assert not assistant.ask(QUESTION).abstained and len(attempts) == 2


def test_checked_pieces_arrive_while_generating_and_add_up_to_the_answer(fake_settings):
    evidence = Assistant.from_settings(fake_settings).ask(QUESTION).evidence
    two = f"{evidence[0].text.split('. ')[0]} [1]. {evidence[-1].text.split('. ')[0]} [{len(evidence)}]."
    assistant = Assistant.from_settings(fake_settings, llm=FakeLLM([two]))
    events = list(assistant.ask_stream(QUESTION, checked_pieces=True))
    pieces = [i for i, e in enumerate(events) if isinstance(e, Checked)]
    last_token = max(i for i, e in enumerate(events) if isinstance(e, Token))
    assert pieces[0] < last_token  # the first sentence, checked, before the model finished
    assert "".join(events[i].text for i in pieces) == events[-1].answer.answer
    assert not any(isinstance(e, Checked) for e in assistant.ask_stream(QUESTION))  # only when asked for


def test_model_calls_never_overlap_across_threads(fake_settings):
    """The chat, /ask and the OpenAI API call one Assistant from different threads."""
    import threading
    import time

    class Slow(FakeLLM):
        active = most = 0

        def stream(self, messages, **kwargs):
            Slow.active += 1
            Slow.most = max(Slow.most, Slow.active)
            try:
                for token in super().stream(messages, **kwargs):
                    time.sleep(0.01)
                    yield token
            finally:
                Slow.active -= 1

    assistant = Assistant.from_settings(fake_settings, llm=Slow())
    history = [{"role": "user", "content": "Tell me about 1956."}, {"role": "assistant", "content": "A declaration."}]
    threads = [threading.Thread(target=assistant.ask, args=(QUESTION,), kwargs={"history": history if i % 2 else None})
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Slow.most == 1


def test_a_quote_prompt_answers_with_the_evidence_lines_the_model_names(fake_settings, tmp_path):
    """A model whose prompt declares reply = "quote" only names evidence numbers; the answer quotes
    those lines whole, checked and cited like any answer, and nothing it names means no answer."""
    import shutil

    prompts = tmp_path / "prompts"
    shutil.copytree(fake_settings.prompts_dir, prompts)
    shutil.copy(prompts / "answer.qwen2.5-coder-0.5b.toml", prompts / "answer.fake.toml")
    settings = fake_settings.model_copy(update={"prompts_dir": prompts})
    assistant = Assistant.from_settings(settings, llm=FakeLLM(replies=["[2][9]", "[0]"]))
    events = list(assistant.ask_stream(QUESTION))
    answer = events[-1].answer
    second = answer.evidence[1]
    assert "".join(e.text for e in events if isinstance(e, Token)) == answer.raw == f"{second.text} [2]"
    assert not answer.abstained and {c.evidence.n for c in answer.citations} == {2}
    assert all(s.supported and s.support.quote in second.text for s in answer.sentences)
    none = assistant.ask(QUESTION)
    assert none.abstained and none.abstention_reason == "the model found no answer in the evidence"


def test_the_passages_returned_hold_every_evidence_sentence_the_model_sees(assistant):
    """A sentence can join from a chunk ranked below k; that chunk is then listed with the top k, so
    the eval's `passages` are exactly what the evidence came from."""
    joined = 0
    for sentence in assistant.index.sentences:
        words = sentence.text.split()
        passages, _, evidence = assistant.gather_evidence(" ".join(words[: len(words) // 2]), k=1)
        assert {e.chunk_id for e in evidence} <= {p.chunk.chunk_id for p in passages}
        assert passages[0].rank == 1 and all(p.rank > 1 for p in passages[1:])
        joined += len(passages) > 1
    assert joined  # the case is exercised
