"""UI fixtures: one Assistant (fake LLM, real embedder, throwaway index) for the session, one app per module."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from rag.llms.fake import FakeLLM
from rag.service import Assistant
from rag.settings import CHECKOUT, load_settings
from ui.app import build_app, start
from ui.screenshot import free_port


SHOTS = CHECKOUT / "test-output" / "ui"


def screenshot(page, name: str, readme: bool = False, **options) -> None:
    """Save a picture of the page in test-output/ui. A `readme` picture is also copied over docs/ when
    UPDATE_DOC_SHOTS=1, so the README's pictures come from these tests but a test run never changes a
    tracked file."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", **options)
    if readme and os.environ.get("UPDATE_DOC_SHOTS") == "1":
        shutil.copy(SHOTS / f"{name}.png", CHECKOUT / "docs" / f"{name}.png")


class RecordingFakeLLM(FakeLLM):
    """The stock fake LLM, made observable for UI tests.

    - Tokens arrive with a small delay, so streaming is visible and overlapping calls would overlap.
    - `max_active` records how many calls ever ran at once: the app must keep it at 1.
    - Follow-ups get a deterministic rewrite (the stock fake has no passages to quote there).
    """

    def __init__(self, delay: float = 0.02):
        super().__init__()
        self.delay = delay
        self.active = self.max_active = 0
        self._count = threading.Lock()

    def _reply(self, messages):
        prompt = messages[-1]["content"]
        if "Follow-up:" in prompt and not self.replies:
            first_question = prompt.split("user: ", 1)[1].splitlines()[0]
            follow_up = prompt.split("Follow-up:", 1)[1].splitlines()[0].strip()
            return f"{follow_up} (regarding: {first_question})"
        return super()._reply(messages)

    def stream(self, messages, *, max_tokens, temperature, usage=None, grammar=None):
        with self._count:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            for token in super().stream(messages, max_tokens=max_tokens, temperature=temperature, usage=usage,
                                        grammar=grammar):
                time.sleep(self.delay)
                yield token
        finally:
            with self._count:
                self.active -= 1


class GatedFakeLLM(RecordingFakeLLM):
    """Holds every answer until `gate` is set: keeps the queue full on purpose."""

    def __init__(self):
        super().__init__(delay=0)
        self.gate = threading.Event()

    def stream(self, messages, *, max_tokens, temperature, usage=None, grammar=None):
        assert self.gate.wait(timeout=120), "gate never opened"
        yield from super().stream(messages, max_tokens=max_tokens, temperature=temperature, usage=usage,
                                  grammar=grammar)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, indexed) -> Assistant:
    settings = indexed(load_settings(llm="fake", index_dir=tmp_path_factory.mktemp("ui") / "index"))
    return Assistant.from_settings(settings, llm=RecordingFakeLLM())


@pytest.fixture(scope="session")
def articles(assistant) -> dict:
    return {a.doc_id: a for a in assistant.articles()}


def serve(assistant: Assistant, api_key: str | None = None, **kwargs) -> Iterator[str]:
    """The app as `rag serve` runs it: the chat, /ask and the OpenAI-compatible /v1 on one port."""
    demo = build_app(assistant, **kwargs)
    port = free_port()
    start(demo, "127.0.0.1", port, block=False, assistant=assistant, api_key=api_key)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def app_url(assistant) -> Iterator[str]:
    yield from serve(assistant)


@pytest.fixture
def gated_app(assistant) -> Iterator[tuple[str, GatedFakeLLM]]:
    """The app over the same index with a gated model and a queue of 1 waiting request."""
    llm = GatedFakeLLM()
    server = serve(assistant.with_llm(llm), max_queue=1)
    try:
        yield next(server), llm
    finally:
        llm.gate.set()  # let held requests finish before the server closes
        server.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, one per test module."""
    from playwright.sync_api import sync_playwright

    from ui.screenshot import launch_chromium

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh page on the chat, ready for a question; fails the test on any JavaScript error."""
    from ui.screenshot import VIEWPORT

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.locator("#question textarea").wait_for()
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
