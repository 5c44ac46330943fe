"""The OpenAI-compatible API as its users see it: the official `openai` client and LangChain's ChatOpenAI
against the server `rag serve` runs (fake LLM, real embedder), plus raw HTTP for the error shapes."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest
from gradio_client import Client

from ui.openai_api import MODEL_ID

QUESTION = "What did the 1956 Japanese-Soviet declaration provide?"
OTHER = "What did Putin announce for the Kuril Islands in 2021?"


def ask(question: str) -> list[dict]:
    return [{"role": "user", "content": question}]


@pytest.fixture(scope="module")
def client(app_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{app_url}v1", api_key="x", max_retries=0)


def check_citations(content: str, annotations: list, citations: list[dict], articles: dict, app_url: str) -> None:
    """Every [n] is annotated with a link that names its passage; every citation quotes the article."""
    markers = [content[a.url_citation.start_index:a.url_citation.end_index] for a in annotations]
    assert markers and all(m.startswith("[") and m.endswith("]") for m in markers)
    assert content.count("[") == len(annotations)
    by_n = {c["n"]: c for c in citations}
    for marker, a in zip(markers, annotations):
        c = by_n[int(marker[1:-1])]
        assert a.type == "url_citation" and a.url_citation.title == articles[c["doc_id"]].title
        link = urlsplit(a.url_citation.url)
        assert f"{link.scheme}://{link.netloc}/" == app_url
        query = {k: v[0] for k, v in parse_qs(link.query).items()}
        assert query == {"doc_id": c["doc_id"], "start": str(c["start"]), "end": str(c["end"]),
                         "quote_start": str(c["quote_start"]), "quote_end": str(c["quote_end"])}
    for c in citations:
        text = articles[c["doc_id"]].text
        assert text[c["quote_start"]:c["quote_end"]] == c["quote"] and c["quote"]
        assert text[c["start"]:c["end"]] == c["text"]


def test_models_are_the_default_and_each_local_model(client, assistant):
    assert [m.id for m in client.models.list()] == [MODEL_ID, *assistant.models]


def test_completion_is_the_checked_answer_with_both_forms_of_citation(client, assistant, articles, app_url):
    expected = assistant.ask(QUESTION)
    reply = client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION))
    message = reply.choices[0].message
    assert message.content == expected.answer and "[1]" in message.content
    assert reply.choices[0].finish_reason == "stop" and reply.model == MODEL_ID
    assert message.citations == [c.to_dict() for c in expected.citations]  # what `rag ask --json` prints
    check_citations(message.content, message.annotations, message.citations, articles, app_url)
    assert reply.usage.completion_tokens == expected.usage["completion_tokens"] > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_a_local_model_name_selects_it(client, assistant):
    reply = client.chat.completions.create(model=assistant.models[0], messages=ask(QUESTION))
    assert reply.model == assistant.models[0] and reply.choices[0].message.citations


def test_stream_adds_up_to_the_answer_and_cites_on_the_last_chunk_only(client, assistant, articles, app_url):
    expected = assistant.ask(QUESTION)
    chunks = list(client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION), stream=True))
    *body, last = chunks
    assert body[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected.answer
    assert all(c.choices[0].finish_reason is None for c in body) and last.choices[0].finish_reason == "stop"
    assert not any((c.choices[0].delta.model_extra or {}).keys() & {"citations", "annotations"} for c in body)
    final = last.choices[0].delta
    assert final.citations == [c.to_dict() for c in expected.citations]
    annotations = [openai.types.chat.chat_completion_message.Annotation(**a) for a in final.annotations]
    check_citations(expected.answer, annotations, final.citations, articles, app_url)
    assert last.usage.completion_tokens > 0


def test_a_longer_answer_streams_sentence_by_sentence(client, assistant):
    evidence = assistant.ask(QUESTION).evidence
    two = f"{evidence[0].text.split('. ')[0]}. [1] {evidence[1].text.split('. ')[0]} [2]."
    assistant.llm().replies.append(two)
    chunks = list(client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION), stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) == 2  # the first sentence was sent, checked, while the model wrote the second
    assert pieces[0].endswith("[1].") and pieces[1].startswith(" ")


def test_follow_up_uses_the_conversation_without_its_markers(client, assistant):
    first = client.chat.completions.create(model=MODEL_ID, messages=ask(OTHER)).choices[0].message.content
    llm = assistant.llm()
    before = len(llm.calls)
    messages = [{"role": "system", "content": "You are terse."}, *ask(OTHER),
                {"role": "assistant", "content": first}, *ask("And how did Tokyo react?")]
    client.chat.completions.create(model=MODEL_ID, messages=messages)
    rewrite, answer = llm.calls[before:]
    assert "[1]" in first and "[1]" not in rewrite[-1]["content"] and first.split(" [")[0] in rewrite[-1]["content"]
    assert f"And how did Tokyo react? (regarding: {OTHER})" in answer[-1]["content"]
    assert "You are terse" not in str(llm.calls[before:])  # the server's prompt decides how to answer


def test_k_and_doc_ids_in_extra_body_narrow_the_search(client, articles):
    everywhere = client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION)).choices[0].message
    other = next(d for d in sorted(articles) if d != everywhere.citations[0]["doc_id"] and "1956" in articles[d].text)
    narrowed = client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION),
                                              extra_body={"k": 1, "doc_ids": [other]}).choices[0].message
    assert {c["doc_id"] for c in narrowed.citations} == {other}


@pytest.mark.parametrize("body, status, param, message", [
    ({"model": MODEL_ID, "messages": ask("x" * 2001)}, 400, "messages", "the limit is 2,000"),
    ({"model": MODEL_ID, "messages": ask("   ")}, 400, "messages", "the question is empty"),
    ({"model": "gpt-4o", "messages": ask(QUESTION)}, 400, "model", "unknown model 'gpt-4o'"),
    ({"model": MODEL_ID, "messages": ask(QUESTION), "k": 50}, 400, "k", "k must be between 1 and 20"),
    ({"model": MODEL_ID, "messages": ask(QUESTION), "doc_ids": ["nope"]}, 400, "doc_ids", "unknown doc_ids: nope"),
    ({"model": MODEL_ID, "messages": []}, 400, "messages", "non-empty list"),
    ({"model": MODEL_ID, "messages": [*ask(QUESTION), {"role": "assistant", "content": "Hm."}]}, 400, "messages",
     "the last message must be the user's question"),
    ({"model": MODEL_ID, "messages": [{"role": "tool", "content": "x"}]}, 400, "messages[0].role", "not 'tool'"),
    ({"model": MODEL_ID, "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content", "text"),
    ({"messages": ask(QUESTION)}, 400, "model", "model must be a string"),
    ({"model": MODEL_ID, "messages": ask(QUESTION), "stream": "yes"}, 400, "stream", "true or false"),
    ([1, 2], 400, None, "JSON object"),
])
def test_bad_requests_get_openai_shaped_errors(app_url, body, status, param, message):
    for stream in (False, True):  # a stream is refused before it starts, with the same error
        sent = body if not isinstance(body, dict) or "stream" in body else {**body, "stream": stream}
        reply = httpx.post(f"{app_url}v1/chat/completions", json=sent, timeout=60)
        assert reply.status_code == status
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param and message in error["message"]


def test_malformed_json_and_the_client_exception(app_url, client):
    reply = httpx.post(f"{app_url}v1/chat/completions", content=b"{not json", timeout=60,
                       headers={"content-type": "application/json"})
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError, match="unknown doc_ids") as caught:
        client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION), extra_body={"doc_ids": ["nope"]})
    assert caught.value.param == "doc_ids"


def test_langchain_chat_openai_invokes_and_streams(app_url, assistant):
    from langchain_openai import ChatOpenAI

    expected = assistant.ask(QUESTION).answer
    chat = ChatOpenAI(base_url=f"{app_url}v1", api_key="x", model=MODEL_ID, max_retries=0)
    assert chat.invoke(QUESTION).content == expected
    assert "".join(chunk.content for chunk in chat.stream(QUESTION)) == expected


def test_chat_api_and_openai_api_never_run_the_model_at_once(app_url, client, assistant):
    questions = [QUESTION, OTHER, "What position does Valery Kistanov hold?"]
    expected = [assistant.ask(q).answer for q in questions]
    llm = assistant.llm()
    llm.max_active = 0
    gradio = Client(app_url, verbose=False)
    jobs = [gradio.submit(q, api_name="/ask") for q in questions]
    answers: dict[str, str] = {}

    def api(q: str, stream: bool) -> None:
        reply = client.chat.completions.create(model=MODEL_ID, messages=ask(q), stream=stream)
        answers[f"{q}{stream}"] = ("".join(c.choices[0].delta.content or "" for c in reply) if stream
                                   else reply.choices[0].message.content)

    threads = [threading.Thread(target=api, args=(q, s)) for q in questions for s in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [job.result(timeout=300)[0] for job in jobs] == expected
    assert answers == {f"{q}{s}": e for q, e in zip(questions, expected) for s in (False, True)}
    assert llm.max_active == 1


@pytest.fixture(scope="module")
def keyed_url(assistant):
    from tests.ui.conftest import serve

    yield from serve(assistant, api_key="sekrit")


def test_with_an_api_key_every_route_wants_it(keyed_url, assistant):
    expected = assistant.ask(QUESTION).answer
    with pytest.raises(openai.AuthenticationError, match="API key"):
        openai.OpenAI(base_url=f"{keyed_url}v1", api_key="x", max_retries=0).models.list()
    keyed = openai.OpenAI(base_url=f"{keyed_url}v1", api_key="sekrit", max_retries=0)
    assert keyed.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION)).choices[0].message.content == expected
    with pytest.raises(Exception):
        Client(keyed_url, verbose=False)  # gradio_client reads the app's config first: refused
    gradio = Client(keyed_url, verbose=False, headers={"Authorization": "Bearer sekrit"})
    assert gradio.predict(QUESTION, api_name="/ask")[0] == expected
    assert httpx.get(keyed_url).status_code == 401
    with httpx.Client(follow_redirects=True) as browser:  # a person opens the chat once with the key
        page = browser.get(f"{keyed_url}?key=sekrit")
        assert page.status_code == 200 and "?key" not in str(page.url)
        assert browser.get(f"{keyed_url}gradio_api/info").status_code == 200


@pytest.mark.integration
def test_the_real_local_model_answers_the_openai_client_with_citations(tmp_path_factory, indexed):
    """The issue's "done when": the stock client against the server with the bundled 0.5B model."""
    from rag.service import Assistant
    from rag.settings import load_settings
    from tests.ui.conftest import serve

    settings = indexed(load_settings(llm="local", local_model="qwen2.5-coder-0.5b",
                                     index_dir=tmp_path_factory.mktemp("real") / "index"))
    real = Assistant.from_settings(settings)
    articles = {a.doc_id: a for a in real.articles()}
    server = serve(real)
    url = next(server)
    try:
        client = openai.OpenAI(base_url=f"{url}v1", api_key="x", max_retries=0, timeout=600)
        message = client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION)).choices[0].message
        assert message.citations, message.content
        check_citations(message.content, message.annotations, message.citations, articles, url)
        chunks = list(client.chat.completions.create(model=MODEL_ID, messages=ask(QUESTION), stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == message.content  # temperature 0
        assert chunks[-1].choices[0].delta.citations == message.citations
    finally:
        server.close()
