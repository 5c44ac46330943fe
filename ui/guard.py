"""Refuse requests meant for another site: the defence against DNS rebinding and cross-site pages.

A page on evil.example that re-points its DNS name to 127.0.0.1 reaches the local server with
`Host: evil.example`; a page on another origin posting to it sends its own `Origin`. Either could
drive the local model and read the articles, so every route (chat page, Gradio's API, /ask,
the OpenAI-compatible /v1) answers 403 unless the Host is one the server was started for and the Origin, when a browser
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
        await _send(send, 403, f"forbidden: {reason}\n".encode(), [(b"content-type", b"text/plain; charset=utf-8")])


KEY_COOKIE = "rag_key"
# Gradio's launch calls this on its own server, without the key; it only starts the queue, once.
OPEN_PATHS = ("/gradio_api/startup-events",)


class ApiKeyGuard:
    """ASGI middleware asking every request for the API key (RAG_API_KEY), once one is set.

    Programs send `Authorization: Bearer <key>` (the OpenAI clients do, given `api_key=`;
    gradio_client with `headers=`). A person opens the chat once at `/?key=<key>`: the answer is a
    redirect to the same page without the key in its address, setting an HttpOnly same-site cookie
    that the page's own requests then carry."""

    def __init__(self, app, key: str):
        self.app, self.key = app, key.encode()

    def _matches(self, candidate: str | None) -> bool:
        import hmac

        return candidate is not None and hmac.compare_digest(candidate.encode(), self.key)

    def _presented(self, scope) -> tuple[str | None, str | None, str | None]:
        """(bearer token, cookie, ?key=) as the request carries them."""
        from http.cookies import SimpleCookie
        from urllib.parse import parse_qs, unquote

        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get(b"authorization", "").partition(" ")
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get(b"cookie", ""))
        except Exception:  # a malformed Cookie header is just no cookie
            cookies = SimpleCookie()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return (token.strip() if scheme.lower() == "bearer" else None,
                unquote(cookies[KEY_COOKIE].value) if KEY_COOKIE in cookies else None, (query.get("key") or [None])[0])

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        bearer, cookie, query_key = self._presented(scope)
        if self._matches(bearer) or self._matches(cookie):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008, "reason": "API key required"})
        if self._matches(query_key) and scope["method"] == "GET":
            from urllib.parse import quote

            cookie = f"{KEY_COOKIE}={quote(query_key, safe='')}; Path=/; HttpOnly; SameSite=Strict"
            return await _send(send, 303, b"", [(b"location", _without_key(scope).encode("latin-1")),
                                               (b"set-cookie", cookie.encode("latin-1"))])
        message = ("this server wants its API key: send `Authorization: Bearer <key>`, "
                   "or open the chat once at /?key=<key>")
        if scope["path"].startswith("/v1/"):  # OpenAI clients read their own error shape
            import json

            body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                         "code": "invalid_api_key"}}).encode()
            kind = b"application/json"
        else:
            body, kind = f"unauthorized: {message}\n".encode(), b"text/plain; charset=utf-8"
        await _send(send, 401, body, [(b"content-type", kind), (b"www-authenticate", b"Bearer")])


def _without_key(scope) -> str:
    from urllib.parse import parse_qsl, urlencode

    rest = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if k != "key"]
    return scope["path"] + (f"?{urlencode(rest)}" if rest else "")


async def _send(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def exposure_warning(bind: str, share: bool, key: str | None) -> str | None:
    """What to tell whoever starts a server that others can reach with no API key set."""
    import ipaddress

    if key:
        return None
    if share:
        return ("--share puts the chat and the API on a public link, and no API key is set: anyone with the "
                "link can use them; set RAG_API_KEY")
    try:
        loopback = bind == "localhost" or ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        loopback = False  # a host name: other machines may resolve it to this one
    if loopback:
        return None
    return (f"listening on {bind or 'every interface'} with no API key: anyone who can reach this port can use "
            "the chat and the API; set RAG_API_KEY")
