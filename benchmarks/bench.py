"""Benchmark: prints ingest throughput, retrieval latency, answer latency, time to first token,
tokens/s per local model, cold start of `rag ask`, peak memory, and retrieval latency on a
synthetic 100k-chunk corpus. Numbers, not assertions: run it, read it, quote it.

    .venv/bin/python benchmarks/bench.py [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
                                         [--questions 5] [--synthetic 100000] [--skip-llm]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.chunking import Chunk, chunk_articles
from rag.documents import load_corpus
from rag.embedders import make_embedder
from rag.index import VectorIndex, build_index
from rag.llms.model_files import LOCAL_MODELS
from rag.retrieval import HybridRetriever
from rag.service import Assistant, Done, Token
from rag.settings import PROJECT_ROOT, load_settings

QUESTIONS = [
    "What did the 1956 Japanese-Soviet declaration provide?",
    "Why did Moscow end the peace-treaty talks with Tokyo?",
    "What was the eight-point economic cooperation plan?",
    "How many times had Abe met Putin by May 2018?",
    "What role does US missile defence play in the dispute?",
    "What did Japan offer Russia in exchange for the islands?",
    "Who is Valery Kistanov?",
    "What is the Russian position on joint economic activity on the Kurils?",
]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def line(name: str, value: str) -> None:
    print(f"  {name:<42} {value}")


def retrieval_latency(retriever: HybridRetriever, questions: list[str], repeat: int = 5) -> list[float]:
    retriever.search(questions[0])  # warm-up
    times = []
    for _ in range(repeat):
        for q in questions:
            t = time.perf_counter()
            retriever.search(q)
            times.append((time.perf_counter() - t) * 1000)
    return times


def synthetic_index(n: int, embedder, seed: int = 0) -> VectorIndex:
    """n chunks of corpus-vocabulary text with random unit vectors: FAISS and BM25 cost depend on
    size, not meaning, and embedding 100k chunks on 2 cores would take most of an hour."""
    rng = random.Random(seed)
    words = " ".join(a.text for a in load_corpus(PROJECT_ROOT / "corpus")).split()
    chunks = [Chunk(f"s{i}", f"synthetic{i % 1000}", "synthetic", 0, 600,
                    " ".join(rng.choices(words, k=100))) for i in range(n)]
    vectors = np.random.default_rng(seed).standard_normal((n, embedder.dimension)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VectorIndex(chunks, vectors, {"documents": {}})


def answer_figures(settings, model: str, questions: list[str]) -> dict:
    assistant = Assistant.from_settings(settings.model_copy(update={"llm": "local", "local_model": model}))
    t = time.perf_counter()
    _ = assistant.llm
    load_s = time.perf_counter() - t
    totals, ttfts, rates = [], [], []
    for q in questions:
        tokens, first, start = 0, None, time.perf_counter()
        for event in assistant.ask_stream(q):
            if isinstance(event, Token):
                tokens += 1
                first = first or time.perf_counter()
            elif isinstance(event, Done):
                end = time.perf_counter()
        if first is None:
            continue  # abstained before generation
        totals.append((end - start) * 1000)
        ttfts.append((first - start) * 1000)
        if tokens > 1:
            rates.append((tokens - 1) / (end - first))
    return {"load_s": load_s, "total": totals, "ttft": ttfts, "tok_s": rates}


def cold_start(question: str, env: dict) -> tuple[float, float]:
    """Wall time and peak RSS (MB, sampled every 50 ms) of one `rag ask` from a fresh process."""
    import psutil

    t = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "rag"), "ask", "--json", question], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    if proc.returncode:
        raise RuntimeError(f"rag ask exited with {proc.returncode}")
    return time.perf_counter() - t, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(LOCAL_MODELS))
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--skip-llm", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = load_settings(index_dir=workdir / "index")
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")

    print("ingest")
    t = time.perf_counter()
    embedder = make_embedder(settings)
    line("embedder load (s)", f"{time.perf_counter() - t:.1f}")
    articles = load_corpus(settings.corpus_dir)
    chunks = chunk_articles(articles, settings.chunk_size, settings.chunk_overlap)
    t = time.perf_counter()
    index = build_index(articles, chunks, embedder, settings)
    elapsed = time.perf_counter() - t
    line("chunks embedded + indexed", f"{len(chunks)} in {elapsed:.2f} s = {len(chunks) / elapsed:.0f} chunks/s")

    print(f"retrieval (hybrid, k={settings.k}, bundled corpus: {len(chunks)} chunks)")
    times = retrieval_latency(HybridRetriever.from_index(index, embedder, k=settings.k), QUESTIONS)
    line("latency p50 / p95 (ms)", f"{pct(times, 50):.1f} / {pct(times, 95):.1f}")

    if args.synthetic:
        print(f"retrieval (hybrid, synthetic corpus: {args.synthetic:,} chunks)")
        t = time.perf_counter()
        big = HybridRetriever.from_index(synthetic_index(args.synthetic, embedder), embedder, k=settings.k)
        line("FAISS + BM25 build (s)", f"{time.perf_counter() - t:.1f}")
        times = retrieval_latency(big, QUESTIONS, repeat=2)
        line("latency p50 / p95 (ms)", f"{pct(times, 50):.1f} / {pct(times, 95):.1f}")
        del big

    if not args.skip_llm:
        from rag.index import save_index

        save_index(index, settings.index_dir)
        for model in args.models:
            try:
                figures = answer_figures(settings, model, QUESTIONS[: args.questions])
            except Exception as exc:  # a model that is not installed is reported, not fatal
                print(f"answer ({model}): skipped: {exc}")
                continue
            print(f"answer ({model}, {len(figures['total'])} questions)")
            line("model load (s)", f"{figures['load_s']:.1f}")
            line("end-to-end p50 / p95 (ms)", f"{pct(figures['total'], 50):.0f} / {pct(figures['total'], 95):.0f}")
            line("time to first token p50 (ms)", f"{pct(figures['ttft'], 50):.0f}")
            line("generation speed (tokens/s, mean)", f"{statistics.mean(figures['tok_s']):.1f}")
        env = dict(os.environ, RAG_INDEX_DIR=str(settings.index_dir))
        cold, peak_ask = cold_start(QUESTIONS[0], env)
        print("cold start (default model)")
        line("`rag ask --json` wall time (s)", f"{cold:.1f}")
        line("`rag ask --json` peak RSS (MB)", f"{peak_ask:.0f}")

    print("memory")
    line("peak RSS of this benchmark process (MB)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
