"""Refuse requests meant for another site: the defence against DNS rebinding and cross-site pages.

A page on evil.example that re-points its DNS name to 127.0.0.1 reaches the local server with
`Host: evil.example`; a page on another origin posting to it sends its own `Origin`. Either could
drive the local model and read the articles, so every route (chat page, Gradio's API, /ask)
answers 403 unless the Host is one the server was started for and the Origin, when a browser
sends one, is the server's own. Clients that send no Origin (curl, gradio_client) pass on Host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
ANY_INTERFACE = ("0.0.0.0", "::", "")
SHARE_DOMAIN = ".gradio.live"  # where `--share` tunnels arrive from


def host_names(bind: str, extra: tuple[str, ...] = (), share: bool = False) -> frozenset[str]:
    """The Host names to accept: loopback, the bound interface (unless it is every interface, which
    has no one name: list the names in the `allowed_hosts` setting) and any extra names."""
    names = {*LOOPBACK, *(name.lower() for name in extra)}
    if bind not in ANY_INTERFACE:
        names.add(f"[{bind}]" if ":" in bind else bind.lower())
    if share:
        names.add("*" + SHARE_DOMAIN)
    return frozenset(names)


def _split(host: str) -> tuple[str, str | None]:
    """'name:port' → (name, port); IPv6 literals keep their brackets."""
    name, sep, port = host.rpartition(":")
    if not sep or name.endswith(":") or (name.startswith("[") != name.endswith("]")):
        return host, None  # no port (a bare IPv6 literal has colons too)
    return name, port


class HostOriginGuard:
    """ASGI middleware in front of the whole app; the refusal says what was refused and why."""

    def __init__(self, app, names: frozenset[str], port: int):
        self.app, self.names, self.port = app, names, str(port)

    def refusal(self, raw_headers: list[tuple[bytes, bytes]]) -> str | None:
        headers: dict[bytes, list[str]] = {}
        for key, value in raw_headers:
            headers.setdefault(key.lower(), []).append(value.decode("latin-1").strip())
        if any(len(headers.get(key, ())) > 1 for key in (b"host", b"origin")):
            return "a request may carry one Host and at most one Origin header"
        host = headers.get(b"host", [""])[0].lower()
        name, port = _split(host)
        wildcard = any(n.startswith("*.") and name.endswith(n[1:]) for n in self.names)
        if not (name in self.names or wildcard) or port not in (None, self.port):
            return (f"Host {host or '(none)'!r} is not one this server was started for; open it at "
                    f"http://127.0.0.1:{self.port}/ or add the name to the allowed_hosts setting")
        if b"origin" in headers:
            origin = headers[b"origin"][0]
            parts = urlsplit(origin.lower())
            if parts.scheme not in ("http", "https") or parts.netloc != host:
                return f"requests from the page at {origin!r} are not accepted: only this server's own pages may call it"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        reason = self.refusal(scope["headers"])
        if reason is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        body = f"forbidden: {reason}\n".encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
