"""`rag eval` end to end on the bundled gold set, with the fake embedder and the fake LLM."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from evals import harness, report
from evals.gold import load_gold
from rag.cli import app
from rag.llms.fake import FakeLLM
from rag.service import Assistant

runner = CliRunner()
GOLD_RECORDS = load_gold(harness.GOLD)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    """One fake index for the module: every run reuses it instead of re-embedding."""
    return tmp_path_factory.mktemp("index")


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
    assert set(metrics["baselines"]) == {"bm25", "dense", "hybrid"}  # no closed-book without answers
    assert metrics["judge"] == {"skipped": "retrieval-only run"}

    rows = [json.loads(line) for line in (retrieval_run / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in GOLD_RECORDS]
    followups = {r["id"]: r["standalone"] for r in GOLD_RECORDS if r["question_type"] == "followup"}
    assert followups and all(r["query"] == followups[r["id"]] for r in rows if r["id"] in followups)

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
    assert "total_p95_ms" in metrics["latency"]
    html = (out / "report.html").read_text()
    assert html.index('id="failed"') < html.index('id="passed"')
    assert "<svg" in html and "Cited passages" in html


def test_fail_under_exit_codes(env, tmp_path):
    args = ["--retrieval-only", "--limit", "5", "--out", str(tmp_path / "run")]
    failing = rag_eval(*args, "--fail-under", "retrieval.recall@5=1.01", "--fail-under", "retrieval.mrr@10=0")
    assert failing.exit_code == 1
    assert "FAIL retrieval.recall@5" in failing.stderr and "mrr@10" not in failing.stderr
    assert rag_eval(*args, "--fail-under", "retrieval.recall@5=0").exit_code == 0
    unknown = rag_eval(*args, "--fail-under", "answers.key_fact_recall=0.5")
    assert unknown.exit_code == 2 and "not in metrics.json" in unknown.stderr


@pytest.mark.parametrize("args", [["--split", "test"], ["--fail-under", "recall"], ["--gold", "missing.jsonl"]])
def test_bad_options_exit_2_before_any_work(env, tmp_path, args):
    result = rag_eval(*args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "error:" in result.stderr
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


def test_judge_tier_grades_answers_with_the_prompt_file(fake_settings):
    assistant = Assistant.from_settings(fake_settings)
    corpus = harness.Corpus.of(assistant)
    record = next(r for r in GOLD_RECORDS if r["id"] == "q001")
    judge = FakeLLM(replies=['{"claims": 2, "supported": 1, "correct": "yes"}'])
    [row] = harness.run(assistant, [record], corpus, answer=True, judge=judge)
    assert not row["abstained"]
    assert row["metrics"]["judge.faithfulness"] == 0.5 and row["metrics"]["judge.correctness"] == 1.0
    prompt = judge.calls[0][-1]["content"]
    assert record["reference"] in prompt and row["answer"] in prompt and '<passage id="1"' in prompt
    assert harness.make_judge(fake_settings) == (None, harness.JUDGE_SKIPPED_NO_ENDPOINT)
    configured, note = harness.make_judge(fake_settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9"}))
    assert note is None and configured.name == f"openai:{fake_settings.openai_model}"  # even with --llm fake


def test_aggregate_means_only_over_questions_a_metric_applies_to():
    rows = [
        {"split": "dev", "question_type": "factual", "timings_ms": {"total": 10.0},
         "metrics": {"retrieval.recall@5": 1.0, "abstention.combined_score": 1.0}},
        {"split": "dev", "question_type": "factual", "timings_ms": {"total": 30.0},
         "metrics": {"retrieval.recall@5": 0.0, "abstention.combined_score": -1.0}},
        {"split": "heldout", "question_type": "unanswerable", "timings_ms": {"total": 20.0},
         "metrics": {"abstention.combined_score": 0.0}},
    ]
    summary = harness.summarize(rows)
    assert summary["questions"] == 3
    assert summary["retrieval"] == {"questions": 2, "recall@5": 0.5}
    assert summary["abstention"]["combined_score"] == 0.0
    assert summary["latency"] == {"total_p50_ms": 20.0, "total_p95_ms": 29.0}
    assert summary["by_split"]["heldout"]["questions"] == 1 and "retrieval" not in summary["by_split"]["heldout"]


def test_html_report_escapes_untrusted_text():
    row = {"id": "q<1>", "split": "dev", "question_type": "factual", "user_input": "<script>alert(1)</script>",
           "query": "<script>alert(1)</script>", "answerable": True, "reference": "a & b", "aliases": [["<b>"]],
           "gold_passages": [{"doc_id": "d", "start": 0, "end": 5, "text": "</blockquote><img src=x>"}],
           "answer": "<i>x</i> [1]", "abstained": False, "outcome": "wrong", "failures": ["wrong answer"],
           "citations": [{"n": 1, "doc_id": "d", "title": "<t>", "start": 0, "end": 5, "quote": "<q>", "text": "t"}],
           "metrics": {}}
    page = report.html_page({"questions": 1, "by_split": {}, "by_type": {}}, [row])
    assert "<script>" not in page and "<img" not in page and "<i>x" not in page and "<t>" not in page
    assert "&lt;script&gt;" in page and "a &amp; b" in page


def test_committed_doc_qrels_match_the_gold_set(tmp_path):
    harness.export_doc_qrels(GOLD_RECORDS, tmp_path)
    for split in harness.SPLITS:
        committed = harness.QRELS_DIR / f"{split}.tsv"
        assert committed.read_text() == (tmp_path / f"{split}.tsv").read_text(), "run `rag eval qrels`"


def test_eval_cli_imports_only_typer():
    code = "import sys, evals.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('rag', 'rich', 'evals')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['evals', 'evals.cli']"
