"""The errors rag raises, as one small tree.

::

    RagError                    anything rag reports to a person
    ├── ConfigError             a setting is invalid (bad path, unknown backend, ...)
    ├── ModelError              a model could not be found or loaded
    ├── StoreError              the vector store or manifest failed
    └── IngestError             ingestion as a whole failed (not one file: see below)

A single file that cannot be parsed is not an exception that stops anything: it
becomes an :class:`rag.ingest.errors.ParseError` recorded in the ingest report, and every
other file is still ingested. Front ends (CLI, web UI) translate these once each.
"""

from __future__ import annotations

__all__ = ["ConfigError", "IngestError", "ModelError", "RagError", "StoreError"]


class RagError(Exception):
    """Base class of every error rag reports to a person."""


class ConfigError(RagError):
    """A setting is invalid."""


class ModelError(RagError):
    """A model could not be found or loaded."""


class StoreError(RagError):
    """The vector store, keyword index or manifest failed."""


class IngestError(RagError):
    """Ingestion as a whole failed (per-file failures are reported, not raised)."""
