"""Writers at once: each waits for the one before it and builds on its result (no lost update);
readers never wait; a writer that waits too long says so."""

from __future__ import annotations

import json
import time

from rag.documents import load_corpus
from rag.embedders.fake import FakeEmbedder
from rag.index import load_index

RUNS = 5
WRITERS = 3

# The CLI with a pause after the corpus is written and before the index commit: the window in which
# a second writer without the lock would read the old index and overwrite the first one's commit.
SLOW = """
import sys, time
import rag.ingest as ingest
real = ingest.save_index
def slow(*args, **kwargs):
    time.sleep(float(sys.argv[1]))
    return real(*args, **kwargs)
ingest.save_index = slow
from shells.cli import full_app

app = full_app()
app(sys.argv[2:])
"""


def article(ws, name: str) -> str:
    path = ws.root / f"{name}.txt"
    path.write_text(f"Report {name}: fishermen from Hokkaido and the Kuril Islands agreed on quota {name}.\n\n" * 6)
    return str(path)


def finish(ws, proc, timeout: float = 120):
    out, err = proc.communicate(timeout=timeout)
    ws.check(err)
    return proc.returncode, out.decode(), err.decode()


def committed_and_corpus(ws) -> tuple[set[str], set[str]]:
    """Articles in the committed index and in the corpus: equal when no update was lost."""
    return set(load_index(ws.index, FakeEmbedder()).documents), {a.doc_id for a in load_corpus(ws.corpus)}


def test_concurrent_ingests_lose_no_update(built, figures):
    figures.update(ingest_runs=0, lost_updates=0)
    for run in range(RUNS):
        writers = [built.run("0.3", "ingest", article(built, f"r{run}w{w}"), script=SLOW, wait=False)
                   for w in range(WRITERS)]
        results = [finish(built, p) for p in writers]
        assert [code for code, _, _ in results] == [0] * WRITERS, results
        indexed, corpus = committed_and_corpus(built)
        figures["ingest_runs"] += 1
        figures["lost_updates"] += len(corpus - indexed)
        assert indexed == corpus and len(corpus) == 5 + WRITERS * (run + 1)
    index = load_index(built.index, FakeEmbedder())
    assert index.is_current(load_corpus(built.corpus), built.settings(), FakeEmbedder())  # no rebuild needed


def test_rebuild_and_ingest_at_once_keep_the_article(built):
    procs = [built.run("0.3", "index", "rebuild", script=SLOW, wait=False),
             built.run("0.3", "ingest", article(built, "both"), script=SLOW, wait=False)]
    assert [finish(built, p)[0] for p in procs] == [0, 0]
    indexed, corpus = committed_and_corpus(built)
    assert indexed == corpus and any(d.startswith("both_") for d in indexed)


def test_readers_do_not_wait_and_a_second_writer_times_out_with_a_message(built):
    writer = built.run("6", "ingest", article(built, "slow"), script=SLOW, wait=False)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("slow_") for p in built.corpus.glob("*.txt")):  # corpus written, index not yet
        assert time.monotonic() < deadline and writer.poll() is None, "the writer never got to its commit"
        time.sleep(0.05)
    reader = built.run("retrieve", "--json", "quota slow")
    assert reader.returncode == 0 and writer.poll() is None  # answered while the writer still holds the lock
    assert all(not r["doc_id"].startswith("slow_") for r in json.loads(reader.stdout)["results"])  # last commit
    corpus = sorted(built.corpus.iterdir())
    second = built.run("ingest", article(built, "late"), RAG_LOCK_TIMEOUT_S="0.5")
    assert second.returncode == 1 and writer.poll() is None
    assert second.stderr.decode().startswith(
        f"error: another `rag ingest` or `rag index rebuild` is writing the index in {built.index} (waited 0.5 s)")
    assert sorted(built.corpus.iterdir()) == corpus  # the late writer added nothing
    assert finish(built, writer)[0] == 0
    indexed, _ = committed_and_corpus(built)
    assert any(d.startswith("slow_") for d in indexed)
