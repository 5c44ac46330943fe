"""Choose the embedder from settings; the only place that knows the backends' names."""

from __future__ import annotations

from rag.embedders.base import Embedder
from rag.settings import Settings


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "fake":
        from rag.embedders.fake import FakeEmbedder

        return FakeEmbedder()
    if settings.embedder == "openvino":
        from rag.embedders.openvino import OpenVinoMiniLMEmbedder

        return OpenVinoMiniLMEmbedder.load(settings.model_cache_dir, settings.n_threads)
    if settings.embedder == "onnx":
        from rag.embedders.onnx import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder.load(settings.model_cache_dir, settings.n_threads)
    from rag.embedders.minilm import MiniLMEmbedder

    return MiniLMEmbedder()
