"""The app: one :class:`Assistant` per process, a guard in front of every request, and
the one place a request becomes a user.

The guard refuses, before any route runs: a ``Host`` the server is not reached by
(DNS rebinding: a web page whose name points at 127.0.0.1), a browser ``Origin`` from
another site (a page the user visits posting to a loopback server), and bodies over
the size cap (1 MiB of JSON; ``upload_max_mb`` for uploads), counted as they arrive
whatever ``Content-Length`` says. Whatever a route raises becomes an OpenAI-style
error (see :mod:`rag.serve.errors`); a client that goes away mid-answer stops it.

Swagger's ``/docs`` loads its scripts from a CDN, so it is off: the schema is at
``/openapi.json`` for any offline viewer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from starlette.exceptions import HTTPException

from rag import User
from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import RagError
from rag.serve.errors import ApiError, install, translate

__all__ = [
    "JSON_LIMIT",
    "Caller",
    "Library",
    "app_from_environment",
    "create_app",
    "current_user",
    "get_assistant",
]

log = logging.getLogger("rag.serve")

#: The largest JSON body a request may carry.
JSON_LIMIT = 1 << 20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    return assistant


def current_user(request: Request) -> User | None:
    """The user the request's API key acts as (``Authorization: Bearer KEY``); None while
    no accounts exist (then no key is needed). Missing or wrong: 401; repeated: 429."""
    assistant = get_assistant(request)
    if not assistant.accounts_exist():
        return None
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "an API key is needed: Authorization: Bearer KEY", "missing_api_key")
    client = request.client.host if request.client else None
    return assistant.authenticate_key(key.strip(), client)


#: A route's caller: ``user: Caller`` (None while no accounts exist).
Caller = Annotated[User | None, Depends(current_user)]
#: The process's library: ``a: Library``.
Library = Annotated[Assistant, Depends(get_assistant)]


def create_app(assistant: Assistant, hosts: list[str] | None = None) -> FastAPI:
    """The API over ``assistant``. ``hosts``: the names and addresses clients reach it
    by (``Host`` and a browser's ``Origin`` must be one of them); None accepts any."""
    from rag.serve import chat, documents

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=_warm_up, args=(assistant,), daemon=True).start()
        yield

    app = FastAPI(
        title="rag",
        summary="An OpenAI-compatible API over your documents, with citations.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.assistant = assistant
    install(app)
    app.include_router(chat.router)
    app.include_router(documents.router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    upload_limit = int(assistant.settings.upload_max_mb * (1 << 20))
    app.add_middleware(_Guard, hosts=hosts, upload_limit=upload_limit)
    return app


def _warm_up(assistant: Assistant) -> None:
    """Load the models and the keyword index before the first question, not during it.
    With extractive answers by default the chat model waits for a request that asks
    for it (``"mode": "generative"``): most never do, and it is the largest part."""
    with contextlib.suppress(RagError):
        if assistant.settings.answer_mode == "extractive":
            assistant.embedder.embed_query("warm-up")
            assistant.collection().keyword_index()
        else:
            assistant.warm_up()


def app_from_environment() -> FastAPI:
    """The app ``rag serve`` runs in each worker: settings from ``RAG_*`` (the command
    sets them from its flags), the accepted host names from ``RAG_SERVE_HOSTS``."""
    from rag.privacy import lock_down, private_files

    lock_down()
    private_files()
    hosts = os.environ.get("RAG_SERVE_HOSTS")
    return create_app(Assistant(Settings()), json.loads(hosts) if hosts else None)


class _Guard:
    """Host, origin and size checks before a route runs; any error as JSON after."""

    def __init__(self, app: ASGI, hosts: list[str] | None, upload_limit: int) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts} if hosts is not None else None
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/documents"
        limit = self.upload_limit if upload else JSON_LIMIT
        refusal = self._refusal(headers, limit)
        if refusal is not None:
            await _send_error(send, refusal)
            return
        received, started = 0, False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the body is over {limit} bytes")
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except Exception as exc:
            if started:  # mid-stream: the client sees the stream end
                translate(exc)
                return
            await _send_error(send, exc)

    def _refusal(self, headers: dict[str, str], limit: int) -> Exception | None:
        if self.hosts is not None:
            host = _hostname(headers.get("host", ""))
            if host not in self.hosts:
                return ApiError(400, "this server is not reached by that host name", "bad_host")
            origin = headers.get("origin")
            if origin is not None and _hostname(urlsplit(origin).netloc) not in self.hosts:
                return ApiError(403, "requests from other sites' pages are refused", "bad_origin")
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            return ApiError(400, "invalid Content-Length", "invalid_value")
        if length is not None and int(length) > limit:
            return ApiError(413, f"the body is over {limit} bytes", "body_too_large")
        return None


def _hostname(netloc: str) -> str:
    """``host`` of ``host:port`` or ``[v6]:port``, lower-case."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rpartition(":")[0] if netloc.count(":") == 1 else netloc


async def _send_error(send: Send, exc: Exception) -> None:
    status, body = translate(exc)
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
