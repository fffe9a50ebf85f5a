"""``rag serve``: an OpenAI-compatible HTTP API over the library, for the tools an
organisation already has (Open WebUI, LibreChat, IDE assistants, scripts).

A front end like the CLI and the web UI: each route turns a request into a call of
:class:`rag.Assistant` (which checks rights and writes the audit log) and its result
into JSON. One dependency, :func:`rag.serve.app.current_user`, is where a request
becomes a user (its ``Authorization: Bearer`` API key); errors from the library are
translated once, into OpenAI-style JSON errors, in :mod:`rag.serve.errors`.

- :mod:`rag.serve.app`: the app factory, the request guard (size, host, origin), auth
- :mod:`rag.serve.chat`: ``/v1/chat/completions``, ``/v1/models``, ``/v1/embeddings``
- :mod:`rag.serve.documents`: ``/v1/documents``, ``/v1/jobs``, ``/v1/search``
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from rag.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'rag.serve' has no attribute {name!r}")
