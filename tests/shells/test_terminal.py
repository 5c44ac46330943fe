"""How an answer meets a terminal: one answer, its citations under it, no escape codes in a pipe."""

import io
import re

import pytest
from rich.console import Console

from rag.llms.fake import FakeLLM
from rag.service import Assistant
from shells.terminal import ask_live

QUESTION = "What did the 1956 Japanese-Soviet declaration provide?"


@pytest.fixture
def assistant(fake_settings):
    return Assistant.from_settings(fake_settings, llm=FakeLLM())


def test_piped_output_is_the_checked_answer_once_in_plain_text(assistant):
    out = io.StringIO()
    ask_live(assistant, QUESTION, None, Console(file=out, width=60))
    text = out.getvalue()
    answer = assistant.ask(QUESTION)
    assert text.count(answer.answer) == 1 and "\x1b" not in text  # one answer, not wrapped, no colour codes
    c = answer.citations[0]
    assert f"[1] {c.evidence.title} ({c.evidence.doc_id}, characters {c.quote_start}–{c.quote_end})" in text
    assert f"“{c.quote}”" in text


def test_a_terminal_sees_the_draft_stream_then_the_checked_answer_printed_once(assistant, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True)
    ask_live(assistant, QUESTION, None, console)
    text = out.getvalue()
    answer = assistant.ask(QUESTION)
    final = text[text.rindex("\x1b[2K") :]  # what stays on screen once the live region is erased
    assert " ".join(final.split()).count(answer.answer) == 1  # wrapped at word boundaries, printed once
    assert "searching the articles" in text and "writing the answer" in text  # the status line was shown
    assert not re.search(r"\x1b\[(?:[0-9;]*;)?3[0-9][;m]", text)  # NO_COLOR: no foreground colour (the spinner is green)
