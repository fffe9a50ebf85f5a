"""Start the web UI's Streamlit server: private, bound to the names it is served under,
and never asking anyone for this machine's address.

``rag ui`` replaces itself with ``python -m ui.serve HOST PORT [NAME...] -- APP ARGS``.
Three things Streamlit does not do by itself:

- **No lookups of this machine's address.** For a server on ``0.0.0.0`` Streamlit's
  banner, and for a WebSocket from an unknown origin its origin check, ask
  ``checkip.amazonaws.com`` for the public IP (and open a socket towards 8.8.8.8 for
  the internal one). Both lookups are switched off here, before the server starts.
- **No DNS rebinding.** ``server.allowedHosts`` lists the names the UI is served
  under (loopback names, the ``--host`` given, ``RAG_UI_HOSTNAMES``, and for a
  wildcard address this machine's name and addresses): a page on ``attacker.example``
  that rebinds its name to 127.0.0.1 sends ``Host: attacker.example`` and is refused.
- **No cross-site WebSockets.** ``server.enableCORS`` makes Streamlit check a WebSocket's
  Origin: a page on another site cannot drive the UI of a user who visits it, and
  Streamlit needs no XSRF token to open a WebSocket, so this is the only guard.
"""

from __future__ import annotations

import socket
import sys
from ipaddress import ip_address

__all__ = ["allowed_hosts", "main"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, names: list[str]) -> list[str]:
    """The Host header values the UI accepts when served on ``host``."""
    allowed = [*LOOPBACK_NAMES, *names]
    if host not in WILDCARDS:
        allowed.append(host)
    else:  # anyone reaching any address of this machine: its name and addresses
        allowed.append(socket.gethostname())
        allowed += _own_addresses()
    return list(dict.fromkeys(a.strip().lower() for a in allowed if a.strip()))


def _own_addresses() -> list[str]:
    """This machine's interface addresses, read locally (no DNS, no packets)."""
    try:
        import psutil
    except ImportError:
        return []
    return [
        a.address.split("%")[0]
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family in (socket.AF_INET, socket.AF_INET6)
    ]


def _no_address_lookups() -> None:
    from streamlit import net_util

    net_util.get_external_ip = lambda: None
    net_util.get_internal_ip = lambda: None


def main(argv: list[str] | None = None) -> None:
    from rag.privacy import STREAMLIT_FLAGS, lock_down, private_files

    lock_down()
    private_files()
    args = sys.argv[1:] if argv is None else argv
    split = args.index("--")
    host, port, *names = args[:split]
    app, *app_args = args[split + 1 :]
    _no_address_lookups()
    flags = [*STREAMLIT_FLAGS, "--server.address", host, "--server.port", port]
    flags += ["--server.enableCORS=true", "--server.enableXsrfProtection=true"]
    for name in allowed_hosts(host, names):
        flags += ["--server.allowedHosts", name]
    from streamlit.web import cli as streamlit_cli

    sys.argv = ["streamlit", "run", app, *flags, "--", *app_args]
    streamlit_cli.main()


if __name__ == "__main__":
    main()
