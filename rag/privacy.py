"""Keep every library we use offline and quiet.

chromadb, unstructured, onnxruntime, Hugging Face libraries and Streamlit all phone home by
default (telemetry, model downloads, update checks). :func:`lock_down` sets the
switches each library reads, before that library is imported. It is called by
every entry point (CLI, web UI, :class:`rag.Assistant`) and is idempotent.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "OFFLINE_ENV",
    "STREAMLIT_FLAGS",
    "UNSTRUCTURED_ENV",
    "lock_down",
    "loose_modes",
    "private_dir",
    "private_files",
]

#: unstructured reads these before it sends usage data or prints its notice.
UNSTRUCTURED_ENV = {
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}

#: Environment switches that keep the stack offline. Values are forced, not
#: defaulted: a user's environment must not re-enable downloads or telemetry.
OFFLINE_ENV: dict[str, str] = {
    # Hugging Face hub, transformers, sentence-transformers: never download.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    # chromadb (posthog) telemetry.
    "ANONYMIZED_TELEMETRY": "False",
    # onnxruntime (the embedder): since 1.29 its Linux wheels post a process-information
    # event to Microsoft (mobile.events.data.microsoft.com) and write a device id under
    # ~/.cache/Microsoft; read once, when its environment is created.
    "ORT_DISABLE_TELEMETRY": "1",
    # unstructured: usage pings and its start-up notice.
    **UNSTRUCTURED_ENV,
    # Streamlit usage statistics.
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    # Download-style progress bars while loading local weights are noise in a CLI.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    # Tokenizers fork warnings are noise in a CLI.
    "TOKENIZERS_PARALLELISM": "false",
}


#: ``streamlit run`` options for the web UI: no usage statistics, no browser
#: opened, no file watcher, no development-mode asset server, loopback only
#: unless ``--server.address`` says otherwise (``rag ui --host``).
STREAMLIT_FLAGS: tuple[str, ...] = (
    "--browser.gatherUsageStats=false",
    "--server.headless=true",
    "--server.fileWatcherType=none",
    "--server.runOnSave=false",
    "--client.toolbarMode=minimal",
    "--server.showEmailPrompt=false",
)


def lock_down() -> None:
    """Set the offline and no-telemetry switches for this process and its children."""
    os.environ.update(OFFLINE_ENV)


def private_files() -> None:
    """From now on, files and folders this process creates are its account's alone
    (umask 077): the index holds every document's text, the accounts' password hashes
    and the audit log. Front ends (CLI, UI, API) call this first; a program using the
    library keeps its own umask, and the data directory's mode (:func:`private_dir`)
    still keeps other accounts out."""
    os.umask(0o077)


def private_dir(path: Path) -> Path:
    """``path`` as a folder, created (with its parents) mode 0700 if it is missing. An
    existing folder keeps its mode: an operator may have shared it on purpose, and
    ``rag check`` reports it (:func:`loose_modes`)."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def loose_modes(folder: Path, most: int = 10) -> list[str]:
    """What in ``folder`` other accounts may read or enter (group or other permission
    bits), as lines for ``rag check``: the folder itself first. Nothing inside a folder
    others cannot enter is reachable, so its contents are listed only when it is open."""
    if not folder.exists():
        return []
    mode = folder.stat().st_mode & 0o777
    if not mode & 0o077:
        return []
    found = [
        f"the data directory {folder} is open to other accounts (mode {mode:o}): "
        f"chmod -R go-rwx {folder}"
    ]
    loose = [p for p in sorted(folder.rglob("*")) if p.lstat().st_mode & 0o077]
    found += [
        f"{p} is open to other accounts (mode {p.lstat().st_mode & 0o777:o})" for p in loose[:most]
    ]
    if len(loose) > most:
        found.append(f"... and {len(loose) - most} more files open to other accounts")
    return found
