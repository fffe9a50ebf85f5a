"""Chat: ask, watch the answer stream, open its sources."""

from __future__ import annotations

import streamlit as st

from rag import Answer, Draft, Token
from rag.answer.types import REFUSAL
from ui.render import (
    citation_caption,
    citation_title,
    corrected_line,
    inert,
    passage_html,
    scan_caption,
    unsupported_line,
)
from ui.state import assistant, sidebar, signed_in

a = assistant()
choices = sidebar(a)
user = signed_in()

if "turns" not in st.session_state:
    st.session_state.turns = []  # [(question, Answer)], oldest first
turns: list[tuple[str, Answer]] = st.session_state.turns


def show_sources(answer: Answer) -> None:
    """Each citation as an expander: file, page, score, the passage with the support marked;
    and the sentences the documents do not support, flagged."""
    if answer.refused:
        st.info(REFUSAL + " Try other words, or check the document is in the library.", icon="🔎")
        return
    if answer.model_error:
        st.error(f"The model could not answer: {inert(answer.model_error)}", icon="⚠️")
        st.caption("ℹ️ Showing the passages' own words instead.")
    elif answer.note:
        st.caption(f"ℹ️ {inert(answer.note)}")
    for s in answer.unsupported:
        st.warning(unsupported_line(s), icon="⚠️")
    for s in answer.sentences:
        if s.corrected:
            st.caption(corrected_line(s))
    st.caption("Sources")
    for c in answer.citations:
        with st.expander(citation_title(c)):
            st.caption(citation_caption(c))
            if scanned := scan_caption(c):
                st.caption(f"⚠️ {scanned}")
            st.markdown(passage_html(answer, c), unsafe_allow_html=True)


st.title("Ask your documents")
if not a.documents(choices.collection, user=user):
    st.info("No documents yet: add some on the **Library** page.", icon="📂")

with st.sidebar:
    if st.button("New conversation", icon=":material/restart_alt:", disabled=not turns):
        turns.clear()
        st.rerun()

for asked, answered in turns:
    with st.chat_message("user"):
        st.markdown(inert(asked))
    with st.chat_message("assistant"):
        if not answered.refused:
            st.markdown(inert(answered.text))
        show_sources(answered)

if question := st.chat_input("Ask a question about your documents"):
    with st.chat_message("user"):
        st.markdown(inert(question))
    with st.chat_message("assistant"):
        stream = a.ask_stream(
            question,
            k=choices.top_k,
            mode=choices.mode,
            collection=choices.collection,
            sources=choices.sources,
            history=[q for q, _ in turns],
            answer_mode=choices.answer_mode,
            strict=choices.strict,
            user=user,
        )
        slot = st.empty()
        streamed = ""
        for event in stream:
            if isinstance(event, Draft):  # auto: the passages' own words, while the model writes
                with slot.container():
                    st.markdown(inert(event.answer.text))
                    st.caption("Checking the model's answer against your documents…")
            elif isinstance(event, Token):  # generative: the model's text as it is written
                streamed += event.text
                slot.markdown(inert(streamed) + "▌")
        answer = stream.answer
        if answer.refused:
            slot.empty()
        else:  # the checked answer, in place of the draft or the raw text
            slot.markdown(inert(answer.text))
        show_sources(answer)
    turns.append((question, answer))
