"""The Host/Origin guard's rules, without a server (tests/reliability drives a real one over HTTP)."""

from __future__ import annotations

import pytest

from ui.guard import HostOriginGuard, host_names

PORT = 7860


def refusal(names, **headers) -> str | None:
    guard = HostOriginGuard(None, names, PORT)
    return guard.refusal([(k.encode(), v.encode()) for k, v in headers.items()])


@pytest.mark.parametrize("host", ["127.0.0.1:7860", "localhost:7860", "[::1]:7860", "LOCALHOST:7860", "localhost"])
def test_loopback_names_are_accepted(host):
    assert refusal(host_names("127.0.0.1"), host=host) is None
    assert refusal(host_names("127.0.0.1"), host=host, origin=f"http://{host}") is None


@pytest.mark.parametrize("headers, reason", [
    ({"host": "evil.example"}, "Host 'evil.example' is not one this server was started for"),
    ({"host": "evil.example:7860"}, "Host 'evil.example:7860'"),
    ({"host": "127.0.0.1:8000"}, "Host '127.0.0.1:8000'"),  # another port: another server's name
    ({"host": "127.0.0.1.evil.example:7860"}, "is not one"),
    ({}, "Host '(none)'"),
    ({"host": "127.0.0.1:7860", "origin": "http://evil.example"}, "page at 'http://evil.example'"),
    ({"host": "127.0.0.1:7860", "origin": "null"}, "page at 'null'"),
    ({"host": "127.0.0.1:7860", "origin": "http://127.0.0.1:9999"}, "not accepted"),  # another local app
    ({"host": "127.0.0.1:7860", "origin": "http://localhost:7860"}, "not accepted"),  # another origin
    ({"host": "127.0.0.1:7860", "origin": "file://"}, "not accepted"),
])
def test_foreign_host_or_origin_is_refused_with_the_reason(headers, reason):
    assert reason in refusal(host_names("127.0.0.1"), **headers)


def test_duplicate_headers_are_refused():
    guard = HostOriginGuard(None, host_names("127.0.0.1"), PORT)
    assert "one Host" in guard.refusal([(b"host", b"127.0.0.1:7860"), (b"host", b"evil.example")])


def test_bound_interface_and_configured_names_are_accepted():
    names = host_names("192.168.1.20", extra=("Kuril-Box.lan",))
    assert refusal(names, host="192.168.1.20:7860") is None and refusal(names, host="kuril-box.lan:7860") is None
    everywhere = host_names("0.0.0.0")
    assert everywhere == host_names("127.0.0.1")  # no one name for all interfaces: loopback only
    assert refusal(host_names("::1"), host="[::1]:7860") is None


def test_share_tunnel_names_only_with_share():
    assert refusal(host_names("127.0.0.1"), host="abc.gradio.live") is not None
    shared = host_names("127.0.0.1", share=True)
    assert refusal(shared, host="abc.gradio.live", origin="https://abc.gradio.live") is None
    assert refusal(shared, host="gradio.live.evil.example") is not None


KEY = "s3cret key/+"


@pytest.fixture(scope="module")
def keyed():
    """A tiny app behind the API-key guard: the guard's rules without Gradio."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ui.guard import ApiKeyGuard

    app = Starlette(routes=[Route("/{path:path}", lambda r: PlainTextResponse(f"ok {r.url.path}"),
                                  methods=["GET", "POST"])])
    return TestClient(ApiKeyGuard(app, KEY), base_url="http://127.0.0.1:7860", follow_redirects=False)


def test_the_key_as_a_bearer_token_passes_anything_else_is_refused(keyed):
    assert keyed.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).text == "ok /v1/models"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        refused = keyed.get("/v1/models", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "invalid_api_key"  # the shape OpenAI clients read
    page = keyed.get("/")
    assert page.status_code == 401 and "open the chat once at /?key=<key>" in page.text


def test_a_person_opens_the_chat_once_with_the_key_then_the_cookie_carries_it(keyed):
    from urllib.parse import quote

    opened = keyed.get(f"/?doc_id=d1&key={quote(KEY)}&start=5")
    assert opened.status_code == 303 and opened.headers["location"] == "/?doc_id=d1&start=5"  # key out of the address
    assert "HttpOnly" in opened.headers["set-cookie"] and "SameSite=Strict" in opened.headers["set-cookie"]
    assert keyed.get("/gradio_api/info").text == "ok /gradio_api/info"  # the client kept the cookie
    keyed.cookies.clear()
    assert keyed.get("/gradio_api/info").status_code == 401
    assert keyed.post(f"/?key={quote(KEY)}").status_code == 401  # only a page visit trades the key for a cookie
    assert keyed.get("/?key=wrong").status_code == 401


@pytest.mark.parametrize("bind, share, key, warned", [
    ("127.0.0.1", False, None, False), ("localhost", False, None, False), ("::1", False, None, False),
    ("0.0.0.0", False, None, True), ("192.168.1.20", False, None, True), ("kuril-box.lan", False, None, True),
    ("127.0.0.1", True, None, True), ("0.0.0.0", False, "k", False), ("127.0.0.1", True, "k", False),
])
def test_serving_beyond_loopback_without_a_key_is_warned_about(bind, share, key, warned):
    from ui.guard import exposure_warning

    warning = exposure_warning(bind, share, key)
    assert (warning is not None) == warned and (not warned or "RAG_API_KEY" in warning)
