"""The errors rag reports to a person, as one small tree.

::

    RagError                    anything rag reports to a person       CLI exit code
    ├── InvalidInput            a user's mistake: a bad name, entry,   2
    │   │                       password or path (also a ValueError)
    │   └── NotFound            no such thing (or not yours to see)     2
    ├── AuthError               unknown user or wrong password          4
    │   └── SignInThrottled     too many failed sign-ins: wait          4
    ├── AccessDenied            signed in, but not allowed              4
    ├── ConfigError             a setting is invalid                    3
    ├── ModelError              a model cannot load or answer           3
    ├── StoreError              the vector store or manifest failed     3
    ├── IndexBusy               another process is changing the index   3
    ├── IngestError             an ingest as a whole failed             3
    └── ParseError              one file cannot be read (see below)     1

A file that cannot be parsed stops nothing: its :class:`ParseError` is recorded in the
ingest report and every other file is still ingested (``rag ingest`` exits 1). A model
that fails mid-question is not raised to front ends either: the answer carries
``model_error`` and the passages' own words (``rag ask`` exits 3). Anything else, not a
``RagError``, is a bug. Front ends translate the tree once each (CLI exit codes, a UI
message, an HTTP status).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "AccessDenied",
    "AuthError",
    "ConfigError",
    "IndexBusy",
    "IngestError",
    "InvalidInput",
    "ModelError",
    "NotFound",
    "ParseError",
    "RagError",
    "SignInThrottled",
    "StoreError",
    "printable_path",
]


class RagError(Exception):
    """Base class of every error rag reports to a person."""


class InvalidInput(RagError, ValueError):
    """Something a person typed or sent is not acceptable; the message says what and why."""


class NotFound(InvalidInput):
    """What a request names (a job, a key, a document) does not exist, or is not the
    caller's to see: the two are never told apart."""


class AuthError(RagError):
    """Unknown user or wrong password (the message never says which)."""


class SignInThrottled(AuthError):
    """Too many sign-ins failed in a row, for this name or from this client: wait."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {wait_s} s")
        #: Whole seconds until the next attempt is heard (HTTP's Retry-After).
        self.retry_after = wait_s


class AccessDenied(RagError):
    """The signed-in user (or nobody) may not do this."""


class ConfigError(RagError):
    """A setting is invalid."""


class ModelError(RagError):
    """A model could not be found, loaded or reached, or failed while answering."""


class StoreError(RagError):
    """The vector store, keyword index or manifest failed."""


class IndexBusy(RagError):
    """Another process is changing the same index."""


class IngestError(RagError):
    """Ingestion as a whole failed (per-file failures are reported, not raised)."""


class ParseError(RagError):
    """A file could not be turned into text (corrupt, encrypted, empty, unsupported...).

    ``path`` is the file's name as text that can always be printed and stored:
    see :func:`printable_path`.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = printable_path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str]]:
        return (type(self), (self.path, self.reason))


def printable_path(path: str | Path) -> str:
    """``path`` as valid text: bytes of a name that are not UTF-8 become ``\\xNN``.

    Linux allows any bytes in a file name; Python keeps those that are not UTF-8
    as lone surrogates, which SQLite, Chroma and a strict stdout all refuse. A
    NUL (which no real name can hold) is shown as ``\\x00``.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return text.replace("\x00", "\\x00")
