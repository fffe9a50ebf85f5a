"""``/v1/documents``, ``/v1/jobs`` and ``/v1/search``: add, follow, list, remove and
search documents, with the same rules as the web UI (the library's).

An upload is stored at once (sanitised names, each in a folder of its own, duplicates
of what the caller may read reported and not stored) and ingested in the background,
through the same sandboxed parser as every ingest: the reply is a job to poll.
A document's ``id`` is derived from its source; ``collection`` defaults to the
configured one.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rag import User
from rag.assistant import Assistant
from rag.config import RetrievalMode
from rag.errors import InvalidInput, NotFound
from rag.index.manifest import DocumentRecord
from rag.serve.app import Caller, Library
from rag.serve.chat import MAX_QUESTION

__all__ = ["document_id", "router"]

router = APIRouter(prefix="/v1")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=MAX_QUESTION)
    collection: str | None = None
    k: int | None = Field(None, ge=1, le=100)
    retrieval: RetrievalMode | None = None
    under: str | None = None
    sources: list[str] | None = None


def document_id(source: str) -> str:
    """A document's id in URLs: stable for its source, revealing nothing else."""
    return "doc-" + hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def _readable(a: Assistant, name: str | None, user: User | None) -> str:
    name = name or a.settings.collection
    if name not in a.readable_collections(user=user):
        raise NotFound(f"no collection {name!r}")
    return name


def _document(a: Assistant, d: DocumentRecord) -> dict[str, Any]:
    return {
        "id": document_id(d.source),
        "object": "document",
        "name": PurePath(d.source).name,
        "source": d.source,
        "collection": d.collection,
        "file_type": d.file_type,
        "pages": d.pages,
        "chunks": d.chunks,
        "ingested_at": d.ingested_at,
        "access": list(a.access(d.source, d.collection)),
    }


@router.post("/documents", status_code=202)
def upload(
    files: Annotated[list[UploadFile], File()],
    user: Caller,
    a: Library,
    access: Annotated[list[str] | None, Form()] = None,
    collection: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """Store the files and start ingesting the new ones; the job to poll (202)."""
    received = [(f.filename or "upload", f.file.read()) for f in files]
    uploads = a.save_uploads(received, collection, user=user)
    stored = {str(u.path): u.name for u in uploads if u.path is not None}
    listed = [
        {"name": u.name, "stored": u.path is not None, "duplicate_of": u.duplicate_of}
        for u in uploads
    ]
    if not stored:
        body: dict[str, Any] = {"id": None, "object": "ingest.job", "status": "done", "files": []}
        return JSONResponse(body | {"uploads": listed}, 200)
    job = a.start_ingest(list(stored), collection, user=user, access=access, names=stored)
    return JSONResponse(job.to_json() | {"uploads": listed}, 202)


@router.get("/jobs/{job_id}")
def job(job_id: str, user: Caller, a: Library) -> dict[str, Any]:
    return a.job(job_id, user=user).to_json()


@router.get("/documents")
def documents(
    user: Caller,
    a: Library,
    collection: str | None = None,
) -> dict[str, Any]:
    """The documents the caller may read."""
    name = _readable(a, collection, user)
    return {"object": "list", "data": [_document(a, d) for d in a.documents(name, user=user)]}


@router.delete("/documents/{doc_id}")
def remove(
    doc_id: str,
    user: Caller,
    a: Library,
    collection: str | None = None,
) -> dict[str, Any]:
    """Remove a document (its owner or an admin may; others get 403, or 404 if they
    cannot read it)."""
    name = _readable(a, collection, user)
    found = [d for d in a.documents(name, user=user) if document_id(d.source) == doc_id]
    if not found:
        raise NotFound(f"no document {doc_id!r}")
    removed = a.remove(found[0].source, name, user=user)
    if not removed:
        raise NotFound(f"no document {doc_id!r}")
    return {"id": doc_id, "object": "document", "deleted": True, "source": removed[0]}


@router.post("/search")
def search(
    body: SearchRequest,
    user: Caller,
    a: Library,
) -> dict[str, Any]:
    """Retrieval only, as ``rag search --json``: the best passages the caller may read."""
    if not body.query.strip():
        raise InvalidInput("the query is empty")
    name = _readable(a, body.collection, user)
    passages = a.search(
        body.query,
        k=body.k,
        mode=body.retrieval,
        collection=name,
        prefix=body.under,
        sources=body.sources,
        user=user,
    )
    results = [
        {
            "source": p.source,
            "page": p.page,
            "text": p.text,
            "score": round(p.score, 6),
            "similarity": round(p.similarity, 4),
        }
        for p in passages
    ]
    return {"object": "list", "query": body.query, "collection": name, "results": results}
