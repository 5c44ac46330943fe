"""Stage 5b — render the prompts: the grounded answer from numbered evidence, the follow-up rewrite."""

from __future__ import annotations

import re
from pathlib import Path

from rag.evidence import Evidence, format_evidence
from rag.llms import Message
from rag.prompts import inline, render


def answer_messages(prompts_dir: Path, question: str, evidence: list[Evidence],
                    model: str | None = None, prompt: str = "answer") -> list[Message]:
    """`prompt`: "answer" (ask), or "compare" for one article's answer in a comparison."""
    return render(prompts_dir, prompt, model, question=question, evidence=format_evidence(evidence))


QUOTE_REPLY_TOKENS = 10  # "[2]" or "[3][1]" and a little slack: a quote reply is numbers, not prose
QUOTED_LINES = 2  # evidence lines a quote answer gives at most


def quote_evidence(reply: str, evidence: list[Evidence]) -> str:
    """The answer a "quote" reply stands for: the evidence lines whose numbers it names, first named
    first (at most QUOTED_LINES; numbers of no evidence are ignored), each with its [n]; "" when it
    names none. The 0.5B model on the 64 dev questions: writing its answers, combined 0.38 (key-fact
    recall 0.46); naming the lines for the system to quote, 0.50 (0.65), at the cost of answering
    3 of 10 unanswerable questions with a quote (1 before)."""
    by_n = {e.n: e for e in evidence}
    named = [int(n) for n in re.findall(r"\d+", reply) if int(n) in by_n]
    return " ".join(f"{by_n[n].text} [{n}]" for n in list(dict.fromkeys(named))[:QUOTED_LINES])


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
