"""The small SQLite databases rag keeps in the data directory (accounts, audit log)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from rag.privacy import private_dir

__all__ = ["Database", "connect"]


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """A connection shared between threads, in autocommit mode with WAL and a 30 s busy
    wait (so several processes can use the file), foreign keys on, ``schema`` applied."""
    private_dir(path.parent)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=30000")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    return db


class Database:
    """One of those databases, opened on first use: ``path``, a lock for its callers'
    read-modify-write steps, and :meth:`_conn`. Subclasses set :attr:`SCHEMA` and may
    bring an older file up to date in :meth:`_upgrade`."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = connect(self.path, self.SCHEMA)
            self._upgrade(db)
            self._db = db
        return self._db

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """Bring a file an older rag wrote up to :attr:`SCHEMA` (nothing to do here)."""
