"""Importing the package is cheap: heavy libraries load only when used."""

import subprocess
import sys

HEAVY = (
    "torch",
    "chromadb",
    "streamlit",
    "unstructured",
    "llama_cpp",
    "transformers",
    "sentence_transformers",
    "llama_index",
    "spacy",
    "scipy",
)


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_rag_loads_no_heavy_library() -> None:
    assert _loaded_after("import rag") == []


def test_public_api_and_cli_load_no_heavy_library() -> None:
    assert _loaded_after("from rag import Assistant, Settings, RagError; import rag.cli") == []


def test_the_keyword_index_is_built_updated_saved_and_searched_without_scipy() -> None:
    """Its import alone took 0.16 s of every ingest and every CLI question."""
    statement = (
        "import pathlib, tempfile; from rag.retrieval.keyword import KeywordIndex; "
        "folder = pathlib.Path(tempfile.mkdtemp()); "
        "KeywordIndex.build([('a', 's', 'alpha beta', ('p',))], 1).save(folder); "
        "index = KeywordIndex.load(folder).updated(set(), [('b', 't', 'gamma', ('p',))], 2); "
        "assert [h.id for h in index.search('gamma', 5, readers={'p'})] == ['b']"
    )
    assert _loaded_after(statement) == []


def test_public_names_resolve() -> None:
    import rag

    assert rag.__all__ == sorted(rag._WHERE)
    for name in rag.__all__:
        assert getattr(rag, name) is not None
