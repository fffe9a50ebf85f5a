"""Who may read what: local user accounts, groups, and documents' access lists.

A document's access list is a set of *principals*: ``everyone`` (every signed-in
user), ``group:NAME`` or ``user:NAME``. A user may read a document when the
user's principals (``everyone``, ``user:<name>`` and ``group:<g>`` for each of
the user's groups) meet its access list. Admins read every document and manage
accounts and access.

Access control is on as soon as one account exists (:meth:`Users.active`);
until then rag is a single-user tool and every document is readable. Retrieval
applies the filter *inside* each search (Chroma ``where``, the BM25 weight mask,
SQL for document lists), never by dropping results afterwards: dropping leaks
through result counts and rank gaps.

Accounts live in ``users.sqlite3`` in the data directory; passwords are hashed
with Argon2id (argon2-cffi's defaults: 64 MiB, 3 passes).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from rag.errors import AccessDenied, AuthError, InvalidInput, SignInThrottled
from rag.sqlite import Database

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "EVERYONE",
    "AccessDenied",
    "ApiKey",
    "AuthError",
    "User",
    "Users",
    "View",
    "parse_principal",
    "parse_principals",
]

EVERYONE = "everyone"

#: Sign-ins that may fail in a row before each further one waits (see Users.authenticate).
FREE_FAILURES = 5
#: The longest wait between attempts once sign-ins keep failing.
MAX_WAIT_S = 300.0
#: Argon2 checks running at once in this process (each takes 64 MiB).
_CHECKS = threading.BoundedSemaphore(2)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS failures (
    key      TEXT PRIMARY KEY,    -- user:NAME or client:ADDRESS
    failures INTEGER NOT NULL,    -- sign-ins failed in a row
    last     REAL NOT NULL        -- when the last one failed (Unix time)
);
CREATE TABLE IF NOT EXISTS memberships (
    user  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    grp   TEXT NOT NULL,
    PRIMARY KEY (user, grp)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id         TEXT PRIMARY KEY,  -- the key's public part (rag_ID_SECRET)
    user       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    sha256     TEXT NOT NULL,     -- of the whole key: the key itself is never stored
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def parse_principal(text: str) -> str:
    """``everyone``, ``group:NAME`` or ``user:NAME``, checked; InvalidInput otherwise."""
    text = text.strip()
    if text == EVERYONE:
        return text
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("group", "user"):
        raise InvalidInput(f"invalid access entry {text!r}: use group:NAME, user:NAME or everyone")
    return f"{kind}:{_check_name(kind, name)}"


def parse_principals(texts: Iterable[str]) -> tuple[str, ...]:
    """Checked, de-duplicated and sorted principals (an access list's canonical form)."""
    return tuple(sorted({parse_principal(t) for t in texts}))


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in user."""

    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False

    @property
    def principals(self) -> frozenset[str]:
        return frozenset({EVERYONE, f"user:{self.name}", *(f"group:{g}" for g in self.groups)})


@dataclass(frozen=True, slots=True)
class View:
    """What one caller may do: ``principals`` None means every document (an admin, or an
    index without accounts)."""

    user: str | None
    principals: frozenset[str] | None

    @property
    def unrestricted(self) -> bool:
        return self.principals is None

    def may_read(self, access: Sequence[str]) -> bool:
        return self.principals is None or not self.principals.isdisjoint(access)

    def may_change(self, owner: str | None) -> bool:
        """Whether this caller may update, re-permission or remove a document ``owner``
        added: admins (and everyone, without accounts) may; otherwise only its owner.
        Documents from before owners were recorded have none: admins only."""
        return self.principals is None or (owner is not None and owner == self.user)


#: No accounts exist (or an admin): every document is readable.
ALL = View(None, None)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listed: who it acts as, never the key itself (shown once, at creation)."""

    id: str
    user: str
    label: str
    created_at: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "user": self.user,
            "label": self.label,
            "created_at": self.created_at,
        }


class Users(Database):
    """The account database. Safe to share between threads."""

    SCHEMA = _SCHEMA

    def active(self) -> bool:
        """True once any account exists: from then on, reading needs a signed-in user."""
        if self._db is None and not self.path.exists():
            return False
        with self._lock:
            return bool(self._conn().execute("SELECT 1 FROM users LIMIT 1").fetchone())

    def has_admin(self) -> bool:
        if self._db is None and not self.path.exists():
            return False
        with self._lock:
            return bool(self._conn().execute("SELECT 1 FROM users WHERE admin=1").fetchone())

    def add(
        self, name: str, password: str, groups: Iterable[str] = (), admin: bool = False
    ) -> User:
        _check_name("user", name)
        groups = sorted({_check_name("group", g) for g in groups})
        if len(password) < 8:
            raise InvalidInput("a password needs at least 8 characters")
        digest = _hasher().hash(password)
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO users (name, password_hash, admin) VALUES (?, ?, ?)",
                    (name, digest, int(admin)),
                )
                db.executemany("INSERT INTO memberships VALUES (?, ?)", [(name, g) for g in groups])
                db.execute("COMMIT")
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK")
                raise InvalidInput(f"user {name!r} already exists") from None
        return User(name, tuple(groups), admin)

    def get(self, name: str) -> User | None:
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT admin FROM users WHERE name=?", (name,)).fetchone()
            if row is None:
                return None
            groups = db.execute(
                "SELECT grp FROM memberships WHERE user=? ORDER BY grp", (name,)
            ).fetchall()
        return User(name, tuple(g for (g,) in groups), bool(row[0]))

    def all(self) -> list[User]:
        with self._lock:
            names = [n for (n,) in self._conn().execute("SELECT name FROM users ORDER BY name")]
        return [u for n in names if (u := self.get(n)) is not None]

    def groups(self) -> list[str]:
        with self._lock:
            rows = self._conn().execute("SELECT DISTINCT grp FROM memberships ORDER BY grp")
            return [g for (g,) in rows]

    def authenticate(self, name: str, password: str, client: str | None = None) -> User:
        """The user, if the password is right; AuthError (the same one) otherwise.

        After :data:`FREE_FAILURES` failures in a row for this name (whether or not it
        exists) or from this ``client`` (a network address), each further attempt must
        wait 1, 2, 4... seconds (at most :data:`MAX_WAIT_S`) after the last failure, or
        is refused unchecked with :class:`SignInThrottled`. The counts live in the
        database, so every process sees them. A success clears them.
        """
        keys = [f"user:{name}"] + ([f"client:{client}"] if client else [])
        wait = self._wait(keys)
        if wait > 0:
            raise SignInThrottled(math.ceil(wait))
        try:
            with _CHECKS:  # 64 MiB an Argon2 check: a flood must not become a memory flood
                user = self._check(name, password)
        except AuthError:
            self._failed(keys)
            raise
        self._cleared(keys)
        return user

    def _wait(self, keys: list[str]) -> float:
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = (
                self._conn()
                .execute(f"SELECT failures, last FROM failures WHERE key IN ({marks})", keys)
                .fetchall()
            )
        now = time.time()
        return max(
            (
                last + min(2.0 ** (n - FREE_FAILURES), MAX_WAIT_S) - now
                for n, last in rows
                if n >= FREE_FAILURES
            ),
            default=0.0,
        )

    def _failed(self, keys: list[str]) -> None:
        now = time.time()
        with self._lock:
            db = self._conn()
            db.execute("DELETE FROM failures WHERE last < ?", (now - 2 * MAX_WAIT_S,))
            db.executemany(
                "INSERT INTO failures VALUES (?, 1, ?) ON CONFLICT(key) "
                "DO UPDATE SET failures = failures + 1, last = excluded.last",
                [(key, now) for key in keys],
            )

    def _cleared(self, keys: list[str]) -> None:
        with self._lock:
            self._conn().executemany("DELETE FROM failures WHERE key = ?", [(k,) for k in keys])

    def _check(self, name: str, password: str) -> User:
        from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

        with self._lock:
            row = (
                self._conn()
                .execute("SELECT password_hash FROM users WHERE name=?", (name,))
                .fetchone()
            )
        hasher = _hasher()
        if row is None:
            # Spend the same time as a real check, so timing does not say who exists.
            with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
                hasher.verify(_dummy_hash(), password)
            raise AuthError("unknown user or wrong password")
        try:
            hasher.verify(row[0], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise AuthError("unknown user or wrong password") from None
        if hasher.check_needs_rehash(row[0]):
            self._set_hash(name, hasher.hash(password))
        user = self.get(name)
        if user is None:  # removed meanwhile
            raise AuthError("unknown user or wrong password")
        return user

    def authenticate_key(self, key: str, client: str | None = None) -> User:
        """The user an API key acts as; AuthError (the same one) for a wrong, revoked or
        malformed key, or one whose user is gone. Failures are counted like sign-ins (by
        key id and by ``client``) and slow further attempts down the same way."""
        key_id = _key_id(key)
        keys = ([f"key:{key_id}"] if key_id else []) + ([f"client:{client}"] if client else [])
        wait = self._wait(keys) if keys else 0.0
        if wait > 0:
            raise SignInThrottled(math.ceil(wait))
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT user, sha256 FROM api_keys WHERE id=?", (key_id or "",))
                .fetchone()
            )
        digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
        # Compared in constant time; an unknown id is compared too, so timing says nothing.
        stored = row[1] if row else hashlib.sha256(b"no such key").hexdigest()
        user = self.get(row[0]) if row and hmac.compare_digest(digest, stored) else None
        if user is None:
            if keys:
                self._failed(keys)
            raise AuthError("invalid API key")
        self._cleared(keys)
        return user

    def add_key(self, name: str, label: str = "") -> tuple[str, ApiKey]:
        """A new key for user ``name``: (the key, to show once; its listing)."""
        if self.get(name) is None:
            raise InvalidInput(f"no user {name!r}")
        if len(label) > 100 or not label.isprintable():
            raise InvalidInput("a key's label is at most 100 printable characters")
        key_id = secrets.token_hex(6)
        key = f"rag_{key_id}_{secrets.token_urlsafe(32)}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            self._conn().execute(
                "INSERT INTO api_keys (id, user, label, sha256) VALUES (?, ?, ?, ?)",
                (key_id, name, label, digest),
            )
        listed = [k for k in self.keys() if k.id == key_id]
        return key, listed[0]

    def keys(self) -> list[ApiKey]:
        with self._lock:
            rows = self._conn().execute(
                "SELECT id, user, label, created_at FROM api_keys ORDER BY user, created_at, id"
            )
            return [ApiKey(*row) for row in rows]

    def remove_key(self, key_id: str) -> bool:
        """Revoke a key (by its id, or the whole key); whether one was revoked."""
        key_id = _key_id(key_id) or key_id
        with self._lock:
            cur = self._conn().execute("DELETE FROM api_keys WHERE id=?", (key_id,))
            return cur.rowcount > 0

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise InvalidInput("a password needs at least 8 characters")
        if self.get(name) is None:
            raise InvalidInput(f"no user {name!r}")
        self._set_hash(name, _hasher().hash(password))

    def _set_hash(self, name: str, digest: str) -> None:
        with self._lock:
            self._conn().execute("UPDATE users SET password_hash=? WHERE name=?", (digest, name))

    def set_groups(self, name: str, groups: Iterable[str]) -> User:
        groups = sorted({_check_name("group", g) for g in groups})
        if self.get(name) is None:
            raise InvalidInput(f"no user {name!r}")
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM memberships WHERE user=?", (name,))
            db.executemany("INSERT INTO memberships VALUES (?, ?)", [(name, g) for g in groups])
            db.execute("COMMIT")
        user = self.get(name)
        assert user is not None
        return user

    def set_admin(self, name: str, admin: bool) -> None:
        if self.get(name) is None:
            raise InvalidInput(f"no user {name!r}")
        with self._lock:
            self._conn().execute("UPDATE users SET admin=? WHERE name=?", (int(admin), name))

    def remove(self, name: str) -> bool:
        with self._lock:
            cur = self._conn().execute("DELETE FROM users WHERE name=?", (name,))
            return cur.rowcount > 0


def _key_id(key: str) -> str | None:
    """The public id of a key ``rag_ID_SECRET`` (None if it does not look like one)."""
    prefix, _, rest = key.partition("_")
    key_id, sep, _secret = rest.partition("_")
    if prefix != "rag" or not sep or not re.fullmatch(r"[0-9a-f]{12}", key_id):
        return None
    return key_id


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return str(_hasher().hash("not anyone's password"))
