"""The audit log: who asked what, what was retrieved and cited, and who changed what.

An append-only SQLite table in the data directory. Triggers refuse UPDATE and
DELETE, and each entry carries a SHA-256 chained over the previous entry's hash,
so an edit made with other tools shows up in :meth:`AuditLog.verify`. Entries
name chunk ids, sources and pages; document text never goes into the log.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.sqlite import connect

__all__ = ["AuditEntry", "AuditLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    user   TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev   TEXT NOT NULL,
    hash   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events(user, at);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    user: str | None
    action: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "user": self.user,
            "action": self.action,
            **self.detail,
        }

    def line(self) -> str:
        """One human-readable line."""
        d = self.detail
        who = self.user or "-"
        if self.action == "ask":
            cited = ", ".join(sorted({_short(c["source"]) for c in d.get("cited", [])})) or "-"
            outcome = "refused" if d.get("refused") else f"cited {cited}"
            return (
                f"{self.at}  {who:<12} ask     {d.get('question', '')!r}: "
                f"{len(d.get('retrieved', []))} retrieved, {outcome}"
            )
        if self.action == "search":
            return (
                f"{self.at}  {who:<12} search  {d.get('query', '')!r}: "
                f"{len(d.get('retrieved', []))} retrieved"
            )
        summary = ", ".join(
            f"{k} {len(v) if isinstance(v, list) else v}"
            for k, v in d.items()
            if v not in ([], None)
        )
        return f"{self.at}  {who:<12} {self.action:<7} {summary}"


def _short(source: str) -> str:
    return Path(source).name


class AuditLog:
    """Append and read audit entries. Safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path, _SCHEMA)
        return self._db

    def record(self, actor: str | None, action: str, /, **detail: Any) -> None:
        """Append one entry (``detail`` must be JSON-serialisable and hold no document text)."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        body = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
                prev = row[0] if row else ""
                digest = _chain(prev, at, actor, action, body)
                db.execute(
                    "INSERT INTO events (at, user, action, detail, prev, hash) "
                    "VALUES (?,?,?,?,?,?)",
                    (at, actor, action, body, prev, digest),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def entries(
        self, user: str | None = None, since: str | None = None, action: str | None = None
    ) -> Iterator[AuditEntry]:
        """Entries oldest first, by ``user``, at or after ``since`` (an ISO date or time)."""
        if not self.path.exists():
            return
        sql = "SELECT id, at, user, action, detail FROM events WHERE 1=1"
        args: list[str] = []
        if user is not None:
            sql, args = sql + " AND user = ?", [*args, user]
        if since is not None:
            sql, args = sql + " AND at >= ?", [*args, since]
        if action is not None:
            sql, args = sql + " AND action = ?", [*args, action]
        with self._lock:
            rows = self._conn().execute(sql + " ORDER BY id", args).fetchall()
        for i, at, who, act, body in rows:
            yield AuditEntry(i, at, who, act, json.loads(body))

    def verify(self) -> int | None:
        """The id of the first entry whose hash chain is broken, or None if intact."""
        if not self.path.exists():
            return None
        with self._lock:
            rows = (
                self._conn()
                .execute("SELECT id, at, user, action, detail, prev, hash FROM events ORDER BY id")
                .fetchall()
            )
        prev = ""
        for i, at, user, action, body, stored_prev, digest in rows:
            if stored_prev != prev or digest != _chain(prev, at, user, action, body):
                return int(i)
            prev = digest
        return None


def _chain(prev: str, at: str, user: str | None, action: str, body: str) -> str:
    return hashlib.sha256("\x1f".join([prev, at, user or "", action, body]).encode()).hexdigest()
