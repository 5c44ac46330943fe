"""The same burst and the same long conversation with the real embedder and the local llama.cpp model."""

from __future__ import annotations

import pytest
from gradio_client import Client

from rag.service import Assistant
from rag.settings import load_settings
from ui.app import EXAMPLES, build_app, start
from ui.screenshot import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, indexed) -> Assistant:
    return Assistant.from_settings(indexed(load_settings(llm="local", index_dir=tmp_path_factory.mktemp("real") / "index")))


def test_ten_real_questions_at_once_are_all_answered(assistant):
    demo = build_app(assistant)
    port = free_port()
    start(demo, "127.0.0.1", port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, max_workers=10)
        questions = (EXAMPLES * 2)[:10]
        jobs = [client.submit(q, api_name="/ask") for q in questions]
        answers = [job.result(timeout=900)[1] for job in jobs]
    finally:
        demo.close()
    assert [a["question"] for a in answers] == questions
    assert all(a["answer"] and a["model"].startswith("local:") for a in answers)


def test_a_24k_word_conversation_fits_the_real_models_window(assistant):
    history = [{"role": "user" if i % 2 == 0 else "assistant",
                "content": "The Kuril Islands dispute between Russia and Japan continues. " * 250} for i in range(24)]
    assert sum(len(m["content"].split()) for m in history) >= 24_000
    answer = assistant.ask("And how did Tokyo react?", history=history)  # no "exceed context window" error
    assert "context window" in answer.notes[0] and answer.standalone_question
