"""kill -9 at every write of `rag ingest` and `rag index rebuild`: the index always loads, never
points at an article missing from the corpus, and the next command brings it in step."""

from __future__ import annotations

import shutil

import pytest

from rag.documents import load_corpus, read_metadata
from rag.embedders.fake import FakeEmbedder
from rag.index import load_index
from rag.ingest import ensure_index

ARTICLE = "Fishermen from Hokkaido signed a deal on catches near the Kuril Islands.\n\n" * 8

# Counts every write that can be cut short (file contents, renames, FAISS files, clean-up) and
# SIGKILLs the process just before write number KILL_AT; with KILL_AT past the end it completes.
KILLER = """
import faiss, os, shutil, signal, sys
import rag.index as ix
kill_at, writes = int(sys.argv[1]), [0]
def point(fn):
    def wrapped(*args, **kwargs):
        if writes[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        writes[0] += 1
        return fn(*args, **kwargs)
    return wrapped
ix._fsync_write, os.replace, faiss.write_index, shutil.rmtree = (
    point(ix._fsync_write), point(os.replace), point(faiss.write_index), point(shutil.rmtree))
from shells.cli import full_app

app = full_app()
app(sys.argv[2:])
"""


def kill_at_every_write(ws, argv: list[str], check) -> int:
    """Run `argv` killed at write 0, 1, 2... until it completes; `check` after each kill. Returns the kills."""
    pristine = ws.root / "pristine"
    shutil.copytree(ws.corpus, pristine / "corpus")
    shutil.copytree(ws.index, pristine / "index")
    for kill_at in range(60):
        for name in ("corpus", "index"):
            shutil.rmtree(ws.root / name)
            shutil.copytree(pristine / name, ws.root / name)
        proc = ws.run(str(kill_at), *argv, script=KILLER)
        if proc.returncode == 0:
            return kill_at
        assert proc.returncode == -9, proc.stderr.decode()
        ws.figures["kills"]["total"] += 1
        check(ws)
        ws.figures["kills"]["survived"] += 1
    raise AssertionError("never completed")


def in_step(ws) -> None:
    committed = load_index(ws.index, FakeEmbedder())  # loads: the commit is atomic
    articles = load_corpus(ws.corpus)  # every corpus file whole (written atomically), metadata valid JSON
    assert set(committed.documents) <= {a.doc_id for a in articles}  # readers never cite a missing article
    assert set(read_metadata(ws.corpus)) <= {p.name for p in ws.corpus.glob("*.txt")}  # no entry without its file
    settings = ws.settings()
    assert ensure_index(settings, FakeEmbedder()).is_current(load_corpus(ws.corpus), settings, FakeEmbedder())


@pytest.fixture(scope="module", autouse=True)
def kills(figures):
    figures.setdefault("kills", {"survived": 0, "total": 0})


def ingest(ws) -> list[str]:
    (ws.root / "fisheries.txt").write_text(ARTICLE)
    return ["ingest", str(ws.root / "fisheries.txt")]


def rebuild(ws) -> list[str]:
    """A rebuild with other chunking: every file of the new generation differs from the live one."""
    (ws.root / "rag.toml").write_text("chunk_size = 500\n")
    return ["index", "rebuild", "--config", str(ws.root / "rag.toml")]


@pytest.mark.parametrize("command", [ingest, rebuild])
def test_kill_9_at_every_write_leaves_a_loadable_index_in_step(built, command):
    argv = command(built)
    kills = kill_at_every_write(built, argv, in_step)
    assert kills >= 8  # it really was cut at every step: files, manifest, commit, clean-up
    again = built.run(*argv)  # after the last kill the lock is free again: the command just works
    assert again.returncode == 0, again.stderr.decode()
