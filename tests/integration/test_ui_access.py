"""Sign-in, per-user documents and the admin page of the web UI, through AppTest with
the real app script, models and store."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("ui-acl")
    (corpus / "payroll.txt").write_text(
        "Payroll note: the PELICAN bonus for the Leeds team is 7,500 euros, paid in April."
    )
    (corpus / "canteen.txt").write_text("The canteen serves lunch from 12:00 to 14:00.")
    data = tmp_path_factory.mktemp("ui-acl-data")
    a = Assistant(Settings(data_dir=data))
    a.add_user("root", "root password", [], admin=True)
    root = a.authenticate("root", "root password")
    a.add_user("ana", "ana password", ["canteen"], user=root)
    assert a.ingest([corpus / "payroll.txt"], user=root, access=["group:finance"]).added
    assert a.ingest([corpus / "canteen.txt"], user=root, access=["everyone"]).added
    return data


@pytest.fixture()
def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    yield at


def sign_in(at: AppTest, name: str, password: str) -> None:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, at.exception


def test_nothing_shows_before_sign_in(app: AppTest) -> None:
    assert app.title[0].value == "Sign in"
    assert not app.chat_input and not app.sidebar.multiselect
    sign_in(app, "ana", "not her password")
    assert any("wrong password" in shown(e.value) for e in app.error)
    assert app.title[0].value == "Sign in"


def test_a_user_sees_and_asks_only_what_they_may_read(app: AppTest, data_dir: Path) -> None:
    sign_in(app, "ana", "ana password")
    assert app.title[0].value == "Ask your documents"
    assert any("Signed in as **ana**" in shown(c.value) for c in app.sidebar.caption)
    assert [Path(o).name for o in app.sidebar.multiselect[0].options] == ["canteen.txt"]
    app.chat_input[0].set_value("How much is the PELICAN bonus for the Leeds team?").run()
    assert not app.exception, app.exception
    assert any(REFUSAL in shown(i.value) for i in app.info)
    assert "7,500" not in str([m.value for m in app.markdown])
    app.switch_page("pages/library.py").run()
    assert not app.exception, app.exception
    assert len(app.tabs) == 1, "only admins ingest folders of the server"
    assert "payroll" not in str(app.dataframe[0].value)
    a = Assistant(Settings(data_dir=data_dir))
    entries = a.audit_entries("ana", action="answer", user=a.authenticate("root", "root password"))
    assert entries and entries[-1].detail["refused"] is True


def test_an_admin_manages_users_and_access(app: AppTest, data_dir: Path) -> None:
    sign_in(app, "root", "root password")
    app.switch_page("pages/admin.py").run()
    assert not app.exception, app.exception
    app.text_input(key="new_user").input("bea")
    next(t for t in app.text_input if t.label.startswith("Password")).input("bea password")
    next(t for t in app.text_input if t.label.startswith("Groups")).input("finance")
    next(b for b in app.button if b.label == "Add user").click().run()
    assert not app.exception, app.exception
    assert any("Added bea" in shown(s.value) for s in app.success)
    a = Assistant(Settings(data_dir=data_dir))
    root = a.authenticate("root", "root password")
    bea = next((u for u in a.users(user=root) if u.name == "bea"), None)
    assert bea is not None and bea.groups == ("finance",) and not bea.admin

    payroll = next(d.source for d in a.documents(user=bea) if d.source.endswith("payroll.txt"))
    app.selectbox(key="access_doc").set_value(payroll).run()
    app.multiselect(key=f"access_readers:{payroll}").set_value(["group:finance", "user:ana"])
    next(b for b in app.button if b.label == "Save access").click().run()
    assert not app.exception, app.exception
    assert a.access(payroll) == ("group:finance", "user:ana")
    ana = a.authenticate("ana", "ana password")
    assert payroll in [d.source for d in a.documents(user=ana)]
    assert [e.detail["access"] for e in a.audit_entries("root", action="access", user=root)] == [
        ["group:finance", "user:ana"]
    ]


def test_the_admin_page_is_for_admins(app: AppTest) -> None:
    sign_in(app, "ana", "ana password")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("pages/admin.py")  # not even listed for her
    # And the page itself refuses, should it be run some other way.
    page = AppTest.from_file(str(ROOT / "ui" / "pages" / "admin.py"), default_timeout=300)
    page.session_state["user"] = app.session_state["user"]
    page.run()
    assert any("Only an admin" in shown(e.value) for e in page.error)
    assert not page.dataframe
