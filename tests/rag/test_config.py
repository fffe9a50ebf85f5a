from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.config import Settings


def test_defaults_work_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    s = Settings()
    assert s.data_dir == tmp_path / "xdg" / "rag"
    assert s.llm_backend == "llama_cpp" and s.llm_model is None and s.embed_model is None
    assert s.retrieval_mode == "hybrid" and s.chroma_url is None


def test_priority_flags_over_env_over_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rag.toml").write_text('top_k = 9\nchunk_size = 300\ncollection = "toml"\n')
    monkeypatch.setenv("RAG_COLLECTION", "env")
    s = Settings()
    assert (s.top_k, s.chunk_size, s.collection) == (9, 300, "env")
    assert Settings(collection="flag").collection == "flag"


def test_config_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text('retrieval_mode = "keyword"\n')
    monkeypatch.setenv("RAG_CONFIG", str(path))
    assert Settings().retrieval_mode == "keyword"


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(chunk_size=100, chunk_overlap=100)
    with pytest.raises(ValidationError):
        Settings(retrieval_mode="magic")  # type: ignore[arg-type]
