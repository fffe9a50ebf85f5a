"""The account rules, once, in the library: every front end gets the same answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import AccessDenied, Assistant, AuthError, InvalidInput, Settings, SignInThrottled


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


def _fail(a: Assistant, name: str, times: int, client: str | None = None) -> None:
    for _ in range(times):
        with pytest.raises(AuthError):
            a.authenticate(name, "not the password", client)


def test_failed_sign_ins_slow_further_ones_down(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    _fail(a, "root", 5)
    with pytest.raises(SignInThrottled, match="too many failed sign-ins"):
        a.authenticate("root", "root password")  # right, but not even checked
    time.sleep(1.1)  # the first wait is a second; the next ones double
    root = a.authenticate("root", "root password")
    _fail(a, "root", 1)  # a success cleared the count: no wait
    assert a.authenticate("root", "root password") == root
    throttled = [e.detail for e in a.audit_entries(action="sign-in", user=root)]
    assert any(d.get("throttled") for d in throttled)


def test_names_that_do_not_exist_are_throttled_alike(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    _fail(a, "nobody", 5)
    with pytest.raises(SignInThrottled):
        a.authenticate("nobody", "whatever")


def test_one_client_trying_many_names_is_slowed_down(a: Assistant) -> None:
    a.add_user("root", "root password", admin=True)
    for name in ("ana", "bob", "carl", "dora", "eve"):
        _fail(a, name, 1, client="203.0.113.9")
    with pytest.raises(SignInThrottled):
        a.authenticate("root", "root password", client="203.0.113.9")
    assert a.authenticate("root", "root password", client="198.51.100.1").name == "root"


_PARALLEL = """
import resource, sys, threading
from rag import Assistant, AuthError, Settings
a = Assistant(Settings(data_dir=sys.argv[1]))
a.add_user("root", "root password", admin=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def attempt(n):
    try:
        a.authenticate(f"user{n}", "wrong password", client=f"198.51.100.{n}")
    except AuthError:
        pass
threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_parallel_sign_ins_cannot_exhaust_memory(tmp_path: Path) -> None:
    """Eight at once would take 8 x 64 MiB: at most two Argon2 checks run together."""
    out = subprocess.run(
        [sys.executable, "-c", _PARALLEL, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    grown_mb = int(out.stdout.strip().splitlines()[-1])
    assert grown_mb < 200, grown_mb
