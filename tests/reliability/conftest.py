"""The reliability suite: what a careless user or an attacker can do to the CLI, ingest, the index
files and the running chat. Cases run the real entry points (subprocesses for the CLI, a real
server on loopback) with the fake model and embedder, so the suite is fast enough for every CI run.

At the end pytest prints one summary line (also `python -m tests.reliability`): cases passed and
failed, tracebacks seen, lost updates, and the burst figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.settings import CHECKOUT, load_settings
from tests.conftest import CORPUS

HERE = Path(__file__).resolve().parent
FIGURES = pytest.StashKey[dict]()


def pytest_configure(config):
    config.stash[FIGURES] = {"passed": 0, "failed": 0, "tracebacks": 0}


@pytest.fixture(scope="session")
def figures(pytestconfig) -> dict:
    """Numbers the cases report for the summary line (burst timings, kills survived, lost updates)."""
    return pytestconfig.stash[FIGURES]


@dataclass
class Workspace:
    """A corpus copy and an index folder of its own, and the `rag` command pointed at them."""

    root: Path
    figures: dict
    env: dict = field(default_factory=dict)

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def index(self) -> Path:
        return self.root / "index"

    def settings(self, **overrides):
        return load_settings(embedder="fake", llm="fake", corpus_dir=self.corpus, index_dir=self.index, **overrides)

    def run(self, *argv: str | bytes, script: str | None = None, timeout: float = 120,
            wait: bool = True, **env: str) -> subprocess.CompletedProcess | subprocess.Popen:
        """`rag ARGV...` in a fresh process (argv may hold raw bytes, as a shell passes them), or a
        Python `script` that ends by running the CLI; a traceback on stderr is counted, never expected."""
        command = [sys.executable, *(["-c", script] if script else ["-m", "shells.cli"]), *argv]
        environ = {**os.environ, **self.env, **env}
        if not wait:
            return subprocess.Popen(command, cwd=CHECKOUT, env=environ, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        proc = subprocess.run(command, cwd=CHECKOUT, env=environ, capture_output=True, timeout=timeout)
        self.check(proc.stderr)
        return proc

    def check(self, stderr: bytes) -> None:
        if b"Traceback (most recent call last)" in stderr:
            self.figures["tracebacks"] += 1
            raise AssertionError(f"traceback instead of a message:\n{stderr.decode(errors='replace')}")


def workspace_at(root: Path, figures: dict) -> Workspace:
    ws = Workspace(root, figures)
    ws.env = {"RAG_EMBEDDER": "fake", "RAG_LLM": "fake", "RAG_CORPUS_DIR": str(ws.corpus),
              "RAG_INDEX_DIR": str(ws.index), "PYTHONPATH": str(CHECKOUT)}
    return ws


@pytest.fixture
def workspace(tmp_path, figures) -> Workspace:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    return workspace_at(tmp_path, figures)


@pytest.fixture(scope="session")
def pristine(tmp_path_factory, figures) -> Workspace:
    """The bundled corpus with its (fake-embedder) index, built once: `built` copies it."""
    from rag.embedders.fake import FakeEmbedder
    from rag.ingest import rebuild_index

    ws = workspace_at(tmp_path_factory.mktemp("pristine"), figures)
    shutil.copytree(CORPUS, ws.corpus)
    rebuild_index(ws.settings(), FakeEmbedder())
    return ws


@pytest.fixture
def built(tmp_path, pristine, figures) -> Workspace:
    """A workspace with its index built."""
    shutil.copytree(pristine.corpus, tmp_path / "corpus")
    shutil.copytree(pristine.index, tmp_path / "index")
    return workspace_at(tmp_path, figures)


def _in_suite(report) -> bool:
    return Path(str(report.fspath)).resolve().is_relative_to(HERE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _in_suite(report) and not report.skipped and (report.when == "call" or report.failed):
        item.config.stash[FIGURES]["passed" if report.passed else "failed"] += 1
    return report


def summary(figures: dict) -> str:
    parts = [f"reliability: {figures['passed']} passed, {figures['failed']} failed",
             f"{figures['tracebacks']} tracebacks"]
    if "kills" in figures:
        parts.append("kill -9 mid-write: {survived} of {total} left a loadable index in step with the corpus"
                     .format(**figures["kills"]))
    if "ingest_runs" in figures:
        parts.append(f"concurrent ingest: {figures['lost_updates']} lost updates in {figures['ingest_runs']} runs")
    if "burst" in figures:
        parts.append("burst of {calls} fake-model /ask calls: {answered} answered, {queue_full} queue-full, "
                     "p50 {p50:.2f} s, p95 {p95:.2f} s".format(**figures["burst"]))
    return " · ".join(parts)


def pytest_terminal_summary(terminalreporter, config):
    figures = config.stash[FIGURES]
    if figures["passed"] or figures["failed"]:
        terminalreporter.write_line(summary(figures), bold=True)
