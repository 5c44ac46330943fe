import pytest
from rag.errors import SettingsError
from rag.settings import load_settings


def test_precedence_defaults_file_env_overrides(tmp_path, monkeypatch):
    assert load_settings().k == 4
    config = tmp_path / "rag.toml"
    config.write_text("k = 6\nchunk_size = 500\n")
    assert load_settings(config).k == 6
    monkeypatch.setenv("RAG_K", "7")
    settings = load_settings(config)
    assert (settings.k, settings.chunk_size) == (7, 500)
    assert load_settings(config, k=9).k == 9


def test_standard_openai_variables_are_read(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    assert settings.openai_base_url == "http://127.0.0.1:9/v1" and settings.openai_api_key == "sk-test"


def test_bad_values_and_missing_file_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="k: Input should be greater than or equal to 1"):
        load_settings(k=0)
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("k = [")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(broken)


def test_api_key_comes_from_rag_api_key_and_is_never_printed(monkeypatch):
    assert load_settings().api_key is None
    monkeypatch.setenv("RAG_API_KEY", "sekrit")
    settings = load_settings()
    assert settings.api_key.get_secret_value() == "sekrit"
    assert "sekrit" not in repr(settings) and "sekrit" not in str(settings.model_dump())
