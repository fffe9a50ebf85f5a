"""The ``rag`` command: parse arguments, call :class:`rag.Assistant`, render the result.

No rule lives here: who may do what, and what is audited, is the library's. Exit codes
follow the error tree (:mod:`rag.errors`): 0 success; 1 some files failed to ingest, or
nothing to remove; 2 usage error; 3 any other error rag reports (a setting, a model, the
store, an internal error); 4 not signed in, wrong password, or not allowed.

Once user accounts exist, commands that read or change documents need ``--user NAME``
(or ``RAG_USER``); the password comes from ``RAG_PASSWORD`` or, on a terminal, a prompt.
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

#: Exit codes follow the error tree (rag/errors.py); every other RagError is 3.
_EXIT_CODES: dict[type[RagError], int] = {
    InvalidInput: EXIT_USAGE,
    AuthError: EXIT_DENIED,
    AccessDenied: EXIT_DENIED,
}
_RETRIEVAL_MODES = ("hybrid", "dense", "keyword")


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
        "--retrieval", choices=_RETRIEVAL_MODES, help="retrieval mode (RAG_RETRIEVAL_MODE)"
    )
    retrieval.add_argument("--under", metavar="PATH", help="only documents under this path")
    retrieval.add_argument("--json", action="store_true", help="machine-readable output")
    answers = argparse.ArgumentParser(add_help=False)
    answers.add_argument(
        "--mode",
        # hybrid/dense/keyword: the old spelling of --retrieval, kept for one release.
        choices=["generative", "extractive", "auto", *_RETRIEVAL_MODES],
        metavar="{generative,extractive,auto}",
        help="answer mode (RAG_ANSWER_MODE)",
    )

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
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="follow links in folders that lead out of them (passed over by default)",
    )
    p = sub.add_parser("ask", parents=[common, retrieval, answers], help="ask a question")
    p.add_argument("question")
    p.add_argument(
        "--strict", action="store_true", help="drop sentences the documents do not support"
    )
    p = sub.add_parser("search", parents=[common, retrieval], help="retrieve passages only")
    p.add_argument("queries", nargs="*", metavar="QUERY")
    p.add_argument(
        "--queries", dest="queries_file", type=Path, metavar="FILE", help="one query per line"
    )
    p.add_argument("--mode", choices=_RETRIEVAL_MODES, help=argparse.SUPPRESS)  # old spelling
    p = sub.add_parser("docs", parents=[common], help="list ingested documents")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("remove", parents=[common], help="remove a document (or a folder's)")
    p.add_argument("path")
    p = sub.add_parser(
        "eval", parents=[common, retrieval, answers], help="score answers on a QA file"
    )
    p.add_argument("qa_file", type=Path, metavar="QA_FILE")
    p.add_argument(
        "--all-modes",
        action="store_true",
        help="each answer mode in turn: auto, generative, extractive",
    )
    p.add_argument(
        "--llm-model",
        metavar="MODEL",
        help="the chat model to judge: a .gguf file, a checkpoint folder, or with --llm-url "
        "the model's name on that server (RAG_LLM_MODEL)",
    )
    p.add_argument(
        "--llm-url", metavar="URL", help="an OpenAI-compatible server to ask (RAG_LLM_URL)"
    )
    p = sub.add_parser("access", parents=[common], help="show or set who may read a document")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--allow", action="append", metavar="WHO", help="the new access list (admins)")
    sub.add_parser("check", parents=[admin], help="check the index against the manifest")
    p = sub.add_parser("audit", parents=[admin], help="print the audit log (admins)")
    p.add_argument("--user", dest="filter_user", metavar="U", help="only entries by user U")
    p.add_argument("--since", metavar="DATE", help="only entries at or after DATE (ISO 8601)")
    p.add_argument("--action", help="only entries of this kind (ask, search, ingest, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--verify", action="store_true", help="check the log's hash chain")
    _users_parser(sub, admin)
    _keys_parser(sub, admin)
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
    p.add_argument(
        "--allow-anyone",
        action="store_true",
        help="serve a non-loopback address although no accounts exist (everyone who can "
        "reach it reads every document)",
    )
    p = sub.add_parser("serve", help="serve the OpenAI-compatible API (FastAPI on uvicorn)")
    p.add_argument("--data-dir", type=Path, help="where the index lives (RAG_DATA_DIR)")
    p.add_argument("--collection", help="the collection by default (RAG_COLLECTION)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--workers", type=int, default=1, help="server processes, each with its own models"
    )
    p.add_argument(
        "--allow-anyone",
        action="store_true",
        help="serve a non-loopback address although no accounts exist (everyone who can "
        "reach it reads every document)",
    )
    return parser


def _keys_parser(sub: Any, admin: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", help="manage API keys for rag serve (admins)")
    ksub = keys.add_subparsers(dest="action", required=True)
    p = ksub.add_parser("create", parents=[admin], help="a new key; printed once, last line")
    p.add_argument("--user", dest="owner", required=True, metavar="NAME", help="acts as NAME")
    p.add_argument("--name", dest="label", default="", metavar="LABEL", help="what it is for")
    ksub.add_parser("list", parents=[admin], help="every key's id, user and label")
    p = ksub.add_parser("revoke", parents=[admin], help="revoke a key at once")
    p.add_argument("key_id", metavar="ID", help="the key's id (from keys list), or the key")


def _users_parser(sub: Any, admin: argparse.ArgumentParser) -> None:
    users = sub.add_parser("users", help="manage user accounts (admins)")
    usub = users.add_subparsers(dest="action", required=True)
    p = usub.add_parser("add", parents=[admin], help="add a user (password: RAG_NEW_PASSWORD)")
    p.add_argument("name")
    p.add_argument("--group", action="append", default=[], metavar="G", help="repeatable")
    p.add_argument("--admin", action="store_true", help="may manage users and access")
    usub.add_parser("list", parents=[admin], help="list users and their groups")
    p = usub.add_parser("remove", parents=[admin], help="remove a user")
    p.add_argument("name")
    p = usub.add_parser("groups", parents=[admin], help="set a user's groups")
    p.add_argument("name")
    p.add_argument("groups", nargs="*", metavar="G")
    p = usub.add_parser("admin", parents=[admin], help="make a user an admin, or not")
    p.add_argument("name")
    p.add_argument("--off", action="store_true", help="take admin rights away instead")
    p = usub.add_parser(
        "passwd", parents=[admin], help="set a password: yours, or anyone's as an admin"
    )
    p.add_argument("name")


def _settings(args: argparse.Namespace) -> Any:
    """The settings: ``RAG_*`` and the config file, with the flags given on top."""
    from rag.config import Settings

    mode = getattr(args, "mode", None)
    retrieval = getattr(args, "retrieval", None)
    if mode in _RETRIEVAL_MODES:
        print(
            f"rag: --mode {mode} is deprecated for the retrieval mode: use --retrieval {mode}",
            file=sys.stderr,
        )
        retrieval, mode = retrieval or mode, None
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "collection": getattr(args, "collection", None),
        "top_k": getattr(args, "k", None),
        "retrieval_mode": retrieval,
        "answer_mode": mode,
        "strict": getattr(args, "strict", None) or None,
        "user": getattr(args, "user", None),
        "llm_model": getattr(args, "llm_model", None),
        "llm_url": getattr(args, "llm_url", None),
    }
    if overrides["llm_url"]:
        overrides["llm_backend"] = "openai"
    elif overrides["llm_model"] and not str(overrides["llm_model"]).endswith(".gguf"):
        overrides["llm_backend"] = "transformers"  # a checkpoint folder
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    from rag.privacy import private_files

    private_files()
    args = _parser().parse_args(argv)
    if args.command == "ingest":
        # The parser worker's start (its imports) overlaps this process's own imports,
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
            print(f"rag: invalid setting: {_validation_message(exc)}", file=sys.stderr)
            return EXIT_USAGE
        if args.command in _LAUNCHERS:
            return _LAUNCHERS[args.command](settings, args)
        from rag.assistant import Assistant

        assistant = Assistant(settings)
        args.user = _sign_in(assistant, settings)
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


def _validation_message(exc: Any) -> str:
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
    )


def _shown(path: str) -> str:
    """A path safe to print on a terminal: control characters (a file name may hold an
    escape sequence that rewrites the screen) are shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


def _sign_in(assistant: Any, settings: Any) -> Any:
    """The signed-in user for ``--user``/``RAG_USER``, or None when no name is given."""
    if settings.user is None:
        return None
    if settings.password is not None:
        password = settings.password.get_secret_value()
    elif sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {settings.user}: ")
    else:
        raise AuthError("no password: set RAG_PASSWORD or run rag in a terminal")
    return assistant.authenticate(settings.user, password)


def _new_password(settings: Any, name: str) -> str:
    if settings.new_password is not None:
        return str(settings.new_password.get_secret_value())
    if not sys.stdin.isatty():
        raise InvalidInput(f"no password for {name}: set RAG_NEW_PASSWORD")
    import getpass

    password = getpass.getpass(f"New password for {name}: ")
    if getpass.getpass("Again: ") != password:
        raise InvalidInput("the passwords differ")
    return password


# -- commands -------------------------------------------------------------------------


def _ingest(assistant: Any, args: argparse.Namespace) -> int:
    from rag.progress import FileProgress

    with FileProgress(sys.stderr) as progress:
        report = assistant.ingest(
            args.paths,
            progress=progress,
            page_progress=progress.page,
            user=args.user,
            access=args.allow,
            follow_symlinks=args.follow_symlinks,
        )
    for skipped in report.skipped:
        print(f"skipped {_shown(skipped.path)}: {skipped.reason}", file=sys.stderr)
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
    for piece in stream.tokens():
        streamed.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    answer = stream.answer
    if not streamed:
        sys.stdout.write(answer.text)
    sys.stdout.write("\n")
    if answer.note and not streamed:  # why this text is shown: it is on the screen already
        print(f"\n({answer.note})")
    elif answer.note:  # the model's words so far, then what replaces them
        print(f"\n({answer.note})\n{answer.text}")
    elif streamed and answer.text != "".join(streamed).strip() and not answer.refused:
        print(f"\nChecked against your documents:\n{answer.text}")
    for s in answer.unsupported:
        print(f"  ✗ not supported by your documents: {s.text}")
    for s in answer.sentences:
        if s.corrected:
            print(f"  ↪ citation corrected to {s.citations}: {s.text}")
    if answer.citations:
        from rag.answer.prompt import label, scan_note

        print("\nSources:")
        for c in answer.citations:
            scan = f"  [{scan_note(c.ocr_confidence)}]" if c.ocr else ""
            print(f"  [{c.n}] {_shown(label(c.source, c.page))}{scan}  ({_shown(c.source)})")
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
        raise InvalidInput("rag search: give at least one QUERY or --queries FILE")
    from rag.answer.prompt import label, scan_note

    for query in queries:
        passages = assistant.search(query, prefix=args.under, user=args.user)
        if args.json:
            results = [_passage_json(p) for p in passages]
            print(json.dumps({"query": query, "results": results}, ensure_ascii=False))
            continue
        print(f"# {query}")
        for n, p in enumerate(passages, start=1):
            snippet = " ".join(p.text.split())[:160]
            scan = f"  [{scan_note(p.ocr_confidence)}]" if p.ocr_confidence is not None else ""
            print(
                f"  {n}. {_shown(label(p.source, p.page))}{scan}  "
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
        "ocr_confidence": p.ocr_confidence,
    }


def _docs(assistant: Any, args: argparse.Namespace) -> int:
    docs = assistant.documents(user=args.user)
    if args.json:
        rows = [
            {
                "source": d.source,
                "chunks": d.chunks,
                "ingested_at": d.ingested_at,
                "file_type": d.file_type,
                "pages": d.pages,
                "access": list(assistant.access(d.source)),
            }
            for d in docs
        ]
        print(json.dumps(rows, ensure_ascii=False))
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


def _eval(assistant: Any, args: argparse.Namespace) -> int:
    from rag.evaluate import evaluate, load_questions

    questions = load_questions(args.qa_file)
    if not assistant.documents(user=args.user):
        print("rag eval: nothing is ingested yet; run rag ingest first", file=sys.stderr)
        return EXIT_ERROR

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total} questions", end="", file=sys.stderr, flush=True)

    modes: list[Any] = ["auto", "generative", "extractive"] if args.all_modes else [None]
    for mode in modes:
        report = evaluate(assistant, questions, mode, progress=progress, user=args.user)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(json.dumps(report.to_json(), ensure_ascii=False) if args.json else report.table())
        if not args.json and mode != modes[-1]:
            print()
    return EXIT_OK


def _access(assistant: Any, args: argparse.Namespace) -> int:
    from rag.collection import absolute

    if args.allow:
        assistant.set_access(args.path, args.allow, user=args.user)
    target = absolute(args.path)
    docs = [d for d in assistant.documents(user=args.user) if d.source == target]
    if not docs:
        print(f"rag access: {args.path} is not an ingested document", file=sys.stderr)
        return EXIT_PARTIAL
    print(f"{_shown(docs[0].source)}: {', '.join(assistant.access(docs[0].source))}")
    return EXIT_OK


def _audit(assistant: Any, args: argparse.Namespace) -> int:
    if args.verify:
        broken = assistant.verify_audit(user=args.user)
        if broken is not None:
            print(f"rag audit: the log was tampered with: {broken}", file=sys.stderr)
            return EXIT_ERROR
        print("audit log intact")
        return EXIT_OK
    if args.since is not None:
        from datetime import datetime

        try:
            datetime.fromisoformat(args.since)
        except ValueError:
            raise InvalidInput(f"rag audit: --since {args.since!r} is not an ISO date") from None
    entries = assistant.audit_entries(args.filter_user, args.since, args.action, user=args.user)
    for entry in entries:
        print(json.dumps(entry.to_json(), ensure_ascii=False) if args.json else entry.line())
    return EXIT_OK


def _check(assistant: Any, args: argparse.Namespace) -> int:
    problems = assistant.check(user=args.user)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems" if problems else "index consistent")
    return EXIT_PARTIAL if problems else EXIT_OK


def _users(assistant: Any, args: argparse.Namespace) -> int:
    me, s = args.user, assistant.settings
    if args.action == "list":
        for u in assistant.users(user=me):
            role = "admin" if u.admin else "user"
            print(f"{u.name:<20} {role:<6} {', '.join(u.groups) or '-'}")
    elif args.action == "add":
        password = _new_password(s, args.name)
        if args.admin and me is None and assistant.accounts_exist():
            # Accounts an older rag made without any admin: the operator adds one here.
            user = assistant.restore_admin(args.name, password)
        else:
            user = assistant.add_user(args.name, password, args.group, args.admin, user=me)
        groups = ", ".join(user.groups) or "none"
        print(f"added {user.name} ({'admin, ' if user.admin else ''}groups: {groups})")
    elif args.action == "remove":
        assistant.remove_user(args.name, user=me)
        print(f"removed {args.name}")
    elif args.action == "groups":
        user = assistant.set_groups(args.name, args.groups, user=me)
        print(f"{user.name}: {', '.join(user.groups) or 'no groups'}")
    elif args.action == "admin":
        user = assistant.set_admin(args.name, not args.off, user=me)
        print(f"{user.name}: {'admin' if user.admin else 'not an admin'}")
    elif args.action == "passwd":
        assistant.set_password(args.name, _new_password(s, args.name), user=me)
        print(f"password of {args.name} changed")
    return EXIT_OK


def _keys(assistant: Any, args: argparse.Namespace) -> int:
    if args.action == "create":
        key = assistant.create_key(args.owner, args.label, user=args.user)
        print(f"API key for {args.owner}, shown only now (send it as Authorization: Bearer):")
        print(key)
    elif args.action == "list":
        for k in assistant.keys(user=args.user):
            print(f"{k.id}  {k.user:<20} {k.created_at}  {_shown(k.label)}")
    elif args.action == "revoke":
        assistant.revoke_key(args.key_id, user=args.user)
        print(f"revoked {_shown(args.key_id)}")
    return EXIT_OK


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
    from rag.ingest.ocr import describe

    print(f"ocr          {describe(s.ocr_languages, s.ocr)}")
    print(f"data         {_shown(str(s.data_dir))}")
    for name in assistant.collections():
        docs = assistant.documents(name, user=args.user)
        print(f"collection   {name}: {len(docs)} documents")
    return EXIT_OK


# -- commands that start another program ------------------------------------------------


def _ui(settings: Any, args: argparse.Namespace) -> int:
    """Replace this process with the web UI's server (ui/serve.py), private by default.

    Every privacy setting is passed on the command line as well as in the app's own
    .streamlit/config.toml, so it holds from any working directory. The settings the
    flags gave go to the app as its own arguments (after ``--``), read once at its edge.
    A non-loopback address with no accounts is refused unless ``--allow-anyone``.
    """
    from rag.privacy import lock_down

    lock_down()
    _refuse_open_network(settings, args)
    import ui

    app = Path(ui.__file__).resolve().parent / "app.py"
    command = [sys.executable, "-m", "ui.serve", args.host, str(args.port)]
    command += [*settings.ui_hostnames, "--", str(app)]
    command += ["--data-dir", str(settings.data_dir.expanduser().resolve())]
    command += ["--collection", settings.collection]
    print(f"rag: web UI on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    os.execv(sys.executable, command)
    return EXIT_ERROR  # not reached


def _refuse_open_network(settings: Any, args: argparse.Namespace) -> None:
    """A non-loopback address with no accounts is refused unless ``--allow-anyone``
    (then it is served, with a warning)."""
    from rag.assistant import Assistant
    from ui.serve import is_loopback

    if not is_loopback(args.host) and not Assistant(settings).accounts_exist():
        if not args.allow_anyone:
            raise InvalidInput(
                f"refusing to serve {args.host} with no user accounts: everyone who can "
                "reach it would read every document. Add an admin first (rag users add "
                "NAME --admin), or pass --allow-anyone if that is what you want"
            )
        print(
            f"rag: warning: {args.host} with no accounts: anyone reaching it reads all",
            file=sys.stderr,
        )


def _serve(settings: Any, args: argparse.Namespace) -> int:
    """Serve the OpenAI-compatible API (rag.serve) with uvicorn, in ``--workers``
    processes. Each worker builds its app from ``RAG_*``, set here from the flags."""
    from rag.privacy import lock_down
    from ui.serve import allowed_hosts

    lock_down()
    _refuse_open_network(settings, args)
    if args.workers < 1:
        raise InvalidInput("--workers must be at least 1")
    import uvicorn

    os.environ["RAG_DATA_DIR"] = str(settings.data_dir.expanduser().resolve())
    os.environ["RAG_COLLECTION"] = settings.collection
    os.environ["RAG_SERVE_HOSTS"] = json.dumps(allowed_hosts(args.host, settings.ui_hostnames))
    print(f"rag: OpenAI-compatible API on http://{args.host}:{args.port}/v1", file=sys.stderr)
    uvicorn.run(
        "rag.serve.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return EXIT_OK


def _model_server(settings: Any, args: argparse.Namespace) -> int:
    """Replace this process with llama.cpp serving the configured GGUF on a TCP port,
    its fast paths decided by the probe (rag.models.llama_runtime)."""
    from rag.models.bundled import bundled_chat_model
    from rag.privacy import lock_down

    lock_down()
    if settings.llm_backend != "llama_cpp":
        raise InvalidInput("rag model-server serves GGUF models (RAG_LLM_BACKEND=llama_cpp)")
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


_LAUNCHERS = {"ui": _ui, "model-server": _model_server, "serve": _serve}
_COMMANDS = {
    "access": _access,
    "audit": _audit,
    "check": _check,
    "prepare": _prepare,
    "info": _info,
    "users": _users,
    "keys": _keys,
    "eval": _eval,
    "ingest": _ingest,
    "ask": _ask,
    "search": _search,
    "docs": _docs,
    "remove": _remove,
}

if __name__ == "__main__":
    sys.exit(main())
