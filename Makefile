# Two commands on a fresh machine: `make run` (install, build the index, start the chat) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install browser bench eval reliability clean

# Building the index is an explicit step: the service only loads one.
run: $(STAMP)
	$(BIN)/rag index rebuild --if-needed
	$(BIN)/rag serve

# The retrieval-only eval is a quality gate (deterministic: real embedder, no LLM), then the suite.
test: $(STAMP) browser
	$(BIN)/rag index rebuild --if-needed
	$(BIN)/rag eval --retrieval-only --no-judge --out test-output/eval-gate \
		--fail-under retrieval.recall@5=0.75 --fail-under retrieval.mrr@10=0.70
	$(BIN)/python -m pytest

install: $(STAMP)

# torch goes first and pinned: 2.13.0 is the CPU wheel on disk, anything else pulls CUDA packages.
# llama-cpp-python compiles from source the first time (~10 min); pip caches the wheel after that.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,bench,scale]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

bench: $(STAMP)
	$(BIN)/rag index rebuild --if-needed
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/ingest_scale.py

# The reliability suite alone (it also runs in `make test`), ending with its summary line.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability

eval: $(STAMP)
	$(BIN)/rag index rebuild --if-needed
	$(BIN)/rag eval --compare-baselines --out evals/latest

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/qdrant
