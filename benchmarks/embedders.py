"""Benchmark the embedder backends side by side: load time, ingest throughput on the corpus chunks and
sentences, query latency, peak memory, and how close each backend's vectors are to the torch ones.
Numbers, not assertions.

    .venv/bin/python benchmarks/embedders.py [--backends minilm onnx] [--repeat 3] [--questions 50]

Each backend runs in its own process, so its load time includes its imports (torch or ONNX Runtime)
and its peak RSS is its own. The ONNX export is made beforehand if missing: a one-off, reported apart.
Ingest goes through `rag.index.embed_texts`, the path `rag ingest` takes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.chunking import chunk_articles
from rag.documents import load_corpus
from rag.embedders import make_embedder
from rag.index import article_sentences, embed_texts
from rag.settings import CHECKOUT, load_settings

BACKENDS = ("minilm", "onnx", "openvino")  # the torch reference first: cosines are measured against it


def corpus_texts(settings) -> tuple[list[str], list[str]]:
    """What ingest embeds: chunks with their contextual header, and bare sentences."""
    articles = load_corpus(settings.corpus_dir)
    chunks = chunk_articles(articles, settings.chunk_size, settings.chunk_overlap)
    return [c.search_text for c in chunks], [s.text for s in article_sentences(articles)]


def questions(n: int) -> list[str]:
    lines = (CHECKOUT / "evals" / "gold.jsonl").read_text().splitlines()
    return [json.loads(line)["user_input"] for line in lines if line.strip()][:n]


def peak_rss_mb() -> float:
    """This process's high-water RSS. Not getrusage's ru_maxrss: that survives exec, so a worker would
    report its parent's peak (torch, loaded for the export) whenever that was higher."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def worker(backend: str, repeat: int, n_questions: int, vectors_out: Path) -> dict:
    """Measure one backend in this (fresh) process."""
    settings = load_settings(embedder=backend)
    chunks, sentences = corpus_texts(settings)
    asked = questions(n_questions)

    start = time.perf_counter()
    embedder = make_embedder(settings)  # imports torch or ONNX Runtime: part of the load
    load_s = time.perf_counter() - start
    embedder.embed_query("warm-up")

    start = time.perf_counter()
    chunk_vectors = embed_texts(chunks * repeat, embedder)
    chunks_s = time.perf_counter() - start
    start = time.perf_counter()
    sentence_vectors = embed_texts(sentences, embedder)
    sentences_s = time.perf_counter() - start

    latencies = []
    for q in asked:
        start = time.perf_counter()
        embedder.embed_query(q)
        latencies.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(latencies, n=20)

    np.save(vectors_out, np.vstack([chunk_vectors[: len(chunks)], sentence_vectors]))
    return {"backend": backend, "name": embedder.name, "load_s": load_s,
            "chunks": len(chunks) * repeat, "chunk_chars": sum(map(len, chunks)) / len(chunks),
            "chunks_per_s": len(chunks) * repeat / chunks_s, "sentences": len(sentences),
            "sentences_per_s": len(sentences) / sentences_s, "queries": len(asked),
            "query_p50_ms": statistics.median(latencies), "query_p95_ms": cuts[18],
            "peak_rss_mb": peak_rss_mb()}


def prepare(backends: list[str]) -> str:
    """Make the ONNX export before timing anything; say what it cost if it had to be made."""
    if not {"onnx", "openvino"} & set(backends):
        return ""
    from rag.embedders.onnx import ensure_onnx_model, minilm_dir

    settings = load_settings()
    start = time.perf_counter()
    ensure_onnx_model(settings.model_cache_dir, minilm_dir())
    return (f"ONNX model ready in {time.perf_counter() - start:.1f} s "
            "(the first run exports it, about 5 s; later runs only check its sha256)")


def compare(backends: list[str], repeat: int = 3, n_questions: int = 50) -> tuple[list[dict], dict]:
    """Each backend measured in its own process; returns the rows and each backend's vectors."""
    results, vectors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            out = Path(tmp) / f"{backend}.npy"
            proc = subprocess.run([sys.executable, __file__, "--worker", backend, "--vectors", str(out),
                                   "--repeat", str(repeat), "--questions", str(n_questions)],
                                  capture_output=True, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            vectors[backend] = np.load(out)
    return results, vectors


def print_comparison(results: list[dict], vectors: dict) -> None:
    first = results[0]
    print(f"{first['chunks']} chunks (~{first['chunk_chars']:.0f} chars), {first['sentences']} sentences, "
          f"{first['queries']} questions; cosine vs {first['backend']} over the corpus chunks and sentences")
    header = ("backend", "load s", "chunks/s", "sentences/s", "query p50 ms", "query p95 ms", "peak RSS MB",
              "min cos", "mean cos")
    print(" | ".join(header))
    reference = vectors[first["backend"]]
    for r in results:
        cosines = (vectors[r["backend"]] * reference).sum(axis=1)
        row = (r["backend"], f"{r['load_s']:.2f}", f"{r['chunks_per_s']:.1f}", f"{r['sentences_per_s']:.1f}",
               f"{r['query_p50_ms']:.1f}", f"{r['query_p95_ms']:.1f}", f"{r['peak_rss_mb']:.0f}",
               f"{cosines.min():.5f}", f"{cosines.mean():.5f}")
        print(" | ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--repeat", type=int, default=3, help="passes over the corpus chunks for throughput")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat, args.questions, args.vectors)))
        return
    print(prepare(args.backends))
    print_comparison(*compare(args.backends, args.repeat, args.questions))


if __name__ == "__main__":
    main()
