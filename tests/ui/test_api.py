"""The /ask endpoint as an API client sees it: answers with structured citations, errors as messages."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError

QUESTIONS = [
    "What did the 1956 Japanese-Soviet declaration provide?",
    "What did Putin announce for the Kuril Islands in 2021?",
    "Why did Moscow say further discussion of a peace treaty with Japan was impossible?",
    "How did Russia–Japan trade turnover develop between 2017 and 2018?",
    "How many agreements did Russia and Japan sign in 2016, and of what kinds?",
    "When did Shinzo Abe announce his resignation, and for what reason?",
    "What position does Valery Kistanov hold?",
    "What joint exercise did Russia's Pacific Navy and the Japan Maritime Self-Defense Force hold in November 2017?",
    "Why does Tokyo fear Russian-Chinese defence cooperation?",
    "How large is the joint Russian-Japanese investment fund, and who set it up?",
]
HISTORY = [
    {"role": "user", "content": "What did Putin announce for the Kuril Islands in 2021?"},
    {"role": "assistant", "content": "A special economic zone exempting local businesses from most taxes."},
]


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(app_url) -> Client:
    return Client(app_url, verbose=False)


def test_only_ask_compare_and_timeline_are_public(client):
    assert sorted(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == [
        "/ask", "/compare", "/timeline"]


def test_every_parameter_and_return_value_is_described(client):
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/ask"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["question", "history", "k", "doc_ids", "model"]
    described = {p["parameter_name"]: p["python_type"]["description"] for p in endpoint["parameters"]}
    assert all(described.values()), described
    assert '"role": "user" or "assistant"' in described["history"]  # the history format, before any error
    assert all(r["python_type"]["description"] for r in endpoint["returns"])


def test_submit_streams_partial_answers_before_the_final_one(client, assistant):
    expected = assistant.ask(QUESTIONS[0])
    job = client.submit(QUESTIONS[0], api_name="/ask")
    text, data = job.result(timeout=120)
    outputs = job.outputs()
    partial = [o for o in outputs if o[1] is None]
    assert len(partial) >= 3 and outputs[-1] == (text, data)  # one per token of the draft, then the answer
    assert [o[0] for o in partial] == sorted((o[0] for o in partial), key=len)  # each one longer
    assert partial[-1][0] == expected.raw and text == expected.answer and data["citations"]


def test_compare_returns_the_comparison_dict(client, assistant, articles):
    question = "When was the Russia–Japan investment fund set up and with how much capital?"
    data = client.predict(question, api_name="/compare")
    expected = assistant.compare(question).to_dict()
    assert {k: v for k, v in data.items() if k != "timings_ms"} == {k: v for k, v in expected.items() if k != "timings_ms"}
    assert data["differences"] and all(len({s["doc_id"] for s in d["sides"]}) >= 2 for d in data["differences"])
    for side in (s for d in data["differences"] for s in d["sides"]):
        for c in side["citations"]:
            assert c["doc_id"] == side["doc_id"] and articles[c["doc_id"]].text[c["quote_start"]:c["quote_end"]] == c["quote"]


def test_compare_bad_input_gets_the_librarys_message(client):
    with pytest.raises(AppError, match="unknown doc_ids: nope"):
        client.predict("When was the fund set up?", doc_ids=["nope"], api_name="/compare")


def test_ask_returns_marked_text_and_answer_dict(client, assistant, articles):
    text, data = client.predict(QUESTIONS[0], api_name="/ask")
    expected = assistant.ask(QUESTIONS[0]).to_dict()
    assert data.keys() == expected.keys()
    assert {k: v for k, v in data.items() if k != "timings_ms"} == {k: v for k, v in expected.items() if k != "timings_ms"}
    assert text == data["answer"] and "[1]" in text and not data["abstained"]
    for c in data["citations"]:
        article = articles[c["doc_id"]].text
        assert article[c["quote_start"]:c["quote_end"]] == c["quote"]
        assert article[c["start"]:c["end"]] == c["text"]
    for s in data["sentences"]:  # each sentence with the exact span supporting it
        support = s["support"]
        assert articles[support["doc_id"]].text[support["start"]:support["end"]] == support["quote"]


def test_follow_up_uses_history(client):
    _, data = client.predict("And how did Tokyo react?", HISTORY, api_name="/ask")
    assert data["question"] == "And how did Tokyo react?"
    assert data["standalone_question"] == f"And how did Tokyo react? (regarding: {HISTORY[0]['content']})"


def test_doc_ids_and_k_narrow_the_search(client, articles):
    _, everywhere = client.predict(QUESTIONS[0], api_name="/ask")
    other = next(d for d in sorted(articles) if d != everywhere["citations"][0]["doc_id"] and "1956" in articles[d].text)
    _, narrowed = client.predict(QUESTIONS[0], None, 1, [other], api_name="/ask")
    assert [c["doc_id"] for c in narrowed["citations"]] == [other]


@pytest.mark.parametrize("args, message", [
    (("x" * 2001,), "the question is 2,001 characters long; the limit is 2,000"),
    (("   ",), "the question is empty"),
    ((QUESTIONS[0], [{"speaker": "me"}]), "history must be a list of"),
    ((QUESTIONS[0], None, 50), "k must be between 1 and 20"),
    ((QUESTIONS[0], None, "5"), "k must be a whole number from 1 to 20, not '5'"),
    ((QUESTIONS[0], None, None, ["no-such-article"]), "unknown doc_ids: no-such-article"),
])
def test_bad_input_gets_a_message(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/ask")


def test_ten_questions_at_once_all_answered_in_order(client, assistant):
    expected = [assistant.ask(q).answer for q in QUESTIONS]
    assistant.llm().max_active = 0
    jobs = [client.submit(q, api_name="/ask") for q in QUESTIONS]
    results = [job.result(timeout=300) for job in jobs]
    assert [data["question"] for _, data in results] == QUESTIONS
    assert [text for text, _ in results] == expected
    assert assistant.llm().max_active == 1  # queued one at a time: the model never ran concurrently


def test_full_queue_says_so(gated_app):
    url, llm = gated_app
    client = Client(url, verbose=False)
    running = client.submit(QUESTIONS[0], api_name="/ask")
    wait_until(lambda: running.status().code.name == "PROCESSING")  # held at the gate, out of the queue
    waiting = client.submit(QUESTIONS[1], api_name="/ask")
    wait_until(lambda: waiting.status().code.name == "IN_QUEUE")  # the one place in the queue
    with pytest.raises(QueueError, match="Queue is full"):
        client.predict(QUESTIONS[2], api_name="/ask")
    llm.gate.set()
    assert [job.result(timeout=120)[1]["question"] for job in (running, waiting)] == QUESTIONS[:2]
