"""Stage 5b — render the grounded prompt (and the follow-up rewrite prompt) from retrieved passages."""

from __future__ import annotations

import re
from pathlib import Path

from rag.llms import Message
from rag.prompts import render
from rag.retrieval import Passage

_TAG = re.compile(r"</?\s*passage[^>]*>", re.IGNORECASE)


def format_passages(passages: list[Passage]) -> str:
    """Number passages as the model must cite them; strip look-alike tags so article text
    cannot close its own passage and pose as instructions."""
    return "\n\n".join(
        f'<passage id="{i}" title="{p.chunk.title}">\n{_TAG.sub("", p.chunk.text)}\n</passage>'
        for i, p in enumerate(passages, start=1)
    )


def answer_messages(prompts_dir: Path, question: str, passages: list[Passage]) -> list[Message]:
    return render(prompts_dir, "answer", question=question, passages=format_passages(passages))


def closed_book_messages(prompts_dir: Path, question: str) -> list[Message]:
    return render(prompts_dir, "closed_book", question=question)


def condense_messages(prompts_dir: Path, question: str, history: list[Message]) -> list[Message]:
    turns = "\n".join(f"{m['role']}: {m['content']}" for m in history[-6:])
    return render(prompts_dir, "condense", history=turns, question=question)
