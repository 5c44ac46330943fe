"""A tampered or damaged index is refused with what to do, never loaded and never silently replaced."""

from __future__ import annotations

import hashlib
import json

import pytest

from rag.index import CURRENT, FILES


def generation(ws):
    return ws.index / (ws.index / CURRENT).read_text()


def edit_manifest(ws, change) -> None:
    path = generation(ws) / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def reshape_chunks(ws) -> None:
    """Rewrite chunks.jsonl with records of the wrong shape and fix up its hash, as an attacker could."""
    path = generation(ws) / "chunks.jsonl"
    path.write_text("".join(json.dumps({"evil": i}) + "\n" for i, _ in enumerate(path.read_text().splitlines())))
    edit_manifest(ws, lambda m: m["files"].update({"chunks.jsonl": hashlib.sha256(path.read_bytes()).hexdigest()}))


TAMPERING = {
    **{f"append to {name}": (lambda ws, name=name: (generation(ws) / name).open("ab").write(b"\0"),
                             f"index file {name} does not match its manifest") for name in FILES},
    "manifest not JSON": (lambda ws: (generation(ws) / "manifest.json").write_text("{oops"), "JSONDecodeError"),
    "manifest a list": (lambda ws: (generation(ws) / "manifest.json").write_text("[]"), "AttributeError"),
    "manifest without files": (lambda ws: edit_manifest(ws, lambda m: m.pop("files")), "manifest.json lacks files"),
    "manifest without created": (lambda ws: edit_manifest(ws, lambda m: m.pop("created")), "lacks created"),
    "document without title": (lambda ws: edit_manifest(ws, lambda m: next(iter(m["documents"].values())).pop("title")),
                               ".title"),
    "chunk count changed": (lambda ws: edit_manifest(ws, lambda m: m.update(chunk_count=1)), "manifest says 1"),
    "records reshaped": (reshape_chunks, "TypeError"),
    "CURRENT points outside": (lambda ws: (ws.index / CURRENT).write_text("../../../etc"), "not a generation folder"),
    "CURRENT to nowhere": (lambda ws: (ws.index / CURRENT).write_text("gen-20990101T000000-deadbeef"),
                           "has no manifest"),
    "CURRENT not text": (lambda ws: (ws.index / CURRENT).write_bytes(b"\xff\xfe\x00"), "CURRENT is unreadable"),
}


@pytest.mark.parametrize("name", TAMPERING)
def test_tampered_index_is_refused_by_readers(built, name):
    tamper, detail = TAMPERING[name]
    tamper(built)
    for argv in (["index", "info"], ["retrieve", "Shikotan and Habomai"]):
        assert_damaged(built.run(*argv), detail)


def assert_damaged(proc, detail: str) -> None:
    message = proc.stderr.decode()
    assert proc.returncode == 1, message
    assert message.startswith("error: the index is damaged (") and detail in message
    assert message.rstrip().endswith("run `rag index rebuild`")


def test_ingest_into_a_damaged_index_is_refused(built):
    TAMPERING["records reshaped"][0](built)
    corpus = sorted(built.corpus.iterdir())
    (built.root / "new.txt").write_text("Fishermen from Hokkaido and the Kuril Islands signed a new deal. " * 5)
    assert_damaged(built.run("ingest", str(built.root / "new.txt")), "TypeError")
    assert sorted(built.corpus.iterdir()) == corpus


def test_rebuild_recovers_a_damaged_index(built):
    TAMPERING["manifest not JSON"][0](built)
    assert built.run("index", "info").returncode == 1
    assert built.run("index", "rebuild").returncode == 0
    info = built.run("index", "info", "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["chunk_count"] > 0
