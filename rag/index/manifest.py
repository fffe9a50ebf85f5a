"""The sync manifest: which files are ingested, at which content hash, with how many
chunks, and who may read each.

A small SQLite database beside the vector store. Every change to a document's
chunks is journalled: :meth:`Manifest.begin` records the operation *before* the
store is touched, and the manifest row is written (and the journal entry
cleared) in one transaction *after* the store is done. A crash in between leaves
a journal entry; :meth:`Manifest.interrupted` lists them and the indexer wipes
those documents' chunks and rows, so the next ingest redoes them from their
files. Chunk ids are derived from the source and content hash, so a redo
overwrites instead of duplicating.

Access lists live in their own table, keyed by source and kept through such
repairs: a document that is redone after a crash keeps the access it had, and
never falls back to the default.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.sqlite import connect

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
    chunker      TEXT NOT NULL DEFAULT '',  -- the chunking recipe (rag.ingest.chunk.CHUNKER)
    PRIMARY KEY (collection, source)
);
CREATE TABLE IF NOT EXISTS generations (
    collection TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS access (
    collection TEXT NOT NULL,
    source     TEXT NOT NULL,
    principals TEXT NOT NULL,  -- JSON list, sorted
    PRIMARY KEY (collection, source)
);
CREATE TABLE IF NOT EXISTS owners (
    collection TEXT NOT NULL,
    source     TEXT NOT NULL,
    owner      TEXT NOT NULL,  -- the account that first ingested it; kept like access
    PRIMARY KEY (collection, source)
);
CREATE TABLE IF NOT EXISTS embedders (
    collection TEXT PRIMARY KEY,
    embedder   TEXT NOT NULL  -- the embedder every stored vector came from
);
CREATE TABLE IF NOT EXISTS spaces (
    collection TEXT PRIMARY KEY,
    space      TEXT NOT NULL,  -- the vector space the collection's chunks are in ('': the first)
    pending    TEXT            -- the one being filled by a re-embedding, if any
);
CREATE TABLE IF NOT EXISTS pending (
    collection TEXT NOT NULL,
    source     TEXT NOT NULL,
    operation  TEXT NOT NULL,  -- write | remove | access
    PRIMARY KEY (collection, source)
);
"""

# Documents a set of principals may read: the access row meets the principals.
_READABLE = (
    " AND EXISTS (SELECT 1 FROM access a, json_each(a.principals) p"
    " WHERE a.collection = documents.collection AND a.source = documents.source"
    " AND p.value IN ({}))"
)


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
    chunker: str = ""
    """The chunking recipe its chunks were made with ('' before recipes were recorded)."""


class Manifest:
    """What has been ingested, per collection. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path, _SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        if "chunker" not in columns:  # a manifest from before recipes were recorded
            self._db.execute("ALTER TABLE documents ADD COLUMN chunker TEXT NOT NULL DEFAULT ''")

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

    def get_many(self, collection: str, sources: Sequence[str]) -> dict[str, DocumentRecord]:
        """The records of those of ``sources`` that are documents, by source: one query
        per 500, not one per file."""
        out = {}
        for at in range(0, len(sources), 500):
            part = sources[at : at + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT * FROM documents WHERE collection=? AND source IN ({marks})"
            for row in self._query(sql, (collection, *part)):
                record = DocumentRecord(*row)  # type: ignore[arg-type]
                out[record.source] = record
        return out

    def documents(
        self,
        collection: str,
        prefix: str | None = None,
        readers: Collection[str] | None = None,
    ) -> list[DocumentRecord]:
        """Every document of a collection, or those whose source starts with ``prefix``;
        with ``readers`` (principals), only the documents they may read."""
        sql = "SELECT * FROM documents WHERE collection=?"
        args: list[object] = [collection]
        if prefix is not None:
            sql += " AND substr(source, 1, ?) = ?"
            args += [len(prefix), prefix]
        if readers is not None:
            if not readers:
                return []
            sql += _READABLE.format(",".join("?" * len(readers)))
            args += sorted(readers)
        rows = self._query(sql + " ORDER BY source", tuple(args))
        return [DocumentRecord(*r) for r in rows]  # type: ignore[arg-type]

    def readable(self, collection: str, source: str, readers: Collection[str] | None) -> bool:
        """Whether ``readers`` (None: anyone) may read ``source``."""
        if readers is None:
            return True
        return not set(self.access(collection, source) or ()).isdisjoint(readers)

    # -- access lists -----------------------------------------------------------------

    def access(self, collection: str, source: str) -> tuple[str, ...] | None:
        """The principals who may read ``source``, or None if it has no access list yet."""
        rows = self._query(
            "SELECT principals FROM access WHERE collection=? AND source=?", (collection, source)
        )
        return tuple(json.loads(str(rows[0][0]))) if rows else None

    def set_access(self, collection: str, source: str, principals: Sequence[str]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO access VALUES (?,?,?)",
                (collection, source, json.dumps(sorted(set(principals)))),
            )
            _bump(db, collection)

    def owner(self, collection: str, source: str) -> str | None:
        """The account that first ingested ``source`` (None: no accounts then, or before
        owners were recorded)."""
        rows = self._query(
            "SELECT owner FROM owners WHERE collection=? AND source=?", (collection, source)
        )
        return str(rows[0][0]) if rows else None

    # -- the journal of interrupted operations -----------------------------------------

    def begin(self, collection: str, source: str, operation: str) -> None:
        """Record that ``source``'s chunks are about to change (before touching the store)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending VALUES (?,?,?)", (collection, source, operation)
            )

    def begin_writes(
        self, collection: str, writes: Sequence[tuple[str, Sequence[str]]], owner: str | None
    ) -> None:
        """Journal writes of several sources at once, before the store is touched, with
        each one's access list and (unless it has one) ``owner``: one transaction, so
        either every source is journalled or none is."""
        with self._tx() as db:
            for source, principals in writes:
                db.execute(
                    "INSERT OR REPLACE INTO pending VALUES (?,?,?)", (collection, source, "write")
                )
                db.execute(
                    "INSERT OR REPLACE INTO access VALUES (?,?,?)",
                    (collection, source, json.dumps(sorted(set(principals)))),
                )
                if owner is not None:
                    db.execute(
                        "INSERT OR IGNORE INTO owners VALUES (?,?,?)", (collection, source, owner)
                    )
            _bump(db, collection)

    def done(self, collection: str, source: str) -> None:
        """The operation :meth:`begin` recorded finished (when :meth:`put`/:meth:`delete`
        do not end it)."""
        with self._tx() as db:
            db.execute("DELETE FROM pending WHERE collection=? AND source=?", (collection, source))

    def interrupted(self, collection: str) -> list[tuple[str, str]]:
        """(source, operation) of every operation that began and never finished."""
        rows = self._query(
            "SELECT source, operation FROM pending WHERE collection=? ORDER BY source",
            (collection,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def forget(self, collection: str, source: str, keep_access: bool = True) -> None:
        """Drop a document's row and journal entry (its chunks are already gone)."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM documents WHERE collection=? AND source=?", (collection, source)
            )
            db.execute("DELETE FROM pending WHERE collection=? AND source=?", (collection, source))
            if not keep_access:
                for table in ("access", "owners"):
                    db.execute(
                        f"DELETE FROM {table} WHERE collection=? AND source=?", (collection, source)
                    )
            _bump(db, collection)

    def with_hash(
        self, collection: str, content_hash: str, readers: Collection[str] | None = None
    ) -> DocumentRecord | None:
        """A document of the collection with exactly this content that ``readers`` (None:
        anyone) may read, if any."""
        sql = "SELECT * FROM documents WHERE collection=? AND content_hash=?"
        args: list[object] = [collection, content_hash]
        if readers is not None:
            if not readers:
                return None
            sql += _READABLE.format(",".join("?" * len(readers)))
            args += sorted(readers)
        rows = self._query(sql + " ORDER BY source LIMIT 1", tuple(args))
        return DocumentRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def access_without_document(self, collection: str, prefix: str = "") -> list[str]:
        """Sources with an access list but no document (kept through a crash repair for
        the redo; dropped once the file is known to be gone)."""
        rows = self._query(
            "SELECT source FROM access a WHERE collection=? AND substr(source, 1, ?) = ? "
            "AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.collection = a.collection "
            "AND d.source = a.source) ORDER BY source",
            (collection, len(prefix), prefix),
        )
        return [str(r[0]) for r in rows]

    def without_access(self, collection: str) -> list[str]:
        """Documents ingested before access lists existed."""
        rows = self._query(
            "SELECT source FROM documents d WHERE collection=? AND NOT EXISTS "
            "(SELECT 1 FROM access a WHERE a.collection = d.collection AND a.source = d.source)",
            (collection,),
        )
        return [str(r[0]) for r in rows]

    def put(self, record: DocumentRecord) -> None:
        """Record a document's new version and end its journal entry."""
        self.put_all([record])

    def put_all(self, records: Sequence[DocumentRecord]) -> None:
        """Record several documents' new versions and end their journal entries, in one
        transaction: all of them or none."""
        with self._tx() as db:
            for record in records:
                db.execute(
                    "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                        record.chunker,
                    ),
                )
                db.execute(
                    "DELETE FROM pending WHERE collection=? AND source=?",
                    (record.collection, record.source),
                )
            for collection in {r.collection for r in records}:
                _bump(db, collection)

    def touch(self, collection: str, source: str, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content did not change."""
        with self._tx() as db:
            db.execute(
                "UPDATE documents SET mtime_ns=? WHERE collection=? AND source=?",
                (mtime_ns, collection, source),
            )

    def delete(self, collection: str, source: str) -> None:
        """Forget a removed document entirely: its row, access list and journal entry."""
        self.forget(collection, source, keep_access=False)

    def generation(self, collection: str) -> int:
        """A counter that changes whenever the collection's documents change."""
        rows = self._query("SELECT generation FROM generations WHERE collection=?", (collection,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def embedder(self, collection: str) -> str | None:
        """The embedder the collection's vectors came from (None: not recorded)."""
        rows = self._query("SELECT embedder FROM embedders WHERE collection=?", (collection,))
        return str(rows[0][0]) if rows else None

    def set_embedder(self, collection: str, embedder: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO embedders VALUES (?, ?)", (collection, embedder))

    # -- vector spaces: where the chunks' vectors are (see Indexer.match_embedder) ---------

    def space(self, collection: str) -> str:
        """The vector space the collection's chunks are in ('' until a re-embedding with
        an embedder of another dimension moved them)."""
        rows = self._query("SELECT space FROM spaces WHERE collection=?", (collection,))
        return str(rows[0][0]) if rows else ""

    def pending_space(self, collection: str) -> str | None:
        """The space a re-embedding began to fill and has not finished, if any."""
        rows = self._query("SELECT pending FROM spaces WHERE collection=?", (collection,))
        return str(rows[0][0]) if rows and rows[0][0] else None

    def begin_space(self, collection: str, space: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO spaces VALUES (?, '', ?) "
                "ON CONFLICT(collection) DO UPDATE SET pending = excluded.pending",
                (collection, space),
            )

    def switch_space(self, collection: str, space: str, embedder: str) -> None:
        """Make ``space`` the collection's, with vectors from ``embedder``, in one step."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO spaces VALUES (?, ?, NULL)", (collection, space))
            db.execute("INSERT OR REPLACE INTO embedders VALUES (?, ?)", (collection, embedder))
            _bump(db, collection)

    def collections(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT DISTINCT collection FROM documents")]


def _bump(db: sqlite3.Connection, collection: str) -> None:
    db.execute(
        "INSERT INTO generations VALUES (?, 1) "
        "ON CONFLICT(collection) DO UPDATE SET generation = generation + 1",
        (collection,),
    )
