"""The running chat as a hostile page, a careless API client and a crowd would use it: a real
server on loopback (`ui.app.start`, as `rag serve` runs it) with the fake model and embedder."""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from rag.llms.fake import FakeLLM
from rag.service import Assistant
from ui.app import build_app, start
from ui.screenshot import free_port

QUESTION = "What did the 1956 Japanese-Soviet declaration provide?"
BURST = 100


class CountingFakeLLM(FakeLLM):
    """The fake model, counting calls from any thread: a refused request must not reach it."""

    def __init__(self):
        super().__init__()
        self.count, self._lock = 0, threading.Lock()

    def stream(self, messages, **kwargs):
        with self._lock:
            self.count += 1
        yield from super().stream(messages, **kwargs)


@pytest.fixture(scope="module")
def server(pristine) -> Iterator[tuple[str, CountingFakeLLM]]:
    llm = CountingFakeLLM()
    demo = build_app(Assistant.from_settings(pristine.settings(), llm=llm))  # queue size from the settings
    port = free_port()
    start(demo, "127.0.0.1", port, block=False)
    try:
        yield f"127.0.0.1:{port}", llm
    finally:
        demo.close()


def call(address: str, path: str, method: str = "GET", body: bytes | None = None, **headers: str):
    """One raw HTTP request, path and headers exactly as given (no client-side normalisation)."""
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    connection.request(method, path, body=body, headers={"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


ASK = b'{"data": ["What did the 1956 Japanese-Soviet declaration provide?", null, null, null, null]}'
ROUTES = [("GET", "/"), ("GET", "/gradio_api/info"), ("GET", "/config"), ("POST", "/gradio_api/call/ask"),
          ("POST", "/gradio_api/queue/join"), ("GET", "/ask"), ("POST", "/ask")]
FOREIGN = {
    "rebinding Host": {"Host": "evil.example:{port}"},
    "rebinding Host and Origin": {"Host": "evil.example:{port}", "Origin": "http://evil.example:{port}"},
    "foreign Origin": {"Origin": "http://evil.example"},
    "Origin null": {"Origin": "null"},
    "another local port": {"Origin": "http://127.0.0.1:1"},
}


@pytest.mark.parametrize("name", FOREIGN)
@pytest.mark.parametrize("method, path", ROUTES)
def test_foreign_host_or_origin_is_refused_on_every_route(server, name, method, path):
    address, llm = server
    before = llm.count
    headers = {k: v.format(port=address.split(":")[1]) for k, v in FOREIGN[name].items()}
    status, _, body = call(address, path, method, ASK if method == "POST" else None, **headers)
    assert status == 403 and body.startswith(b"forbidden: ")
    assert llm.count == before  # the model never ran for it


def test_cross_origin_preflight_is_not_granted(server):
    address, _ = server
    status, headers, _ = call(address, "/gradio_api/call/ask", "OPTIONS", Origin="http://evil.example",
                              Access_Control_Request_Method="POST")
    assert "access-control-allow-origin" not in {k.lower() for k in headers}  # the browser will not send the POST


def test_own_pages_are_served_and_answered(server):
    address, llm = server
    assert call(address, "/")[0] == 200
    status, _, body = call(address, "/gradio_api/call/ask", "POST", ASK, Origin=f"http://{address}")
    assert status == 200
    event = httpx.get(f"http://{address}/gradio_api/call/ask/{httpx.Response(200, content=body).json()['event_id']}",
                      timeout=60).text
    assert "event: complete" in event and "[1]" in event


@pytest.mark.parametrize("path", [
    "/gradio_api/file=/etc/passwd", "/gradio_api/file=../../../../etc/passwd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/gradio_api/file=corpus/metadata.json",
    "/static/../../../../etc/passwd", "/assets/..%2f..%2f..%2f..%2fetc/passwd", "/file=/etc/passwd",
    "/gradio_api/proxy=http://169.254.169.254/latest/meta-data/", "/gradio_api/proxy=http://127.0.0.1:22/",
])
def test_traversal_and_proxy_requests_get_nothing(server, path):
    status, _, body = call(server[0], path)
    assert status in (400, 403, 404) and b"root:" not in body and b"Shikotan" not in body


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(f"http://{server[0]}/", verbose=False, max_workers=BURST)


@pytest.mark.parametrize("args, message", [
    ((QUESTION, None, "5"), "k must be a whole number from 1 to 20, not '5'"),
    ((QUESTION, None, 4.5), "not 4.5"),
    ((QUESTION, "not a list"), "history must be a list of"),
    ((QUESTION, None, None, "000_41d5e930bca1f221"), "doc_ids must be a list"),
    (("Who\u202e signed?",), r"invisible Unicode character \(U\+202E\)"),
    (("x" * 2001,), "the limit is 2,000"),
])
def test_bad_api_requests_get_a_message(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/ask")


def test_undecodable_question_over_raw_json_gets_a_message(server):
    address, _ = server
    body = b'{"data": ["half \\ud83d an emoji", null, null, null, null]}'  # a lone surrogate, as JSON allows
    status, _, posted = call(address, "/gradio_api/call/ask", "POST", body)
    event_id = httpx.Response(200, content=posted).json()["event_id"]
    stream = httpx.get(f"http://{address}/gradio_api/call/ask/{event_id}", timeout=60).text
    assert status == 200 and "event: error" in stream and "lone surrogate (U+D83D) at position 5" in stream


def test_a_24k_word_history_is_trimmed_and_said_so(client):
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "Kuril " * 2_000} for i in range(12)]
    _, answer = client.predict("And how did Tokyo react?", history, api_name="/ask")
    assert answer["notes"] and "context window" in answer["notes"][0] and answer["answer"]


def test_a_burst_of_100_questions_is_all_answered(client, figures):
    """All sent at once (the client has a worker per call); latency is from sending to the answer."""
    latencies, errors = [], []
    jobs = [(client.submit(QUESTION, api_name="/ask"), time.perf_counter()) for _ in range(BURST)]
    for job, sent in jobs:
        try:
            job.result(timeout=300)
            latencies.append(time.perf_counter() - sent)
        except Exception as exc:  # noqa: BLE001 - counted and reported below
            errors.append(str(exc))
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) > 1 else float("nan")
    figures["burst"] = {"calls": BURST, "answered": len(latencies), "p95": p95,
                        "queue_full": sum("Queue is full" in e for e in errors),
                        "p50": statistics.median(latencies) if latencies else float("nan")}
    assert len(latencies) == BURST, errors[:3]


@pytest.mark.parametrize("host, fix", [("127.0.0.1", "pass --port with another number"),
                                       ("no-such-host.invalid", "give --host an address or name of this machine")])
def test_serve_where_it_cannot_listen_says_so_before_loading(built, host, fix):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = built.run("serve", "--host", host, "--port", port, timeout=60)
    message = proc.stderr.decode()
    assert proc.returncode == 1 and message.startswith(f"error: cannot listen on {host}:{port} (")
    assert message.rstrip().endswith(fix) and "Loading" not in message
