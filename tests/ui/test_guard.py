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
