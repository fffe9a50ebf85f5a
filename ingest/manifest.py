"""The sync manifest: which files are ingested, at which content hash, with how many chunks.

A small SQLite database beside the vector store. It is written *after* a file's
chunks are in the store, so a crash between the two leaves a file the manifest
does not know (or knows at its old hash); the next ingest sees the mismatch and
redoes that file. Chunk ids are derived from the source and content hash, so a
redo overwrites instead of duplicating.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DocumentRecord", "Manifest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection   TEXT NOT NULL,
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    chunks       INTEGER NOT NULL,
    pages        INTEGER,
    file_type    TEXT NOT NULL,
    ingested_at  TEXT NOT NULL,
    PRIMARY KEY (collection, source)
);
CREATE TABLE IF NOT EXISTS generations (
    collection TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """One ingested file."""

    collection: str
    source: str
    content_hash: str
    size: int
    mtime_ns: int
    chunks: int
    pages: int | None
    file_type: str
    ingested_at: str


class Manifest:
    """What has been ingested, per collection. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def get(self, collection: str, source: str) -> DocumentRecord | None:
        rows = self._query(
            "SELECT * FROM documents WHERE collection=? AND source=?", (collection, source)
        )
        return DocumentRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def documents(self, collection: str, prefix: str | None = None) -> list[DocumentRecord]:
        """Every document of a collection, or those whose source starts with ``prefix``."""
        if prefix is None:
            rows = self._query(
                "SELECT * FROM documents WHERE collection=? ORDER BY source", (collection,)
            )
        else:
            rows = self._query(
                "SELECT * FROM documents WHERE collection=? AND substr(source, 1, ?) = ? "
                "ORDER BY source",
                (collection, len(prefix), prefix),
            )
        return [DocumentRecord(*r) for r in rows]  # type: ignore[arg-type]

    def with_hash(self, collection: str, content_hash: str) -> DocumentRecord | None:
        """A document of the collection with exactly this content, if any."""
        rows = self._query(
            "SELECT * FROM documents WHERE collection=? AND content_hash=? ORDER BY source LIMIT 1",
            (collection, content_hash),
        )
        return DocumentRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def put(self, record: DocumentRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.collection,
                    record.source,
                    record.content_hash,
                    record.size,
                    record.mtime_ns,
                    record.chunks,
                    record.pages,
                    record.file_type,
                    record.ingested_at,
                ),
            )
            _bump(db, record.collection)

    def touch(self, collection: str, source: str, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content did not change."""
        with self._tx() as db:
            db.execute(
                "UPDATE documents SET mtime_ns=? WHERE collection=? AND source=?",
                (mtime_ns, collection, source),
            )

    def delete(self, collection: str, source: str) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM documents WHERE collection=? AND source=?", (collection, source)
            )
            _bump(db, collection)

    def generation(self, collection: str) -> int:
        """A counter that changes whenever the collection's documents change."""
        rows = self._query("SELECT generation FROM generations WHERE collection=?", (collection,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def collections(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT DISTINCT collection FROM documents")]


def _bump(db: sqlite3.Connection, collection: str) -> None:
    db.execute(
        "INSERT INTO generations VALUES (?, 1) "
        "ON CONFLICT(collection) DO UPDATE SET generation = generation + 1",
        (collection,),
    )
