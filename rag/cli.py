"""The ``rag`` command: a thin layer over :class:`rag.Assistant`.

Exit codes: 0 success; 1 some files failed to ingest, or nothing to remove;
2 usage error; 3 any other error rag reports (bad setting, missing model, store);
4 not signed in, wrong password, or not allowed.

Once user accounts exist, commands that read or change documents need
``--user NAME`` (or ``RAG_USER``); the password comes from ``RAG_PASSWORD`` or,
on a terminal, a prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import AccessDenied, AuthError, InvalidInput, RagError

__all__ = ["main"]

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ERROR, EXIT_DENIED = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="where the index lives (RAG_DATA_DIR)")
    common.add_argument("--collection", help="collection to use (RAG_COLLECTION)")
    common.add_argument(
        "--user", metavar="NAME", help="sign in as NAME (RAG_USER; password: RAG_PASSWORD)"
    )
    admin = argparse.ArgumentParser(add_help=False)
    admin.add_argument("--data-dir", type=Path, help="where the index lives (RAG_DATA_DIR)")
    admin.add_argument(
        "--as",
        dest="user",
        metavar="NAME",
        help="sign in as NAME, an admin (RAG_USER; password: RAG_PASSWORD)",
    )
    retrieval = argparse.ArgumentParser(add_help=False)
    retrieval.add_argument("--k", type=int, help="passages to retrieve (RAG_TOP_K)")
    retrieval.add_argument(
        "--retrieval",
        choices=["hybrid", "dense", "keyword"],
        help="retrieval mode (RAG_RETRIEVAL_MODE)",
    )
    retrieval.add_argument(
        "--mode",
        choices=["generative", "extractive", "auto", "hybrid", "dense", "keyword"],
        help="answer mode (RAG_ANSWER_MODE): generative, extractive or auto; "
        "hybrid/dense/keyword here set the retrieval mode, as --retrieval does",
    )
    retrieval.add_argument("--under", metavar="PATH", help="only documents under this path")
    retrieval.add_argument("--json", action="store_true", help="machine-readable output")

    parser = argparse.ArgumentParser(prog="rag", description="A private document assistant.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", parents=[common], help="ingest files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--allow",
        action="append",
        metavar="WHO",
        help="who may read these files: group:NAME, user:NAME or everyone (repeatable; "
        "default: keep a known document's list, RAG_DEFAULT_ACCESS for new ones)",
    )
    p = sub.add_parser("ask", parents=[common, retrieval], help="ask a question")
    p.add_argument("question")
    p.add_argument(
        "--strict", action="store_true", help="drop sentences the documents do not support"
    )
    p = sub.add_parser("search", parents=[common, retrieval], help="retrieve passages only")
    p.add_argument("queries", nargs="*", metavar="QUERY")
    p.add_argument(
        "--queries", dest="queries_file", type=Path, metavar="FILE", help="one query per line"
    )
    p = sub.add_parser("docs", parents=[common], help="list ingested documents")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("remove", parents=[common], help="remove a document (or a folder's)")
    p.add_argument("path")
    p = sub.add_parser("eval", parents=[common, retrieval], help="score answers on a QA file")
    p.add_argument("qa_file", type=Path, metavar="QA_FILE")
    p = sub.add_parser("access", parents=[common], help="show or set who may read a document")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--allow", action="append", metavar="WHO", help="the new access list (admins)")
    p = sub.add_parser("check", parents=[admin], help="check the index against the manifest")
    p = sub.add_parser("audit", parents=[admin], help="print the audit log (admins)")
    p.add_argument("--user", dest="filter_user", metavar="U", help="only entries by user U")
    p.add_argument("--since", metavar="DATE", help="only entries at or after DATE (ISO 8601)")
    p.add_argument("--action", help="only entries of this kind (ask, search, ingest, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--verify", action="store_true", help="check the log's hash chain")
    users = sub.add_parser("users", help="manage user accounts (admins)")
    usub = users.add_subparsers(dest="action", required=True)
    p = usub.add_parser("add", parents=[admin], help="add a user (password: RAG_NEW_PASSWORD)")
    p.add_argument("name")
    p.add_argument("--group", action="append", default=[], metavar="G", help="repeatable")
    p.add_argument("--admin", action="store_true", help="may manage users and access")
    p = usub.add_parser("list", parents=[admin], help="list users and their groups")
    p = usub.add_parser("remove", parents=[admin], help="remove a user")
    p.add_argument("name")
    p = usub.add_parser("groups", parents=[admin], help="set a user's groups")
    p.add_argument("name")
    p.add_argument("groups", nargs="*", metavar="G")
    p = usub.add_parser("passwd", parents=[admin], help="set a password (RAG_NEW_PASSWORD)")
    p.add_argument("name")
    sub.add_parser(
        "prepare",
        help="build the fast (ONNX int8) embedder and measure how llama.cpp runs here; "
        "make install runs it",
    )
    sub.add_parser("info", parents=[admin], help="the models, how they run here, the data")
    p = sub.add_parser(
        "model-server",
        help="serve the configured GGUF model over an OpenAI-compatible API (llama.cpp)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--embedding", action="store_true", help="serve /v1/embeddings too")
    p = sub.add_parser("ui", parents=[common], help="start the web UI (Streamlit)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from rag.config import Settings

    mode = getattr(args, "mode", None)
    retrieval = getattr(args, "retrieval", None)
    if mode in ("hybrid", "dense", "keyword"):
        retrieval, mode = retrieval or mode, None
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "collection": getattr(args, "collection", None),
        "top_k": getattr(args, "k", None),
        "retrieval_mode": retrieval,
        "answer_mode": mode,
        "strict": getattr(args, "strict", None) or None,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ui":
        return _ui(args)
    if args.command == "model-server":
        return _model_server(args)
    if args.command == "ingest":
        # The parser worker's start (~4 s of imports) overlaps this process's own imports,
        # the store's opening and the embedder's loading.
        from rag.ingest.sandbox import prestart
        from rag.privacy import lock_down

        lock_down()
        prestart()
    try:
        from pydantic import ValidationError

        try:
            settings = _settings(args)
        except ValidationError as exc:
            print(f"rag: invalid setting: {exc}", file=sys.stderr)
            return EXIT_USAGE
        from rag.assistant import Assistant

        assistant = Assistant(settings)
        args.user = _sign_in(assistant, getattr(args, "user", None))
        return int(_COMMANDS[args.command](assistant, args))
    except RagError as exc:
        print(f"rag: {exc}", file=sys.stderr)
        return next((c for k, c in _EXIT_CODES.items() if isinstance(exc, k)), EXIT_ERROR)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # ``rag search ... | head``: the reader has gone, and that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug: one line, not a traceback (RAG_DEBUG=1 shows it)
        if os.environ.get("RAG_DEBUG"):
            raise
        print(
            f"rag: internal error, please report it: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return EXIT_ERROR


#: Exit codes follow the error tree (rag/errors.py); every other RagError is 3.
_EXIT_CODES: dict[type[RagError], int] = {
    InvalidInput: EXIT_USAGE,
    AuthError: EXIT_DENIED,
    AccessDenied: EXIT_DENIED,
}


def _shown(path: str) -> str:
    """A path safe to print on a terminal: control characters (a file name may hold an
    escape sequence that rewrites the screen) are shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


def _sign_in(assistant: Any, name: str | None) -> Any:
    """The signed-in user for ``--user``/``RAG_USER``, or None when no name is given."""

    name = name or os.environ.get("RAG_USER") or None
    if name is None:
        return None
    password = os.environ.get("RAG_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise AuthError("no password: set RAG_PASSWORD or run rag in a terminal")
        import getpass

        password = getpass.getpass(f"Password for {name}: ")
    return assistant.authenticate(name, password)


def _new_password(name: str) -> str:

    password = os.environ.get("RAG_NEW_PASSWORD")
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise InvalidInput("no password for the new account: set RAG_NEW_PASSWORD")
    import getpass

    password = getpass.getpass(f"New password for {name}: ")
    if getpass.getpass("Again: ") != password:
        raise InvalidInput("the passwords differ")
    return password


# -- commands -------------------------------------------------------------------------


def _ingest(assistant: Any, args: argparse.Namespace) -> int:
    from rag.progress import FileProgress

    with FileProgress(sys.stderr) as progress:
        report = assistant.ingest(args.paths, progress=progress, user=args.user, access=args.allow)
    for skipped in report.skipped:
        print(f"skipped {_shown(skipped)}: not a supported document type", file=sys.stderr)
    for failure in report.failed:
        print(f"FAILED {_shown(failure.path)}: {failure.reason}", file=sys.stderr)
    print(report.summary())
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _ask(assistant: Any, args: argparse.Namespace) -> int:
    if assistant.settings.answer_mode != "extractive":
        assistant.prestart()
    stream = assistant.ask_stream(args.question, prefix=args.under, user=args.user)
    if args.json:
        answer = stream.answer
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return _model_failed(answer)
    streamed = []
    for piece in stream:
        streamed.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    answer = stream.answer
    sys.stdout.write("\n")
    if answer.note:
        print(f"\n({answer.note})\n{answer.text}")
    elif answer.text != "".join(streamed).strip() and not answer.refused:
        print(f"\nChecked against your documents:\n{answer.text}")
    for s in answer.unsupported:
        print(f"  ✗ not supported by your documents: {s.text}")
    for s in answer.sentences:
        if s.corrected:
            print(f"  ↪ citation corrected to {s.citations}: {s.text}")
    if answer.citations:
        from rag.answer.prompt import label

        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {_shown(label(c.source, c.page))}  ({_shown(c.source)})")
            print(f'      "{c.quote}"')
    return _model_failed(answer)


def _model_failed(answer: Any) -> int:
    """Exit 3, with one line on stderr, when the model failed (the passages' own words
    were shown instead)."""
    if answer.model_error is None:
        return EXIT_OK
    print(f"rag: {answer.model_error}", file=sys.stderr)
    return EXIT_ERROR


def _search(assistant: Any, args: argparse.Namespace) -> int:
    queries = list(args.queries)
    if args.queries_file:
        queries += [q.strip() for q in args.queries_file.read_text().splitlines() if q.strip()]
    if not queries:
        print("rag search: give at least one QUERY or --queries FILE", file=sys.stderr)
        return EXIT_USAGE
    for query in queries:
        passages = assistant.search(query, prefix=args.under, user=args.user)
        if args.json:
            print(
                json.dumps(
                    {"query": query, "results": [_passage_json(p) for p in passages]},
                    ensure_ascii=False,
                )
            )
            continue
        print(f"# {query}")
        for n, p in enumerate(passages, start=1):
            from rag.answer.prompt import label

            snippet = " ".join(p.text.split())[:160]
            print(
                f"  {n}. {_shown(label(p.source, p.page))}  "
                f"score={p.score:.4f} sim={p.similarity:.3f}"
            )
            print(f"     {snippet}")
    return EXIT_OK


def _passage_json(p: Any) -> dict[str, Any]:
    return {
        "source": p.source,
        "page": p.page,
        "text": p.text,
        "score": round(p.score, 6),
        "similarity": round(p.similarity, 4),
    }


def _docs(assistant: Any, args: argparse.Namespace) -> int:
    docs = assistant.documents(user=args.user)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "source": d.source,
                        "chunks": d.chunks,
                        "ingested_at": d.ingested_at,
                        "file_type": d.file_type,
                        "pages": d.pages,
                        "access": list(assistant.access(d.source)),
                    }
                    for d in docs
                ],
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    if not docs:
        print("No documents ingested yet. Try: rag ingest PATH")
    for d in docs:
        print(f"{d.chunks:6d}  {d.ingested_at}  {_shown(d.source)}")
    return EXIT_OK


def _remove(assistant: Any, args: argparse.Namespace) -> int:
    removed = assistant.remove(args.path, user=args.user)
    if not removed:
        print(f"rag remove: {args.path} is not an ingested document or folder", file=sys.stderr)
        return EXIT_PARTIAL
    for source in removed:
        print(f"removed {_shown(source)}")
    return EXIT_OK


def _ui(args: argparse.Namespace) -> int:
    """Replace this process with ``streamlit run ui/app.py``, private by default.

    Every privacy setting is passed on the command line as well as in the
    app's own .streamlit/config.toml, so it holds from any working directory.
    """

    from rag.privacy import STREAMLIT_FLAGS, lock_down

    lock_down()
    import ui

    app = Path(ui.__file__).resolve().parent / "app.py"
    if args.data_dir is not None:
        os.environ["RAG_DATA_DIR"] = str(args.data_dir.expanduser().resolve())
    if args.collection is not None:
        os.environ["RAG_COLLECTION"] = args.collection
    command = [sys.executable, "-m", "streamlit", "run", str(app)]
    command += [*STREAMLIT_FLAGS, "--server.address", args.host, "--server.port", str(args.port)]
    print(f"rag: web UI on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    os.execv(sys.executable, command)
    return EXIT_ERROR  # not reached


def _eval(assistant: Any, args: argparse.Namespace) -> int:
    from rag.evaluate import evaluate, load_questions

    questions = load_questions(args.qa_file)
    if not assistant.documents(user=args.user):
        print("rag eval: nothing is ingested yet; run rag ingest first", file=sys.stderr)
        return EXIT_ERROR

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total} questions", end="", file=sys.stderr, flush=True)

    report = evaluate(assistant, questions, progress=progress, user=args.user)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(report.table())
    return EXIT_OK


def _access(assistant: Any, args: argparse.Namespace) -> int:
    if args.allow:
        assistant.set_access(args.path, args.allow, user=args.user)
    docs = [d for d in assistant.documents(user=args.user) if d.source == _abspath(args.path)]
    if not docs:
        print(f"rag access: {args.path} is not an ingested document", file=sys.stderr)
        return EXIT_PARTIAL
    print(f"{_shown(docs[0].source)}: {', '.join(assistant.access(docs[0].source))}")
    return EXIT_OK


def _abspath(path: str) -> str:

    return os.path.abspath(os.path.expanduser(path))


def _audit(assistant: Any, args: argparse.Namespace) -> int:
    me = assistant.users.get(args.user.name) if args.user else None
    if assistant.users.active() and (me is None or not me.admin):
        raise AccessDenied("only an admin may read the audit log (rag audit --as ADMIN)")
    if args.verify:
        broken = assistant.audit.verify()
        if broken is not None:
            print(f"rag audit: the log was altered at entry {broken}", file=sys.stderr)
            return EXIT_ERROR
        print("audit log intact")
        return EXIT_OK
    since = args.since
    if since is not None:
        from datetime import datetime

        try:
            datetime.fromisoformat(since)
        except ValueError:
            print(f"rag audit: --since {since!r} is not an ISO date", file=sys.stderr)
            return EXIT_USAGE
    for entry in assistant.audit.entries(args.filter_user, since, args.action):
        print(json.dumps(entry.to_json(), ensure_ascii=False) if args.json else entry.line())
    return EXIT_OK


def _check(assistant: Any, args: argparse.Namespace) -> int:
    assistant.require_admin(args.user)
    problems = assistant.check()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems" if problems else "index consistent")
    return EXIT_PARTIAL if problems else EXIT_OK


def _prepare(assistant: Any, args: argparse.Namespace) -> int:
    """Build and measure what the first use would otherwise (it touches no documents)."""
    embedder = assistant.embedder
    embedder.embed(["ready"])
    where = getattr(embedder, "graph", None) or getattr(embedder, "path", "")
    print(f"embedder: {embedder.name} ({where})")
    print(f"chat model: {assistant.model_status()}")
    return EXIT_OK


def _info(assistant: Any, args: argparse.Namespace) -> int:
    s = assistant.settings
    print(f"chat model   {assistant.model_status()}")
    embed = s.embed_model or "bundled all-MiniLM-L6-v2"
    print(f"embedder     {embed} ({s.embed_backend}{', ' + s.embed_url if s.embed_url else ''})")
    print(f"data         {_shown(str(s.data_dir))}")
    for name in assistant.collections():
        docs = assistant.documents(name, user=args.user)
        print(f"collection   {name}: {len(docs)} documents")
    return EXIT_OK


def _model_server(args: argparse.Namespace) -> int:
    """Replace this process with llama.cpp serving the configured GGUF on a TCP port,
    its fast paths decided by the probe (rag.models.llama_runtime)."""
    from rag.config import Settings
    from rag.models.bundled import bundled_chat_model
    from rag.privacy import lock_down

    lock_down()
    settings = Settings()
    if settings.llm_backend != "llama_cpp":
        print("rag model-server: serves GGUF models (RAG_LLM_BACKEND=llama_cpp)", file=sys.stderr)
        return EXIT_USAGE
    model = Path(settings.llm_model).expanduser() if settings.llm_model else bundled_chat_model()
    command = [sys.executable, "-m", "rag.models.llama_server", str(model)]
    command += ["--host", args.host, "--port", str(args.port), "--n-ctx", str(settings.llm_context)]
    command += ["--cache-dir", str(settings.model_cache)]
    if settings.threads:
        command += ["--threads", str(settings.threads)]
    if args.embedding:
        command.append("--embedding")
    print(f"rag: {model.name} on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    os.execv(sys.executable, command)
    return EXIT_ERROR  # not reached


def _users(assistant: Any, args: argparse.Namespace) -> int:
    users = assistant.users
    assistant.require_admin(args.user)
    actor = args.user.name if args.user else None
    if args.action == "list":
        for u in users.all():
            role = "admin" if u.admin else "user"
            print(f"{u.name:<20} {role:<6} {', '.join(u.groups) or '-'}")
        return EXIT_OK
    if args.action == "add":
        user = users.add(args.name, _new_password(args.name), args.group, args.admin)
        print(
            f"added {user.name} ({'admin, ' if user.admin else ''}groups: "
            f"{', '.join(user.groups) or 'none'})"
        )
        if not users.has_admin():
            print(
                "note: no admin exists yet; anyone can manage users until one does", file=sys.stderr
            )
        assistant.audit.record(
            actor, "users", added=user.name, groups=list(user.groups), admin=user.admin
        )
    elif args.action == "remove":
        if not users.remove(args.name):
            print(f"rag users: no user {args.name!r}", file=sys.stderr)
            return EXIT_PARTIAL
        print(f"removed {args.name}")
        assistant.audit.record(actor, "users", removed=args.name)
    elif args.action == "groups":
        user = users.set_groups(args.name, args.groups)
        print(f"{user.name}: {', '.join(user.groups) or 'no groups'}")
        assistant.audit.record(actor, "users", user=user.name, groups=list(user.groups))
    elif args.action == "passwd":
        users.set_password(args.name, _new_password(args.name))
        print(f"password of {args.name} changed")
        assistant.audit.record(actor, "users", password_changed=args.name)
    return EXIT_OK


_COMMANDS = {
    "access": _access,
    "audit": _audit,
    "check": _check,
    "prepare": _prepare,
    "info": _info,
    "users": _users,
    "eval": _eval,
    "ingest": _ingest,
    "ask": _ask,
    "search": _search,
    "docs": _docs,
    "remove": _remove,
}

if __name__ == "__main__":
    sys.exit(main())
