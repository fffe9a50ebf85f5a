"""Per-document access control on the real models and store: nobody ever receives a
chunk, title, citation or count from a document they may not read.

The corpus is built so leaks would show: every group's documents share vocabulary
with the others' (bonus, merger, salary, contract...), and each secret document
holds a code word found nowhere else. Queries include those code words and exact
sentences of each secret document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import AccessDenied

pytestmark = pytest.mark.slow

# folder -> (access, {file: text}); each secret text holds its own code word.
CORPUS: dict[str, tuple[list[str], dict[str, str]]] = {
    "finance": (
        ["group:finance"],
        {
            "merger.txt": "Project KESTREL: the merger with Falcon Ltd closes in June at a "
            "price of 42 million euros. The bonus pool for the merger team is 300,000 euros.",
            "salaries.txt": "Salary bands 2026 (code word OBSIDIAN): engineers earn 61,000 to "
            "84,000 euros. The annual bonus is paid in March with the salary.",
            "forecast.txt": "Cash forecast MARMALADE: revenue falls 8 percent if the contract "
            "with Acme is not renewed. The board reviews the forecast every quarter.",
        },
    ),
    "hr": (
        ["group:hr"],
        {
            "grievance.txt": "Case PERIWINKLE: a grievance about the bonus decision was filed "
            "by an engineer in the merger team. The hearing is on 3 May.",
            "sickness.txt": "Absence report TANGERINE: sick leave rose to 4.1 days per employee. "
            "Salary continues for the first six weeks of sickness.",
        },
    ),
    "legal": (
        ["group:legal", "user:root"],
        {
            "litigation.txt": "Matter QUICKSILVER: Acme claims 2 million euros for breach of "
            "contract. Our counsel expects a settlement before the merger closes.",
        },
    ),
    "ana-only": (
        ["user:ana"],
        {"review.txt": "Performance review ZEPPELIN for Ana: bonus of 5,000 euros approved."},
    ),
    "public": (
        ["everyone"],
        {
            "handbook.txt": "Staff handbook: salaries are paid on the last working day of the "
            "month. Bonus schemes are described by your manager. Contracts renew yearly.",
            "news.txt": "Company news: we opened an office in Lyon. The merger rumours in the "
            "press are not commented on. Sick leave is reported to HR on the first day.",
            "canteen.txt": "The canteen serves lunch from 12:00 to 14:00. Coffee is free.",
        },
    ),
}

USERS = {  # name -> groups (root is the admin)
    "ana": ["finance"],
    "bob": ["hr"],
    "cara": ["legal", "finance"],
    "dave": [],
}

GENERIC_QUERIES = [
    "What is the merger price?",
    "When is the bonus paid?",
    "How much do engineers earn?",
    "What happens if the Acme contract is not renewed?",
    "grievance hearing date",
    "sick leave days per employee",
    "Acme breach of contract claim",
    "bonus pool merger team",
    "performance review bonus approved",
    "When are salaries paid?",
    "What does the canteen serve?",
    "settlement",
    "Falcon",
    "euros",
]


def _code_words() -> dict[str, str]:
    words = {}
    for folder, (_, files) in CORPUS.items():
        for name, text in files.items():
            caps = [w.strip(":,.") for w in text.split() if w.isupper() and len(w) > 5]
            if caps:
                words[f"{folder}/{name}"] = caps[0]
    return words


def _allowed(user: str) -> set[str]:
    principals = {"everyone", f"user:{user}", *(f"group:{g}" for g in USERS[user])}
    return {
        f"{folder}/{name}"
        for folder, (access, files) in CORPUS.items()
        if principals & set(access)
        for name in files
    }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, assistant):  # type: ignore[no-untyped-def]
    """An index of CORPUS with accounts, sharing the session's loaded models."""
    from rag import Assistant, Settings

    root = tmp_path_factory.mktemp("acl")
    corpus = root / "docs"
    for folder, (_, files) in CORPUS.items():
        (corpus / folder).mkdir(parents=True)
        for name, text in files.items():
            (corpus / folder / name).write_text(text)
    a = Assistant(
        Settings(data_dir=root / "data"),
        embedder=assistant.embedder,
        generator=assistant.generator,
    )
    a.add_user("root", "root password", [], admin=True)
    admin = a.authenticate("root", "root password")
    for name, groups in USERS.items():
        a.add_user(name, f"{name} password", groups, user=admin)
    for folder, (access, _) in CORPUS.items():
        report = a.ingest([corpus / folder], user=admin, access=access)
        assert not report.failed and report.added
    return a, corpus, root


def _rel(corpus: Path, source: str) -> str:
    return str(Path(source).relative_to(corpus))


def _queries(corpus: Path) -> Iterator[str]:
    yield from GENERIC_QUERIES
    yield from _code_words().values()
    for _, files in CORPUS.values():
        for text in files.values():
            yield text.split(". ")[0]  # each document's first sentence, verbatim


def test_no_user_ever_receives_what_they_may_not_read(secured) -> None:  # type: ignore[no-untyped-def]
    a, corpus, _ = secured
    codes = _code_words()
    checks = 0
    for name in USERS:
        user = a.authenticate(name, f"{name} password")
        allowed = _allowed(name)
        forbidden_words = [w for doc, w in codes.items() if doc not in allowed]
        docs = {_rel(corpus, d.source) for d in a.documents(user=user)}
        assert docs == allowed, name
        n_chunks = sum(d.chunks for d in a.documents(user=user))
        for query in _queries(corpus):
            for mode in ("hybrid", "dense", "keyword"):
                passages = a.search(query, k=5, mode=mode, user=user)
                got = {_rel(corpus, p.source) for p in passages}
                assert got <= allowed, (name, query, mode, got - allowed)
                if mode != "keyword":  # no gaps: the filter ran inside the search
                    assert len(passages) == min(5, n_chunks), (name, query, mode)
                text = " ".join(p.text for p in passages)
                assert not [w for w in forbidden_words if w in text], (name, query, mode)
                checks += 1
        for query in [*codes.values(), *GENERIC_QUERIES[:6]]:
            answer = a.ask(query, answer_mode="extractive", user=user)
            cited = {_rel(corpus, c.source) for c in answer.citations}
            shown = {_rel(corpus, p.source) for p in answer.passages}
            assert cited <= allowed and shown <= allowed, (name, query)
            assert not [w for w in forbidden_words if w in answer.text], (name, query)
            checks += 1
    print(f"\naccess: {checks} searches and answers by {len(USERS)} users, no leaks")
    assert checks > 300


def test_scoping_by_source_cannot_widen_access(secured) -> None:  # type: ignore[no-untyped-def]
    a, corpus, _ = secured
    bob = a.authenticate("bob", "bob password")
    secret = str(corpus / "finance" / "merger.txt")
    assert a.search("merger price", sources=[secret], user=bob) == []
    assert a.search("merger price", prefix=str(corpus / "finance"), user=bob) == []
    assert a.ask("What is the merger price?", sources=[secret], user=bob).refused


def test_admin_reads_everything_and_changes_access(secured) -> None:  # type: ignore[no-untyped-def]
    a, corpus, _ = secured
    admin = a.authenticate("root", "root password")
    bob = a.authenticate("bob", "bob password")
    assert len(a.documents(user=admin)) == sum(len(f) for _, f in CORPUS.values())
    secret = corpus / "finance" / "forecast.txt"
    with pytest.raises(Exception, match="not an ingested document"):  # bob cannot read it
        a.set_access(secret, ["group:hr"], user=bob)
    a.set_access(secret, ["group:finance", "group:hr"], user=admin)
    for mode in ("keyword", "dense"):
        hits = a.search("MARMALADE cash forecast", mode=mode, user=bob)
        assert hits and _rel(corpus, hits[0].source) == "finance/forecast.txt"
    a.set_access(secret, ["group:finance"], user=admin)
    for mode in ("keyword", "dense", "hybrid"):
        hits = a.search("MARMALADE cash forecast", mode=mode, user=bob)
        assert "finance/forecast.txt" not in {_rel(corpus, p.source) for p in hits}
    assert a.check(user=admin) == []


def test_writes_are_limited_to_readable_documents(secured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, corpus, _ = secured
    bob = a.authenticate("bob", "bob password")
    secret = corpus / "finance" / "salaries.txt"
    # Removing or re-ingesting someone else's document: refused, nothing changes.
    assert a.remove(secret, user=bob) == []
    with pytest.raises(AccessDenied, match="only an admin may ingest files of the server"):
        a.ingest([secret], user=bob, access=["group:hr"])
    assert a.access(secret) == ("group:finance",)
    # Uploading a copy of a secret file does not reveal that (or where) it exists.
    [upload] = a.save_uploads([("copy.txt", secret.read_bytes())], user=bob)
    assert upload.duplicate_of is None and upload.path is not None
    upload.path.unlink()
    with pytest.raises(Exception, match="sign in"):
        a.documents()


def test_every_question_and_change_is_audited_without_text(secured) -> None:  # type: ignore[no-untyped-def]
    a, _corpus, _ = secured
    ana = a.authenticate("ana", "ana password")
    answer = a.ask("What is the merger price?", answer_mode="extractive", user=ana)
    root = a.authenticate("root", "root password")
    entry = a.audit_entries("ana", action="ask", user=root)[-1]
    assert entry.detail["question"] == "What is the merger price?"
    assert [r["id"] for r in entry.detail["retrieved"]] == [p.record.id for p in answer.passages]
    answered = a.audit_entries("ana", action="answer", user=root)[-1]
    assert answered.detail["ask"] == entry.id
    assert answered.detail["refused"] is answer.refused is False
    assert {r["source"] for r in answered.detail["cited"]} == {c.source for c in answer.citations}
    ingests = a.audit_entries("root", action="ingest", user=root)
    assert len(ingests) == len(CORPUS)
    # Read by another process: closing this one's own descriptor of the file would drop
    # the POSIX locks its live SQLite connection holds on it.
    files = sorted(str(p) for p in a.settings.data_dir.glob("audit.sqlite3*"))
    log = subprocess.run(["cat", *files], capture_output=True, check=True).stdout
    assert b"What is the merger price?" in log
    for _, files in CORPUS.values():
        for text in files.values():  # no document text is in the log (first sentences
            sentences = text.split(". ")  # were asked as questions, so they are)
            if len(sentences) > 1:
                assert sentences[-1][:40].encode() not in log
    assert a.verify_audit(user=root) is None


def _cli(root: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(root / "data")}
    if user:
        env["RAG_PASSWORD"] = f"{user} password"
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_needs_a_user_and_filters_every_command(secured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _a, corpus, root = secured
    denied = _cli(root, "docs")
    assert denied.returncode == 4 and "sign in first" in denied.stderr
    wrong = _cli(root, "docs", "--user", "bob", user="ana")
    assert wrong.returncode == 4 and "wrong password" in wrong.stderr
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join(_queries(corpus)))
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps(
            {
                "id": "merger",
                "question": "What is the merger price for Falcon?",
                "source": "merger.txt",
                "answer_patterns": ["42 million"],
                "answerable": True,
            }
        )
        + "\n"
    )
    allowed = _allowed("bob")
    out = _cli(root, "search", "--json", "--queries", str(queries), "--user", "bob", user="bob")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == len(list(_queries(corpus)))
    for line in lines:
        assert {_rel(corpus, r["source"]) for r in line["results"]} <= allowed
    docs = _cli(root, "docs", "--json", "--user", "bob", user="bob")
    assert {_rel(corpus, d["source"]) for d in json.loads(docs.stdout)} == allowed
    report = _cli(
        root, "eval", str(qa), "--json", "--mode", "extractive", "--user", "bob", user="bob"
    )
    assert report.returncode == 0, report.stderr
    result = json.loads(report.stdout)
    assert result["hit_at_5"] == 0.0
    assert "merger.txt" not in report.stdout and "KESTREL" not in report.stdout
    audit = _cli(root, "audit", "--as", "bob", user="bob")
    assert audit.returncode == 4 and "only an admin" in audit.stderr
    audit = _cli(root, "audit", "--as", "root", "--user", "bob", "--json", user="root")
    assert audit.returncode == 0, audit.stderr
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    assert {e["user"] for e in entries} == {"bob"}
    assert {"sign-in", "search", "ask"} <= {e["action"] for e in entries}
