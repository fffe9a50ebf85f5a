"""The web UI: ``rag ui`` (or ``streamlit run ui/app.py``).

A thin layer over :class:`rag.Assistant`: the pages call the library and render
what it returns; no retrieval or ingestion logic lives here.
"""

from __future__ import annotations

import streamlit as st

from rag.privacy import lock_down, private_files
from ui.state import assistant, sign_in

lock_down()
private_files()

# An emoji icon becomes a data: URL; a :material/ page icon would be fetched from Google.
st.set_page_config(page_title="rag — your documents", page_icon="📄")

if st.get_option("browser.gatherUsageStats"):
    # Only possible if someone started Streamlit by hand with statistics on.
    st.error("Streamlit usage statistics are on. Start the app with `rag ui` to keep it private.")

st.markdown(
    """<style>
    .rag-passage { font-size: 0.92rem; line-height: 1.5; }
    .rag-passage mark.rag-support { background: #ffe58a; padding: 0 .1em; }
    </style>""",
    unsafe_allow_html=True,
)

# Once accounts exist, nothing below runs until someone signs in.
user = sign_in(assistant())
pages = [
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("pages/library.py", title="Library", icon=":material/folder_open:"),
]
if user is None or user.admin:  # no accounts yet (a local, single-user install), or an admin
    pages.append(st.Page("pages/admin.py", title="Users & access", icon=":material/group:"))
st.navigation(pages).run()
