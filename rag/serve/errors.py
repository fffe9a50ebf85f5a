"""Every error the API answers with, as OpenAI's clients expect it:
``{"error": {"message", "type", "code"}}`` with a 4xx or 5xx status, never a traceback.

The library's error tree (:mod:`rag.errors`) is translated here, once:

=====================  ======  ========================
error                  status  type / code
=====================  ======  ========================
NotFound               404     invalid_request_error / not_found
InvalidInput           400     invalid_request_error / invalid_value
SignInThrottled        429     rate_limit_error / rate_limit_exceeded
AuthError              401     authentication_error / invalid_api_key
AccessDenied           403     permission_error / forbidden
IndexBusy              503     server_error / index_busy
ModelError             503     server_error / model_unavailable
other RagError         500     server_error / rag_error
anything else (a bug)  500     server_error / internal_error (one log line)
=====================  ======  ========================
"""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import (
    AccessDenied,
    AuthError,
    IndexBusy,
    InvalidInput,
    ModelError,
    NotFound,
    RagError,
    SignInThrottled,
)

__all__ = ["ApiError", "error_body", "install", "translate"]

log = logging.getLogger("rag.serve")

_TABLE: list[tuple[type[RagError], int, str, str]] = [
    (NotFound, 404, "invalid_request_error", "not_found"),
    (InvalidInput, 400, "invalid_request_error", "invalid_value"),
    (SignInThrottled, 429, "rate_limit_error", "rate_limit_exceeded"),
    (AuthError, 401, "authentication_error", "invalid_api_key"),
    (AccessDenied, 403, "permission_error", "forbidden"),
    (IndexBusy, 503, "server_error", "index_busy"),
    (ModelError, 503, "server_error", "model_unavailable"),
    (RagError, 500, "server_error", "rag_error"),
]
_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


class ApiError(Exception):
    """A request the API itself refuses (not the library): status, message, code."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def translate(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and body for any exception (a bug gets a line in the log, not the client)."""
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.message, _BY_STATUS.get(exc.status, "error"), exc.code)
    if isinstance(exc, RagError):
        for kind, status, name, code in _TABLE:
            if isinstance(exc, kind):
                return status, error_body(str(exc), name, code)
    if isinstance(exc, HTTPException):
        name = _BY_STATUS.get(exc.status_code, "server_error")
        return exc.status_code, error_body(str(exc.detail), name, _CODES.get(exc.status_code))
    if os.environ.get("RAG_DEBUG"):
        log.exception("internal error")
    else:
        log.error("internal error, please report it: %s: %s", type(exc).__name__, exc)
    return 500, error_body("internal error", "server_error", "internal_error")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        if e.get("type") == "json_invalid":
            return "the body is not valid JSON"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    """Answer every error in OpenAI's shape."""

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        status, body = translate(exc)
        headers = {}
        if isinstance(exc, SignInThrottled):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(body, status, headers=headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        body = error_body(_validation_message(exc), "invalid_request_error", "invalid_value")
        return JSONResponse(body, 400)

    app.add_exception_handler(RequestValidationError, on_invalid)
    for kind in (RagError, ApiError, HTTPException):
        app.add_exception_handler(kind, on_error)
