"""Users & access (admins): accounts and groups, who may read each document, the audit log.

Every action is a library call that checks the signed-in user's rights and writes the
audit log itself; this page only collects input and shows results or refusals.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from rag import AccessDenied, InvalidInput
from ui.render import inert
from ui.state import assistant, sidebar, signed_in

a = assistant()
choices = sidebar(a)
user = signed_in()

st.title("Users & access")
try:
    accounts = a.users(user=user)
except AccessDenied:
    st.error("Only an admin may manage users and access.", icon="🔒")
    st.stop()


def done(message: str) -> None:
    st.session_state["admin_done"] = message
    st.rerun()


def groups_of(text: str) -> list[str]:
    return [g.strip() for g in text.split(",") if g.strip()]


if message := st.session_state.pop("admin_done", None):
    st.success(inert(message), icon="✅")

users_tab, access_tab, audit_tab = st.tabs(["Users", "Document access", "Audit log"])

with users_tab:
    if not accounts:
        st.info(
            "No accounts yet: everyone who can open this page sees every document. "
            "Add an admin account to turn access control on.",
            icon="ℹ️",
        )
    st.dataframe(
        [
            {"user": u.name, "role": "admin" if u.admin else "user", "groups": ", ".join(u.groups)}
            for u in accounts
        ],
        hide_index=True,
        width="stretch",
    )
    with st.form("add_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        name = st.text_input("User name", key="new_user")
        password = st.text_input("Password (8 characters or more)", type="password")
        groups = st.text_input("Groups, comma-separated", placeholder="finance, legal")
        admin = st.checkbox("Admin", value=not accounts, help="May manage users and access")
        if st.form_submit_button("Add user", icon=":material/person_add:"):
            try:
                new = a.add_user(name.strip(), password, groups_of(groups), admin, user=user)
            except (InvalidInput, AccessDenied) as exc:
                st.error(inert(str(exc)), icon="⚠️")
            else:
                done(f"Added {new.name}.")
    if accounts:
        with st.form("edit_user"):
            st.markdown("**Change a user**")
            who = st.selectbox("User", [u.name for u in accounts], key="edit_user_name")
            current = next(u for u in accounts if u.name == who)
            new_groups = st.text_input("Groups, comma-separated", ", ".join(current.groups))
            make_admin = st.checkbox("Admin", value=current.admin, key="edit_user_admin")
            remove = st.checkbox("Remove this user")
            if st.form_submit_button("Save", icon=":material/save:"):
                try:
                    if remove:
                        a.remove_user(who, user=user)
                        done(f"Removed {who}.")
                    changed = a.set_groups(who, groups_of(new_groups), user=user)
                    if make_admin != current.admin:
                        changed = a.set_admin(who, make_admin, user=user)
                except (InvalidInput, AccessDenied) as exc:
                    st.error(inert(str(exc)), icon="⚠️")
                else:
                    role = "admin" if changed.admin else "user"
                    done(f"{who}: {role}, groups {', '.join(changed.groups) or 'none'}.")

with access_tab:
    docs = a.documents(choices.collection, user=user)
    if not docs:
        st.info("No documents in this collection yet.", icon="📂")
    else:
        st.dataframe(
            [
                {
                    "document": PurePath(d.source).name,
                    "who may read": ", ".join(a.access(d.source, choices.collection)),
                    "path": d.source,
                }
                for d in docs
            ],
            hide_index=True,
            width="stretch",
        )
        # Outside the form: picking a document shows its current list at once.
        target = st.selectbox(
            "Document",
            [d.source for d in docs],
            format_func=lambda s: PurePath(s).name,
            key="access_doc",
        )
        current_access = a.access(target, choices.collection)
        known = ["everyone"]
        known += [f"group:{g}" for g in a.groups(user=user)]
        known += [f"user:{u.name}" for u in accounts]
        with st.form("access"):
            readers = st.multiselect(
                "Who may read it",
                sorted(set(known) | set(current_access)),
                default=list(current_access),
                key=f"access_readers:{target}",
            )
            if st.form_submit_button("Save access", icon=":material/lock:"):
                try:
                    a.set_access(target, readers, choices.collection, user=user)
                except (InvalidInput, AccessDenied) as exc:
                    st.error(inert(str(exc)), icon="⚠️")
                else:
                    done(f"{PurePath(target).name}: {', '.join(readers)}.")

with audit_tab:
    only = st.text_input("Only this user", key="audit_user").strip() or None
    entries = a.audit_entries(only, user=user)[-200:]
    st.caption(
        f"The latest {len(entries)} entries, newest first. Text of documents is never logged."
    )
    st.dataframe(
        [
            {"when": e.at, "who": e.user or "-", "what": e.line().split("  ", 1)[-1]}
            for e in reversed(entries)
        ],
        hide_index=True,
        width="stretch",
    )
    broken = a.verify_audit(user=user)
    if broken is None:
        st.caption("Hash chain intact.")
    else:
        st.error(f"The audit log was tampered with: {inert(broken)}.", icon="🚨")
