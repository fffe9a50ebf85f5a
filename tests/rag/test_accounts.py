"""The account rules, once, in the library: every front end gets the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import AccessDenied, Assistant, InvalidInput, Settings


@pytest.fixture()
def a(tmp_path: Path) -> Assistant:
    return Assistant(Settings(data_dir=tmp_path / "data"))


def test_the_first_account_must_be_an_admin(a: Assistant) -> None:
    with pytest.raises(InvalidInput, match="first account must be an admin"):
        a.add_user("ana", "ana password")
    assert not a.accounts_exist()
    root = a.add_user("root", "root password", admin=True)
    assert root.admin and a.accounts_exist()


def test_once_accounts_exist_only_admins_manage_them(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    root = a.authenticate("root", "root password")
    with pytest.raises(AccessDenied):
        a.add_user("evil", "evil password", admin=True)  # nobody signed in
    a.add_user("ana", "ana password", ["finance"], user=root)
    ana = a.authenticate("ana", "ana password")
    for action in (
        lambda: a.add_user("evil", "evil password", admin=True, user=ana),
        lambda: a.set_admin("ana", True, user=ana),
        lambda: a.set_groups("ana", ["hr"], user=ana),
        lambda: a.remove_user("root", user=ana),
        lambda: a.users(user=ana),
        lambda: a.audit_entries(user=ana),
        lambda: a.set_password("root", "taken over", user=ana),
    ):
        with pytest.raises(AccessDenied):
            action()
    assert [u.name for u in a.users(user=root)] == ["ana", "root"]


def test_the_last_admin_stays_and_nobody_removes_themselves(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    root = a.authenticate("root", "root password")
    with pytest.raises(InvalidInput, match="yourself"):
        a.remove_user("root", user=root)
    with pytest.raises(InvalidInput, match="last admin"):
        a.set_admin("root", False, user=root)
    a.add_user("second", "second password", admin=True, user=root)
    second = a.authenticate("second", "second password")
    a.remove_user("root", user=second)  # another admin may
    with pytest.raises(InvalidInput, match="last admin"):
        a.set_admin("second", False, user=second)
    assert [u.name for u in a.users(user=second)] == ["second"]
    # The removed admin's session is worth nothing now.
    with pytest.raises(AccessDenied):
        a.users(user=root)


def test_people_change_their_own_password(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    root = a.authenticate("root", "root password")
    a.add_user("ana", "ana password", user=root)
    ana = a.authenticate("ana", "ana password")
    a.set_password("ana", "a new password", user=ana)
    assert a.authenticate("ana", "a new password").name == "ana"
    a.set_password("ana", "reset by root", user=root)
    assert a.authenticate("ana", "reset by root").name == "ana"


def test_every_account_change_is_audited_with_who_did_it(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    root = a.authenticate("root", "root password")
    a.add_user("ana", "ana password", ["finance"], user=root)
    a.set_groups("ana", ["hr"], user=root)
    a.set_admin("ana", True, user=root)
    a.remove_user("ana", user=root)
    changes = [(e.user, e.detail) for e in a.audit_entries(action="users", user=root)]
    assert changes[1:] == [
        ("root", {"added": "ana", "groups": ["finance"], "admin": False}),
        ("root", {"user": "ana", "groups": ["hr"]}),
        ("root", {"user": "ana", "admin": True}),
        ("root", {"removed": "ana"}),
    ]


def test_an_index_left_without_admins_gets_one_back_only_through_restore(
    a: Assistant,
) -> None:
    # What an older rag allowed: accounts, none of them an admin.
    a._accounts.add("ana", "ana password", ["finance"], admin=False)
    with pytest.raises(AccessDenied):
        a.add_user("evil", "evil password", admin=True)
    root = a.restore_admin("root", "root password")
    assert root.admin
    with pytest.raises(AccessDenied):
        a.restore_admin("evil", "evil password")  # an admin exists now
