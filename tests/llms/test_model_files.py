import hashlib
import sys

import pytest

from rag.llms import LLMError
from rag.llms import model_files
from rag.llms.model_files import LocalModelSpec, ensure_local_model


@pytest.fixture
def chunk_packages(tmp_path, monkeypatch):
    """Two tiny installed-looking chunk packages whose bytes join to a known file."""
    parts = [b"GGUF-part-one|", b"part-two"]
    for i, data in enumerate(parts, start=1):
        pkg = tmp_path / "site" / f"tiny_model_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part0{i}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sha = hashlib.sha256(b"".join(parts)).hexdigest()
    spec = LocalModelSpec("tiny", ("tiny_model_part1", "tiny_model_part2"), sha, "pip install tiny")
    monkeypatch.setitem(model_files.LOCAL_MODELS, "tiny", spec)
    return spec


def test_assembles_in_order_verifies_and_reuses(chunk_packages, tmp_path, monkeypatch):
    path = ensure_local_model("tiny", tmp_path / "cache")
    assert path.read_bytes() == b"GGUF-part-one|part-two"
    # Second call must not re-read the chunks: make them unreadable and expect the cached file.
    monkeypatch.setattr(model_files, "_chunk_paths", lambda spec: pytest.fail("re-assembled"))
    assert ensure_local_model("tiny", tmp_path / "cache") == path


def test_wrong_hash_is_refused_and_leaves_no_file(chunk_packages, tmp_path, monkeypatch):
    monkeypatch.setitem(model_files.LOCAL_MODELS, "tiny", chunk_packages.__class__(
        "tiny", chunk_packages.packages, "0" * 64, "pip install tiny"))
    with pytest.raises(LLMError, match="expected 0000"):
        ensure_local_model("tiny", tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


def test_missing_package_names_the_install_command(tmp_path, monkeypatch):
    spec = LocalModelSpec("ghost", ("no_such_pkg_part1",), "0" * 64, "pip install ghost-model")
    monkeypatch.setitem(model_files.LOCAL_MODELS, "ghost", spec)
    with pytest.raises(LLMError, match=r"no-such-pkg-part1 is not installed \(run `pip install ghost-model`\)"):
        ensure_local_model("ghost", tmp_path)
    assert "no_such_pkg_part1" not in sys.modules


def test_the_settings_name_exactly_the_models_that_have_files():
    from rag.llms.model_files import LOCAL_MODELS
    from rag.settings import LOCAL_MODELS as NAMES

    assert tuple(LOCAL_MODELS) == NAMES
