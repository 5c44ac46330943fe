"""The CLI as users call it: JSON output, batch mode, exit codes and messages for bad input."""

import json

import pytest
from typer.testing import CliRunner

from shells.cli import full_app
from rag.index import load_index

app = full_app()

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch, corpus_copy):
    monkeypatch.setenv("RAG_EMBEDDER", "fake")
    monkeypatch.setenv("RAG_LLM", "fake")
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus_copy))
    return tmp_path


@pytest.fixture
def built(env):
    result = runner.invoke(app, ["index", "rebuild"])
    assert result.exit_code == 0 and "index ready" in result.stdout, result.output
    return env


def test_ask_json(built):
    result = runner.invoke(app, ["ask", "--json", "What did the 1956 Japanese-Soviet declaration provide?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"].startswith("What did the 1956") and data["abstained"] is False
    assert data["citations"] and data["citations"][0]["n"] == 1


def test_retrieve_json_with_k(built):
    result = runner.invoke(app, ["retrieve", "--json", "--k", "3", "Kuril Islands joint economic activities"])
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert {"doc_id", "title", "chunk_id", "start", "end", "score", "text"} <= set(results[0])


def test_batch_answers_in_order(built):
    batch = built / "q.jsonl"
    questions = ["Who is Valery Kistanov?", "What did the 1956 declaration provide?", "What is Yamal LNG?"]
    batch.write_text("\n".join(json.dumps({"id": f"q{i}", "question": q}) for i, q in enumerate(questions)))
    result = runner.invoke(app, ["ask", "--batch", str(batch)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["id"], d["question"]) for d in lines] == [(f"q{i}", q) for i, q in enumerate(questions)]


@pytest.mark.parametrize("question", ["", "   ", "x" * 20_000, "Who\u200b signed?", "tag\U000E0049\U000E0047"])
def test_bad_questions_exit_2_before_loading_anything(env, question):
    result = runner.invoke(app, ["ask", question])
    assert result.exit_code == 2
    assert "invalid question" in result.stderr
    assert not (env / "index").exists()  # nothing was loaded or built


def test_bad_batch_line_names_the_line(env):
    batch = env / "q.jsonl"
    batch.write_text('{"question": "ok?"}\n{"question": ""}\n')
    result = runner.invoke(app, ["ask", "--batch", str(batch)])
    assert result.exit_code == 2 and "question 2" in result.stderr


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.txt", b"", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("latin1.txt", "Les îles Kouriles, été 1956.".encode("latin-1") * 20, "UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "PDF"),
    ],
)
def test_ingest_bad_file_names_it_and_leaves_index_and_corpus_unchanged(env, corpus_copy, name, data, message):
    assert runner.invoke(app, ["index", "rebuild"]).exit_code == 0
    before = load_index(env / "index").manifest
    corpus_before = sorted(p.name for p in corpus_copy.iterdir())
    good = env / "good.txt"
    good.write_text("A new article about the Kuril Islands and fisheries near Hokkaido. " * 5)
    bad = env / name
    bad.write_bytes(data)
    result = runner.invoke(app, ["ingest", str(good), str(bad)])
    assert result.exit_code == 2
    assert name in result.stderr and message in result.stderr and "index is unchanged" in result.stderr
    assert load_index(env / "index").manifest == before
    assert sorted(p.name for p in corpus_copy.iterdir()) == corpus_before


def test_ingest_adds_incrementally_and_skips_duplicates(env, corpus_copy):
    folder = env / "new"
    folder.mkdir()
    (folder / "fish.md").write_text("# Fisheries deal\n\nJapanese fishermen near the Kuril Islands signed a deal. " * 3)
    (folder / "page.html").write_text("<html><body><script>alert(1)</script><h1>Visa-free exchanges</h1>"
                                      "<p>Former island residents visited family graves on Kunashir.</p>" * 3 + "</body></html>")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert "2 added, 0 skipped" in result.stdout
    manifest = load_index(env / "index").manifest
    assert len(manifest["documents"]) == 7
    again = runner.invoke(app, ["ingest", str(folder / "fish.md")])
    assert "0 added, 1 skipped" in again.stdout
    found = runner.invoke(app, ["retrieve", "--json", "graves on Kunashir"])
    top = json.loads(found.stdout)["results"][0]
    assert "graves on Kunashir" in top["text"] and "alert" not in top["text"]
    assert load_index(env / "index").manifest == manifest  # the ingested index is current: no rebuild
    info = runner.invoke(app, ["index", "info", "--json"])
    assert json.loads(info.stdout)["chunk_count"] == manifest["chunk_count"]


def test_help_is_light():
    """`rag --help` must not import the heavy libraries."""
    import subprocess
    import sys

    code = ("import sys; from shells.cli import full_app; app = full_app(); "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'llama_cpp', 'gradio', 'faiss', 'openai', 'langchain_community') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_broken_prompt_folder_is_a_message_not_a_traceback(built, monkeypatch):
    monkeypatch.setenv("RAG_PROMPTS_DIR", str(built / "no-prompts"))
    result = runner.invoke(app, ["ask", "What did the 1956 Japanese-Soviet declaration provide?"])
    assert result.exit_code == 1 and "error: prompt template not found" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_question_shows_usage(env):
    result = runner.invoke(app, ["ask"])
    assert result.exit_code == 2 and "Usage: root ask [OPTIONS] [QUESTION]" in result.stderr
    assert "Invalid value for 'QUESTION': missing" in result.stderr


def test_answering_without_an_index_says_how_to_build_it(env):
    result = runner.invoke(app, ["ask", "Who signed?"])
    assert result.exit_code == 1 and "run `rag index rebuild`" in result.stderr
    assert not (env / "index" / "CURRENT").exists()  # nothing was built behind the user's back


def test_compare_json_answers_per_article(built):
    question = "When was the Russia–Japan investment fund set up and with how much capital?"
    result = runner.invoke(app, ["compare", "--json", question])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == question and {"agreements", "differences"} <= set(data)
    assert len(data["articles"]) == 5
    for article in data["articles"]:
        assert article["silent"] == (not article["answer"]) == (article["silent_reason"] is not None)
        assert {c["doc_id"] for c in article["citations"]} <= {article["doc_id"]}


def test_compare_text_lists_answers_and_silent_articles(built):
    result = runner.invoke(app, ["compare", "--doc", "002_6583139472fcbe27", "--doc", "003_aac86c86413ce24b",
                                 "When was the Russia–Japan investment fund set up?"])
    assert result.exit_code == 0, result.output
    assert "Asymmetry of Russia–Japan Relations" in result.stdout and "[1] " in result.stdout
    assert "A matter of principle" not in result.stdout  # only the articles asked for


def test_compare_refuses_bad_input_with_exit_2(built):
    result = runner.invoke(app, ["compare", "--doc", "nope", "When was the fund set up?"])
    assert result.exit_code == 2 and "unknown doc_ids: nope" in result.output
