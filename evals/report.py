"""Render a run as Markdown and as a self-contained HTML page, and compare two runs.

The HTML draws its charts as inline SVG built here (no plotting dependency) and escapes every
piece of text, since answers, questions and article passages are all untrusted.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from rag import metrics as M
from evals.harness import ABLATIONS, RUN_NAME, SECTIONS, SPLITS, TRACKED, trec_qrels, trec_run, write_qrels

HEADLINE = ("retrieval.recall@5", "retrieval.mrr@10", "evidence.recall", "answers.key_fact_recall",
            "answers.token_f1", "citations.validity", "citations.support_precision", "abstention.abstention_rate",
            "abstention.false_abstention_rate", "abstention.combined_score", "judge.correctness")
PALETTE = ("#4472c4", "#ed7d31", "#70ad47", "#7f6fb0", "#c0504d", "#2a9d8f", "#8c564b", "#d4a017", "#17becf",
           "#e377c2", "#7f7f7f")
RANKING_SHOWN = 5  # the ranking depth a failed question lists (recall@5's)
COMPARE_SKIP = ("run.", "by_type.")


def _fmt(name: str, value) -> str:
    if value is None:
        return "–"
    if "tokens" in name and name.endswith("_p50"):  # the median of an even count of token counts: 449.5 is not 450
        return f"{value:.1f}".removesuffix(".0")
    if name.endswith("_ms") or "tokens" in name:
        return f"{value:.0f}"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def _numbers(block: dict) -> dict[str, float]:
    """Dotted metric names of a summary, without question counts and non-numeric notes."""
    sections = [s for s in (*SECTIONS, "latency", "usage") if isinstance(block.get(s), dict)]
    return {f"{s}.{k}": v for s in sections for k, v in block[s].items()
            if k != "questions" and isinstance(v, (int, float))}


def _columns(metrics: dict) -> list[tuple[str, dict]]:
    """Overall first, then each split on its own: held-out numbers are never mixed into dev's."""
    splits = metrics.get("by_split", {})
    return [("all", metrics)] + [(s, splits[s]) for s in SPLITS if s in splits]


def metric_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    columns = _columns(metrics)
    header = ["metric"] + [f"{label} (n={block['questions']})" for label, block in columns]
    names = list(dict.fromkeys(n for _, block in columns for n in _numbers(block)))
    rows = [[n] + [_fmt(n, _numbers(block).get(n)) for _, block in columns] for n in names]
    return header, rows


def _type_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    present = [n for n in HEADLINE if n in _numbers(metrics)]
    header = ["question type", "n"] + present
    rows = [[t, str(block["questions"])] + [_fmt(n, _numbers(block).get(n)) for n in present]
            for t, block in metrics.get("by_type", {}).items()]
    return header, rows


def _baseline_tables(metrics: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Retrieval ablations side by side, then closed-book against this run: what grounding adds
    (and costs, in prompt tokens). Columns are named without their table's first section."""
    baselines = metrics.get("baselines", {})
    groups = [("Retrieval ablation (gold standalone questions)", list(ABLATIONS), ("retrieval", "evidence")),
              ("Grounding: closed-book vs this run", ["closed_book"], ("answers", "abstention", "usage"))]
    tables = []
    for title, names, sections in groups:
        systems = [(n, _numbers(baselines[n])) for n in names if n in baselines]
        if not systems:
            continue
        systems.append(("this run", _numbers(metrics)))
        columns = [c for c in dict.fromkeys(c for _, nums in systems for c in nums) if c.startswith(sections)]
        rows = [[name] + [_fmt(c, nums.get(c)) for c in columns] for name, nums in systems]
        labels = [c.split(".", 1)[1] if c.startswith(f"{sections[0]}.") else c for c in columns]
        tables.append((title, ["system", *labels], rows))
    return tables


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned plain text for the terminal: first column left, numbers right."""
    widths = [max(map(len, column)) for column in zip(header, *rows)]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header, *rows])


def _run_line(metrics: dict) -> str:
    run = metrics.get("run", {})
    retrieval = run.get("retrieval") or {}
    parts = [f"{run.get('mode', '?')} run", f"split {run.get('split', '?')}", f"{metrics['questions']} questions",
             f"retrieval {retrieval.get('mode', '?')} ({retrieval.get('fusion', '?')} fusion), k={run.get('k')}",
             f"evidence budget {run.get('evidence_tokens')} tokens", f"embedder {run.get('embedder')}"]
    if run.get("llm"):
        parts.append(f"LLM {run['llm']}")
    parts.append(f"gold {run.get('gold')}")
    parts.append(f"{run.get('started', '')} ({run.get('seconds', 0):.0f} s)")
    return " · ".join(parts)


def _judge_line(metrics: dict) -> str:
    judge = metrics.get("judge", {})
    if "skipped" in judge:
        return f"Judge tier skipped: {judge['skipped']}."
    model = metrics.get("run", {}).get("judge") or "?"
    return (f"Judge tier: {model} graded {judge.get('questions', 0)} answers "
            "(its raw replies: `judge_raw` in results.jsonl).")


FACT_MARK = {True: ("✓", "ok"), False: ("✗", "bad"), None: ("•", "")}


def _facts(row: dict) -> list[tuple[str, bool | None]]:
    """Each key fact with whether the answer states it (None in a retrieval-only run: no answer)."""
    answer = row.get("answer")
    return [(" / ".join(v), None if answer is None else M.fact_found(answer, v)) for v in row.get("aliases") or []]


def _split_rows(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    return [r for r in rows if r["failures"]], [r for r in rows if not r["failures"]]


def _span_head(s: dict) -> str:
    """`[n]` for evidence, `#rank` for a ranked chunk, nothing for a gold passage; then where it is."""
    label = f"[{s['n']}] " if "n" in s else (f"#{s['rank']} " if "rank" in s else "")
    return f"{label}{s['doc_id']} {s['start']}–{s['end']}"


def _evidence_title(row: dict) -> str:
    if "answer" not in row:
        return "Evidence the model would see"
    return "Evidence shown to the model" if row.get("generated") else "Evidence selected (the gate abstained first)"


def _history(row: dict) -> list[str]:
    return [f"{turn['role']}: {turn['content']}" for turn in row.get("history") or []]


def _ranking(row: dict) -> list[str]:
    """The top of the ranking, compactly: which chunks, whether they overlap gold (texts are in the index)."""
    return [f"{_span_head(r)} {r['chunk_id']} ({r['score']:.4f})" + (" ✓gold" if r["relevant"] else "")
            for r in row.get("ranking", [])[:RANKING_SHOWN]]


def _support(sentence: dict) -> tuple[bool, str, str]:
    """(supported, where the support is, its quote) for one answer sentence."""
    support = sentence.get("support")
    if not support:
        note = sentence.get("note") or ("nothing to verify" if sentence["supported"] else "unsupported")
        return sentence["supported"], f"no supporting span ({note})", ""
    where = (f"evidence [{support['evidence']}] · {support['doc_id']} {support['start']}–{support['end']}"
             f" · score {support['score']:.2f}" + (" · overlaps gold" if support.get("relevant") else ""))
    if sentence.get("note"):
        where += f" · {sentence['note']}"
    return True, where, support["quote"]


def _sentence_text(sentence: dict) -> str:
    return sentence["text"] + "".join(f" [{n}]" for n in sentence.get("citations") or [])


# ---------------------------------------------------------------------------------------- markdown

def _md_cell(text: str) -> str:
    return escape(str(text), quote=False).replace("|", "\\|").replace("\n", "<br>")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not header:
        return []
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows] + [""]


def _md_span(s: dict) -> str:
    mark = " ✓gold" if s.get("relevant") else ""
    return f"{_span_head(s)}{mark}: “{s['text']}”"


def _md_sentences(row: dict) -> list[str]:
    lines = []
    for sentence in row.get("sentences") or []:
        supported, where, quote = _support(sentence)
        line = f"- {'✓' if supported else '✗'} {_md_cell(_sentence_text(sentence))} ← {_md_cell(where)}"
        lines.append(line + (f": “{_md_cell(quote)}”" if quote else ""))
    return ["**Answer sentences** (verifier's support span):", "", *lines, ""] if lines else []


def _md_question(row: dict) -> list[str]:
    lines = [f"### {_md_cell(row['id'])} · {row['question_type']} · {row['split']}", ""]
    if row["failures"]:
        lines.append(f"**Failed:** {_md_cell('; '.join(row['failures']))}  ")
    lines.append(f"**Question:** {_md_cell(row['user_input'])}  ")
    if history := _history(row):
        lines.append(f"**History:** {_md_cell(' / '.join(history))}  ")
    if row.get("query") != row["user_input"]:
        lines.append(f"**Searched as:** {_md_cell(row.get('query'))}  ")
    lines.append("")
    answered = "answer" in row
    facts = [f"{FACT_MARK[found][0]} {f}" for f, found in _facts(row)]
    gold = [_md_span(p) for p in row.get("gold_passages") or []]
    evidence = [_md_span(e) for e in row.get("evidence") or []] or ["(none)"]
    head = ["Gold answer", _evidence_title(row)]
    cells = ["\n".join([row["reference"], *facts, *gold]), "\n".join(evidence)]
    if answered:
        reason = f"\n({row['abstention_reason']})" if row.get("abstention_reason") else ""
        head.insert(0, "Answer")
        cells.insert(0, f"{row['answer']}\noutcome: {row['outcome']}{reason}")
    lines += _md_table(head, [cells]) + _md_sentences(row)
    if ranking := _ranking(row):
        lines += [f"**Top-{RANKING_SHOWN} ranking:** {_md_cell(' · '.join(ranking))}", ""]
    if row.get("judge_raw") is not None:
        lines += [f"**Judge reply:** {_md_cell(row['judge_raw'])}", ""]
    return lines


TIMELINE_SHOWN = ("gold_events", "events", "found", "recall", "precision", "unmatched_events", "date_accuracy",
                  "article_recall", "conflicts")


def _timeline_table(metrics: dict) -> tuple[list[str], list[list[str]]] | None:
    """The timeline's scores (evals/timeline.py) as one row, or None when the run has none."""
    block = metrics.get("timeline")
    if not block:
        return None
    return list(TIMELINE_SHOWN), [[_fmt(k, block.get(k)) for k in TIMELINE_SHOWN]]


def _md_timeline(metrics: dict) -> list[str]:
    table = _timeline_table(metrics)
    if table is None:
        return []
    missed = metrics["timeline"].get("missed_or_misdated", [])
    return (["## Timeline", "", f"`rag timeline` against {metrics['timeline'].get('gold', 'the timeline gold')} "
             "(deterministic, no LLM). Gold lists expected events, not all of them: unmatched events are "
             "not necessarily wrong.", ""] + _md_table(*table)
            + [f"Missed or misdated: {_md_cell('; '.join(missed)) if missed else 'none'}", ""])


def _html_timeline(metrics: dict) -> list[str]:
    table = _timeline_table(metrics)
    if table is None:
        return []
    missed = metrics["timeline"].get("missed_or_misdated", [])
    return ["<h2>Timeline</h2>", _html_table(*table),
            f"<p>Missed or misdated: {escape('; '.join(missed)) if missed else 'none'}</p>"]


def markdown(metrics: dict, rows: list[dict]) -> str:
    failed, passed = _split_rows(rows)
    lines = ["# Evaluation report", "", _md_cell(_run_line(metrics)), "", "## Metrics", "",
             "Each split has its own column; the held-out split is never tuned on.", ""]
    lines += _md_table(*metric_table(metrics))
    lines += ["## By question type", ""] + _md_table(*_type_table(metrics))
    for title, header, table in _baseline_tables(metrics):
        lines += [f"## Baselines: {title}", ""] + _md_table(header, table)
    lines += _compare_md(metrics)
    lines += ["## Judge", "", _md_cell(_judge_line(metrics)), ""]
    lines += _md_timeline(metrics)
    lines += [f"## Failed questions ({len(failed)})", ""]
    for row in failed:
        lines += _md_question(row)
    lines += [f"## Passed questions ({len(passed)})", "", ", ".join(r["id"] for r in passed) or "(none)", ""]
    return "\n".join(lines)


COMPARE_COLUMNS = ("coverage_accuracy", "addresses_answered", "silent_kept_silent", "citation_validity",
                   "difference_recall", "judgement_difference_recall", "differences_reported")


def _compare_md(metrics: dict) -> list[str]:
    """Compare the sources (evals/compare_gold.jsonl): overall, then per question."""
    section = metrics.get("compare")
    if not section:
        return []
    gold = section.get("gold_differences", {})
    rows = [["all"] + [_fmt(c, section.get(c)) for c in COMPARE_COLUMNS]]
    rows += [[qid] + [_fmt(c, m.get(c)) for c in COMPARE_COLUMNS] for qid, m in section.get("by_question", {}).items()]
    return (["## Compare the sources", "",
             f"{section['questions']} questions, {gold.get('value', 0)} known differences of dates, amounts or "
             f"figures and {gold.get('judgement', 0)} of judgement (not detected by design).", ""]
            + _md_table(["question", *COMPARE_COLUMNS], rows))


# -------------------------------------------------------------------------------------------- html

def svg_bars(rows: list[tuple[str, list[float | None]]], series: list[str]) -> str:
    """Horizontal grouped bars, one group per row and one bar per series. The axis runs from 0 to
    1, or from -1 when a value is negative (the combined score)."""
    bar, gap, label_w, plot_w, legend_h = 12, 10, 170, 300, 22
    low = -1.0 if any(v is not None and v < 0 for _, vals in rows for v in vals) else 0.0

    def x(v: float) -> float:
        return label_w + (v - low) / (1.0 - low) * plot_w

    legend, offset = [], label_w
    for i, name in enumerate(series):
        legend.append(f'<rect x="{offset}" y="4" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                      f'<text x="{offset + 14}" y="13">{escape(name)}</text>')
        offset += 14 + 7 * len(name) + 16
    group_h = bar * len(series) + gap
    height = legend_h + group_h * len(rows) + 16
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(label_w + plot_w + 60, offset)}" '
             f'height="{height}" role="img" font-family="sans-serif" font-size="11">', *legend]
    for r, (label, values) in enumerate(rows):
        top = legend_h + r * group_h
        parts.append(f'<text x="{label_w - 6}" y="{top + group_h / 2}" text-anchor="end">{escape(label)}</text>')
        for i, v in enumerate(values):
            if v is None:
                continue
            y, left, right = top + i * bar, x(min(v, 0.0)), x(max(v, 0.0))
            parts.append(f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 0.5):.1f}" height="{bar - 2}" '
                         f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(f"{label} {series[i]}: {v:.3f}")}'
                         f'</title></rect><text x="{right + 3:.1f}" y="{y + bar - 3}">{v:.2f}</text>')
    bottom = legend_h + group_h * len(rows)
    parts.append(f'<line x1="{x(0):.1f}" y1="{legend_h}" x2="{x(0):.1f}" y2="{bottom}" stroke="#333"/>'
                 f'<text x="{x(low):.1f}" y="{bottom + 12}">{low:g}</text>'
                 f'<text x="{x(1):.1f}" y="{bottom + 12}" text-anchor="end">1</text></svg>')
    return "".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    if not header:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metric_charts(metrics: dict) -> str:
    """One chart per section, so the combined score's -1..1 axis does not squash the 0..1 metrics."""
    columns = _columns(metrics)
    charts = []
    for section in SECTIONS:  # shares and scores only: token counts do not fit a -1..1 axis
        names = [n for n in _numbers(metrics) if n.split(".", 1)[0] == section and "tokens" not in n]
        if names:
            rows = [(n.split(".", 1)[1], [_numbers(block).get(n) for _, block in columns]) for n in names]
            charts.append(f"<figure><figcaption>{section}</figcaption>"
                          f"{svg_bars(rows, [label for label, _ in columns])}</figure>")
    return f'<div class="charts">{"".join(charts)}</div>'


def _type_chart(metrics: dict) -> str:
    present = [n for n in HEADLINE if n in _numbers(metrics)]
    rows = [(f"{t} (n={block['questions']})", [_numbers(block).get(n) for n in present])
            for t, block in metrics.get("by_type", {}).items()]
    return svg_bars(rows, present)


def _html_span(s: dict) -> str:
    tag = ' <span class="ok">overlaps gold</span>' if s.get("relevant") else ""
    title = f" {escape(s['title'])}" if s.get("title") else ""
    return (f'<div class="span"><code>{escape(_span_head(s))}</code>{title}{tag}'
            f'<blockquote>{escape(s["text"])}</blockquote></div>')


def _html_sentences(row: dict) -> str:
    items = []
    for sentence in row.get("sentences") or []:
        supported, where, quote = _support(sentence)
        mark = '<span class="ok">✓</span>' if supported else '<span class="bad">✗</span>'
        quoted = f"<blockquote>{escape(quote)}</blockquote>" if quote else ""
        items.append(f"<li>{mark} {escape(_sentence_text(sentence))}<br><span class='dim'>{escape(where)}</span>"
                     f"{quoted}</li>")
    return f"<h4>Answer sentences (verifier's support span)</h4><ul>{''.join(items)}</ul>" if items else ""


def _html_question(row: dict) -> str:
    answered = "answer" in row
    facts = "".join(f'<li class="{FACT_MARK[found][1]}">{FACT_MARK[found][0]} {escape(f)}</li>'
                    for f, found in _facts(row))
    gold = "".join(_html_span(p) for p in row.get("gold_passages") or [])
    evidence = "".join(_html_span(e) for e in row.get("evidence") or []) or "<p>(none)</p>"
    columns = [("Gold answer", f"<p>{escape(row['reference'])}</p><ul>{facts}</ul>{gold}"),
               (_evidence_title(row), evidence)]
    if answered:
        reason = f" ({escape(row['abstention_reason'])})" if row.get("abstention_reason") else ""
        outcome = f"<p class='dim'>outcome: {escape(row['outcome'])}{reason}</p>"
        columns.insert(0, ("Answer", f"<p>{escape(row['answer'])}</p>{outcome}{_html_sentences(row)}"))
    history = "".join(f"<li>{escape(turn)}</li>" for turn in _history(row))
    history = f"<p class='dim'>history:</p><ul class='dim'>{history}</ul>" if history else ""
    searched = (f"<p class='dim'>searched as: {escape(row['query'])}</p>"
                if row.get("query") and row["query"] != row["user_input"] else "")
    ranking = "".join(f"<li><code>{escape(r)}</code></li>" for r in _ranking(row))
    ranking = f"<details><summary>top-{RANKING_SHOWN} ranking</summary><ul>{ranking}</ul></details>" if ranking else ""
    judged = (f"<p class='dim'>judge reply: <code>{escape(row['judge_raw'])}</code></p>"
              if row.get("judge_raw") is not None else "")
    failed = f"<p class='bad'>{escape('; '.join(row['failures']))}</p>" if row["failures"] else ""
    cells = "".join(f"<div><h4>{title}</h4>{body}</div>" for title, body in columns)
    return (f'<section class="q" id="{escape(row["id"])}"><h3>{escape(row["id"])} · {escape(row["question_type"])}'
            f' · {escape(row["split"])}</h3>{failed}{history}<p><b>{escape(row["user_input"])}</b></p>{searched}'
            f'<div class="cols c{len(columns)}">{cells}</div>{ranking}{judged}</section>')


CSS = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.cols{display:grid;gap:1em}
.c3{grid-template-columns:1fr 1fr 1.4fr}.c2{grid-template-columns:1fr 1.4fr}
.q{border:1px solid #ddd;border-radius:6px;padding:0 1em 1em;margin:1em 0}.ok{color:#2e7d32}.bad{color:#c62828}
.dim{color:#666}blockquote{margin:.3em 0 .8em;padding-left:.6em;border-left:3px solid #ccc;font-size:90%}
ul{list-style:none;padding-left:.3em}code{font-size:85%}.charts{display:flex;flex-wrap:wrap;gap:0 2em}
figure{margin:0}figcaption{font-weight:bold;margin:.5em 0}"""


def html_page(metrics: dict, rows: list[dict]) -> str:
    failed, passed = _split_rows(rows)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Evaluation report</title>"
             f"<style>{CSS}</style></head><body><h1>Evaluation report</h1><p>{escape(_run_line(metrics))}</p>",
             "<h2>Metrics</h2><p>Each split has its own column; the held-out split is never tuned on.</p>",
             _metric_charts(metrics), _html_table(*metric_table(metrics)),
             "<h2>By question type</h2>", _type_chart(metrics), _html_table(*_type_table(metrics))]
    for title, header, table in _baseline_tables(metrics):
        parts += [f"<h2>Baselines: {escape(title)}</h2>", _html_table(header, table)]
    parts += [f"<h2>Judge</h2><p>{escape(_judge_line(metrics))}</p>", *_html_timeline(metrics),
              f'<h2 id="failed">Failed questions ({len(failed)})</h2>']
    parts += [_html_question(r) for r in failed] or ["<p>None.</p>"]
    parts += [f'<h2 id="passed">Passed questions ({len(passed)})</h2><details><summary>show</summary>']
    parts += [_html_question(r) for r in passed] + ["</details></body></html>"]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------- compare

def comparison(a: tuple[dict, list[dict]], b: tuple[dict, list[dict]]) -> str:
    """Per-metric deltas (B − A), then the questions whose outcome or tracked metrics changed."""
    flat_a, flat_b = (M.flatten(m) for m, _ in (a, b))
    names = [n for n in dict.fromkeys([*flat_a, *flat_b]) if not n.startswith(COMPARE_SKIP)]
    table = []
    for n in names:
        va, vb = flat_a.get(n), flat_b.get(n)
        delta = "" if va is None or vb is None else f"{vb - va:+{'d' if isinstance(vb - va, int) else '.4f'}}"
        table.append([n, _fmt(n, va), _fmt(n, vb), delta])
    lines = [text_table(["metric", "A", "B", "delta (B−A)"], table)]
    rows_a, rows_b = ({r["id"]: r for r in rows} for _, rows in (a, b))
    changed = []
    for qid in dict.fromkeys([*rows_a, *rows_b]):
        ra, rb = rows_a.get(qid), rows_b.get(qid)
        if ra is None or rb is None:
            changed.append(f"{qid}: only in {'B' if ra is None else 'A'}")
            continue
        diffs = []
        if ra.get("outcome") != rb.get("outcome"):
            diffs.append(f"outcome {ra.get('outcome')} → {rb.get('outcome')}")
        for key in TRACKED:
            va, vb = ra["metrics"].get(key), rb["metrics"].get(key)
            if va != vb:
                diffs.append(f"{key} {_fmt(key, va)} → {_fmt(key, vb)}")
        if diffs:
            changed.append(f"{qid} [{ra['question_type']}]: " + "; ".join(diffs))
    lines += ["", f"questions changed: {len(changed)}"] + [f"  {c}" for c in changed]
    return "\n".join(lines)


def write_run(out: Path, metrics: dict, rows: list[dict], qrels: list[tuple[str, str, int]],
              baseline_rows: dict[str, list[dict]] | None = None) -> list[Path]:
    """The run folder: metrics, rows, both reports, chunk qrels (BEIR and TREC) and a TREC run file
    for this run's ranking and for each retrieval baseline."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics.json": json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
        "results.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
        "report.md": markdown(metrics, rows),
        "report.html": html_page(metrics, rows),
        "qrels.trec": trec_qrels(qrels),
        "run.trec": trec_run(rows, RUN_NAME),
    }
    for name, baseline in (baseline_rows or {}).items():
        files[f"run.{name}.trec"] = trec_run(baseline, name)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    write_qrels(qrels, out / "qrels.tsv")
    return [out / name for name in files] + [out / "qrels.tsv"]
