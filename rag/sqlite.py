"""The small SQLite databases rag keeps in the data directory (accounts, audit log)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rag.privacy import private_dir

__all__ = ["connect"]


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
