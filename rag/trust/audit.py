"""The audit log: who asked what, what was retrieved and cited, who changed what, and
what was refused.

An append-only SQLite table in the data directory. Triggers refuse UPDATE and DELETE.
Each entry carries an HMAC-SHA256, keyed with a secret kept *outside* the data
directory (:func:`audit_key`), over its id, its content and the previous entry's MAC;
after each entry the chain's head (last id and MAC) is written beside the key. So
someone who can write the data directory but not the key's folder cannot edit, delete,
insert or truncate entries and recompute the chain: :meth:`AuditLog.verify` finds the
first entry that was tampered with, a gap in the ids, or a log shorter than its head.
(Entries written before keys were used carry a plain SHA-256 chain and are checked as
such; they must all come first.) Entries name chunk ids, sources and pages; document
text never goes into the log.

What this does not do: someone who can read the key can rewrite the log; keep the
key's folder (``$XDG_CONFIG_HOME/rag``, or ``RAG_AUDIT_KEY_FILE``) readable by rag's
account only, and back it up apart from the data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.privacy import private_dir
from rag.sqlite import Database

__all__ = ["AuditEntry", "AuditLog", "audit_key"]

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
#: Entries written with a key say so (entries of older logs have keyed = 0).
_KEYED = "ALTER TABLE events ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0"


def audit_key(path: Path) -> bytes:
    """The audit log's key, in ``path`` (created, 32 random bytes, mode 0600, if missing)."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


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
            return (
                f"{self.at}  {who:<12} ask     {d.get('question', '')!r}: "
                f"{len(d.get('retrieved', []))} retrieved"
            )
        if self.action == "answer":
            cited = ", ".join(sorted({_short(c["source"]) for c in d.get("cited", [])})) or "-"
            outcome = "refused" if d.get("refused") else f"cited {cited}"
            return f"{self.at}  {who:<12} answer  to entry {d.get('ask')}: {outcome}"
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


class AuditLog(Database):
    """Append and read audit entries. Safe to share between threads and processes.

    ``key_file`` holds the MAC key; the chain's head is kept beside it, in a file named
    after the log's path, so several data directories can share one key."""

    SCHEMA = _SCHEMA

    def __init__(self, path: Path, key_file: Path) -> None:
        super().__init__(path)
        self.key_file = key_file
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        self.head_file = key_file.with_name(f"audit-head-{digest}.json")
        self._key: bytes | None = None

    def _upgrade(self, db: sqlite3.Connection) -> None:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
        if "keyed" not in columns:
            db.execute(_KEYED)

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = audit_key(self.key_file)
        return self._key

    def record(self, actor: str | None, action: str, /, **detail: Any) -> int:
        """Append one entry (``detail`` must be JSON-serialisable and hold no document
        text); its id."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        body = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
                entry_id, prev = (row[0] + 1, row[1]) if row else (1, "")
                digest = _mac(self.key, entry_id, prev, at, actor, action, body)
                db.execute(
                    "INSERT INTO events (id, at, user, action, detail, prev, hash, keyed) "
                    "VALUES (?,?,?,?,?,?,?,1)",
                    (entry_id, at, actor, action, body, prev, digest),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._write_head(entry_id, digest)
        return entry_id

    def _write_head(self, entry_id: int, digest: str) -> None:
        tmp = self.head_file.with_name(f"{self.head_file.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"id": entry_id, "hash": digest}))
        os.replace(tmp, self.head_file)

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

    def verify(self) -> str | None:
        """What is wrong with the log, or None if it is intact: the first entry whose
        MAC (or, before keys were used, hash) fails, a gap in the ids, or fewer entries
        than the chain's head records."""
        rows: list[tuple[Any, ...]] = []
        if self.path.exists():
            with self._lock:
                rows = (
                    self._conn()
                    .execute("SELECT id, at, user, action, detail, prev, hash, keyed FROM events")
                    .fetchall()
                )
        rows.sort(key=lambda r: r[0])
        problem = self._check_chain(rows)
        if problem is not None:
            return problem
        return self._check_head(rows)

    def _check_chain(self, rows: list[tuple[Any, ...]]) -> str | None:
        prev, keyed_seen = "", False
        for expected, (i, at, user, action, body, stored_prev, digest, keyed) in enumerate(
            rows, start=1
        ):
            if i != expected:
                return f"entries {expected} to {i - 1} are missing"
            keyed_seen |= bool(keyed)
            if keyed:
                good = hmac.compare_digest(digest, _mac(self.key, i, prev, at, user, action, body))
            else:
                good = not keyed_seen and digest == _chain(prev, at, user, action, body)
            if stored_prev != prev or not good:
                return f"entry {i} was altered"
            prev = digest
        return None

    def _check_head(self, rows: list[tuple[Any, ...]]) -> str | None:
        try:
            head = json.loads(self.head_file.read_text())
        except FileNotFoundError:
            return None if not any(r[7] for r in rows) else "the chain's head is missing"
        except ValueError:
            return "the chain's head is unreadable"
        if len(rows) < int(head["id"]) or rows[int(head["id"]) - 1][6] != head["hash"]:
            return f"entries after {len(rows)} were removed (the head records {head['id']})"
        return None


def _mac(
    key: bytes, entry_id: int, prev: str, at: str, user: str | None, action: str, body: str
) -> str:
    message = "\x1f".join([str(entry_id), prev, at, user or "", action, body]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _chain(prev: str, at: str, user: str | None, action: str, body: str) -> str:
    """The plain SHA-256 chain of logs written before keys were used."""
    return hashlib.sha256("\x1f".join([prev, at, user or "", action, body]).encode()).hexdigest()
