"""Egress guard, loaded at interpreter start-up through ``PYTHONPATH``.

Put this folder on ``PYTHONPATH`` and set ``RAG_EGRESS_LOG`` to a file: from the
very first import on, every attempt of this Python process (and of any Python
child that inherits the environment) to reach a host other than this machine —
a ``connect``/``connect_ex``/``sendto`` to a non-loopback address,
``socket.create_connection`` to one, or a name lookup of a non-local name — is
appended to that file as one JSON line (with the Python stack that made it) and
raises :class:`EgressBlocked` (an ``OSError``) *before* anything is sent.

If ``RAG_EGRESS_STARTS`` is set, each process that loaded the guard appends one
line to that file (its argv and the *names* of its environment variables at
start-up), so a test can tell the guard really was active and what it started with.

Only the test-suite uses this (tests/integration/test_no_egress.py).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import sys
import traceback
from typing import Any

LOG = os.environ.get("RAG_EGRESS_LOG")
STARTS = os.environ.get("RAG_EGRESS_STARTS")

_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_INET = (socket.AF_INET, socket.AF_INET6)


class EgressBlocked(OSError):
    """A non-loopback network access was attempted under the egress guard."""


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)


def _is_local_host(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, ...) means the wildcard/loopback address
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip().rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False  # a name that needs resolving: not local
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _blocked(kind: str, destination: object) -> EgressBlocked:
    stack = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_stack()[:-2]]
    record = {
        "pid": os.getpid(),
        "argv": getattr(sys, "orig_argv", sys.argv),
        "call": kind,
        "destination": repr(destination),
        "stack": stack[-25:],
    }
    if LOG:
        with contextlib.suppress(OSError):
            _append(LOG, json.dumps(record))
    message = f"egress blocked by test guard: {kind}({destination!r})"
    with contextlib.suppress(Exception):
        sys.stderr.write(f"[egress-guard] {message}\n")
    return EgressBlocked(message)


def _address_host(family: int, address: object) -> object | None:
    """The host part of an AF_INET/AF_INET6 address, None for other families."""
    if family not in _INET:
        return None
    if isinstance(address, tuple) and address:
        return address[0]
    return address


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_sendmsg = socket.socket.sendmsg
_real_create_connection = socket.create_connection
_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname
_real_gethostbyname_ex = socket.gethostbyname_ex


def _connect(self: socket.socket, address: Any) -> None:
    host = _address_host(self.family, address)
    if host is not None and not _is_local_host(host):
        raise _blocked("socket.connect", address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    host = _address_host(self.family, address)
    if host is not None and not _is_local_host(host):
        raise _blocked("socket.connect_ex", address)
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    address = args[-1] if args else None  # sendto(data, [flags,] address)
    host = _address_host(self.family, address)
    if host is not None and not _is_local_host(host):
        raise _blocked("socket.sendto", address)
    return int(_real_sendto(self, data, *args))


def _sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
    address = args[2] if len(args) > 2 else None  # sendmsg(buffers, anc, flags, address)
    host = _address_host(self.family, address)
    if host is not None and not _is_local_host(host):
        raise _blocked("socket.sendmsg", address)
    return int(_real_sendmsg(self, buffers, *args))


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local_host(host):
        raise _blocked("socket.create_connection", address)
    return _real_create_connection(address, *args, **kwargs)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local_host(host):
        raise _blocked("socket.getaddrinfo", host)
    return _real_getaddrinfo(host, *args, **kwargs)


def _gethostbyname(host: Any) -> str:
    if not _is_local_host(host):
        raise _blocked("socket.gethostbyname", host)
    return _real_gethostbyname(host)


def _gethostbyname_ex(host: Any) -> Any:
    if not _is_local_host(host):
        raise _blocked("socket.gethostbyname_ex", host)
    return _real_gethostbyname_ex(host)


for _name, _guarded in {
    "connect": _connect,
    "connect_ex": _connect_ex,
    "sendto": _sendto,
    "sendmsg": _sendmsg,
}.items():
    setattr(socket.socket, _name, _guarded)
for _name, _guarded in {
    "create_connection": _create_connection,
    "getaddrinfo": _getaddrinfo,
    "gethostbyname": _gethostbyname,
    "gethostbyname_ex": _gethostbyname_ex,
}.items():
    setattr(socket, _name, _guarded)

if STARTS:
    try:
        # Variable names only (no values): what this process started with.
        start = {
            "pid": os.getpid(),
            "argv": getattr(sys, "orig_argv", sys.argv),
            "env": sorted(os.environ),
        }
        _append(STARTS, json.dumps(start))
    except OSError:
        pass
