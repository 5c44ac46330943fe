"""How an answer meets a terminal: a status line while models load and while searching and
writing, the answer streaming in place, then replaced by the checked answer with its citations
listed under it. Piped output, `--no-stream` and NO_COLOR get the checked answer as plain text.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

STAGES = {"loading": "loading {detail}…", "rewriting": "reading the conversation…", "searching": "searching the articles…",
          "generating": "writing the answer…"}


def answer_view(answer) -> Group:
    """The checked answer, what the checks flagged, and each citation with its article and quoted span."""
    parts = [Text(answer.answer)]
    for s in answer.sentences:
        if not s.supported:
            parts.append(Text.from_markup(f"[yellow]not supported by the articles:[/] {escape(s.text)}"))
    for note in answer.notes:
        parts.append(Text.from_markup(f"[yellow]note:[/] {escape(note)}"))
    if answer.citations:
        parts.append(Text())
    for c in answer.citations:
        e = c.evidence
        parts.append(Text.from_markup(f"[bold]\\[{c.n}][/] {escape(e.title)} [dim]({e.doc_id}, "
                                      f"characters {c.quote_start}–{c.quote_end})[/]"))
        parts.append(Text(f"    “{c.quote}”", style="italic"))
    usage = answer.usage
    parts.append(Text(f"{answer.model} · {answer.timings_ms['total'] / 1000:.1f} s · "
                      f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} answer tokens",
                      style="dim"))
    return Group(*parts)


def answer_text(answer, console: Console | None = None) -> None:
    """Print the checked answer; into a pipe or a file, lines are not wrapped at a made-up width."""
    console = console or Console()
    console.print(answer_view(answer), soft_wrap=not console.is_terminal)


def ask_live(assistant, question: str, doc_ids: list[str] | None, console: Console | None = None) -> None:
    """Stream the answer in place under a status line, then show the checked answer instead of the
    draft; a console that is not a terminal gets only the checked answer."""
    from rich.live import Live

    from rag.service import Done, Status, Token

    console = console or Console()
    if not console.is_terminal:
        answer_text(assistant.ask(question, doc_ids=doc_ids), console)
        return
    draft, stage = "", Spinner("dots", "starting…", style="status.spinner")
    with Live(Group(Text(draft), stage), console=console, transient=True, refresh_per_second=12) as live:
        for event in assistant.ask_stream(question, doc_ids=doc_ids):
            if isinstance(event, Status):
                stage = Spinner("dots", STAGES[event.stage].format(detail=event.detail), style="status.spinner")
            elif isinstance(event, Token):
                draft += event.text
            elif isinstance(event, Done):
                answer = event.answer
                break
            live.update(Group(Text(draft), stage), refresh=isinstance(event, Status))  # a new stage shows at once
    answer_text(answer, console)


def _markers(citations: list[dict]) -> str:
    return "".join(f"[{c['n']}]" for c in citations)


def _voice(side: dict) -> str:
    return f" (reported: {side['speaker'] or 'a quoted source'})" if side["stance"] == "reported" else ""


def comparison_text(comparison, console: Console | None = None) -> None:
    """Who says what, as plain text: each answering article's cited answer, the silent ones, then
    the agreements and differences, and every [n] with its article and quoted span."""
    console = console or Console()
    data, parts = comparison.to_dict(), []
    for a in data["articles"]:
        if not a["silent"]:
            parts += [Text.from_markup(f"[bold]{escape(a['title'])}[/] [dim]({escape(a['author'] or 'author not stated')}"
                                       f", {a['doc_id']})[/]"), Text(f"    {a['answer']}")]
    silent = [a for a in data["articles"] if a["silent"]]
    if silent:
        parts.append(Text.from_markup("[bold]Silent:[/] " + "; ".join(
            f"{escape(a['title'])} [dim]({escape(a['silent_reason'])})[/]" for a in silent)))
    for title, items in (("Agree", data["agreements"]), ("Differ", data["differences"])):
        if items:
            parts += [Text(), Text.from_markup(f"[bold]{title}:[/]")]
        for p in items:
            if title == "Agree":
                parts.append(Text(f"  • {p['statement']} {_markers(p['citations'])}"))
                continue
            parts.append(Text(f"  • {p['topic']} ({', '.join(p['differ_on'])}; between {p['between']}):"))
            parts += [Text(f"      {s['doc_id']}: {', '.join(s['values'])}{_voice(s)} {_markers(s['citations'])}")
                      for s in p["sides"]]
    parts.append(Text())
    for c in comparison.citations:
        parts.append(Text.from_markup(f"[bold]\\[{c.n}][/] {escape(c.evidence.title)} [dim]({c.evidence.doc_id}, "
                                      f"characters {c.quote_start}–{c.quote_end})[/]"))
        parts.append(Text(f"    “{c.quote}”", style="italic"))
    parts.append(Text(f"{comparison.model} · {comparison.timings_ms['total'] / 1000:.1f} s", style="dim"))
    console.print(Group(*parts), soft_wrap=not console.is_terminal)
