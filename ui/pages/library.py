"""Library: what is ingested; upload files or ingest a folder; remove documents."""

from __future__ import annotations

import time
from pathlib import PurePath

import streamlit as st

from rag import AccessDenied, IngestReport
from rag.ingest.parse import SUPPORTED_SUFFIXES
from ui.render import document_rows, eta, inert, page_line
from ui.state import assistant, sidebar, signed_in

a = assistant()
choices = sidebar(a)
collection = choices.collection
user = signed_in()
# Ingesting a server folder reads files as this process: admins only, once accounts exist.
may_ingest_folders = user is None or user.admin

st.title("Library")


def run_ingest(paths: list[str], what: str, access: list[str] | None = None) -> IngestReport:
    """Ingest ``paths`` with an overall bar (with ETA), the page a long document's parse
    has reached (``scan.pdf: page 37/300 (OCR)``) and a line per file."""
    bar = st.progress(0.0, text=inert(f"Ingesting {what}…"))
    current = st.empty()
    started = time.perf_counter()
    shown = [0.0]
    with st.status(inert(f"Ingesting {what}…"), expanded=True) as status:

        def progress(path: str, outcome: str, done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=eta(time.perf_counter() - started, done, total))
            st.markdown(inert(f"{PurePath(path).name}: {outcome}"))

        def page_progress(path: str, page: int, pages: int | None, ocr: bool) -> None:
            now = time.perf_counter()
            if now - shown[0] >= 0.2 or page == pages:  # a text PDF's pages fly by
                shown[0] = now
                current.caption(page_line(path, page, pages, ocr))

        report = a.ingest(
            paths, collection, progress, user=user, access=access, page_progress=page_progress
        )
        current.empty()
        status.update(
            label=inert(f"Ingested {what}: {report.summary()}"),
            state="error" if report.failed else "complete",
            expanded=False,
        )
    show_report(report)
    return report


def show_report(report: IngestReport) -> None:
    if report.added or report.updated:
        st.success(f"{report.summary()}", icon="✅")
    elif not report.failed:
        st.info(report.summary(), icon="ℹ️")
    for failure in report.failed:
        name, reason = inert(PurePath(failure.path).name), inert(failure.reason)
        st.error(f"**{name}** was not ingested: {reason}", icon="⚠️")
    for skipped in report.skipped:
        st.caption(inert(f"{PurePath(skipped.path).name}: {skipped.reason}"))


def readers_choice(key: str) -> list[str] | None:
    """Who may read what is added: only offered once accounts exist."""
    if user is None:
        return None
    options = ["everyone", f"user:{user.name}", *(f"group:{g}" for g in user.groups)]
    options += [p for p in a.settings.default_access if p not in options]
    picked = st.multiselect(
        "Who may read these documents",
        options,
        default=[p for p in a.settings.default_access if p in options],
        key=key,
    )
    return picked or [f"user:{user.name}"]


tabs = ["Upload files"] + (["Ingest a folder on this machine"] if may_ingest_folders else [])
add_files, *more = st.tabs(tabs)
with add_files:
    with st.form("upload", clear_on_submit=True):
        uploads = st.file_uploader(
            "Documents",
            type=sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES),
            accept_multiple_files=True,
        )
        upload_access = readers_choice("upload_access")
        submitted = st.form_submit_button("Add to library", icon=":material/upload:")
    if submitted and uploads:
        saved = a.save_uploads(((u.name, u.getvalue()) for u in uploads), collection, user=user)
        for dup in (u for u in saved if u.duplicate_of):
            same = PurePath(dup.duplicate_of or "").name
            st.warning(
                f"**{inert(dup.name)}** is already in the library (same content as {inert(same)}).",
                icon="♻️",
            )
        new = [str(u.path) for u in saved if u.path is not None]
        if new:
            run_ingest(new, f"{len(new)} file(s)", upload_access)
for add_folder in more:
    with add_folder, st.form("folder"):
        folder = st.text_input(
            "Folder path", placeholder="/srv/shared/contracts", help="Read recursively."
        )
        folder_access = readers_choice("folder_access")
        go = st.form_submit_button("Ingest folder", icon=":material/folder:")
    if go and folder.strip():
        run_ingest([folder.strip()], folder.strip(), folder_access)

docs = a.documents(collection, user=user)
st.subheader(f"{len(docs)} document(s) in “{collection}”")
needle = st.text_input("Filter by name or path", key="library_filter")
rows = document_rows(docs, needle)
st.dataframe(rows, hide_index=True, width="stretch")

if docs:
    with st.form("remove"):
        target = st.selectbox(
            "Remove a document",
            [r["path"] for r in rows],
            format_func=lambda p: PurePath(str(p)).name,
        )
        if st.form_submit_button("Remove", icon=":material/delete:") and target:
            try:
                removed = a.remove(str(target), collection, user=user)
            except AccessDenied as exc:
                st.error(inert(str(exc)), icon="🔒")
            else:
                st.session_state["removed"] = removed
                st.rerun()
if removed := st.session_state.pop("removed", None):
    st.toast(inert(f"Removed {', '.join(PurePath(r).name for r in removed)}"))
