"""Users & access (admins): accounts and groups, who may read each document, the audit log."""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from rag.trust.accounts import AccessDenied, parse_principals
from ui.state import assistant, sidebar, signed_in

a = assistant()
choices = sidebar(a)
user = signed_in()

st.title("Users & access")
try:
    a.require_admin(user)
except AccessDenied:
    st.error("Only an admin may manage users and access.", icon="🔒")
    st.stop()


def done(message: str) -> None:
    st.session_state["admin_done"] = message
    st.rerun()


if message := st.session_state.pop("admin_done", None):
    st.success(message, icon="✅")

users_tab, access_tab, audit_tab = st.tabs(["Users", "Document access", "Audit log"])

with users_tab:
    accounts = a.users.all()
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
                new = a.users.add(
                    name.strip(), password, [g.strip() for g in groups.split(",") if g.strip()]
                )
                if admin:
                    a.users.set_admin(new.name, True)
            except ValueError as exc:
                st.error(str(exc), icon="⚠️")
            else:
                a.audit.record(
                    user.name if user else None,
                    "users",
                    added=new.name,
                    groups=list(new.groups),
                    admin=admin,
                )
                done(f"Added {new.name}.")
    if accounts:
        with st.form("edit_user"):
            st.markdown("**Change a user**")
            who = st.selectbox("User", [u.name for u in accounts], key="edit_user_name")
            current = next(u for u in accounts if u.name == who)
            new_groups = st.text_input("Groups, comma-separated", ", ".join(current.groups))
            remove = st.checkbox("Remove this user")
            if st.form_submit_button("Save", icon=":material/save:"):
                if remove:
                    if user is not None and who == user.name:
                        st.error("You cannot remove yourself.", icon="⚠️")
                    else:
                        a.users.remove(who)
                        a.audit.record(user.name if user else None, "users", removed=who)
                        done(f"Removed {who}.")
                else:
                    try:
                        changed = a.users.set_groups(
                            who, [g.strip() for g in new_groups.split(",") if g.strip()]
                        )
                    except ValueError as exc:
                        st.error(str(exc), icon="⚠️")
                    else:
                        a.audit.record(
                            user.name if user else None,
                            "users",
                            user=who,
                            groups=list(changed.groups),
                        )
                        done(f"{who}: groups {', '.join(changed.groups) or 'none'}.")

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
        known += [f"group:{g}" for g in a.users.groups()]
        known += [f"user:{u.name}" for u in a.users.all()]
        with st.form("access"):
            readers = st.multiselect(
                "Who may read it",
                sorted(set(known) | set(current_access)),
                default=list(current_access),
                key=f"access_readers:{target}",
            )
            if st.form_submit_button("Save access", icon=":material/lock:"):
                try:
                    a.set_access(target, parse_principals(readers), choices.collection, user=user)
                except ValueError as exc:
                    st.error(str(exc), icon="⚠️")
                else:
                    done(f"{PurePath(target).name}: {', '.join(readers)}.")

with audit_tab:
    only = st.text_input("Only this user", key="audit_user").strip() or None
    entries = list(a.audit.entries(user=only))[-200:]
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
    broken = a.audit.verify()
    if broken is None:
        st.caption("Hash chain intact.")
    else:
        st.error(f"The audit log was altered at entry {broken}.", icon="🚨")
