"""The real path: MiniLM embeddings, FAISS, and the bundled llama.cpp model, through the CLI."""

import json
import os
import subprocess
import sys

import pytest

from rag.documents import load_corpus
from tests.conftest import CORPUS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def answer(tmp_path_factory):
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path_factory.mktemp("index"))}

    def rag(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "shells.cli", *args], capture_output=True, text=True,
                              timeout=900, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    rag("index", "rebuild")
    return json.loads(rag("ask", "--json", "--llm", "local", "What did the 1956 Japanese-Soviet declaration provide?"))


def test_real_model_answers_with_valid_citations(answer):
    assert answer["model"].startswith("local:qwen2.5-coder")
    assert not answer["abstained"], answer
    assert "shikotan" in answer["answer"].lower() or "habomai" in answer["answer"].lower()
    texts = {a.doc_id: a.text for a in load_corpus(CORPUS)}
    numbers = {c["n"] for c in answer["citations"]}
    assert numbers and all(f"[{n}]" in answer["answer"] for n in numbers)
    for c in answer["citations"]:
        assert texts[c["doc_id"]][c["start"] : c["end"]] == c["text"]
    assert any("Shikotan" in c["text"] for c in answer["citations"])


def test_every_supported_sentence_rests_on_real_sentences_of_the_cited_article(answer):
    """One sentence of the article, or a run of adjacent ones when the claim draws on them."""
    from rag.sentences import split_article

    texts = {a.doc_id: a.text for a in load_corpus(CORPUS)}
    cited = {c["n"]: c for c in answer["citations"]}
    supported = [s for s in answer["sentences"] if s["supported"] and s["citations"]]
    assert supported
    for s in supported:
        support = s["support"]
        sentences = split_article(support["doc_id"], texts[support["doc_id"]])
        assert support["start"] in {x.start for x in sentences} and support["end"] in {x.end for x in sentences}
        assert "\n" not in support["quote"]  # within one paragraph
        assert texts[support["doc_id"]][support["start"] : support["end"]] == support["quote"]
        assert any(cited[n]["doc_id"] == support["doc_id"] for n in s["citations"])
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] > 0


def test_evidence_is_compact_and_numbered(answer):
    assert [e["n"] for e in answer["evidence"]] == list(range(1, len(answer["evidence"]) + 1))
    assert answer["usage"]["prompt_tokens"] < 600  # instructions + ~350 evidence tokens + question


def test_real_model_rewrites_a_follow_up_to_name_its_subject(tmp_path, indexed):
    from rag.service import Assistant
    from rag.settings import load_settings

    assistant = Assistant.from_settings(indexed(load_settings(llm="local", index_dir=tmp_path / "index")))
    history = [
        {"role": "user", "content": "Why did Moscow end the peace-treaty talks with Japan?"},
        {"role": "assistant", "content": "The Russian Foreign Ministry said Tokyo took an openly unfriendly position."},
    ]
    rewritten = assistant.condense("And how did Tokyo react?", history, assistant.llm())
    assert rewritten != "And how did Tokyo react?"
    assert any(word in rewritten.lower() for word in ("peace", "talks", "moscow"))


def test_real_model_compare_lists_the_investment_fund_difference_with_both_sides_cited(tmp_path):
    """The done-when example: per-article answers and the fund's differing years, each side citing its article."""
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index")}
    for args in (["index", "rebuild"], ["compare", "--json", "--llm", "local",
                                        "When was the Russia–Japan investment fund set up and with how much capital?"]):
        proc = subprocess.run([sys.executable, "-m", "shells.cli", *args], capture_output=True, text=True,
                              timeout=1800, env=env)
        assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    texts = {a.doc_id: a.text for a in load_corpus(CORPUS)}
    answered = [a for a in data["articles"] if not a["silent"]]
    assert len(answered) >= 2 and all(a["silent_reason"] for a in data["articles"] if a["silent"])
    years = next(d for d in data["differences"] if "years" in d["differ_on"])
    assert len({s["doc_id"] for s in years["sides"]}) >= 2
    for side in years["sides"]:
        for c in side["citations"]:
            assert c["doc_id"] == side["doc_id"] and texts[c["doc_id"]][c["quote_start"]:c["quote_end"]] == c["quote"]
