"""Shared fixtures: a network guard for every test, settings in a temp data dir,
and one real ingest of sample_docs/ shared by the integration tests."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = ROOT / "sample_docs"

# Answers of at most 96 tokens: the tests check citations and support, not prose, and
# generation dominates their run time (inherited by the `rag` subprocesses too).
os.environ.setdefault("RAG_MAX_TOKENS", "96")
# The audit log's key (kept outside each data directory) and its chain heads go to one
# folder for the whole run, not to ~/.config/rag (inherited by `rag` subprocesses too).
os.environ.setdefault(
    "RAG_AUDIT_KEY_FILE", str(Path(tempfile.mkdtemp(prefix="rag-test-keys-")) / "audit.key")
)


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class EgressError(AssertionError):
    """A test tried to reach a host other than this machine."""


@pytest.fixture(autouse=True, scope="session")
def no_egress() -> Iterator[list[object]]:
    """Every test runs with non-loopback connections failing loudly (and recorded)."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(method):  # type: ignore[no-untyped-def]
        def connect(self, address):  # type: ignore[no-untyped-def]
            if not _is_local(address):
                attempts.append(address)
                raise EgressError(f"test tried to connect to {address!r}")
            return method(self, address)

        return connect

    socket.socket.connect = guarded(real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(real_connect_ex)  # type: ignore[method-assign]
    yield attempts
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
    assert not attempts, f"outbound connections attempted: {attempts}"


@pytest.fixture()
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    from rag.config import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def sample_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of sample_docs/ (tests may not touch the real one)."""
    target = tmp_path_factory.mktemp("corpus") / "sample_docs"
    shutil.copytree(SAMPLE_DOCS, target)
    return target


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory, sample_copy: Path):  # type: ignore[no-untyped-def]
    """One Assistant over an ingest of sample_docs/, with the real models and Chroma."""
    from rag import Assistant, Settings

    data = tmp_path_factory.mktemp("data")
    a = Assistant(Settings(data_dir=data))
    report = a.ingest([sample_copy])
    assert not report.failed, report.failed
    return a


@pytest.fixture(scope="session")
def qa() -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in (SAMPLE_DOCS / "qa.jsonl").read_text().splitlines()]
