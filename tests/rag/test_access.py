"""Accounts, access lists, the audit log and the write lock, without models."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.index.manifest import DocumentRecord, Manifest
from rag.retrieval.keyword import KeywordIndex
from rag.trust.accounts import AuthError, User, Users, View, parse_principal, parse_principals
from rag.trust.audit import AuditLog
from rag.trust.locking import IndexBusy, WriteLock


@pytest.mark.parametrize(
    ("text", "expected"),
    [("group:finance", "group:finance"), (" user:ana ", "user:ana"), ("everyone", "everyone")],
)
def test_principals_parse(text: str, expected: str) -> None:
    assert parse_principal(text) == expected


@pytest.mark.parametrize("text", ["finance", "group:", "role:x", "user:a b", "group:../x", ""])
def test_bad_principals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_principal(text)


def test_access_lists_are_canonical() -> None:
    assert parse_principals(["user:b", "group:a", "user:b"]) == ("group:a", "user:b")


def test_user_principals_and_views() -> None:
    ana = User("ana", ("finance", "legal"))
    assert ana.principals == {"everyone", "user:ana", "group:finance", "group:legal"}
    view = View("ana", ana.principals)
    assert view.may_read(["group:legal"]) and view.may_read(["everyone"])
    assert not view.may_read(["group:hr", "user:bob"])
    assert View(None, None).may_read(["group:hr"])


def test_accounts(tmp_path: Path) -> None:
    users = Users(tmp_path / "users.sqlite3")
    assert not users.active()
    users.add("ana", "correct horse", ["finance"])
    assert users.active() and not users.has_admin()
    users.add("root", "battery staple", [], admin=True)
    assert users.has_admin()
    assert users.authenticate("ana", "correct horse") == User("ana", ("finance",))
    for name, password in [("ana", "wrong password"), ("nobody", "correct horse")]:
        with pytest.raises(AuthError, match="unknown user or wrong password"):
            users.authenticate(name, password)
    with pytest.raises(ValueError, match="already exists"):
        users.add("ana", "another one", [])
    with pytest.raises(ValueError, match="at least 8"):
        users.add("carl", "short", [])
    assert users.set_groups("ana", ["hr", "finance"]).groups == ("finance", "hr")
    users.set_password("ana", "new password")
    assert users.authenticate("ana", "new password").name == "ana"
    assert users.remove("ana") and users.get("ana") is None
    # Only a salted Argon2id hash is stored.
    stored = sqlite3.connect(tmp_path / "users.sqlite3").execute(
        "SELECT password_hash FROM users WHERE name='root'"
    )
    digest = stored.fetchone()[0]
    assert digest.startswith("$argon2id$") and "battery" not in digest


def test_keyword_search_filters_by_access_inside_the_ranking() -> None:
    index = KeywordIndex.build(
        [
            ("s1", "secret.txt", "merger price falcon falcon", ["group:finance"]),
            ("p1", "public.txt", "merger rumours in the press", ["everyone"]),
            ("p2", "public2.txt", "the canteen menu", ["everyone"]),
        ],
        1,
    )
    assert [h.id for h in index.search("falcon merger", 5)] == ["s1", "p1"]
    outsider = frozenset({"everyone", "user:bob"})
    assert [h.id for h in index.search("falcon merger", 5, readers=outsider)] == ["p1"]
    assert index.search("falcon", 5, readers=outsider) == []
    assert index.search("falcon", 5, readers=frozenset()) == []
    insider = frozenset({"everyone", "group:finance"})
    assert [h.id for h in index.search("falcon", 5, readers=insider)] == ["s1"]


def test_keyword_index_keeps_access_lists(tmp_path: Path) -> None:
    index = KeywordIndex.build([("a", "a.txt", "alpha beta", ["group:x"])], 3)
    index.save(tmp_path)
    loaded = KeywordIndex.load(tmp_path)
    assert loaded is not None and loaded.access == [("group:x",)]
    assert loaded.search("alpha", 5, readers={"group:y"}) == []


def test_saved_generation_is_read_without_loading_the_index(tmp_path: Path) -> None:
    """An unchanged re-ingest decides whether the keyword index is stale from this alone."""
    assert KeywordIndex.saved_generation(tmp_path) is None
    KeywordIndex.build([("a", "a.txt", "alpha", ["everyone"])], 12).save(tmp_path)
    assert KeywordIndex.saved_generation(tmp_path) == 12
    KeywordIndex.build([("a", "a.txt", "alpha beta", ["everyone"])], 13).save(tmp_path)
    assert KeywordIndex.saved_generation(tmp_path) == 13


def _doc(source: str, digest: str = "h") -> DocumentRecord:
    return DocumentRecord("c", source, digest, 1, 1, 1, None, "text", "2026-01-01")


def test_manifest_lists_only_readable_documents(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "m.sqlite3")
    for source, access in [("/a", ["group:f"]), ("/b", ["everyone"]), ("/c", ["user:ana"])]:
        m.set_access("c", source, access)
        m.put(_doc(source, source))
    assert [d.source for d in m.documents("c")] == ["/a", "/b", "/c"]
    assert [d.source for d in m.documents("c", readers={"everyone", "user:bob"})] == ["/b"]
    assert [d.source for d in m.documents("c", readers={"user:ana", "group:f"})] == ["/a", "/c"]
    assert m.documents("c", readers=set()) == []
    assert m.with_hash("c", "/a", {"everyone"}) is None
    assert m.with_hash("c", "/a", {"group:f"}) is not None


def test_manifest_journal(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "m.sqlite3")
    m.set_access("c", "/a", ["group:f"])
    m.begin("c", "/a", "write")
    assert m.interrupted("c") == [("/a", "write")]
    m.put(_doc("/a"))  # the write's end clears its entry in the same transaction
    assert m.interrupted("c") == []
    m.begin("c", "/a", "write")
    m.forget("c", "/a")  # a repair keeps the access list...
    assert m.get("c", "/a") is None and m.access("c", "/a") == ("group:f",)
    m.delete("c", "/a")  # ...a removal does not
    assert m.access("c", "/a") is None


def test_audit_log_is_append_only_and_chained(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite3", tmp_path / "keys" / "audit.key")
    log.record("ana", "ask", question="q1", retrieved=[{"id": "x", "source": "/a"}], refused=False)
    asked = log.record("bob", "ask", question="q2", retrieved=[])
    log.record("bob", "answer", ask=asked, cited=[], refused=True)
    log.record(None, "ingest", added=["/a"])
    assert [e.user for e in log.entries()] == ["ana", "bob", "bob", None]
    assert [e.detail["question"] for e in log.entries(user="bob", action="ask")] == ["q2"]
    assert list(log.entries(since="2999-01-01")) == []
    assert "refused" in next(iter(log.entries(action="answer"))).line()
    assert log.verify() is None
    db = sqlite3.connect(tmp_path / "audit.sqlite3")
    for statement in ("UPDATE events SET user='eve'", "DELETE FROM events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    # Someone who drops the guard and edits an entry is still caught by the hash chain.
    db.execute("DROP TRIGGER events_no_update")
    db.execute("UPDATE events SET detail='{}' WHERE id=2")
    db.commit()
    assert log.verify() == "entry 2 was altered"


def _rechain_without_key(db_path: Path) -> None:
    """What someone with the data directory but not the key can do: delete entry 2 and
    rebuild every later hash, ids renumbered, with the plain SHA-256 of old logs."""
    from rag.trust.audit import _chain

    db = sqlite3.connect(db_path)
    db.execute("DROP TRIGGER events_no_delete")
    db.execute("DROP TRIGGER events_no_update")
    rows = db.execute("SELECT id, at, user, action, detail FROM events ORDER BY id").fetchall()
    db.execute("DELETE FROM events")
    prev = ""
    kept = [r for r in rows if r[0] != 2]
    for new_id, (_, at, user, action, body) in enumerate(kept, start=1):
        digest = _chain(prev, at, user, action, body)
        db.execute(
            "INSERT INTO events (id, at, user, action, detail, prev, hash, keyed) "
            "VALUES (?,?,?,?,?,?,?,0)",
            (new_id, at, user, action, body, prev, digest),
        )
        prev = digest
    db.commit()


def test_the_chain_cannot_be_rebuilt_without_the_key(tmp_path: Path) -> None:
    path, key = tmp_path / "data" / "audit.sqlite3", tmp_path / "keys" / "audit.key"
    log = AuditLog(path, key)
    for n in range(4):
        log.record("ana", "ask", question=f"q{n}", retrieved=[])
    assert log.verify() is None and key.stat().st_mode & 0o077 == 0
    _rechain_without_key(path)
    assert AuditLog(path, key).verify() is not None  # a fresh reader sees it too


def test_a_truncated_log_is_found_by_its_head(tmp_path: Path) -> None:
    path, key = tmp_path / "data" / "audit.sqlite3", tmp_path / "keys" / "audit.key"
    log = AuditLog(path, key)
    for n in range(3):
        log.record("ana", "ask", question=f"q{n}", retrieved=[])
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER events_no_delete")
    db.execute("DELETE FROM events WHERE id = 3")  # the last entry: no gap, chain intact
    db.commit()
    assert AuditLog(path, key).verify() == "entries after 2 were removed (the head records 3)"


_HOLD = """
import sys, time
from pathlib import Path
from rag.trust.locking import WriteLock
lock = WriteLock(Path(sys.argv[1]), 0)
lock.acquire()
print("held", flush=True)
time.sleep(30)
"""


def test_write_lock_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "write.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(IndexBusy, match=f"pid {holder.pid}"):
            WriteLock(path, 0.5).acquire()
        assert 0.4 < time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    with WriteLock(path, 5):  # the kernel dropped the killed holder's lock
        pass


def test_write_lock_between_threads(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "write.lock", 0.2)
    order: list[str] = []
    with lock, lock:  # re-entrant for its holder
        worker = threading.Thread(target=lambda: order.append(str(lock.try_acquire())))
        worker.start()
        worker.join()
    assert order == ["False"]
    assert lock.try_acquire()
    lock.release()


def test_refusal_signal_ignores_documents_the_reader_cannot_see() -> None:
    """The relevance gate's IDF weights, with readers, equal those of an index holding
    only what they may read: a secret's words cannot tip a refusal either way."""
    public = [("p1", "b", "merger news today", ["everyone"]), ("p2", "c", "lunch", ["everyone"])]
    secret = [("s1", "a", "kestrel merger price", ["group:f"])]
    full = KeywordIndex.build(secret + public, 1)
    alone = KeywordIndex.build(public, 1)
    texts = ["merger news"]
    assert full.coverage("kestrel merger", texts) != alone.coverage("kestrel merger", texts)
    assert full.coverage("kestrel merger", texts, {"everyone"}) == pytest.approx(
        alone.coverage("kestrel merger", texts)
    )


def test_near_miss_signal_ignores_documents_the_reader_cannot_see() -> None:
    """A name only a secret mentions is as unknown to other readers as one nobody does:
    whether a question is marked a near miss tells them nothing about the secret."""
    public = [("p1", "b", "our offices are in Leeds", ["everyone"])]
    secret = [("s1", "a", "the Kestrel acquisition closes in May", ["group:f"])]
    full = KeywordIndex.build(secret + public, 1)
    assert full.unseen(["Kestrel", "Leeds", "Quokka"]) == ["Quokka"]
    assert full.unseen(["Kestrel", "Leeds", "Quokka"], {"everyone"}) == ["Kestrel", "Quokka"]
    assert full.unseen(["Kestrel"], {"group:f"}) == []
