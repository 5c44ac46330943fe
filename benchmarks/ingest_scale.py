"""Benchmark: ingest throughput in process vs on Ray (docs/s), and the two vector stores (commit time,
search latency). Generated articles (sentences of the bundled ones, shuffled) go into fresh data
folders with empty corpora, so only they are read, chunked and embedded. Numbers, not assertions.

    .venv/bin/python benchmarks/ingest_scale.py [--docs 300] [--embedder openvino|onnx|minilm|fake] [--ray-address ADDR]

Ray's figure is given with and without starting the local instance (or joining the cluster).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rag.documents import load_corpus
from rag.embedders import make_embedder
from rag.index import article_sentences, load_index, save_index
from rag.ingest import ingest_paths
from rag.ingest_ray import ingest_paths_ray, ray_session
from rag.settings import Settings, bundled, load_settings
from rag.stores import make_backend

QUERIES = ["What did the 1956 declaration provide?", "Why did Moscow end the peace-treaty talks?",
           "What role does US missile defence play?", "What is joint economic activity on the Kurils?"]


def generate(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n articles of 8-14 bundled sentences each, three paragraphs, a title line."""
    pool = [s.text for s in article_sentences(load_corpus(bundled("corpus"))) if len(s.text) > 40]
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        picked = rng.sample(pool, rng.randint(8, 14))
        third = len(picked) // 3
        body = "\n\n".join(" ".join(part) for part in (picked[:third], picked[third:2 * third], picked[2 * third:]))
        (folder / f"generated-{i:05}.txt").write_text(f"Generated article {i}\n\n{body}\n", encoding="utf-8")
    return sorted(folder.iterdir())


def fresh(root: Path, name: str, embedder: str, **overrides):
    settings = load_settings(home=root / name, embedder=embedder, **overrides)
    settings.corpus_dir.mkdir(parents=True)
    return settings


def line(name: str, value: str) -> None:
    print(f"  {name:<34} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--embedder", choices=["openvino", "onnx", "minilm", "fake"],
                        default=Settings.model_fields["embedder"].default, help="default: the settings' default")
    parser.add_argument("--ray-address", default=None, help="a Ray cluster to join (default: a local instance)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rag-ingest-scale-"))
    files = generate(root / "docs", args.docs)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {len(files)} generated articles, "
          f"embedder {args.embedder}")

    print("ingest")
    in_process = fresh(root, "in-process", args.embedder)
    embedder = make_embedder(in_process)  # loaded once, outside both timings
    t = time.perf_counter()
    report = ingest_paths(files, in_process, embedder)
    elapsed = time.perf_counter() - t
    line("in process", f"{len(files) / elapsed:.1f} docs/s ({report.chunks_added} chunks, {elapsed:.1f} s)")

    on_ray = fresh(root, "on-ray", args.embedder)
    t = time.perf_counter()
    with ray_session(args.ray_address):
        started = time.perf_counter()
        ingest_paths_ray(files, on_ray, embedder)
        done = time.perf_counter()
    line("on Ray (without its start-up)", f"{len(files) / (done - started):.1f} docs/s ({done - started:.1f} s)")
    line("on Ray (with start and shutdown)", f"{len(files) / (time.perf_counter() - t):.1f} docs/s "
                                             f"(start-up {started - t:.1f} s)")

    print("vector stores (the in-process index)")
    index = load_index(in_process.index_dir)
    vectors = [embedder.embed_query(q) for q in QUERIES]
    for store in ("faiss", "qdrant"):
        settings = load_settings(index_dir=root / f"store-{store}", vector_store=store, embedder=args.embedder)
        t = time.perf_counter()
        save_index(index, settings.index_dir, make_backend(settings))
        line(f"{store}: commit (s)", f"{time.perf_counter() - t:.1f} for {len(index.chunks) + len(index.sentences)} "
                                     "vectors")
        loaded = load_index(settings.index_dir)
        times = []
        for _ in range(5):
            for vector in vectors:
                t = time.perf_counter()
                loaded.store("sentences").search(vector, 80)
                times.append((time.perf_counter() - t) * 1000)
        line(f"{store}: sentence search p50 (ms)", f"{statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
