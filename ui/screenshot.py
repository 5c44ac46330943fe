"""Regenerate docs/screenshot.png, the README's picture, from a real run: `python -m ui.screenshot`.

Answers with the configured model (e.g. `RAG_LLM=local RAG_LOCAL_MODEL=qwen2.5-coder-0.5b`) and
drives Debian's Chromium exactly as the browser tests do, which share `launch_chromium` and `ask`.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Playwright's own browser download is not available here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
VIEWPORT = {"width": 1360, "height": 900}
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def ask(page, question: str, timeout_ms: float = 120_000):
    """Type a question as a reader would, press Enter and wait for the checked answer; returns its turn."""
    turns = page.locator("#transcript .turn")
    before = turns.count()
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    turn = turns.nth(before)
    turn.locator(".meta").wait_for(timeout=timeout_ms)  # the meta line appears once the answer is checked
    return turn


def main(question: str | None = None) -> None:
    from playwright.sync_api import sync_playwright

    from rag.service import Assistant
    from rag.settings import load_settings
    from ui.app import EXAMPLES, build_app, start

    demo = build_app(Assistant.from_settings(load_settings()))
    port = free_port()
    start(demo, "127.0.0.1", port, block=False)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"http://127.0.0.1:{port}/")
            turn = ask(page, question or EXAMPLES[1])
            cites = turn.locator("a.cite")
            if cites.count():
                cites.first.click()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=SCREENSHOT)
            browser.close()
    finally:
        demo.close()
    print(f"saved {SCREENSHOT}", file=sys.stderr)


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or None)
