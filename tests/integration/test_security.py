"""The holes a security review found, each closed at its root and tested here against
the real pieces (files, the embedder, Chroma, SQLite, the CLI, the UI's server).

The attackers: another local account on the same host, a user with an account, someone
who can write into a folder an admin ingests, a hostile web page a user visits."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Assistant, Settings

pytestmark = pytest.mark.slow


@pytest.fixture()
def fresh(tmp_path: Path, assistant: Assistant) -> Assistant:
    """An empty index with the session's models (loaded once)."""
    return Assistant(
        Settings(data_dir=tmp_path / "data"),
        embedder=assistant.embedder,
        generator=assistant.generator,
    )


# -- 1. a folder's links do not lead out of it ----------------------------------------


def test_folder_ingest_does_not_follow_links_out_of_the_folder(
    fresh: Assistant, tmp_path: Path
) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "shadow").write_text("root:$6$QUAGGAHASH:19000:0:99999:7:::\n" * 3)
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "real.txt").write_text("The canteen opens at noon and closes at three.")
    (folder / "notes.txt").symlink_to(outside / "shadow")
    (folder / "alias.txt").symlink_to(folder / "real.txt")  # inside the folder: fine

    report = fresh.ingest([folder])
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {"notes.txt"}
    assert str(outside / "shadow") in skipped["notes.txt"]
    assert "--follow-symlinks" in skipped["notes.txt"]
    assert sorted(Path(p).name for p in report.added) == ["alias.txt", "real.txt"]
    for mode in ("keyword", "dense", "hybrid"):
        texts = " ".join(p.text for p in fresh.search("QUAGGAHASH root", mode=mode))
        assert "QUAGGAHASH" not in texts

    # An admin who means it says so; a file later swapped for such a link goes again.
    assert fresh.ingest([folder], follow_symlinks=True).added == [str(folder / "notes.txt")]
    (folder / "real.txt").unlink()
    (folder / "real.txt").symlink_to(outside / "shadow")
    again = fresh.ingest([folder])
    assert str(folder / "real.txt") in again.removed
    assert str(folder / "notes.txt") in again.removed


def test_a_file_swapped_for_a_link_just_after_the_check_is_not_read(
    fresh: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone who may write into a shared folder swaps a file for a link to a secret of
    the service's account between rag's look at the file and its parse (a race an
    inotify loop wins often enough). What is parsed is the file rag opened and checked
    once open, so the secret is never read, however the race falls."""
    from rag.index import indexer

    outside = tmp_path / "home" / ".ssh"
    outside.mkdir(parents=True)
    (outside / "id_rsa").write_text("BEGIN KESTRELKEY the private key of the service account\n")
    folder = tmp_path / "shared"
    folder.mkdir()
    notes = folder / "notes.txt"
    notes.write_text("Team notes: the offsite is in Lisbon on 3 June.")
    checked = indexer.leads_outside

    def then_swapped(path: Path, root: Path) -> str | None:
        found = checked(path, root)
        if path == notes:  # the attacker wins: right after the check, before the parse
            notes.unlink()
            notes.symlink_to(outside / "id_rsa")
        return found

    monkeypatch.setattr(indexer, "leads_outside", then_swapped)
    report = fresh.ingest([folder])
    assert not report.added and [s.path for s in report.skipped] == [str(notes)]
    assert str(outside / "id_rsa") in report.skipped[0].reason
    for mode in ("keyword", "dense"):
        texts = " ".join(p.text for p in fresh.search("KESTRELKEY private key", mode=mode))
        assert "KESTRELKEY" not in texts


# -- 2. readers read; only a document's owner or an admin changes it ------------------


@pytest.fixture()
def shared(fresh: Assistant, tmp_path: Path):  # type: ignore[no-untyped-def]
    """root's finance report, readable by group finance; ana is in finance, bob is not."""
    fresh.add_user("root", "root password", admin=True)
    root = fresh.authenticate("root", "root password")
    fresh.add_user("ana", "ana password", ["finance"], user=root)
    fresh.add_user("bob", "bob password", [], user=root)
    folder = tmp_path / "finance"
    folder.mkdir()
    report = folder / "q3.txt"
    report.write_text("The Q3 finance report: revenue grew by 12 percent to 4.1 million.")
    assert fresh.ingest([folder], user=root, access=["group:finance"]).added
    ana = fresh.authenticate("ana", "ana password")
    bob = fresh.authenticate("bob", "bob password")
    return fresh, folder, report, root, ana, bob


def test_a_reader_cannot_change_who_may_read_nor_remove(shared) -> None:  # type: ignore[no-untyped-def]
    from rag import AccessDenied

    a, folder, report, _root, ana, bob = shared
    for allow in (["everyone"], ["user:ana"], None):  # the server's files are admins' to read
        with pytest.raises(AccessDenied, match="only an admin may ingest files of the server"):
            a.ingest([report], user=ana, access=allow)
    assert a.access(report) == ("group:finance",)
    with pytest.raises(AccessDenied):
        a.set_access(report, ["everyone"], user=ana)
    with pytest.raises(AccessDenied):
        a.remove(report, user=ana)
    with pytest.raises(AccessDenied):
        a.remove(folder, user=ana)
    report.write_text("The Q3 finance report: revenue fell by 40 percent.")  # a changed file
    with pytest.raises(AccessDenied):
        a.ingest([report], user=ana)
    assert "12 percent" in a.search("Q3 revenue", user=ana)[0].text, "the old version stays"
    assert not a.documents(user=bob), "bob still reads nothing"


def test_only_admins_have_the_server_read_its_files(shared, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Anyone signed in ingests what they upload; a path on the server (a file, a folder,
    the uploads folder itself, a link out of an upload) only an admin: the library says
    so, whatever front end calls it, and the refusal is audited."""
    from rag import AccessDenied

    a, _folder, _report, root, ana, _bob = shared
    secret = tmp_path / "srv" / "service.env"
    secret.parent.mkdir()
    secret.write_text("DATABASE_PASSWORD=kestrel-7 for the billing service")
    [upload] = a.save_uploads([("plan.txt", b"The offsite is in Lisbon on 3 June.")], user=ana)
    assert upload.path is not None
    link = upload.path.parent / "service.txt"
    link.symlink_to(secret)
    uploads = a.uploads_dir()
    for paths in ([secret], [secret.parent], [uploads], [upload.path.parent], [link]):
        with pytest.raises(AccessDenied, match="only an admin may ingest files of the server"):
            a.ingest(paths, user=ana, access=["user:ana"])
        with pytest.raises(AccessDenied):
            a.start_ingest(paths, user=ana)
    assert all("kestrel-7" not in p.text for p in a.search("DATABASE_PASSWORD", user=root))
    assert str(secret) not in {d.source for d in a.documents(user=root)}
    assert a.ingest([upload.path], user=ana, access=["user:ana"]).added == [str(upload.path)]
    denied = a.audit_entries("ana", action="denied", user=root)
    assert [e.detail["action"] for e in denied] == ["ingest"] * 10  # 5 paths, 2 ways each


def test_an_owner_manages_their_own_document(shared, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, _folder, _report, root, ana, bob = shared
    [upload] = a.save_uploads([("notes.txt", b"Ana's notes: the offsite is in Lisbon.")], user=ana)
    assert upload.path is not None
    mine = upload.path
    assert a.ingest([mine], user=ana, access=["user:ana"]).added
    assert a.set_access(mine, ["user:ana", "user:bob"], user=ana) == ("user:ana", "user:bob")
    assert [d.source for d in a.documents(user=bob)] == [str(mine)]
    assert a.ingest([mine], user=bob, access=["everyone"]).failed  # bob reads, not owns
    assert a.remove(mine, user=ana) == [str(mine)]
    assert a.set_access(_report, ["group:finance", "user:bob"], user=root)  # admins may


# -- 3. other local accounts cannot read the index --------------------------------------


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``rag ARGS`` as a user with the usual umask (022) would run it."""
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )


def test_the_data_directory_is_private_from_the_first_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RAG_DATA_DIR": str(data), "RAG_NEW_PASSWORD": "root password"}
    doc = tmp_path / "memo.txt"
    doc.write_text("The board approved the merger with Harrow Ltd at 41 pounds a share.")
    assert _cli(env, "users", "add", "root", "--admin").returncode == 0
    env |= {"RAG_USER": "root", "RAG_PASSWORD": "root password"}
    assert _cli(env, "ingest", str(doc)).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    entries = list(data.rglob("*"))
    assert len(entries) > 10  # chroma, manifest, accounts, audit log, keyword index
    assert [p for p in entries if p.lstat().st_mode & 0o077] == []
    check = _cli(env, "check")
    assert check.returncode == 0, check.stdout + check.stderr

    data.chmod(0o755)  # loosened by hand: rag check says so
    check = _cli(env, "check")
    assert check.returncode == 1 and "open to other accounts (mode 755)" in check.stdout


def test_the_library_keeps_the_data_directory_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    code = (
        "import os, sys; os.umask(0o022)\n"
        "from rag import Assistant, Settings\n"
        "Assistant(Settings(data_dir=sys.argv[1])).add_user('root', 'root password', admin=True)\n"
    )
    data = tmp_path / "lib" / "data"
    subprocess.run([sys.executable, "-c", code, str(data)], check=True, timeout=120)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


# -- 5. keyword scores say nothing about documents the reader cannot read ------------


def test_keyword_scores_are_no_oracle_for_words_in_unreadable_documents(
    shared, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """bob plants a probe holding a word and searches for it. BM25 counted its statistics
    (how many chunks hold the word, their mean length) over every chunk, so the scores
    and ranks bob saw moved when a document he cannot read held the word: a yes/no
    answer to "does any secret document say 'kestrel'?". They must not move at all."""
    a, _folder, _report, root, _ana, bob = shared
    planted = a.save_uploads(
        [
            ("probe.txt", b"Kestrel kestrel: the hotel budget, the travel budget."),
            ("travel.txt", b"Travel policy: book the hotel through the travel desk."),
        ],
        user=bob,
    )
    assert a.ingest([u.path for u in planted if u.path], user=bob, access=["user:bob"]).added
    canteen = tmp_path / "canteen.txt"
    canteen.write_text("The canteen lunch budget is set by the office.")
    assert a.ingest([canteen], user=root, access=["everyone"]).added
    queries = ["kestrel", "kestrel hotel budget", "What is the travel budget for kestrel?"]

    def seen(user) -> list[list[tuple[str, float]]]:  # type: ignore[no-untyped-def]
        return [
            [(p.record.id, p.score) for p in a.search(q, k=10, mode="keyword", user=user)]
            for q in queries
        ]

    before, before_root = seen(bob), seen(root)
    assert all(len(hits) >= 2 for hits in before[1:]), before
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "merger.txt").write_text(
        "Project Kestrel: the merger budget is 4.1 million and the kestrel deal closes in June."
    )
    assert a.ingest([secrets], user=root, access=["group:finance"]).added
    assert seen(bob) == before, "bob's scores or ranks moved with a document he cannot read"
    # The secret is in the index: an admin's statistics count it and their scores move.
    assert seen(root) != before_root


# -- 6 and 9. a web page cannot drive the UI; the UI is not opened to a network by mistake


def _handshake(url: str, host: str, origin: str | None) -> int:
    """The status a WebSocket handshake to the UI gets (101: accepted)."""
    import base64
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    headers = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    if origin is not None:
        headers["Origin"] = origin
    conn.request("GET", "/_stcore/stream", headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_web_page_cannot_drive_the_ui(tmp_path: Path) -> None:
    from tests.integration.ui_server import running_ui

    with running_ui(tmp_path) as (url, egress_log):
        me = url.split("//")[1]
        assert _handshake(url, me, url) == 101  # the UI's own page
        # DNS rebinding: the attacker's name, resolved to 127.0.0.1.
        assert _handshake(url, "attacker.example:80", "http://attacker.example") == 403
        # A page on another site opening a WebSocket to the UI (no XSRF token needed).
        assert _handshake(url, me, "http://attacker.example") == 403
    # Refusing it asked no outside host for this machine's address.
    assert not egress_log.exists() or not egress_log.read_text().strip()


def test_no_network_address_without_accounts(tmp_path: Path) -> None:
    from tests.integration.ui_server import running_ui

    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_NEW_PASSWORD": "root password"}
    out = _cli(env, "ui", "--host", "0.0.0.0")
    assert out.returncode == 2
    assert "no user accounts" in out.stderr and "--allow-anyone" in out.stderr
    # With an account it starts, and its banner asks no outside host for our address.
    assert _cli(env, "users", "add", "root", "--admin").returncode == 0
    with running_ui(tmp_path, "--host", "0.0.0.0") as (url, egress_log):
        assert _handshake(url, url.split("//")[1], url) == 101
    assert not egress_log.exists() or not egress_log.read_text().strip()


# -- 7. the audit log: keyed, complete, and written when things happen ----------------


def test_refusals_listings_uploads_and_abandoned_questions_are_audited(shared) -> None:  # type: ignore[no-untyped-def]
    from rag import AccessDenied

    a, _folder, report, root, ana, bob = shared
    with pytest.raises(AccessDenied):
        a.users(user=ana)
    with pytest.raises(AccessDenied):
        a.remove(report, user=ana)
    a.documents(user=bob)
    a.save_uploads([("copy.txt", report.read_bytes()), ("new.txt", b"A new note.")], user=ana)
    stream = a.ask_stream("How did revenue grow in Q3?", user=ana, answer_mode="extractive")
    next(iter(stream))  # retrieval done, then the reader walks away

    denied = [e.detail for e in a.audit_entries(action="denied", user=root)]
    assert {"action": "users.list", "reason": "only an admin may do this"} in denied
    assert any(d["action"] == "remove" and "owner" in d["reason"] for d in denied)
    listed = a.audit_entries("bob", action="list", user=root)
    assert listed and listed[-1].detail["documents"] == 0
    [upload] = a.audit_entries("ana", action="upload", user=root)
    assert list(upload.detail["duplicates"]) == ["copy.txt"] and len(upload.detail["stored"]) == 1
    [asked] = a.audit_entries("ana", action="ask", user=root)
    assert asked.detail["question"] == "How did revenue grow in Q3?" and asked.detail["retrieved"]
    assert a.verify_audit(user=root) is None


# -- 8. uploads: nothing about others' files shows through, nothing is left behind ----


def test_an_upload_reveals_nothing_about_other_uploads_and_removal_deletes_it(shared) -> None:  # type: ignore[no-untyped-def]
    a, _folder, _report, root, ana, bob = shared
    secret = b"Salaries 2026: the CEO is paid 410,000 pounds."
    [stored] = a.save_uploads([("salaries.txt", secret)], user=root)
    assert stored.path is not None
    assert a.ingest([stored.path], user=root, access=["group:finance"]).added
    # bob guesses both the name and the bytes: stored as his own file, no hint given.
    [probe] = a.save_uploads([("salaries.txt", secret)], user=bob)
    assert probe.duplicate_of is None and probe.path is not None and probe.path != stored.path
    # ana may read root's upload: for her it is a duplicate.
    [dup] = a.save_uploads([("copy.txt", secret)], user=ana)
    assert dup.duplicate_of == str(stored.path)
    # Removing the document removes the upload from the disk.
    assert a.remove(stored.path, user=root) == [str(stored.path)]
    assert not stored.path.exists() and not stored.path.parent.exists()


# -- 12. a running process sees what another one ingested -------------------------------


def test_a_running_process_sees_another_process_ingest(fresh: Assistant, tmp_path: Path) -> None:
    """The web UI is a long-lived process; `rag ingest` in another one updates a document.
    Embedded Chroma keeps its index in memory and does not see the other process's write:
    the UI answered "Not found in your documents." (or failed inside Chroma)."""
    folder = tmp_path / "prices"
    folder.mkdir()
    doc = folder / "prices.txt"
    doc.write_text("Price list: the blue widget costs 100 euros and ships in two days.")
    fresh.ingest([folder])
    assert "100 euros" in fresh.search("blue widget price")[0].text
    env = {"RAG_DATA_DIR": str(fresh.settings.data_dir)}
    for price in (250, 310):  # twice: the second time the store was already reopened once
        doc.write_text(f"Price list: the blue widget now costs {price} euros and ships in a week.")
        done = _cli(env, "ingest", str(folder))
        assert done.returncode == 0 and "updated 1" in done.stdout, done.stderr
        for mode in ("dense", "keyword", "hybrid"):
            [hit] = fresh.search("blue widget price", k=1, mode=mode)
            assert f"{price} euros" in hit.text, (mode, hit.text)
        answer = fresh.ask("How much does the blue widget cost?", answer_mode="extractive")
        assert f"{price} euros" in answer.text and not answer.refused
    # And this process writes on top of what the other wrote, losing nothing.
    (folder / "terms.txt").write_text("Terms: the blue widget comes with a two-year warranty.")
    assert fresh.ingest([folder]).added and fresh.check() == []


def test_a_link_named_directly_beside_its_folder_is_taken_as_named(
    fresh: Assistant, tmp_path: Path
) -> None:
    """The folder passes the link over; naming it as well is the user's say-so, as when
    it is named alone, and it is ingested once, not also reported as passed over."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "minutes.txt").write_text("The board meets on the first Monday of each month.")
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "minutes.txt").symlink_to(outside / "minutes.txt")
    report = fresh.ingest([folder, folder / "minutes.txt"])
    assert report.added == [str(folder / "minutes.txt")]
    assert not report.skipped and not report.failed
