"""`rag ingest --ray` on a local Ray instance builds the index an in-process ingest builds: a few hundred
generated documents (sentences of the bundled articles, shuffled), the same chunk ids in the same order,
vectors within 1e-5 (MiniLM) or equal (the fake embedder), the same corpus files and report."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from rag.documents import load_corpus
from rag.embedders import make_embedder
from rag.errors import DocumentError
from rag.index import article_sentences, load_index
from rag.ingest import ingest_paths
from rag.ingest_ray import ingest_paths_ray, ray_session
from rag.settings import load_settings
from shells.cli import app
from tests.conftest import CORPUS

pytestmark = pytest.mark.integration
DOCUMENTS = 300


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """300 articles of 6-15 sentences of the bundled ones, in 2-4 paragraphs; every tenth is HTML, and
    one file repeats another's text (skipped, as in process)."""
    sentences = [s.text for s in article_sentences(load_corpus(CORPUS)) if len(s.text) > 40 and not s.heading]
    rng, folder = random.Random(9), tmp_path_factory.mktemp("generated")
    for n in range(DOCUMENTS):
        picked = rng.sample(sentences, rng.randint(6, 15))
        cuts = sorted(rng.sample(range(1, len(picked)), rng.randint(1, 3)))
        paragraphs = [" ".join(picked[a:b]) for a, b in zip([0, *cuts], [*cuts, len(picked)])]
        title = f"Generated report {n}: {picked[0][:40]}"
        if n % 10 == 0:
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            (folder / f"report-{n:03}.html").write_text(f"<html><body><h1>{title}</h1>{body}</body></html>")
        else:
            (folder / f"report-{n:03}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n")
    shutil.copy(folder / "report-007.txt", folder / "report-007b.txt")
    return folder


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module: each ingest joins it instead of starting its own."""
    with ray_session(None):
        yield


def homes(tmp_path, embedder: str, *names: str):
    """Settings for fresh data folders with an empty corpus: only the ingested files are compared."""
    settings = [load_settings(embedder=embedder, home=tmp_path / name) for name in names]
    for each in settings:
        each.corpus_dir.mkdir(parents=True)
    return settings


# The fake embedder over all 300 files (exact equality); MiniLM over the first 60 (its batches differ
# between the two runs, hence the tolerance), which keeps the test to a minute or two on 2 cores.
@pytest.mark.parametrize("embedder, tolerance, count", [("fake", 0.0, DOCUMENTS), ("minilm", 1e-5, 60)])
def test_ray_ingest_builds_the_index_an_in_process_ingest_builds(documents, local_ray, tmp_path, embedder,
                                                                  tolerance, count):
    in_process, on_ray = homes(tmp_path, embedder, "in-process", "on-ray")
    files = sorted(documents.iterdir())[: count + 1]  # report-007b.txt among them
    model = make_embedder(in_process)
    expected = ingest_paths(files, in_process, model)
    report = ingest_paths_ray(files, on_ray, model)
    assert len(report.added) == count and report.skipped == [str(documents / "report-007b.txt")]
    assert (report.added, report.skipped, report.chunks_added) == \
        (expected.added, expected.skipped, expected.chunks_added)
    want, got = load_index(in_process.index_dir), load_index(on_ray.index_dir)
    assert [c.chunk_id for c in got.chunks] == [c.chunk_id for c in want.chunks]
    assert got.chunks == want.chunks and got.sentences == want.sentences and got.documents == want.documents
    assert np.abs(got.vectors - want.vectors).max() <= tolerance
    assert np.abs(got.sentence_vectors - want.sentence_vectors).max() <= tolerance
    assert sorted(p.name for p in on_ray.corpus_dir.iterdir()) == sorted(p.name for p in in_process.corpus_dir.iterdir())
    assert all((in_process.corpus_dir / p.name).read_bytes() == p.read_bytes() for p in on_ray.corpus_dir.iterdir())


def test_a_bad_file_on_ray_is_named_and_nothing_is_written(documents, local_ray, tmp_path):
    (settings,) = homes(tmp_path, "fake", "home")
    ingest_paths([documents / "report-003.txt"], settings, make_embedder(settings))
    folder = tmp_path / "with-a-bad-one"
    shutil.copytree(documents, folder)
    (folder / "report-150.txt").write_text("12 34 56\n")
    before = load_index(settings.index_dir).manifest
    corpus_before = sorted(p.name for p in settings.corpus_dir.iterdir())
    with pytest.raises(DocumentError, match="report-150.txt: no readable text found"):
        ingest_paths_ray([folder], settings, make_embedder(settings))
    assert load_index(settings.index_dir).manifest == before
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == corpus_before


def test_rag_ingest_ray_from_the_command_line(documents, local_ray, tmp_path, monkeypatch):
    (settings,) = homes(tmp_path, "fake", "home")
    ingest_paths([documents / "report-003.txt"], settings, make_embedder(settings))
    monkeypatch.setenv("RAG_HOME", str(settings.home))
    monkeypatch.setenv("RAG_EMBEDDER", "fake")
    result = CliRunner().invoke(app, ["ingest", "--ray", str(documents / "report-001.txt"),
                                      str(documents / "report-002.txt")])
    assert result.exit_code == 0, result.output
    assert "2 added, 0 skipped" in result.output
    assert len(load_index(settings.index_dir).documents) == 3
