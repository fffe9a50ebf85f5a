"""Ingests that run in the background, and what each has done so far.

A front end that must answer at once (the HTTP API) starts an ingest as a job and
hands back its id; anyone it belongs to asks later how far it got. Jobs are kept in
``jobs.sqlite3`` in the data directory, so every server process (``rag serve
--workers N``) sees every job, whichever process runs it. A job whose process died
is reported as failed, not as running forever. Finished jobs are forgotten after a day.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from rag.processes import alive
from rag.sqlite import Database

__all__ = ["Job", "Jobs"]

#: How long a finished job can still be asked about.
KEEP_S = 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id       TEXT PRIMARY KEY,
    owner    TEXT,              -- the account that started it (NULL: no accounts)
    pid      INTEGER NOT NULL,  -- the process running it
    state    TEXT NOT NULL,     -- queued, running, done, failed
    body     TEXT NOT NULL,     -- the rest, as JSON (see Job)
    updated  REAL NOT NULL
);
"""


@dataclass
class Job:
    """One background ingest: ``files`` holds a line per file as it is done
    (``{"name", "source", "outcome", "reason"}``); ``page``, while a PDF or TIFF is
    being parsed, the page it has reached (``{"name", "source", "page", "pages", "ocr"}``:
    a 300-page scan takes minutes)."""

    id: str
    owner: str | None
    collection: str
    state: str = "queued"
    done: int = 0
    total: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""
    error: str = ""
    pid: int = field(default_factory=os.getpid)
    page: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "ingest.job",
            "status": self.state,
            "collection": self.collection,
            "done": self.done,
            "total": self.total,
            "files": self.files,
        }
        if self.page is not None:
            out["page"] = self.page
        if self.summary:
            out["summary"] = self.summary
        if self.error:
            out["error"] = self.error
        return out


class Jobs(Database):
    """The job table. Safe to share between threads."""

    SCHEMA = _SCHEMA

    def new(self, owner: str | None, collection: str, total: int) -> Job:
        job = Job(secrets.token_hex(12), owner, collection, total=total)
        with self._lock:
            db = self._conn()
            db.execute(
                "DELETE FROM jobs WHERE state IN ('done','failed') AND updated < ?",
                (time.time() - KEEP_S,),
            )
        self.save(job)
        return job

    def save(self, job: Job) -> None:
        body = {
            "collection": job.collection,
            "done": job.done,
            "total": job.total,
            "files": job.files,
            "summary": job.summary,
            "error": job.error,
            "page": job.page,
        }
        with self._lock:
            self._conn().execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "state=excluded.state, body=excluded.body, updated=excluded.updated",
                (job.id, job.owner, job.pid, job.state, json.dumps(body), time.time()),
            )

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT id, owner, pid, state, body FROM jobs WHERE id=?", (job_id,))
                .fetchone()
            )
        if row is None:
            return None
        body = json.loads(row[4])
        job = Job(
            row[0],
            row[1],
            body["collection"],
            row[3],
            body["done"],
            body["total"],
            body["files"],
            body["summary"],
            body["error"],
            row[2],
            body.get("page"),
        )
        if job.state in ("queued", "running") and not alive(job.pid):
            job.state, job.error = "failed", "the server process running it stopped"
        return job
