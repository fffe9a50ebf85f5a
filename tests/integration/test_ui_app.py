"""The web UI through Streamlit's AppTest: the real app script, real models, real Chroma."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag import Assistant, Settings
from rag.answer.types import REFUSAL
from tests.ui_text import shown

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "ui" / "app.py"
DOCS = ["travel_expense_policy.md", "incident_report_2026-03.pdf"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("ui-corpus")
    for name in DOCS:
        shutil.copy(ROOT / "sample_docs" / name, corpus / name)
    data = tmp_path_factory.mktemp("ui-data")
    report = Assistant(Settings(data_dir=data)).ingest([corpus])
    assert sorted(Path(p).name for p in report.added) == sorted(DOCS)
    return data


@pytest.fixture()
def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    yield at


def ask(at: AppTest, question: str) -> None:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception


def test_chat_answers_with_highlighted_sources(app: AppTest) -> None:
    ask(app, "How many users were affected by the March server room outage?")
    user, reply = app.chat_message[-2:]
    assert user.name == "user" and reply.name == "assistant"
    assert reply.markdown and reply.markdown[0].value.strip(), "an answer was streamed"
    labels = [shown(e.label) for e in app.expander]
    assert labels and all(label.startswith("[") for label in labels)
    assert any("incident_report_2026-03.pdf, page" in label for label in labels)
    passages = [m.value for m in reply.markdown if "rag-passage" in m.value]
    assert passages and any("<mark" in p for p in passages), "the supporting span is marked"


def test_refusal_is_shown_as_information_not_error(app: AppTest) -> None:
    ask(app, "What is the capital of Australia?")
    assert any(REFUSAL in shown(i.value) for i in app.info)
    assert not app.error
    assert not app.expander, "a refusal has no sources"


def test_follow_up_retrieves_the_right_passage(app: AppTest) -> None:
    ask(app, "What is the per diem for UK trips?")
    ask(app, "And abroad?")
    reply = app.chat_message[-1]
    assert not any(REFUSAL in shown(i.value) for i in reply.info), "the follow-up was understood"
    passages = " ".join(m.value for m in reply.markdown if "rag-passage" in m.value)
    assert "£70" in passages
    assert len([m for m in app.chat_message if m.name == "user"]) == 2, "history is kept"


def test_scope_to_selected_documents(app: AppTest) -> None:
    travel = next(o for o in app.sidebar.multiselect[0].options if "travel" in o)
    app.sidebar.multiselect[0].select(travel).run()
    ask(app, "How many users were affected by the March server room outage?")
    labels = [shown(e.label) for e in app.expander]
    assert not any("incident_report" in label for label in labels)


def test_upload_ingest_and_remove(app: AppTest, data_dir: Path, tmp_path: Path) -> None:
    app.switch_page("pages/library.py").run()
    assert not app.exception, app.exception
    note = b"Memo: the Leeds office car park closes at 19:30 on weekdays from 1 December.\n"
    duplicate = (ROOT / "sample_docs" / DOCS[0]).read_bytes()
    app.file_uploader[0].set_value(
        [
            ("../../etc/car park\x01memo.txt", note, "text/plain"),
            ("copy of policy.md", duplicate, "text/markdown"),
            ("broken.pdf", b"%PDF-1.4\n%garbage, not a pdf", "application/pdf"),
        ]
    )
    next(b for b in app.button if b.label == "Add to library").click().run()
    assert not app.exception, app.exception
    assert any(
        "copy of policy.md" in shown(w.value) and "already" in shown(w.value) for w in app.warning
    )
    assert any("broken.pdf" in shown(e.value) for e in app.error), "the failure names the file"
    assert any("added 1" in shown(s.value) for s in app.success)

    uploads = data_dir / "uploads" / "default"
    stored = {p.name: p for p in uploads.glob("*/*")}  # each upload in a folder of its own
    assert "car parkmemo.txt" in stored and not any("/" in s or "\x00" in s for s in stored)
    assert not (data_dir.parent / "etc").exists()
    a = Assistant(Settings(data_dir=data_dir))
    sources = [d.source for d in a.documents()]
    memo = str(stored["car parkmemo.txt"])
    assert memo in sources
    assert not any("broken" in s for s in sources)

    remove = next(s for s in app.selectbox if s.label == "Remove a document")
    remove.set_value(memo)
    next(b for b in app.button if b.label == "Remove").click().run()
    assert not app.exception, app.exception
    assert memo not in [d.source for d in a.documents()]
    assert not Path(memo).exists(), "the upload went with the document"
