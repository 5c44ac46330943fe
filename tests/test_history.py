"""A question in a conversation is rewritten only when it leans on it; a conversation longer than the
model's window is trimmed before the follow-up rewrite, and says so."""

from __future__ import annotations

import pytest

from rag.history import PER_MESSAGE, fit_history, needs_rewrite, trim_history
from rag.llms.fake import FakeLLM
from rag.service import Assistant
from rag.settings import CHECKOUT


def words(text: str) -> int:
    return len(text.split())


def turn(role: str, n: int, word: str = "word") -> dict:
    return {"role": role, "content": " ".join([word] * n)}


def test_keeps_the_most_recent_messages_that_fit():
    history = [turn("user", 50, "old"), turn("assistant", 30, "mid"), turn("user", 20, "new")]
    assert trim_history(history, 60 + 2 * PER_MESSAGE, words) == history[1:]
    assert trim_history(history, 200, words) == history


def test_the_latest_message_alone_too_long_keeps_its_end():
    history = [turn("user", 10), {"role": "assistant", "content": "start " + "x " * 500 + "the end"}]
    (kept,) = trim_history(history, 40 + PER_MESSAGE, words)
    assert kept["role"] == "assistant" and kept["content"].endswith("the end") and words(kept["content"]) <= 40


def test_fits_untouched_without_a_note():
    history = [turn("user", 10), turn("assistant", 10)]
    assert fit_history(history, "And then?", CHECKOUT / "prompts", 4096, 64, words) == (history, None)


def test_a_24k_word_conversation_reaches_the_model_within_its_window(fake_settings):
    llm = FakeLLM()
    assistant = Assistant.from_settings(fake_settings, llm=llm)
    history = [turn("user" if i % 2 == 0 else "assistant", 2_000, "Kuril") for i in range(12)]  # 24,000 words
    answer = assistant.ask("And how did Tokyo react?", history=history)
    rewrite = llm.calls[0]
    prompt_tokens = sum(llm.count_tokens(m["content"]) + PER_MESSAGE for m in rewrite)
    assert prompt_tokens + 64 <= fake_settings.n_ctx
    assert "context window" in answer.notes[0] and answer.to_dict()["notes"] == answer.notes
    assert "Kuril Kuril" in rewrite[-1]["content"]  # the latest part of the conversation is still there
    assert assistant.ask("And how did Tokyo react?", history=[turn("user", 5)]).notes == []


@pytest.mark.parametrize("question", [
    "And how did Tokyo react?",  # continues the last answer
    "How did Tokyo react?",  # too short to say to what
    "Does he think the break in dialogue is permanent?",
    "What condition did he attach to that vision?",
    "How many deals were signed when Putin came to Tokyo later that year?",
    "What about Kunashir?",
    "What did the declaration provide for the disputed islands?",  # names nothing: which declaration?
])
def test_a_question_that_leans_on_the_conversation_is_rewritten(question):
    assert needs_rewrite(question)


@pytest.mark.parametrize("question", [
    "Who signed the September 2017 memorandum on security consultations?",
    "What did the 1956 Japanese-Soviet declaration provide?",
    "Why did Moscow end the peace-treaty talks?",
])
def test_a_question_that_names_what_it_asks_about_is_searched_as_asked(question):
    assert not needs_rewrite(question)


def test_a_self_contained_question_in_a_conversation_skips_the_rewrite(fake_settings):
    assistant = Assistant.from_settings(fake_settings, llm=FakeLLM())
    history = [{"role": "user", "content": "What did the 1956 declaration provide?"},
               {"role": "assistant", "content": "Two islands after a peace treaty."}]
    answer = assistant.ask("Why did Moscow end the peace-treaty talks?", history=history)
    assert answer.standalone_question is None
    assert assistant.ask("Why did it end them?", history=history).standalone_question is not None
