"""Stage 5b — render the prompts: the grounded answer from numbered evidence, the follow-up rewrite."""

from __future__ import annotations

from pathlib import Path

from rag.evidence import Evidence, format_evidence
from rag.llms import Message
from rag.prompts import render


def answer_messages(prompts_dir: Path, question: str, evidence: list[Evidence],
                    model: str | None = None) -> list[Message]:
    return render(prompts_dir, "answer", model, question=question, evidence=format_evidence(evidence))


def closed_book_messages(prompts_dir: Path, question: str) -> list[Message]:
    return render(prompts_dir, "closed_book", question=question)


def condense_messages(prompts_dir: Path, question: str, history: list[Message]) -> list[Message]:
    turns = "\n".join(f"{m['role']}: {m['content']}" for m in history[-6:])
    return render(prompts_dir, "condense", history=turns, question=question)
