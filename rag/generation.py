"""Stage 5b — render the prompts: the grounded answer from numbered evidence, the follow-up rewrite."""

from __future__ import annotations

from pathlib import Path

from rag.evidence import Evidence, format_evidence
from rag.llms import Message
from rag.prompts import inline, render


def answer_messages(prompts_dir: Path, question: str, evidence: list[Evidence],
                    model: str | None = None, prompt: str = "answer") -> list[Message]:
    """`prompt`: "answer" (ask), or "compare" for one article's answer in a comparison."""
    return render(prompts_dir, prompt, model, question=question, evidence=format_evidence(evidence))


def citation_grammar(evidence_count: int, max_sentences: int = 3) -> str:
    """GBNF for 1 to `max_sentences` sentences, each words first, then one or two markers [n] of
    evidence that exists: a small model can neither answer with a bare "[2]" nor cite [7] of 5."""
    numbers = " | ".join(f'"{n}"' for n in range(1, evidence_count + 1)) or '"1"'
    more = f'(" " sentence){{0,{max_sentences - 1}}}'
    return "\n".join([
        f"root ::= sentence {more}",
        'sentence ::= [A-Z0-9"“(] [^\\[\\]\\n]{8,} " " cite cite? "."?',
        'cite ::= "[" n "]"',
        f"n ::= {numbers}",
    ])


def condense_messages(prompts_dir: Path, question: str, history: list[Message]) -> list[Message]:
    turns = "\n".join(f"{m['role']}: {inline(m['content'])}" for m in history[-6:])
    return render(prompts_dir, "condense", history=turns, question=question)
