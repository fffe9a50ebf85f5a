"""Both generation backends on real weights: llama.cpp on the bundled GGUF, and
transformers on a checkpoint folder made from that GGUF (dequantised and saved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.errors import ConfigError, ModelError
from rag.models import open_generator
from rag.models.base import Message
from rag.models.bundled import bundled_chat_model

pytestmark = pytest.mark.slow

MESSAGES: list[Message] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
]


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_chat_model()
    folder = tmp_path_factory.mktemp("smollm2-hf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantised in memory; newer transformers still
    # tags the model as "gguf-quantised" and refuses to save it. Drop the tag so
    # the folder is a plain checkpoint, as a user's own would be.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_llama_cpp_streams_tokens() -> None:
    generator = open_generator(Settings())
    pieces = list(generator.stream(MESSAGES, max_tokens=16, temperature=0.0))
    assert len(pieces) > 1, "expected a stream of pieces, not one block"
    assert "paris" in "".join(pieces).lower()


def test_transformers_backend_streams_from_a_local_checkpoint(hf_checkpoint: Path) -> None:
    generator = open_generator(Settings(llm_backend="transformers", llm_model=hf_checkpoint))
    pieces = list(generator.stream(MESSAGES, max_tokens=16, temperature=0.0))
    assert len(pieces) > 1
    assert "paris" in "".join(pieces).lower()


def test_transformers_backend_answers_with_citations(
    hf_checkpoint: Path, assistant: Assistant
) -> None:
    settings = assistant.settings.model_copy(
        update={"llm_backend": "transformers", "llm_model": hf_checkpoint, "max_tokens": 64}
    )
    a = Assistant(settings, embedder=assistant.embedder)
    answer = a.ask("How many users were affected by the March server room outage?")
    assert not answer.refused and answer.text
    assert answer.citations and all(1 <= c.n <= len(answer.passages) for c in answer.citations)


def test_backend_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RAG_LLM_MODEL"):
        open_generator(Settings(llm_backend="transformers"))
    with pytest.raises(ModelError, match="not a Hugging Face checkpoint"):
        open_generator(Settings(llm_backend="transformers", llm_model=tmp_path))
    with pytest.raises(ModelError, match="GGUF model not found"):
        open_generator(Settings(llm_model=tmp_path / "missing.gguf"))
