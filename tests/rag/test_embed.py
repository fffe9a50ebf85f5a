"""The embedding backends: the default int8 ONNX graph against sentence-transformers on
torch, with the real bundled model, and the choice between them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import ModelError
from rag.models import open_embedder
from rag.models.bundled import bundled_embedder
from rag.models.embed import OnnxEmbedder, SentenceTransformerEmbedder
from rag.models.embed_export import graph_folder, unsupported

pytestmark = pytest.mark.slow

SENTENCES = [
    "Either party may terminate the agreement with ninety days' written notice.",
    "The March outage of the server room affected 240 users for six hours.",
    "Employees may work from home up to three days a week with their manager's approval.",
    "Invoices are payable within 30 days of receipt.",
    "The capital of Australia is Canberra.",
]
QUERIES = [
    "How much notice to end the contract?",
    "How many users did the outage affect?",
    "Can I work remotely?",
    "When must invoices be paid?",
]


@pytest.fixture(scope="module")
def onnx() -> OnnxEmbedder:
    embedder = open_embedder(Settings())
    assert isinstance(embedder, OnnxEmbedder), "the default should be the ONNX graph"
    return embedder


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(bundled_embedder())


def test_onnx_vectors_are_close_to_torch_ones(
    onnx: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    a, b = onnx.embed(SENTENCES), torch_embedder.embed(SENTENCES)
    assert a.shape == b.shape == (5, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.97, cosine


def test_onnx_ranks_as_torch_does(
    onnx: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    for embedder in (onnx, torch_embedder):
        scores = np.stack([embedder.embed_query(q) for q in QUERIES]) @ embedder.embed(SENTENCES).T
        assert list(scores.argmax(axis=1)) == [0, 1, 2, 3], type(embedder).__name__


def test_a_texts_vector_does_not_depend_on_its_batch(onnx: OnnxEmbedder) -> None:
    """Dynamic int8 scales activations per call: texts are embedded one per call, so a
    chunk gets the same vector whatever was ingested beside it."""
    alone = onnx.embed([SENTENCES[0]])[0]
    long = "PostgreSQL provides a rich set of tools for developers. " * 40
    together = onnx.embed([long, "x", SENTENCES[0], *SENTENCES[1:]])[2]
    assert np.array_equal(alone, together)


def test_long_text_is_truncated_to_the_models_limit(onnx: OnnxEmbedder) -> None:
    text = "word " * 2000
    assert onnx.max_tokens == 256
    assert onnx.embed([text]).shape == (1, 384)


def test_backends_have_distinct_names(
    onnx: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    assert onnx.name != torch_embedder.name
    assert "onnx-int8" in onnx.name and "torch" in torch_embedder.name


def test_torch_backend_on_request() -> None:
    embedder = open_embedder(Settings(embed_backend="torch"))
    assert isinstance(embedder, SentenceTransformerEmbedder)


def _model_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(bundled_embedder(), copy)
    return copy


def test_unsuitable_models_fall_back_to_torch_or_fail_when_onnx_is_demanded(
    tmp_path: Path,
) -> None:
    model = _model_copy(tmp_path)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config |= {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    pooling.write_text(json.dumps(config))
    assert "not mean pooling" in (unsupported(model) or "")
    auto = open_embedder(Settings(embed_model=model, model_cache=tmp_path / "cache"))
    assert isinstance(auto, SentenceTransformerEmbedder)
    with pytest.raises(ModelError, match="not mean pooling"):
        open_embedder(
            Settings(embed_model=model, model_cache=tmp_path / "cache", embed_backend="onnx-int8")
        )
    assert not (tmp_path / "cache").exists(), "nothing should have been built"


def test_the_graph_is_keyed_by_the_weights(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    before = graph_folder(model, tmp_path)
    assert graph_folder(model, tmp_path) == before
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert graph_folder(model, tmp_path) != before
