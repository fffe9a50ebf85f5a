"""``rag serve`` as its users meet it: a real server process on a loopback port, driven
by the official ``openai`` client and by ``httpx``, over the real models and store.

One server for the module: accounts (an admin and three users) exist from the start, so
every request needs an API key; documents arrive through the API's own uploads.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, SAMPLE_DOCS
from tests.integration.test_access import CORPUS, USERS
from tests.integration.ui_server import GUARD_DIR, free_port

pytestmark = pytest.mark.slow

SECRET_COLLECTION = "legal-matters"


@dataclass
class Server:
    url: str
    keys: dict[str, str]
    data: Path
    env: dict[str, str]

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[user]}"}, timeout=120
        )

    def openai(self, user: str) -> Any:
        from openai import OpenAI

        return OpenAI(base_url=f"{self.url}/v1", api_key=self.keys[user], max_retries=0)


def _cli(server_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        env=server_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "rag serve did not come up in 120 s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from rag import Assistant, Settings

    root = tmp_path_factory.mktemp("api")
    data = root / "data"
    library = Assistant(Settings(data_dir=data))
    library.add_user("root", "root password", admin=True)
    admin = library.authenticate("root", "root password")
    keys = {"root": library.create_key("root", "tests", user=admin)}
    for name, groups in USERS.items():
        library.add_user(name, f"{name} password", groups, user=admin)
        keys[name] = library.create_key(name, user=admin)
    port = free_port()
    egress_log = root / "egress.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_USER", "RAG_PASSWORD")}
    env |= {
        "PYTHONPATH": f"{GUARD_DIR}{os.pathsep}{ROOT}",
        "RAG_EGRESS_LOG": str(egress_log),
        "RAG_DATA_DIR": str(data),
        "RAG_ANSWER_MODE": "extractive",  # the model only where a test asks for it,
        "RAG_MAX_TOKENS": "24",  # and briefly: streaming is tested, not prose
    }
    log = root / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, proc, log)
        yield Server(url, keys, data, env)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    server_log = log.read_text()
    assert "Traceback" not in server_log, server_log
    assert not egress_log.exists() or not egress_log.read_text().strip()


def _upload(
    s: Server, user: str, files: dict[str, bytes], access: list[str] | None = None, **form: str
) -> dict[str, Any]:
    """Upload files and wait for their job; the finished job."""
    with s.client(user) as http:
        reply = http.post(
            "/v1/documents",
            files=[("files", (name, data)) for name, data in files.items()],
            data={"access": access or [], **form},
        )
        assert reply.status_code in (200, 202), reply.text
        job = reply.json()
        if job["id"] is None:
            return job
        deadline = time.monotonic() + 180
        while job["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
            job = http.get(f"/v1/jobs/{job['id']}").json()
        return job | {"uploads": reply.json()["uploads"]}


@pytest.fixture(scope="module")
def documents(server: Server) -> dict[str, Any]:
    """sample_docs' files uploaded by root for everyone, a hostile one among them; the
    access corpus, each folder with its access list; one collection only for legal."""
    names = ["travel_expense_policy.md", "incident_report_2026-03.pdf", "it_security_notes.txt"]
    files = {n: (SAMPLE_DOCS / n).read_bytes() for n in names}
    files["broken.pdf"] = b"%PDF-1.7 this is not a PDF at all"
    job = _upload(server, "root", files, ["everyone"])
    for access, texts in CORPUS.values():
        done = _upload(server, "root", {n: t.encode() for n, t in texts.items()}, access)
        assert done["status"] == "done" and not done.get("error"), done
    litigation = CORPUS["legal"][1]["litigation.txt"]
    _upload(
        server,
        "root",
        {"matter.txt": litigation.encode()},
        ["group:legal"],
        collection=SECRET_COLLECTION,
    )
    return job


def test_upload_poll_ask_cite_delete(server: Server, documents: dict[str, Any]) -> None:
    job = documents
    assert job["status"] == "done", job
    outcomes = {f["name"]: f for f in job["files"]}
    assert {outcomes[n]["outcome"] for n in outcomes if n != "broken.pdf"} == {"added"}
    assert outcomes["broken.pdf"]["outcome"] == "failed" and outcomes["broken.pdf"]["reason"]
    again = _upload(
        server, "root", {"copy.md": (SAMPLE_DOCS / "travel_expense_policy.md").read_bytes()}
    )
    assert again["uploads"][0]["duplicate_of"].endswith("travel_expense_policy.md")

    client = server.openai("ana")
    reply = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "How much is the per diem for trips abroad?"}],
    )
    rag = reply.model_extra["rag"]
    assert not rag["refused"] and "[1]" in reply.choices[0].message.content
    assert Path(rag["citations"][0]["source"]).name == "travel_expense_policy.md"
    assert rag["sentences"][0]["support"] == "supported" and rag["sentences"][0]["span"]
    outage = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "How many users did the March outage affect?"}],
        extra_body={"sources": None, "k": 5, "retrieval": "hybrid"},
    ).model_extra["rag"]
    cited = [c for c in outage["citations"] if c["source"].endswith(".pdf")]
    assert cited and all(c["page"] >= 1 for c in cited), outage

    with server.client("root") as http:
        docs = http.get("/v1/documents").json()["data"]
        [travel] = [d for d in docs if d["name"] == "travel_expense_policy.md"]
        assert http.delete(f"/v1/documents/{travel['id']}").json()["deleted"] is True
        names = {d["name"] for d in http.get("/v1/documents").json()["data"]}
        assert "travel_expense_policy.md" not in names and "canteen.txt" in names
        assert http.delete(f"/v1/documents/{travel['id']}").status_code == 404
    after = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "How much is the per diem for trips abroad?"}],
    ).model_extra["rag"]
    assert not [c for c in after["citations"] if "travel_expense" in c["source"]]


def test_openai_client_streams_a_checked_answer(server: Server, documents: object) -> None:
    client = server.openai("bob")
    history = [
        {"role": "user", "content": "When is the canteen open?"},
        {"role": "assistant", "content": "From 12:00 to 14:00 [1]."},
        {"role": "user", "content": "And is coffee free?"},
    ]
    chunks = list(
        client.chat.completions.create(
            model="default", messages=history, stream=True, extra_body={"mode": "generative"}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    rag = final.model_extra["rag"]
    assert text.strip() and rag["mode"] in ("generative", "extractive")
    assert rag["refused"] or {Path(c["source"]).name for c in rag["citations"]} <= {
        "canteen.txt",
        "handbook.txt",
        "news.txt",
        "it_security_notes.txt",
        "incident_report_2026-03.pdf",
    }


def _forbidden(user: str) -> list[str]:
    """The code words and file names of documents ``user`` may not read."""
    principals = {"everyone", f"user:{user}", *(f"group:{g}" for g in USERS[user])}
    words = []
    for access, files in CORPUS.values():
        if principals & set(access):
            continue
        for name, text in files.items():
            words.append(name)
            words += [w.strip(":,.") for w in text.split() if w.isupper() and len(w) > 5]
    return words


def test_no_key_sees_what_its_user_may_not_read(server: Server, documents: object) -> None:
    questions = [
        "What is the merger price?",
        "KESTREL",
        "OBSIDIAN salary bands",
        "Acme breach of contract claim",
        "performance review bonus approved",
        "grievance hearing date",
        "sick leave days per employee",
    ]
    for user in ("bob", "dave", "ana"):
        forbidden = _forbidden(user)
        seen = []
        with server.client(user) as http:
            models = http.get("/v1/models").json()
            assert [m["id"] for m in models["data"]] == ["default"], user
            seen.append(json.dumps(models))
            seen.append(http.get("/v1/documents").text)
            for q in questions:
                found = http.post("/v1/search", json={"query": q, "k": 5})
                assert found.status_code == 200, found.text
                seen.append(json.dumps(found.json()["results"]))
            secret = {"model": SECRET_COLLECTION, "messages": [{"role": "user", "content": "x"}]}
            assert http.post("/v1/chat/completions", json=secret).status_code == 404
        client = server.openai(user)
        for q in questions[:4]:
            reply = client.chat.completions.create(
                model="default", messages=[{"role": "user", "content": q}]
            )
            seen.append(reply.model_dump_json().replace(json.dumps(q)[1:-1], ""))
        leaked = [w for w in forbidden if any(w in text for text in seen)]
        assert not leaked, (user, leaked)
    with server.client("cara") as http:
        assert SECRET_COLLECTION in {m["id"] for m in http.get("/v1/models").json()["data"]}


def test_others_jobs_and_documents_are_not_theirs(server: Server, documents: Any) -> None:
    with server.client("root") as http:
        docs = http.get("/v1/documents").json()["data"]
    review = next(d for d in docs if d["name"] == "review.txt")  # user:ana only
    canteen = next(d for d in docs if d["name"] == "canteen.txt")  # everyone, root's
    with server.client("bob") as http:
        assert http.get(f"/v1/jobs/{documents['id']}").status_code == 404
        assert http.delete(f"/v1/documents/{review['id']}").status_code == 404
        refused = http.delete(f"/v1/documents/{canteen['id']}")
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["type"] == "permission_error"


def test_keys_from_the_cli_and_revoked_keys(server: Server, documents: object) -> None:
    env = server.env | {"RAG_PASSWORD": "root password"}
    made = _cli(env, "keys", "create", "--user", "dave", "--name", "laptop", "--as", "root")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("rag_") and " " not in key
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server.url}/v1/models", headers=headers).status_code == 200
    listed = _cli(env, "keys", "list", "--as", "root")
    key_id = key.split("_")[1]
    stored = b"".join(f.read_bytes() for f in server.data.glob("users.sqlite3*"))
    assert key.encode() not in stored and key.split("_", 2)[2].encode() not in stored
    assert key_id in listed.stdout and "laptop" in listed.stdout and key not in listed.stdout
    denied = _cli(server.env | {"RAG_PASSWORD": "dave password"}, "keys", "list", "--as", "dave")
    assert denied.returncode == 4 and "only an admin" in denied.stderr
    assert _cli(env, "keys", "revoke", key_id, "--as", "root").returncode == 0
    revoked = httpx.get(f"{server.url}/v1/models", headers=headers)
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{server.url}/v1/models").status_code == 401  # no key at all


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"json": {"model": "default", "messages": "hello"}}, 400),
        ({"json": {"model": "default", "messages": [{"role": "user", "content": 7}]}}, 400),
        ({"json": {"model": "default", "messages": [], "stream": True}}, 400),
        ({"json": {"model": "default", "messages": [{"role": "user", "content": " "}]}}, 400),
        ({"json": {"model": "no-such", "messages": [{"role": "user", "content": "hi"}]}}, 404),
        (
            {"json": {"model": "default", "messages": [{"role": "user", "content": "hi"}], "k": 0}},
            400,
        ),
        (
            {
                "json": {
                    "model": "default",
                    "messages": [{"role": "user", "content": "x" * (2 << 20)}],
                }
            },
            413,
        ),
        ({"content": b'{"model": "default"}', "headers": {"content-type": "text/plain"}}, 400),
        (
            {
                "json": {"model": "default", "messages": [{"role": "user", "content": "hi"}]},
                "headers": {"origin": "https://evil.example"},
            },
            403,
        ),
        (
            {
                "json": {"model": "default", "messages": [{"role": "user", "content": "hi"}]},
                "headers": {"host": "evil.example"},
            },
            400,
        ),
    ],
)
def test_hostile_requests_get_openai_errors(
    server: Server, request_kwargs: dict[str, Any], status: int
) -> None:
    with server.client("ana") as http:
        reply = http.post("/v1/chat/completions", **request_kwargs)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["message"] and error["type"] and "Traceback" not in reply.text


def test_bad_keys_are_refused_then_slowed_down(server: Server) -> None:
    url = f"{server.url}/v1/models"
    guess = {"Authorization": "Bearer rag_000000000000_guess"}
    replies = [httpx.get(url, headers=guess) for _ in range(5)]
    assert [r.status_code for r in replies] == [401] * 5
    # The sixth waits 1 s after the fifth, the seventh 2 s after the sixth...: on a
    # loaded machine a request can arrive after its wait has passed, so allow a few.
    for _ in range(4):
        throttled = httpx.get(url, headers=guess)
        if throttled.status_code != 401:
            break
    assert throttled.status_code == 429 and throttled.headers["retry-after"]
    time.sleep(float(throttled.headers["retry-after"]) + 0.2)
    assert httpx.get(url, headers={"Authorization": f"Bearer {server.keys['ana']}"}).is_success


def test_embeddings_through_the_openai_client(server: Server) -> None:
    reply = server.openai("dave").embeddings.create(model="any", input=["per diem", "outage"])
    vectors = [d.embedding for d in reply.data]
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-3


def test_sixteen_streams_during_an_ingest_and_a_client_that_leaves(
    server: Server, documents: object
) -> None:
    upload = {"memo.txt": b"Memo: the parking garage closes at 22:00 from May onwards."}
    questions = ["When is the canteen open?", "Is coffee free?", "When are salaries paid?"]

    def ask(n: int) -> tuple[str, dict[str, Any]]:
        stream = server.openai("dave").chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": questions[n % len(questions)]}],
            stream=True,
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, chunks[-1].model_extra["rag"]

    started = time.perf_counter()
    with ThreadPoolExecutor(17) as pool:
        ingest = pool.submit(_upload, server, "root", upload, ["everyone"])
        answers = list(pool.map(ask, range(16)))
        assert ingest.result()["status"] == "done"
    print(f"\n16 concurrent streams in {time.perf_counter() - started:.1f} s")
    for text, rag in answers:
        assert text.strip() and not rag["refused"] and rag["citations"], (text, rag)
    # A client that goes away mid-answer: the server carries on serving others.
    with (
        server.client("dave") as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "default",
                "stream": True,
                "mode": "generative",
                "messages": [{"role": "user", "content": "Summarise the security notes."}],
            },
        ) as stream,
    ):
        assert stream.status_code == 200
        next(stream.iter_lines())
    with server.client("dave") as http:
        quick = time.perf_counter()
        assert http.get("/v1/models").status_code == 200
        assert time.perf_counter() - quick < 5


def test_a_network_address_without_accounts_is_refused(tmp_path: Path, server: Server) -> None:
    env = server.env | {"RAG_DATA_DIR": str(tmp_path / "empty")}
    out = _cli(env, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert out.returncode == 2 and "no user accounts" in out.stderr
