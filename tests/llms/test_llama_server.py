"""The OpenAI-compatible backend against a real OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`) serving the bundled 0.5B model on loopback, started and stopped here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from rag.llms import make_llm
from rag.llms.model_files import ensure_local_model
from rag.settings import load_settings
from ui.screenshot import free_port

pytestmark = pytest.mark.integration

MODEL = "qwen2.5-coder-0.5b"
CAP = 40


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """The base URL of a llama.cpp server on a free loopback port, ready to answer."""
    gguf = ensure_local_model(MODEL, load_settings().model_cache_dir)
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")
    # `python -m llama_cpp.server ...`, with the model loaded as the local backend loads it: without the
    # extra CPU buffer types that crash llama.cpp on this project's machines (rag.llms.llama_cpp).
    launch = ("import runpy, sys; from rag.llms.llama_cpp import loading_settings\n"
              "sys.argv[0] = 'llama_cpp.server'\n"
              "with loading_settings(extra_buffers=False): runpy.run_module('llama_cpp.server', run_name='__main__')")
    server = subprocess.Popen([sys.executable, "-c", launch, "--model", str(gguf), "--model_alias", MODEL,
                               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, f"llama_cpp.server exited: see {log.name}"
            assert time.monotonic() < deadline, "llama_cpp.server did not become ready"
            try:
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_server_stops_at_the_cap(llama_server):
    """A reply that would run long stops at `max_tokens` (llama.cpp ignores `max_completion_tokens`)."""
    llm = make_llm(load_settings(llm="openai", openai_base_url=llama_server, openai_model=MODEL))
    usage = {}
    text = "".join(llm.stream([{"role": "user", "content": "Count from 1 to 300, one number per line."}],
                               max_tokens=16, temperature=0.0, usage=usage))
    assert text.strip() and "30" not in text.split()
    assert usage.get("completion_tokens", 16) <= 16


def test_rag_ask_through_the_server_quotes_the_evidence_the_small_model_names(llama_server, tmp_path, indexed):
    """Served under its own name, the 0.5B model gets its own prompt through any backend: it names
    evidence lines (within the cap) and the answer quotes them, cited."""
    settings = indexed(load_settings(index_dir=tmp_path / "index"))
    env = {**os.environ, "OPENAI_BASE_URL": llama_server, "OPENAI_MODEL": MODEL, "RAG_INDEX_DIR": str(settings.index_dir),
           "RAG_MAX_TOKENS": str(CAP)}
    proc = subprocess.run([sys.executable, "-m", "shells.cli", "ask", "--json",
                           "What did the 1956 Japanese-Soviet declaration provide?"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["model"] == f"openai:{MODEL}"
    assert not answer["abstained"] and answer["citations"], answer
    assert all(f"[{c['n']}]" in answer["answer"] for c in answer["citations"])
    quoted = {c["text"] for c in answer["citations"]}
    assert all(s["supported"] and s["text"].rstrip(".") in " ".join(quoted) for s in answer["sentences"])
