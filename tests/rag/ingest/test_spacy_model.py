"""The repackaged spaCy model is plain data for spaCy's own loader, and no download happens."""

import json
from pathlib import Path

import pytest

from rag.ingest import spacy_model


def test_package_holds_only_spacy_data_and_its_loader() -> None:
    folder = spacy_model.model_dir()
    package = folder.parent
    python_files = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))
    assert python_files == ["__init__.py"]
    init = (package / "__init__.py").read_text()
    assert "load_model_from_init_py" in init and "import os" not in init
    assert not list(package.rglob("*.pkl")) and not list(package.rglob("*.so"))


def test_model_is_en_core_web_sm_3_8_with_stock_components() -> None:
    meta = json.loads((spacy_model.model_dir() / "meta.json").read_text())
    assert meta["version"] == "3.8.0" and meta["lang"] == "en"
    config = (spacy_model.model_dir() / "config.cfg").read_text()
    registered = [
        line.split("=", 1)[1].strip()
        for line in config.splitlines()
        if line.startswith("@architectures")
    ]
    assert registered and all(r.strip('"').startswith("spacy.") for r in registered)


def test_unstructured_uses_local_model_and_tags_sensibly() -> None:
    spacy_model.install()
    from unstructured.nlp import tokenize

    tags = dict(tokenize.pos_tag("The engineer inspected the damaged bridge"))
    assert tags["engineer"].startswith("NN") and tags["inspected"].startswith("VB")
    assert len(tokenize.sent_tokenize("First sentence here. Second one follows.")) == 2


def test_download_path_is_disabled() -> None:
    spacy_model.install()
    from unstructured.nlp import tokenize

    with pytest.raises(RuntimeError, match="never downloads"):
        tokenize._install_spacy_model()


def test_model_dir_is_a_real_folder() -> None:
    assert isinstance(spacy_model.model_dir(), Path)
    assert (spacy_model.model_dir() / "tok2vec" / "model").stat().st_size > 1_000_000
