"""A normal (not editable) install works from any folder: the wheel carries the bundled articles,
their metadata, the prompts and the gold set, and the live index goes to RAG_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from rag.settings import CHECKOUT

pytestmark = pytest.mark.integration
QUESTION = "What did the 1956 Japanese-Soviet declaration provide?"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", str(out), str(CHECKOUT)], check=True, capture_output=True, timeout=600)
    (path,) = out.glob("kuril_rag-*.whl")
    return path


def test_the_wheel_carries_the_data_and_no_tests(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"rag/bundled/prompts/answer.toml", "rag/bundled/corpus/metadata.json", "evals/gold.jsonl",
            "shells/cli.py", "ui/app.py"} <= names
    assert sum(n.startswith("rag/bundled/corpus/") and n.endswith(".txt") for n in names) == len(
        list((CHECKOUT / "corpus").glob("*.txt")))
    assert not any(n.startswith(("tests/", "benchmarks/", "index/")) for n in names)


def test_installed_copy_builds_its_index_in_rag_home_and_answers_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env |= {"PYTHONPATH": str(site), "RAG_HOME": str(home)}

    def rag(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "shells.cli", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=600)

    where = subprocess.run([sys.executable, "-c", "import rag; print(rag.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site))  # the installed copy, not this checkout

    missing = rag("ask", "--llm", "fake", QUESTION)
    assert missing.returncode == 1 and f"no index in {home / 'index'}: run `rag index rebuild`" in missing.stderr

    built = rag("index", "rebuild")
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in (home / "corpus").glob("*.txt")) == sorted(
        p.name for p in (CHECKOUT / "corpus").glob("*.txt"))  # seeded with the bundled articles

    answer = rag("ask", "--llm", "fake", "--json", QUESTION)
    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert not data["abstained"] and data["citations"]
    bundled = {p.stem for p in (CHECKOUT / "corpus").glob("*.txt")}
    assert {c["doc_id"] for c in data["citations"]} <= bundled
    assert not (elsewhere / "index").exists() and not (elsewhere / "corpus").exists()
