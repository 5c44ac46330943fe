"""Benchmark: prints the embedding backends side by side (torch vs ONNX: load, chunks/s and sentences/s,
query-embed latency, peak RSS, cosine), retrieval latency, answer latency, time to first token, tokens/s
per local model, cold `rag retrieve --json` and `rag ask --json` with each backend, peak memory, and
retrieval latency on a synthetic 100k-chunk corpus. Numbers, not assertions: run it, read it, quote it.

    .venv/bin/python benchmarks/bench.py [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
                                         [--questions 5] [--synthetic 100000] [--skip-llm]

`--side-by-side [N]` instead answers gold dev questions (all, or N) with the assistant and with a
textbook LangChain "stuff" RAG (benchmarks/stuff_rag.py) on the same model, and compares latency,
prompt size and score; `--out` names the JSON it also writes. Ingest in process vs on Ray and the two
vector stores: benchmarks/ingest_scale.py (`make bench` runs both).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np

from rag import metrics as M
from rag.chunking import Chunk, chunk_articles
from rag.documents import load_corpus
from rag.embedders import make_embedder
from rag.gold import load_gold_set
from rag.index import VectorIndex, build_index
from rag.llms.model_files import LOCAL_MODELS
from rag.retrieval import HybridRetriever
from rag.service import Assistant, Done, Token
from rag.settings import CHECKOUT, Settings, load_settings
from rag.verification import is_abstention

# Sibling files: bench.py runs as a script, so its own folder is on sys.path.
import embedders
from stuff_rag import CHUNK_OVERLAP, CHUNK_SIZE, K, N_CTX, StuffRAG

GOLD = CHECKOUT / "evals" / "gold.jsonl"  # benchmarks run from the checkout

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
    words = " ".join(a.text for a in load_corpus(CHECKOUT / "corpus")).split()
    chunks = [Chunk(f"s{i}", f"synthetic{i % 1000}", "synthetic", 0, 600,
                    " ".join(rng.choices(words, k=100))) for i in range(n)]
    vectors = np.random.default_rng(seed).standard_normal((n, embedder.dimension)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VectorIndex(chunks, vectors, {"documents": {}})


def answer_figures(settings, model: str, questions: list[str]) -> dict:
    assistant = Assistant.from_settings(settings.model_copy(update={"llm": "local", "local_model": model}))
    t = time.perf_counter()
    assistant.llm()
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


def cold_run(args: list[str], env: dict) -> tuple[float, float, str]:
    """Wall time (s), peak RSS (MB, sampled every 50 ms) and stdout of one `rag` command in a fresh process."""
    import psutil

    t = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "rag"), *args], env=env, stdout=out,
                                stderr=subprocess.DEVNULL)
        watched, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t
        if proc.returncode:
            raise RuntimeError(f"rag {args[0]} exited with {proc.returncode}")
        out.seek(0)
        return wall, peak / 2**20, out.read().decode()


def cold_start(backend: str, question: str, workdir: Path) -> dict:
    """Cold `rag retrieve --json` and `rag ask --json` with one embedder backend over its own index.

    `rag ask --json` prints once, at the end; its first token came when the wall time minus what
    followed it in the answer's own timings (the rest of generation, the claim check) had passed."""
    env = dict(os.environ, RAG_EMBEDDER=backend, RAG_INDEX_DIR=str(workdir / f"index-{backend}"))
    subprocess.run([str(Path(sys.executable).parent / "rag"), "index", "rebuild"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    retrieve_s, retrieve_mb, _ = cold_run(["retrieve", "--json", question], env)
    ask_s, ask_mb, out = cold_run(["ask", "--json", question], env)
    timings = json.loads(out)["timings_ms"]
    after_first = (timings["generate"] - (timings["first_token"] or timings["generate"]) + timings["verify"]) / 1000
    return {"backend": backend, "retrieve_s": retrieve_s, "retrieve_mb": retrieve_mb,
            "ask_first_token_s": ask_s - after_first, "ask_s": ask_s, "ask_mb": ask_mb}


def print_cold_starts(rows: list[dict]) -> None:
    print("cold start, default model, each command a fresh process (torch = minilm backend)")
    print(f"  {'backend':<10} {'retrieve s':>11} {'retrieve MB':>12} {'ask 1st token s':>16} {'ask answer s':>13} "
          f"{'ask peak MB':>12}")
    for r in rows:
        print(f"  {r['backend']:<10} {r['retrieve_s']:>11.2f} {r['retrieve_mb']:>12.0f} {r['ask_first_token_s']:>16.1f} "
              f"{r['ask_s']:>13.1f} {r['ask_mb']:>12.0f}")


@dataclass
class Reply:
    """One answer as the user saw it, with the costs the side-by-side compares."""

    text: str
    abstained: bool
    total_ms: float
    first_token_ms: float | None  # None: no text was streamed
    prompt_tokens: int | None  # None: the model cannot count them


def _since(start: float, end: float | None) -> float | None:
    return None if end is None else round((end - start) * 1000, 1)


def ask_ours(assistant: Assistant, question: str) -> Reply:
    """First token = the first text streamed, the early "The articles do not say." included."""
    start, first = time.perf_counter(), None
    for event in assistant.ask_stream(question):
        if isinstance(event, Token) and event.text and first is None:
            first = time.perf_counter()
        elif isinstance(event, Done):
            answer = event.answer
    # An answer abstained before generation sent the model no prompt at all.
    return Reply(answer.answer, answer.abstained, _since(start, time.perf_counter()), _since(start, first),
                 answer.usage.get("prompt_tokens", 0))


def ask_stuff(baseline: StuffRAG, question: str) -> Reply:
    """The reply is scored as is: the textbook chain has no notion of abstaining beyond its wording."""
    start, first, text = time.perf_counter(), None, ""
    for piece in baseline.stream(question):
        if piece and first is None:
            first = time.perf_counter()
        text += piece
    end = time.perf_counter()
    return Reply(text.strip(), is_abstention(text), _since(start, end), _since(start, first),
                 baseline.prompt_tokens(text))


def side_by_side_questions(records: list[dict], n: int | None) -> list[dict]:
    """Dev questions without the follow-ups (the textbook chain has no chat history), answerable
    and unanswerable alternating so that a quick run of a few still tests abstention."""
    dev = [r for r in records if r["split"] == "dev" and r["question_type"] != "followup"]
    answerable = [r for r in dev if r["answerable"]]
    unanswerable = [r for r in dev if not r["answerable"]]
    mixed = [r for pair in zip_longest(answerable, unanswerable) for r in pair if r is not None]
    return mixed[:n] if n else mixed


def score(record: dict, reply: Reply) -> dict:
    """The eval harness's definitions: fact recall on answerable questions, outcome, +1/0/-1."""
    recall = M.key_fact_recall(reply.text, record["aliases"]) if record["answerable"] else None
    outcome = M.outcome(record["answerable"], reply.abstained, recall)
    return {"key_fact_recall": recall, "outcome": outcome, "score": M.SCORES[outcome]}


def _percentile(values: list[float], q: float) -> float | None:
    return round(M.percentile(values, q), 1) if values else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 4) if values else None


def summarise(rows: list[dict]) -> dict:
    totals = [r["total_ms"] for r in rows]
    firsts = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
    prompts = [r["prompt_tokens"] for r in rows if r["prompt_tokens"] is not None]
    outcomes = Counter(r["outcome"] for r in rows)
    return {
        "latency_p50_ms": _percentile(totals, 50),
        "latency_p95_ms": _percentile(totals, 95),
        "first_token_p50_ms": _percentile(firsts, 50),
        "prompt_tokens_p50": _percentile(prompts, 50),
        "key_fact_recall": _mean([r["key_fact_recall"] for r in rows if r["answerable"]]),
        "combined_score": _mean([r["score"] for r in rows]),
        "outcomes": {name: outcomes[name] for name in M.SCORES},
    }


def run_system(load: Callable[[], Callable[[str], Reply]], records: list[dict]) -> dict:
    """Load once, answer the warm-up question untimed (llama.cpp's first call pays for allocation),
    then the gold questions in order."""
    t = time.perf_counter()
    ask = load()
    load_s = round(time.perf_counter() - t, 1)
    ask(QUESTIONS[0])
    rows = []
    for record in records:
        reply = ask(record["user_input"])
        rows.append({"id": record["id"], "question": record["user_input"], "answerable": record["answerable"],
                     "answer": reply.text, "abstained": reply.abstained, "total_ms": reply.total_ms,
                     "first_token_ms": reply.first_token_ms, "prompt_tokens": reply.prompt_tokens}
                    | score(record, reply))
    return {"load_s": load_s, "summary": summarise(rows), "questions": rows}


def side_by_side(settings: Settings, n: int | None, out: Path, chat_model=None, gold: Path = GOLD) -> dict:
    """Both systems on the same questions, one after the other so they never share the cores,
    each with its model loaded once; prints the table and writes the JSON to `out`.
    `chat_model` (the baseline's model) and `gold` are for tests."""
    articles = {a.doc_id: a.text for a in load_corpus(settings.corpus_dir)}
    records, problems = load_gold_set(gold, articles)
    if problems:
        raise SystemExit("gold set does not validate:\n" + "\n".join(problems))
    records = side_by_side_questions(records, n)

    def ours() -> Callable[[str], Reply]:
        assistant = Assistant.from_settings(settings)
        assistant.llm()  # load the model now, not inside the first answer
        return lambda question: ask_ours(assistant, question)

    def stuff() -> Callable[[str], Reply]:
        baseline = StuffRAG.from_settings(settings, chat_model)
        return lambda question: ask_stuff(baseline, question)

    systems = {}
    for name, load in (("ours", ours), ("stuff", stuff)):
        systems[name] = run_system(load, records)
        gc.collect()  # free this model before the next one loads
    a, b = systems["ours"]["summary"], systems["stuff"]["summary"]
    result = {
        "questions": len(records),
        "config": {
            "ours": {"llm": settings.llm, "model": settings.local_model, "k": settings.k,
                     "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
                     "max_tokens": settings.max_tokens},
            "stuff": {"model": settings.local_model, "k": K, "chunk_size": CHUNK_SIZE,
                      "chunk_overlap": CHUNK_OVERLAP, "n_ctx": N_CTX, "max_tokens": settings.max_tokens},
        },
        "systems": systems,
        "speed_ratio": round(b["latency_p50_ms"] / a["latency_p50_ms"], 2),
        "score_delta": round(a["combined_score"] - b["combined_score"], 4),
    }
    print_side_by_side(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"  written to {out}")
    return result


def print_side_by_side(result: dict) -> None:
    def cell(value, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    a, b = result["systems"]["ours"], result["systems"]["stuff"]
    print(f"side by side ({result['questions']} gold dev questions, warm-up excluded)")
    print(f"  {'':<42} {'ours':>14} {'stuff (textbook)':>18}")
    rows = [
        ("load: index + model (s)", lambda s: cell(s["load_s"], ".1f")),
        ("answer latency p50 / p95 (ms)",
         lambda s: f"{cell(s['summary']['latency_p50_ms'], '.0f')} / {cell(s['summary']['latency_p95_ms'], '.0f')}"),
        ("first token p50 (ms)", lambda s: cell(s["summary"]["first_token_p50_ms"], ".0f")),
        ("prompt tokens p50", lambda s: cell(s["summary"]["prompt_tokens_p50"], ".0f")),
        ("key-fact recall (answerable)", lambda s: cell(s["summary"]["key_fact_recall"], ".2f")),
        ("combined score (+1/0/-1, mean)", lambda s: cell(s["summary"]["combined_score"], "+.2f")),
        ("correct / abstained / wrong", lambda s: " / ".join(str(v) for v in s["summary"]["outcomes"].values())),
    ]
    for label, show in rows:
        print(f"  {label:<42} {show(a):>14} {show(b):>18}")
    line("speed ratio (stuff p50 / ours p50)", f"{result['speed_ratio']:.2f}x")
    line("score delta (ours - stuff)", f"{result['score_delta']:+.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(LOCAL_MODELS))
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--side-by-side", type=int, nargs="?", const=0, metavar="N",
                        help="only compare with the textbook stuff RAG, on the gold dev questions (all, or N of them)")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "test-output" / "bench-side-by-side.json",
                        help="where --side-by-side writes its JSON")
    args = parser.parse_args()

    if args.side_by_side is not None:
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
        side_by_side(load_settings(llm="local"), args.side_by_side or None, args.out)
        return

    workdir = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = load_settings(index_dir=workdir / "index")
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")

    print("embedding backends side by side, each in a fresh process (minilm = sentence-transformers/torch)")
    print(embedders.prepare(list(embedders.BACKENDS)))
    embedders.print_comparison(*embedders.compare(list(embedders.BACKENDS)))

    print(f"index build (default embedder, {settings.embedder})")
    t = time.perf_counter()
    embedder = make_embedder(settings)
    line("embedder load (s)", f"{time.perf_counter() - t:.1f}")
    articles = load_corpus(settings.corpus_dir)
    chunks = chunk_articles(articles, settings.chunk_size, settings.chunk_overlap)
    t = time.perf_counter()
    index = build_index(articles, chunks, embedder, settings)
    elapsed = time.perf_counter() - t
    line("chunks + sentences embedded, indexed", f"{len(chunks)} + {len(index.sentences)} in {elapsed:.2f} s")

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
            line("generation speed (tokens/s, mean)", f"{statistics.mean(figures['tok_s']):.1f}" if figures["tok_s"]
                 else "- (a quote reply: the answer arrives whole)")
        print_cold_starts([cold_start(backend, QUESTIONS[0], workdir) for backend in embedders.BACKENDS])

    print("memory")
    line("peak RSS of this benchmark process (MB)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
