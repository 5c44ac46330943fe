"""all-MiniLM-L6-v2 on OpenVINO: the ONNX export of `rag.embedders.onnx`, compiled for this CPU.

On CPUs with bfloat16 matrix units (Intel AMX or AVX512-BF16, as on this project's machines) it runs in
bf16: about twice ONNX Runtime's fp32 throughput on 2 cores, with vectors within cosine 0.9999 of the
sentence-transformers ones (measured on every chunk and sentence of the corpus; the parity tests hold
it to 0.99). Elsewhere OpenVINO runs fp32. Tokenising, batching and pooling are the ONNX backend's.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rag.embedders.onnx import OnnxMiniLMEmbedder


class OpenVinoSession:
    """ONNX Runtime's `run` over an OpenVINO compiled model, so OnnxMiniLMEmbedder drives either. An
    infer request is not thread-safe (ONNX Runtime's sessions are): the chat and the API embed from
    several threads, so calls take turns."""

    def __init__(self, compiled):
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, outputs, feeds: dict) -> list:
        with self._lock:
            return [self._request.infer(feeds)[0].copy()]  # the request reuses its output buffer


def precision(capabilities: list[str]) -> str:
    """bf16 where the CPU computes it natively, else fp32 (bf16 emulated would only be slower)."""
    return "bf16" if "BF16" in capabilities else "f32"


class OpenVinoMiniLMEmbedder(OnnxMiniLMEmbedder):
    # Its own name: an index built by another backend is rebuilt, not mixed (the vectors differ in bf16).
    name = "openvino:sentence-transformers/all-MiniLM-L6-v2"

    @staticmethod
    def open_session(path: Path, n_threads: int | None) -> OpenVinoSession:
        """The export compiled for this CPU (bf16 where it computes it natively)."""
        import openvino

        core = openvino.Core()
        config = {"INFERENCE_PRECISION_HINT": precision(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
                  "PERFORMANCE_HINT": "LATENCY"}
        if n_threads:
            config["INFERENCE_NUM_THREADS"] = n_threads
        return OpenVinoSession(core.compile_model(str(path), "CPU", config))
