"""Confine the parser worker: no network, and no writes outside its scratch folder.

:func:`confine` is called once, first thing in the worker (see
:mod:`rag.ingest.sandbox`), before any thread is started and before any document is
read. It uses what the kernel offers, without privileges, and reports what it got:

- network: a new user and network namespace (``unshare(CLONE_NEWUSER | CLONE_NEWNET)``),
  which has no interface but a loopback that is down, so no socket can reach anything,
  not even this machine; where user namespaces are forbidden, Landlock's TCP rules
  (ABI 4, Linux 6.7) deny every TCP bind and connect, which leaves UDP (DNS) open;
- files: Landlock (ABI 1, Linux 5.13) denies every kind of write (create, write,
  truncate, remove, rename, link, make a device, a FIFO, a socket or a symbolic link)
  outside the scratch folder and ``/dev/null``, and device ioctls (ABI 5) everywhere
  but ``/dev/null``; reading stays allowed everywhere (the parsers read the document
  and their own libraries);
- where Landlock knows it (ABI 6, Linux 6.12), no signals to processes outside the
  worker and no connecting to abstract Unix sockets of processes outside it.

Landlock also keeps the worker from tracing other processes and from mounting
anything. It does not hide files: the worker can read whatever the user can, and
it can still connect to a Unix socket that exists as a file (``/run/...``). The
worker's user id reads as 65534 ("nobody") inside its namespace, with no
capability over any file. Files opened before :func:`confine` keep their access.

Linux on x86-64 and arm64 (the Landlock system-call numbers are the same on both);
elsewhere, or on a kernel without these features, the worker runs unconfined and
:func:`confine` says so.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

__all__ = ["FILES", "NETWORK", "confine"]

#: What :func:`confine` reports for the network: a namespace of its own, Landlock's
#: TCP rules, or nothing.
NETWORK = ("namespace", "landlock", "none")
#: What :func:`confine` reports for writing files: Landlock, or nothing.
FILES = ("landlock", "none")

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38

# System-call numbers (the same on every architecture that has them).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

# Filesystem access rights (include/uapi/linux/landlock.h) that change something.
_WRITE_FILE = 1 << 1
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13  # ABI 2: rename or link a file into another folder
_TRUNCATE = 1 << 14  # ABI 3
_IOCTL_DEV = 1 << 15  # ABI 5: ioctl on a device, e.g. TIOCSTI on a terminal
_WRITES_BY_ABI = {
    1: _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_CHAR | _MAKE_DIR | _MAKE_REG
    | _MAKE_SOCK | _MAKE_FIFO | _MAKE_BLOCK | _MAKE_SYM,
    2: _REFER,
    3: _TRUNCATE,
    5: _IOCTL_DEV,
}  # fmt: skip
#: The rights a rule for a file, not a folder, may hold.
_FILE_RIGHTS = _WRITE_FILE | _TRUNCATE | _IOCTL_DEV
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1


class _RulesetAttr(ctypes.Structure):
    """struct landlock_ruleset_attr; the kernel reads as many fields as the size says."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),  # ABI 4
        ("scoped", ctypes.c_uint64),  # ABI 6
    ]


class _PathBeneathAttr(ctypes.Structure):
    """struct landlock_path_beneath_attr, which is packed (12 bytes)."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def confine(scratch: Path) -> dict[str, str]:
    """Confine this process (and every process it starts) as the module says, allowing
    writes beneath ``scratch`` only; which protections took effect: ``{"network":
    "namespace" | "landlock" | "none", "files": "landlock" | "none"}``.

    Call it before starting any thread: the kernel refuses a new user namespace to a
    multithreaded process, and Landlock confines only the calling thread and the
    threads and processes it starts afterwards.
    """
    libc = _libc()
    network = "namespace" if libc is not None and _unshare_network(libc) else "none"
    abi = _landlock_abi(libc) if libc is not None else 0
    files = "none"
    if libc is not None and abi >= 1 and _restrict(libc, abi, scratch):
        files = "landlock"
        if network == "none" and abi >= 4:
            network = "landlock"
    return {"network": network, "files": files}


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.syscall.restype = ctypes.c_long
    return libc


def _unshare_network(libc: ctypes.CDLL) -> bool:
    """Enter a new user namespace (which lets an unprivileged process have its own
    network namespace) and a new network namespace. No user id map is written: the
    worker then has no capability over any file, not even the user's own."""
    try:
        return int(libc.unshare(ctypes.c_int(_CLONE_NEWUSER | _CLONE_NEWNET))) == 0
    except AttributeError:  # a C library without unshare()
        return False


def _landlock_abi(libc: ctypes.CDLL) -> int:
    """The Landlock ABI version the kernel offers; 0 without Landlock."""
    version = libc.syscall(
        ctypes.c_long(_SYS_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(_CREATE_RULESET_VERSION),
    )
    return max(int(version), 0)


def _restrict(libc: ctypes.CDLL, abi: int, scratch: Path) -> bool:
    """Apply the Landlock rules; False (nothing applied) where the kernel refuses."""
    writes = 0
    for since, rights in _WRITES_BY_ABI.items():
        if abi >= since:
            writes |= rights
    attr = _RulesetAttr(handled_access_fs=writes)
    size = _RulesetAttr.handled_access_net.offset  # only the fields this ABI knows
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP  # no rule allows any
        size = _RulesetAttr.scoped.offset
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = ctypes.sizeof(_RulesetAttr)
    ruleset = int(
        libc.syscall(
            ctypes.c_long(_SYS_CREATE_RULESET),
            ctypes.byref(attr),
            ctypes.c_size_t(size),
            ctypes.c_uint32(0),
        )
    )
    if ruleset < 0:
        return False
    try:
        # Parsers write their temporary files to the scratch folder (TMPDIR), and some
        # libraries send output to /dev/null.
        allowed = _allow(libc, ruleset, scratch, writes)
        allowed = allowed and _allow(libc, ruleset, Path(os.devnull), writes & _FILE_RIGHTS)
        return allowed and _restrict_self(libc, ruleset)
    finally:
        os.close(ruleset)


def _allow(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> bool:
    """Allow ``rights`` on ``path`` and, for a folder, everything beneath it."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        added = libc.syscall(
            ctypes.c_long(_SYS_ADD_RULE),
            ctypes.c_int(ruleset),
            ctypes.c_int(_RULE_PATH_BENEATH),
            ctypes.byref(rule),
            ctypes.c_uint32(0),
        )
        return int(added) == 0
    finally:
        os.close(fd)


def _restrict_self(libc: ctypes.CDLL, ruleset: int) -> bool:
    # Required by the kernel for an unprivileged process, and it keeps any program the
    # worker runs from gaining privileges (set-user-ID files) that would lift the rules.
    if libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), *map(ctypes.c_ulong, (1, 0, 0, 0))) != 0:
        return False
    return (
        int(
            libc.syscall(
                ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
            )
        )
        == 0
    )
