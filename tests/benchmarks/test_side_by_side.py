"""The side-by-side benchmark on two questions, with the fake embedder, the fake LLM for the
assistant and a scripted chat model for the textbook baseline, so its scores are known exactly."""

import json

import pytest
from langchain_core.language_models import FakeListChatModel

import bench
from rag import metrics as M
from rag.documents import load_corpus
from tests.conftest import CORPUS

ANSWERABLE = "How many agreements did Russia and Japan sign in 2016?"
UNANSWERABLE = "Who won the 1998 football World Cup?"


@pytest.fixture
def gold(tmp_path):
    """One answerable and one unanswerable question; the passage is real text so the set validates."""
    article = load_corpus(CORPUS)[0]
    quote = article.text[:60]
    common = {"reference_contexts": [], "gold_passages": [], "gold_doc_ids": [], "split": "dev"}
    records = [
        common | {"id": "a1", "user_input": ANSWERABLE, "reference": "12 intergovernmental and 68 commercial.",
                  "aliases": [["12"], ["68"]], "answerable": True, "question_type": "factual",
                  "reference_contexts": [quote], "gold_doc_ids": [article.doc_id],
                  "gold_passages": [{"doc_id": article.doc_id, "start": 0, "end": 60, "text": quote}]},
        common | {"id": "u1", "user_input": UNANSWERABLE, "reference": "The articles do not say.", "aliases": [],
                  "answerable": False, "question_type": "unanswerable"},
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_side_by_side_scores_both_systems_from_their_answers(fake_settings, gold, tmp_path, capsys):
    # Baseline: warm-up, then half the key facts (correct: recall 0.5 meets the bar), then an
    # answer to the unanswerable question (wrong).
    chat = FakeListChatModel(responses=["Warm-up.", "They signed 12 intergovernmental agreements [1].",
                                        "France won it [2]."])
    out = tmp_path / "out" / "side.json"
    result = bench.side_by_side(fake_settings, 2, out, chat_model=chat, gold=gold)

    assert json.loads(out.read_text()) == result
    assert result["questions"] == 2
    stuff = result["systems"]["stuff"]
    assert [(r["id"], r["answer"], r["abstained"], r["key_fact_recall"], r["outcome"], r["score"])
            for r in stuff["questions"]] == [
        ("a1", "They signed 12 intergovernmental agreements [1].", False, 0.5, "correct", 1),
        ("u1", "France won it [2].", False, None, "wrong", -1),
    ]
    assert stuff["summary"]["key_fact_recall"] == 0.5
    assert stuff["summary"]["combined_score"] == 0.0
    assert stuff["summary"]["outcomes"] == {"correct": 1, "abstained": 0, "wrong": 1}
    assert stuff["summary"]["prompt_tokens_p50"] is None  # a fake model has no tokenizer

    ours = result["systems"]["ours"]
    assert [r["id"] for r in ours["questions"]] == ["a1", "u1"]
    for row, aliases in zip(ours["questions"], [[["12"], ["68"]], None]):
        recall = M.key_fact_recall(row["answer"], aliases) if aliases else None
        outcome = M.outcome(row["answerable"], row["abstained"], recall)
        assert (row["key_fact_recall"], row["outcome"], row["score"]) == (recall, outcome, M.SCORES[outcome])
    assert ours["summary"]["combined_score"] == sum(r["score"] for r in ours["questions"]) / 2
    assert ours["summary"]["key_fact_recall"] == ours["questions"][0]["key_fact_recall"]

    for system in (ours, stuff):
        summary = system["summary"]
        assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"]
        assert summary["first_token_p50_ms"] <= summary["latency_p95_ms"]
    assert result["speed_ratio"] == round(stuff["summary"]["latency_p50_ms"] / ours["summary"]["latency_p50_ms"], 2)
    assert result["score_delta"] == ours["summary"]["combined_score"] - stuff["summary"]["combined_score"]
    config = result["config"]["stuff"]
    assert (config["k"], config["chunk_size"], config["chunk_overlap"]) == (4, 1000, 200)

    printed = capsys.readouterr().out
    for label in ("side by side (2 gold dev questions", "answer latency p50 / p95 (ms)", "first token p50 (ms)",
                  "prompt tokens p50", "key-fact recall (answerable)", "combined score (+1/0/-1, mean)",
                  "speed ratio (stuff p50 / ours p50)", "score delta (ours - stuff)", str(out)):
        assert label in printed
    recall_row = next(line for line in printed.splitlines() if "key-fact recall" in line)
    assert recall_row.split()[-1] == "0.50"
    score_row = next(line for line in printed.splitlines() if "combined score" in line)
    assert score_row.split()[-1] == "+0.00"


def test_questions_alternate_answerable_and_unanswerable_dev_questions_without_follow_ups():
    def rec(rid, answerable, split="dev", kind="factual"):
        return {"id": rid, "answerable": answerable, "split": split,
                "question_type": kind if answerable else "unanswerable"}

    records = [rec("a1", True), rec("a2", True), rec("f1", True, kind="followup"), rec("h1", True, "heldout"),
               rec("a3", True), rec("u1", False), rec("u2", False, "heldout")]
    assert [r["id"] for r in bench.side_by_side_questions(records, None)] == ["a1", "u1", "a2", "a3"]
    assert [r["id"] for r in bench.side_by_side_questions(records, 2)] == ["a1", "u1"]
