"""What every page shares: the one Assistant per process, and the sidebar's choices."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import PurePath

import streamlit as st

from rag import Assistant, AuthError, Settings, User
from rag.config import AnswerMode, RetrievalMode
from rag.privacy import lock_down
from ui.render import inert

__all__ = ["Choices", "assistant", "sidebar", "sign_in", "signed_in"]

MODES: tuple[RetrievalMode, ...] = ("hybrid", "dense", "keyword")
ANSWER_MODES: tuple[AnswerMode, ...] = ("auto", "generative", "extractive")


@st.cache_resource(show_spinner="Loading the models…")
def _assistant(data_dir: str, collection: str) -> Assistant:
    """One Assistant per data directory, models loaded once for the whole process
    (every rerun and every browser session reuses it)."""
    a = Assistant(Settings(data_dir=data_dir, collection=collection))
    a.warm_up()
    return a


def settings() -> Settings:
    """The settings: ``RAG_*`` and the config file, with what ``rag ui`` passed to the app
    after ``--`` (``--data-dir``, ``--collection``) on top; read here, at the UI's edge."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    parser.add_argument("--collection")
    given, _ = parser.parse_known_args(sys.argv[1:])
    overrides = {"data_dir": given.data_dir, "collection": given.collection}
    return Settings(**{k: v for k, v in overrides.items() if v})


def assistant() -> Assistant:
    """The process-wide Assistant for the configured data directory."""
    lock_down()
    s = settings()
    return _assistant(str(s.data_dir), s.collection)


def signed_in() -> User | None:
    """The user signed in to this browser session, if any."""
    user = st.session_state.get("user")
    return user if isinstance(user, User) else None


def sign_in(a: Assistant) -> User | None:
    """The session's user; once accounts exist, a sign-in form until someone signs in
    (the rest of the page does not run). None while no accounts exist."""
    if not a.accounts_exist():
        return None
    current = a.current_user(signed_in())
    if current is not None:
        return current
    st.title("Sign in")
    with st.form("sign-in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if submitted:
        try:
            st.session_state.user = a.authenticate(
                name.strip(), password, client=st.context.ip_address or "unknown"
            )
        except AuthError as exc:
            st.error(inert(str(exc).capitalize()), icon="🔒")
        else:
            st.rerun()
    st.stop()
    return None  # not reached


@dataclass(frozen=True)
class Choices:
    """What the user picked in the sidebar for this session."""

    collection: str
    sources: list[str] | None
    """Documents to ask within; None means all of the collection."""
    top_k: int
    mode: RetrievalMode
    answer_mode: AnswerMode
    strict: bool


def sidebar(a: Assistant) -> Choices:
    """Scope, retrieval settings and the read-only facts about this installation."""
    s = a.settings
    user = signed_in()
    with st.sidebar:
        if user is not None:
            role = "admin" if user.admin else ", ".join(user.groups) or "no groups"
            st.caption(f"Signed in as **{inert(user.name)}** ({inert(role)})")
            if st.button("Sign out", icon=":material/logout:", key="sign_out"):
                del st.session_state["user"]
                st.session_state.pop("turns", None)
                st.rerun()
        st.subheader("Ask within")
        collections = a.collections()
        collection = st.selectbox(
            "Collection",
            collections,
            index=collections.index(s.collection),
            key="collection",
        )
        docs = a.documents(collection, user=user)
        names = {d.source: PurePath(d.source).name for d in docs}
        picked = st.multiselect(
            "Documents (none selected = all)",
            list(names),
            format_func=names.__getitem__,
            key="scope",
        )
        st.subheader("Answers")
        answer_mode = st.radio(
            "Answer mode",
            ANSWER_MODES,
            index=ANSWER_MODES.index(s.answer_mode),
            key="answer_mode",
            help="extractive: the documents' own sentences, no model, cannot invent. "
            "generative: the model's answer, checked sentence by sentence. "
            "auto: the model's answer if most of it is supported, else extractive.",
        )
        strict = st.toggle("Strict: drop unsupported sentences", s.strict, key="strict")
        st.subheader("Retrieval")
        top_k = st.slider("Passages (top-k)", 1, 20, s.top_k, key="top_k")
        mode = st.radio("Mode", MODES, index=MODES.index(s.retrieval_mode), key="mode")
        st.subheader("Installation")
        st.caption(f"Chat model: {inert(a.model_status())}")
        embedder_name = PurePath(str(s.embed_model)).name if s.embed_model else "all-MiniLM-L6-v2"
        st.caption(
            f"Embedder: **{inert(embedder_name)}** — "
            + ("loaded" if a.loaded["embedder"] else "not loaded")
        )
        st.text_input("Data directory", str(s.data_dir), disabled=True, key="data_dir")
        st.caption("Models and data directory are set with RAG_* variables; restart to change.")
    return Choices(collection, picked or None, int(top_k), mode, answer_mode, bool(strict))
