"""`rag eval` end to end on the bundled gold set, with the fake embedder and the fake LLM."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals import harness, report
from rag.gold import load_gold
from shells.cli import full_app
from rag.llms.fake import FakeLLM
from rag.service import Assistant
from rag.settings import CHECKOUT, load_settings

app = full_app()

runner = CliRunner()
GOLD_RECORDS = load_gold(harness.GOLD)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, indexed):
    """One fake index for the module: every run reuses it instead of re-embedding."""
    path = tmp_path_factory.mktemp("index")
    indexed(load_settings(embedder="fake", index_dir=path))
    return path


@pytest.fixture
def env(monkeypatch, index_dir):
    monkeypatch.setenv("RAG_EMBEDDER", "fake")
    monkeypatch.setenv("RAG_LLM", "fake")
    monkeypatch.setenv("RAG_INDEX_DIR", str(index_dir))


def rag_eval(*args: str):
    return runner.invoke(app, ["eval", *args])


@pytest.fixture(scope="module")
def retrieval_run(tmp_path_factory, index_dir):
    """One full retrieval-only run over the bundled gold set, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("run") / "retrieval"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_EMBEDDER", "fake")
        mp.setenv("RAG_INDEX_DIR", str(index_dir))
        for var in ("RAG_CONFIG", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
            mp.delenv(var, raising=False)
        result = rag_eval("--retrieval-only", "--compare-baselines", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_retrieval_only_run_writes_metrics_results_reports_and_qrels(retrieval_run):
    metrics = json.loads((retrieval_run / "metrics.json").read_text())
    assert metrics["questions"] == len(GOLD_RECORDS)
    assert 0.0 <= metrics["retrieval"]["recall@5"] <= 1.0
    assert metrics["retrieval"]["questions"] == sum(r["answerable"] for r in GOLD_RECORDS)
    assert set(metrics["by_split"]) == {"dev", "heldout"}
    assert "unanswerable" in metrics["by_type"] and "retrieval" not in metrics["by_type"]["unanswerable"]
    assert set(metrics["baselines"]) == set(harness.ABLATIONS)  # no closed-book without answers
    assert all("recall@5" in b["retrieval"] and "recall" in b["evidence"] for b in metrics["baselines"].values())
    assert {"recall", "precision", "tokens"} <= set(metrics["evidence"])
    assert metrics["run"]["retrieval"]["fusion"] in ("rrf", "weighted")
    assert metrics["judge"] == {"skipped": "retrieval-only run"}

    rows = [json.loads(line) for line in (retrieval_run / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in GOLD_RECORDS]
    followups = {r["id"]: r for r in GOLD_RECORDS if r["question_type"] == "followup"}
    assert followups and all(r["query"] == followups[r["id"]]["standalone"] for r in rows if r["id"] in followups)
    row = rows[0]
    assert [e["n"] for e in row["evidence"]] == list(range(1, len(row["evidence"]) + 1))
    assert set(row["evidence"][0]) >= {"n", "doc_id", "start", "end", "text", "relevant"}
    assert len(row["ranking"]) == harness.RANK_DEPTH and "retrieved" not in row
    assert set(row["ranking"][0]) == {"rank", "chunk_id", "doc_id", "start", "end", "score", "relevant"}

    qrels = (retrieval_run / "qrels.tsv").read_text().splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore" and len(qrels) > metrics["retrieval"]["questions"]
    assert "Failed questions" in (retrieval_run / "report.md").read_text()
    assert (retrieval_run / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_full_run_on_three_questions_reports_failures_first(env, tmp_path):
    out = tmp_path / "full"
    result = rag_eval("--llm", "fake", "--split", "dev", "--limit", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "judge tier skipped: no OpenAI-compatible endpoint" in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["questions"] == 3 and metrics["run"]["llm"] == "fake"
    assert {"key_fact_recall", "token_f1", "semantic_similarity"} <= set(metrics["answers"])
    assert {"combined_score", "false_abstention_rate"} <= set(metrics["abstention"])
    assert "total_p95_ms" in metrics["latency"] and "verify_p50_ms" in metrics["latency"]
    assert {"prompt_tokens_p50", "completion_tokens_p50"} <= set(metrics["usage"])
    assert {"recall", "tokens"} <= set(metrics["evidence"])
    assert {"support_precision", "unsupported_sentence_share", "cited_sentence_share"} <= set(metrics["citations"])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    answered = next(r for r in rows if not r["abstained"])
    assert answered["generated"] and answered["usage"]["prompt_tokens"] > 0
    sentence = answered["sentences"][0]
    assert {"text", "citations", "support", "supported"} <= set(sentence)
    assert {"doc_id", "start", "end", "quote", "score", "relevant", "evidence"} <= set(sentence["support"])
    html = (out / "report.html").read_text()
    assert html.index('id="failed"') < html.index('id="passed"')
    assert "<svg" in html and "Evidence shown to the model" in html and "Answer sentences" in html
    assert "prompt_tokens_p50" in (out / "report.md").read_text()
    assert metrics["compare"]["questions"] > 0  # full runs score `rag compare` too, by default


def test_a_quick_full_run_can_leave_out_the_compare_section(env, tmp_path):
    out = tmp_path / "quick"
    result = rag_eval("--llm", "fake", "--split", "dev", "--limit", "2", "--no-compare-sources", "--out", str(out))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert "compare" not in metrics and metrics["answers"]["questions"] == 2


def test_fail_under_exit_codes(env, tmp_path):
    args = ["--retrieval-only", "--limit", "5", "--out", str(tmp_path / "run")]
    failing = rag_eval(*args, "--fail-under", "retrieval.recall@5=1.01", "--fail-under", "retrieval.mrr@10=0")
    assert failing.exit_code == 1
    assert "FAIL retrieval.recall@5" in failing.stderr and "mrr@10" not in failing.stderr
    assert rag_eval(*args, "--fail-under", "retrieval.recall@5=0").exit_code == 0
    unknown = rag_eval(*args, "--fail-under", "answers.key_fact_recall=0.5")
    assert unknown.exit_code == 2 and "not in metrics.json" in unknown.stderr


@pytest.mark.parametrize("args, message", [(["--split", "test"], "'test' is not one of 'dev',"),
                                           (["--fail-under", "recall"], "error: --fail-under"),
                                           (["--gold", "missing.jsonl"], "error: gold set not found")])
def test_bad_options_exit_2_before_any_work(env, tmp_path, args, message):
    result = rag_eval(*args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / "run").exists()


def test_compare_prints_deltas_and_changed_questions(retrieval_run, tmp_path):
    other = tmp_path / "b"
    shutil.copytree(retrieval_run, other)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["retrieval"]["recall@5"] = round(metrics["retrieval"]["recall@5"] - 0.25, 4)
    (other / "metrics.json").write_text(json.dumps(metrics))
    rows = [json.loads(line) for line in (other / "results.jsonl").read_text().splitlines()]
    changed = next(r for r in rows if r["answerable"])
    changed["metrics"]["retrieval.mrr@10"] = -1.0
    (other / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    result = runner.invoke(app, ["eval", "compare", str(retrieval_run), str(other)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("retrieval.recall@5 "))
    assert line.split()[-1] == "-0.2500"
    assert "questions changed: 1" in result.stdout
    assert f"{changed['id']} [{changed['question_type']}]: retrieval.mrr@10" in result.stdout


@pytest.fixture
def fake_assistant(fake_settings):
    assistant = Assistant.from_settings(fake_settings)
    return assistant, harness.Corpus.of(assistant)


def test_judge_tier_grades_answers_with_the_prompt_file_and_keeps_its_reply(fake_settings, fake_assistant):
    assistant, corpus = fake_assistant
    record = next(r for r in GOLD_RECORDS if r["id"] == "q002")  # the fake pipeline answers this one
    reply = '{"claims": 2, "supported": 1, "correct": "yes"}'
    judge = FakeLLM(replies=[reply, "I think it is fine."])
    row, unparsed = harness.run(assistant, [record, record], corpus, answer=True, judge=judge)
    assert not row["abstained"]
    assert row["metrics"]["judge.faithfulness"] == 0.5 and row["metrics"]["judge.correctness"] == 1.0
    assert row["judge_raw"] == reply
    assert unparsed["judge_raw"] == "I think it is fine." and unparsed["metrics"]["judge.unparsed_rate"] == 1.0
    prompt = judge.calls[0][-1]["content"]
    first = row["evidence"][0]
    assert record["reference"] in prompt and row["answer"] in prompt and f"[1] {first['text'][:40]}" in prompt
    assert harness.make_judge(fake_settings) == (None, harness.JUDGE_SKIPPED_NO_ENDPOINT)
    configured, note = harness.make_judge(fake_settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9"}))
    assert note is None and configured.name == f"openai:{fake_settings.openai_model}"  # even with --llm fake


def test_rows_keep_the_models_reply_verbatim_beside_the_checked_answer(fake_assistant):
    assistant, corpus = fake_assistant
    record = next(r for r in GOLD_RECORDS if r["id"] == "q002")
    [row] = harness.run(assistant, [record], corpus, answer=True)
    assert not row["abstained"]
    # The fake quotes evidence [1] with its marker after the full stop; the claim check moves it before.
    assert row["raw"].endswith(". [1]") and row["answer"].endswith(" [1].")
    assert row["raw"].removesuffix(" [1]") == row["answer"].replace(" [1].", ".")


def test_followup_rows_carry_history_and_the_rewrite_searched(fake_assistant):
    assistant, corpus = fake_assistant
    record = next(r for r in GOLD_RECORDS if r.get("history"))
    single = next(r for r in GOLD_RECORDS if not r.get("history"))
    [full, plain] = harness.run(assistant, [record, single], corpus, answer=True)
    assert full["history"] == record["history"] and all(set(t) == {"role", "content"} for t in full["history"])
    assert full["standalone"] == record["standalone"]  # the gold rewrite, next to the system's own
    assert full["standalone_question"] == full["query"] == record["user_input"]  # the fake LLM echoes follow-ups
    assert "history" not in plain and "standalone_question" not in plain
    [searched] = harness.run(assistant, [record], corpus, answer=False)
    assert searched["history"] == record["history"] and searched["standalone_question"] == record["standalone"]


def test_evidence_metrics_on_a_hand_made_example():
    gold = [{"doc_id": "a", "start": 100, "end": 200}, {"doc_id": "b", "start": 0, "end": 50}]
    evidence = [
        {"n": 1, "doc_id": "a", "start": 150, "end": 250, "text": "x" * 40},  # overlaps gold a: 10 tokens
        {"n": 2, "doc_id": "b", "start": 50, "end": 90, "text": "y" * 9},  # touches b's end only: 3 tokens
        {"n": 3, "doc_id": "c", "start": 0, "end": 10, "text": "z" * 4},  # another article: 1 token
    ]
    record = {"answerable": True, "gold_passages": gold}
    assert harness.evidence_metrics(evidence, record) == {
        "evidence.tokens": 14.0, "evidence.recall": 0.5, "evidence.precision": pytest.approx(1 / 3)}
    assert harness.evidence_metrics([], record) == {"evidence.tokens": 0.0, "evidence.recall": 0.0}
    assert harness.evidence_metrics(evidence[2:], {"answerable": False, "gold_passages": []}) == {
        "evidence.tokens": 1.0}


def test_trec_qrels_and_run_formats():
    qrels = [("q001", "c7", 1), ("q001", "c9", 1)]
    assert harness.trec_qrels(qrels) == "q001 0 c7 1\nq001 0 c9 1\n"
    rows = [{"id": "q001", "ranking": [{"rank": 1, "chunk_id": "c9", "score": 0.5},
                                       {"rank": 2, "chunk_id": "c7", "score": 0.25}]},
            {"id": "q002"}]  # closed-book rows have no ranking
    assert harness.trec_run(rows, "bm25") == "q001 Q0 c9 1 0.5 bm25\nq001 Q0 c7 2 0.25 bm25\n"


def test_run_folder_has_trec_qrels_and_a_run_file_per_ranking(retrieval_run):
    beir = (retrieval_run / "qrels.tsv").read_text().splitlines()[1:]
    trec = (retrieval_run / "qrels.trec").read_text().splitlines()
    assert [line.split() for line in trec] == [[q, "0", d, s] for q, d, s in (x.split("\t") for x in beir)]
    rows = [json.loads(line) for line in (retrieval_run / "results.jsonl").read_text().splitlines()]
    for name in ("kuril-rag", *harness.ABLATIONS):
        path = retrieval_run / ("run.trec" if name == "kuril-rag" else f"run.{name}.trec")
        lines = [line.split() for line in path.read_text().splitlines()]
        assert lines and all(len(cols) == 6 and cols[1] == "Q0" and cols[5] == name for cols in lines)
        by_query = {}
        for qid, _, docid, rank, score, _ in lines:
            by_query.setdefault(qid, []).append((int(rank), float(score), docid))
        assert set(by_query) == {r["id"] for r in rows}
        for ranked in by_query.values():
            assert [r for r, _, _ in ranked] == list(range(1, len(ranked) + 1))
            assert [s for _, s, _ in ranked] == sorted((s for _, s, _ in ranked), reverse=True)
            assert len({d for *_, d in ranked}) == len(ranked)
    main = [line.split() for line in (retrieval_run / "run.trec").read_text().splitlines()]
    assert [(q, d) for q, _, d, *_ in main] == [(r["id"], c["chunk_id"]) for r in rows for c in r["ranking"]]


def test_written_files_hold_no_absolute_paths(env, tmp_path, retrieval_run):
    gold = tmp_path / "elsewhere" / "gold.jsonl"  # a gold set outside the project: only its name may show
    gold.parent.mkdir()
    gold.write_text("".join(json.dumps(r) + "\n" for r in GOLD_RECORDS[:4]))
    out = tmp_path / "full"
    assert rag_eval("--llm", "fake", "--gold", str(gold), "--out", str(out)).exit_code == 0
    assert json.loads((out / "metrics.json").read_text())["run"]["gold"] == "gold.jsonl"
    assert json.loads((retrieval_run / "metrics.json").read_text())["run"]["gold"] == "evals/gold.jsonl"
    roots = [str(CHECKOUT), str(tmp_path), str(retrieval_run.parent), str(Path.home())]
    for path in [*out.iterdir(), *retrieval_run.iterdir()]:
        text = path.read_text(encoding="utf-8")
        assert not [root for root in roots if root in text], path.name


def test_portable_path_is_relative_to_the_root_or_just_the_name(tmp_path):
    assert harness.portable_path(CHECKOUT / "evals" / "gold.jsonl", CHECKOUT) == "evals/gold.jsonl"
    assert harness.portable_path(tmp_path / "mine.jsonl", CHECKOUT) == "mine.jsonl"


def test_ablation_restores_the_retriever_even_when_it_fails(fake_assistant):
    assistant, corpus = fake_assistant
    retriever = assistant.retriever
    before = (retriever.mode, retriever.fusion, retriever.embedder)
    summary, rows = harness.run_baselines(assistant, GOLD_RECORDS[:3], corpus, answer=False)
    assert set(summary) == set(rows) == set(harness.ABLATIONS)
    assert (retriever.mode, retriever.fusion, retriever.embedder) == before
    with pytest.raises(RuntimeError), harness.retriever_config(retriever, mode="bm25", fusion="rrf"):
        assert (retriever.mode, retriever.fusion) == ("bm25", "rrf")
        raise RuntimeError
    assert (retriever.mode, retriever.fusion, retriever.embedder) == before


def test_query_vector_cache_embeds_each_question_once():
    class Counting:
        name, calls = "counting", []

        def embed_query(self, text):
            self.calls.append(text)
            return [float(len(text))]

    cached = harness.QueryVectorCache(Counting())
    assert [cached.embed_query(q) for q in ("ab", "abc", "ab")] == [[2.0], [3.0], [2.0]]
    assert cached._embedder.calls == ["ab", "abc"] and cached.name == "counting"


def test_aggregate_means_only_over_questions_a_metric_applies_to():
    rows = [
        {"split": "dev", "question_type": "factual", "timings_ms": {"total": 10.0},
         "usage": {"prompt_tokens": 300, "completion_tokens": 20},
         "metrics": {"retrieval.recall@5": 1.0, "abstention.combined_score": 1.0}},
        {"split": "dev", "question_type": "factual", "timings_ms": {"total": 30.0},
         "usage": {"prompt_tokens": 400, "completion_tokens": 40},
         "metrics": {"retrieval.recall@5": 0.0, "abstention.combined_score": -1.0}},
        {"split": "heldout", "question_type": "unanswerable", "timings_ms": {"total": 20.0},
         "usage": {"prompt_tokens": 0, "completion_tokens": 0},  # the evidence gate abstained: no generation
         "metrics": {"abstention.combined_score": 0.0}},
    ]
    summary = harness.summarize(rows)
    assert summary["questions"] == 3
    assert summary["retrieval"] == {"questions": 2, "recall@5": 0.5}
    assert summary["abstention"]["combined_score"] == 0.0
    assert summary["latency"] == {"total_p50_ms": 20.0, "total_p95_ms": 29.0}
    assert summary["usage"] == {"questions": 2, "prompt_tokens_p50": 350.0, "prompt_tokens_p95": 395.0,
                                "completion_tokens_p50": 30.0, "completion_tokens_p95": 39.0}
    assert summary["by_split"]["heldout"]["questions"] == 1 and "retrieval" not in summary["by_split"]["heldout"]
    assert "usage" not in summary["by_split"]["heldout"]


def test_the_report_prints_a_median_that_falls_on_half_a_token_as_it_is():
    summary = harness.summarize([
        {"split": "dev", "question_type": "factual", "timings_ms": {"total": 1000.4},
         "usage": {"prompt_tokens": 449, "completion_tokens": 20}, "metrics": {}},
        {"split": "dev", "question_type": "factual", "timings_ms": {"total": 1000.4},
         "usage": {"prompt_tokens": 450, "completion_tokens": 40}, "metrics": {}},
    ])
    _, rows = report.metric_table(summary)
    shown = {row[0]: row[1] for row in rows}
    assert shown["usage.prompt_tokens_p50"] == "449.5"  # against a target of 450, rounding would hide it
    assert shown["usage.completion_tokens_p50"] == "30"
    assert shown["latency.total_p50_ms"] == "1000"


def _failed_row() -> dict:
    return {"id": "q<1>", "split": "dev", "question_type": "followup", "user_input": "<script>alert(1)</script>",
            "query": "<script>alert(1)</script>", "answerable": True, "reference": "a & b", "aliases": [["<b>"]],
            "history": [{"role": "user", "content": "<u>earlier</u>"}],
            "gold_passages": [{"doc_id": "d", "start": 0, "end": 5, "text": "</blockquote><img src=x>"}],
            "answer": "<i>x</i> [1]", "abstained": False, "generated": True, "outcome": "wrong",
            "failures": ["wrong answer"],
            "evidence": [{"n": 3, "doc_id": "d", "title": "<t>", "start": 0, "end": 5, "text": "<e>",
                          "relevant": True}],
            "sentences": [{"text": "<i>x</i>", "citations": [1], "supported": True, "note": None,
                           "support": {"doc_id": "d", "start": 0, "end": 5, "quote": "<q>", "score": 0.8,
                                       "relevant": True, "evidence": 3}},
                          {"text": "Made up.", "citations": [], "supported": False, "note": "unsupported",
                           "support": None}],
            "ranking": [{"rank": 1, "chunk_id": "c1", "doc_id": "d", "start": 0, "end": 9, "score": 0.5,
                         "relevant": True}],
            "judge_raw": "<j>", "metrics": {}}


def test_html_report_escapes_untrusted_text():
    page = report.html_page({"questions": 1, "by_split": {}, "by_type": {}}, [_failed_row()])
    for raw in ("<script>", "<img", "<i>x", "<t>", "<e>", "<q>", "<j>", "<u>"):
        assert raw not in page
    assert "&lt;script&gt;" in page and "a &amp; b" in page


def test_reports_show_each_failed_answer_sentence_with_its_support_and_the_evidence_seen():
    md = report.markdown({"questions": 1, "by_split": {}, "by_type": {}}, [_failed_row()])
    assert "Evidence shown to the model" in md and "[3] d 0–5 ✓gold: “&lt;e&gt;”" in md
    assert ("- ✓ &lt;i&gt;x&lt;/i&gt; [1] ← evidence [3] · d 0–5 · score 0.80 · overlaps gold: “&lt;q&gt;”"
            in md)
    assert "- ✗ Made up. ← no supporting span (unsupported)" in md
    assert "**History:** user: &lt;u&gt;earlier&lt;/u&gt;" in md and "#1 d 0–9 c1 (0.5000) ✓gold" in md
    assert "**Judge reply:** &lt;j&gt;" in md
    page = report.html_page({"questions": 1, "by_split": {}, "by_type": {}}, [_failed_row()])
    assert "Answer sentences" in page and "evidence [3] · d 0–5 · score 0.80 · overlaps gold" in page


def test_committed_doc_qrels_match_the_gold_set(tmp_path):
    harness.export_doc_qrels(GOLD_RECORDS, tmp_path)
    for split in harness.SPLITS:
        committed = harness.QRELS_DIR / f"{split}.tsv"
        assert committed.read_text() == (tmp_path / f"{split}.tsv").read_text(), "run `rag eval qrels`"


def test_eval_cli_loads_no_model_library_or_harness_at_import():
    code = ("import sys, evals.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('evals', 'rich', 'numpy', 'torch', 'faiss', 'gradio', 'langchain_core', 'llama_cpp')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['evals', 'evals.cli']"
