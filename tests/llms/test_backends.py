"""The factory picks backends by setting; the OpenAI-compatible backend streams from a real
HTTP server on loopback speaking the chat-completions protocol."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.llms import LLMError, make_llm
from rag.llms.factory import backend_name
from rag.llms.fake import FakeLLM
from rag.settings import load_settings


class _ChatHandler(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _ChatHandler.requests.append((self.path, self.headers.get("Authorization"), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["Shikotan ", "and Habomai ", "[1]."]:
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _ChatHandler.requests.clear()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_auto_uses_openai_only_when_configured(monkeypatch):
    assert backend_name(load_settings()) == "local"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert backend_name(load_settings()) == "openai"
    assert backend_name(load_settings(llm="fake")) == "fake"
    assert isinstance(make_llm(load_settings(llm="fake")), FakeLLM)


def test_openai_compatible_endpoint_streams_tokens(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server)
    monkeypatch.setenv("OPENAI_MODEL", "qwen-served")
    llm = make_llm(load_settings())
    pieces = list(llm.stream([{"role": "user", "content": "Q?"}], max_tokens=32, temperature=0.0))
    assert pieces == ["Shikotan ", "and Habomai ", "[1]."]
    assert llm.name == "openai:qwen-served"
    path, auth, body = _ChatHandler.requests[0]
    assert path == "/v1/chat/completions" and body["stream"] is True and body["model"] == "qwen-served"
    assert auth == "Bearer not-needed"  # self-hosted servers need no key


def test_token_cap_is_sent_as_max_tokens(chat_server, monkeypatch):
    """llama.cpp's server (and older vLLM/Ollama) read only `max_tokens`; `max_completion_tokens` is ignored."""
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server)
    list(make_llm(load_settings()).stream([{"role": "user", "content": "Q?"}], max_tokens=37, temperature=0.0))
    body = _ChatHandler.requests[0][2]
    assert body["max_tokens"] == 37 and "max_completion_tokens" not in body


def test_unreachable_endpoint_is_one_clear_error():
    llm = make_llm(load_settings(llm="openai", openai_base_url="http://127.0.0.1:9/v1", request_timeout_s=2))
    with pytest.raises(LLMError, match="openai:"):
        list(llm.stream([{"role": "user", "content": "Q?"}], max_tokens=8, temperature=0.0))
