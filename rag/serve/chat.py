"""``/v1/chat/completions``, ``/v1/models`` and ``/v1/embeddings``, as OpenAI's clients
call them.

``model`` names a collection. The last message is the question, the earlier user
messages the conversation (a follow-up is retrieved with the question before it). The
reply's content is the checked answer with its ``[n]`` markers; the citations, each
sentence's support and the refusal flag ride in an extra ``rag`` field (the final chunk,
when streaming), which OpenAI clients ignore. rag's own options go in the body (the
openai client's ``extra_body``): ``mode``, ``k``, ``retrieval``, ``under``, ``sources``,
``strict``. Fields of OpenAI's that rag has no use for (``temperature``...) are accepted
and ignored.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rag import User
from rag.answer.types import Answer, Done, Event, Token
from rag.assistant import Assistant
from rag.config import AnswerMode, RetrievalMode
from rag.errors import InvalidInput, NotFound
from rag.serve.app import Caller, Library
from rag.serve.errors import translate

__all__ = ["router"]

router = APIRouter(prefix="/v1")

#: The longest question accepted (a question, not a document).
MAX_QUESTION = 10_000


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[_Part] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's chat request, and rag's own options."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    mode: AnswerMode | None = None
    k: int | None = Field(None, ge=1, le=100)
    retrieval: RetrievalMode | None = None
    under: str | None = None
    sources: list[str] | None = None
    strict: bool | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: str | list[str]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"


@router.get("/models")
def models(user: Caller, a: Library) -> dict[str, Any]:
    """The collections the caller can read, as models."""
    return {"object": "list", "data": [_model(n) for n in a.readable_collections(user=user)]}


@router.get("/models/{name}")
def model(name: str, user: Caller, a: Library) -> dict[str, Any]:
    return _model(_collection(a, name, user))


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "rag"}


def _collection(a: Assistant, name: str, user: User | None) -> str:
    """``name`` if the caller can read it; the same 404 whether it exists or not."""
    if name not in a.readable_collections(user=user):
        raise NotFound(f"no collection {name!r}: GET /v1/models lists yours")
    return name


@router.post("/chat/completions", response_model=None)
def chat(
    body: ChatRequest,
    user: Caller,
    a: Library,
) -> dict[str, Any] | StreamingResponse:
    collection = _collection(a, body.model, user)
    *earlier, last = body.messages
    question = last.text().strip()
    if last.role != "user" or not question:
        raise InvalidInput("the last message must be the user's question, and not empty")
    if len(question) > MAX_QUESTION:
        raise InvalidInput(f"a question has at most {MAX_QUESTION} characters")
    history = [m.text() for m in earlier if m.role == "user" and m.text().strip()]
    stream = a.ask_stream(
        question,
        k=body.k,
        mode=body.retrieval,
        collection=collection,
        prefix=body.under,
        sources=body.sources,
        history=history,
        answer_mode=body.mode,
        strict=body.strict,
        user=user,
    )
    events = iter(stream)
    # Retrieval runs now: its errors are this request's status, not an event of a stream.
    first = next(events, _END)
    reply = _Reply(collection)
    if not body.stream:
        for _ in events:
            pass
        return reply.completion(stream.answer)
    return StreamingResponse(
        _sse(reply, first, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _Reply:
    """The ids and shapes of one answer's response or chunks."""

    def __init__(self, collection: str) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = collection

    def _base(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def completion(self, answer: Answer) -> dict[str, Any]:
        return self._base("chat.completion") | {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "rag": _rag(answer),
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = self._base("chat.completion.chunk") | {
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _rag(answer: Answer) -> dict[str, Any]:
    """The extra field: citations, each sentence's support and span, refusal, mode."""
    out = answer.to_json()
    out.pop("answer")
    return out


_END = object()


async def _sse(reply: _Reply, first: object, events: Iterator[Event]) -> AsyncIterator[str]:
    """The answer as server-sent events: the model's text as it is written (generative),
    and whatever the check changed, then the final chunk with ``rag`` and ``[DONE]``.

    Each step runs in a worker thread. A client that disconnects cancels this generator
    at its next step; the thread's step is let finish, then the answer's events are
    closed, so the model stops and nothing is left running."""
    yield reply.chunk({"role": "assistant", "content": ""})
    streamed: list[str] = []
    event: Any = first
    try:
        while event is not _END:
            if isinstance(event, Token):
                streamed.append(event.text)
                yield reply.chunk({"content": event.text})
            elif isinstance(event, Done):
                yield from_done(reply, event.answer, "".join(streamed))
            event = await anyio.to_thread.run_sync(next, events, _END)
    except Exception as exc:  # after the headers: the error is the stream's last event
        _status, body = translate(exc)
        yield f"data: {json.dumps(body)}\n\n"
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    yield "data: [DONE]\n\n"


def from_done(reply: _Reply, answer: Answer, streamed: str) -> str:
    """The rest of the content (all of it, if nothing was streamed; the checked text,
    when the check changed what the model wrote), and the final chunk."""
    if not streamed:
        rest = answer.text
    elif answer.text.strip() != streamed.strip():
        rest = f"\n\nChecked against your documents:\n{answer.text}"
    else:
        rest = ""
    text = reply.chunk({"content": rest}) if rest else ""
    return text + reply.chunk({}, "stop", rag=_rag(answer))


@router.post("/embeddings")
def embeddings(
    body: EmbeddingRequest,
    user: Caller,
    a: Library,
) -> dict[str, Any]:
    """The configured embedder's vectors (``model`` is ignored: there is one)."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    vectors = a.embed(texts, user=user)
    data = []
    for n, vector in enumerate(vectors):
        value: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if body.encoding_format == "base64"
            else [float(x) for x in vector]
        )
        data.append({"object": "embedding", "index": n, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": a.embedder.name,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
