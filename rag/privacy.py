"""Keep every library we use offline and quiet.

chromadb, unstructured, onnxruntime, Hugging Face libraries and Streamlit all phone home by
default (telemetry, model downloads, update checks). :func:`lock_down` sets the
switches each library reads, before that library is imported. It is called by
every entry point (CLI, web UI, :class:`rag.Assistant`) and is idempotent.
"""

from __future__ import annotations

import os

__all__ = ["OFFLINE_ENV", "STREAMLIT_FLAGS", "UNSTRUCTURED_ENV", "lock_down"]

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
