"""The package's shape, kept: imports point down the data flow, and front ends reach
accounts, the audit log and every rule only through the library API.

Layers, lowest first (a module may import its own layer and those below)::

    errors, text, config, sqlite, privacy,       the ground everything stands on
    processes
    ingest                                       files -> chunks
    models                                       embedders and chat models
    retrieval, index, trust                      stores, keyword index, manifest, accounts
    collection                                   one collection's parts, in step
    answer                                       the answer pipeline
    assistant                                    the library API
    cli, evaluate, progress, serve               front ends (ui/ sits above)
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [
    {"rag.errors", "rag.text", "rag.config", "rag.sqlite", "rag.privacy", "rag.processes"},
    {"rag.ingest"},
    {"rag.models"},
    {"rag.retrieval", "rag.index", "rag.trust"},
    {"rag.collection"},
    {"rag.answer"},
    {"rag.assistant"},
    {"rag.cli", "rag.evaluate", "rag.progress", "rag.serve", "rag"},
]
FRONT_ENDS = [
    *sorted((ROOT / "ui").rglob("*.py")),
    *sorted((ROOT / "rag" / "serve").rglob("*.py")),
    ROOT / "rag" / "cli.py",
]
STORES = {"rag.trust.accounts", "rag.trust.audit", "rag.sqlite"}
STORE_ATTRIBUTES = {"_accounts", "_audit", "users_db"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    for depth in range(module.count(".") + 1, 0, -1):
        prefix = ".".join(module.split(".")[:depth])
        for n, layer in enumerate(LAYERS):
            if prefix in layer:
                return n
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "rag" or name.startswith("rag.")]


def test_imports_point_down_the_data_flow() -> None:
    upward = []
    for path in sorted((ROOT / "rag").rglob("*.py")):
        here = _module(path)
        mine = _layer(here)
        assert mine is not None, f"{here} is in no layer: add it to LAYERS"
        for line, name in _imports(path):
            theirs = _layer(name)
            if theirs is not None and theirs > mine:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not upward, "imports against the data flow:\n" + "\n".join(upward)


def test_front_ends_use_only_the_library_api_for_accounts_and_audit() -> None:
    reached = []
    for path in FRONT_ENDS:
        tree = ast.parse(path.read_text())
        for line, name in _imports(path):
            if name in STORES:
                reached.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in STORE_ATTRIBUTES:
                reached.append(f"{path.relative_to(ROOT)}:{node.lineno} uses .{node.attr}")
    assert not reached, "front ends reaching the account or audit stores:\n" + "\n".join(reached)
