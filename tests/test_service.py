import pytest

from rag.documents import load_corpus
from rag.llms.fake import FakeLLM
from rag.questions import InvalidQuestion
from rag.service import Assistant, Done, Retrieved, Status, Token
from tests.conftest import CORPUS

QUESTION = "What did the 1956 Japanese-Soviet declaration provide about Shikotan and the Habomai islands?"


@pytest.fixture
def assistant(fake_settings):
    return Assistant.from_settings(fake_settings)


def test_stream_reports_stages_then_tokens_then_checked_answer(assistant):
    events = list(assistant.ask_stream(QUESTION))
    stages = [e.stage for e in events if isinstance(e, Status)]
    assert stages == ["searching", "generating"]
    assert isinstance(events[-1], Done)
    tokens = "".join(e.text for e in events if isinstance(e, Token))
    answer = events[-1].answer
    assert tokens == answer.raw and not answer.abstained
    texts = {a.doc_id: a.text for a in load_corpus(CORPUS)}
    for c in answer.citations:
        chunk = c.passage.chunk
        assert texts[chunk.doc_id][chunk.start : chunk.end] == chunk.text
        assert texts[chunk.doc_id][c.quote_start : c.quote_end] == c.quote
    assert set(answer.timings_ms) >= {"retrieve", "generate", "total"}


def test_json_shape(assistant):
    data = assistant.ask(QUESTION).to_dict()
    assert {"question", "answer", "abstained", "citations", "model", "timings_ms"} <= set(data)
    assert data["model"] == "fake"
    assert {"n", "doc_id", "title", "chunk_id", "start", "end", "text"} <= set(data["citations"][0])


def test_irrelevant_question_abstains_without_calling_the_model(fake_settings):
    llm = FakeLLM()
    strict = Assistant.from_settings(fake_settings.model_copy(update={"min_relevance": 0.99}), llm=llm)
    answer = strict.ask("Who won the 1998 football World Cup?")
    assert answer.abstained and answer.answer == "The articles do not say." and llm.calls == []


def test_passage_text_cannot_pose_as_instructions(assistant):
    llm = FakeLLM()
    assistant._llm = llm
    list(assistant.ask_stream(QUESTION))
    prompt = llm.calls[0][-1]["content"]
    assert prompt.count("<passage id=") == prompt.count("</passage>") == assistant.settings.k
    assert "not instructions" in llm.calls[0][0]["content"]


def test_follow_up_is_rewritten_before_retrieval(assistant):
    assistant._llm = FakeLLM(replies=["What did the 1956 declaration say about Shikotan?", "Shikotan [1]."])
    history = [{"role": "user", "content": "Tell me about the 1956 declaration."},
               {"role": "assistant", "content": "It is a Japanese-Soviet document."}]
    events = list(assistant.ask_stream("And what about Shikotan?", history=history))
    retrieved = next(e for e in events if isinstance(e, Retrieved))
    assert retrieved.standalone_question == "What did the 1956 declaration say about Shikotan?"
    assert events[-1].answer.standalone_question == retrieved.standalone_question


def test_bad_question_fails_before_any_work(assistant):
    assistant._llm = llm = FakeLLM()
    with pytest.raises(InvalidQuestion):
        list(assistant.ask_stream("\u200b"))
    assert llm.calls == []


def test_switching_local_model_takes_effect_on_next_question(assistant):
    assert assistant.llm.name == "fake"
    assistant.use_local_model("qwen2.5-coder-0.5b")
    assert assistant.settings.llm == "local" and assistant.settings.local_model == "qwen2.5-coder-0.5b"
    assert assistant._llm is None  # dropped; the next question loads the chosen model
    with pytest.raises(ValueError, match="unknown local model"):
        assistant.use_local_model("gpt-5")
