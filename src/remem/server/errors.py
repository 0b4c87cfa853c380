"""The server's error responses, always ``{"error": {"type": ..., "message": ...}}``:

    ApiError                       its own status (401 unauthorized, 403 forbidden, ...)
    request validation (pydantic)  422 invalid_input
    InvalidInput                   422 invalid_input  (ImportFormatError: import_format)
    UnicodeError (lone surrogate)  422 invalid_input
    NotFound                       404 not_found      (also another tenant's ids)
    body over the cap              413 payload_too_large
    a tenant over its limits       429 rate_limited   (with Retry-After; throttle.py)
    StoreError / EmbedderError     503 store_unavailable / embedder_unavailable
    chat proxy: upstream failed    502 upstream_error (4xx of the upstream: 400 upstream_rejected)
    other RememError               400 bad_request
    anything else                  500 internal (a bug: logged with its traceback)

Importing this module is free (``remem keys`` uses ``auth``, which raises ``ApiError``):
Starlette and FastAPI are imported by the functions that need them.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from ..errors import (EmbedderError, ImportFormatError, InvalidInput, NotFound, RememError,
                      StoreError)

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import JSONResponse

log = logging.getLogger("remem.server")

_HTTP_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_input", 503: "unavailable"}

_PATTERN_MESSAGES = {
    "user_id": "must not contain control characters or '::' (the tenant separator)",
    "tenant": "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
}


class ApiError(Exception):
    """An error response decided by the server layer itself."""

    def __init__(self, status: int, type_: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message
        self.headers = headers or {}


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def error_response(status: int, type_: str, message: str,
                   headers: dict[str, str] | None = None) -> "JSONResponse":
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status,
                        headers=headers)


def api_error_response(exc: ApiError) -> "JSONResponse":
    """The response for an ``ApiError`` (a 401 names the scheme, as RFC 7235 asks)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return error_response(exc.status, exc.type, exc.message, {**headers, **exc.headers})


def classify(exc: BaseException) -> tuple[int, str]:
    """The status and error type of an engine error."""
    if isinstance(exc, ImportFormatError):
        return 422, "import_format"
    if isinstance(exc, (InvalidInput, UnicodeError)):
        return 422, "invalid_input"
    if isinstance(exc, NotFound):
        return 404, "not_found"
    if isinstance(exc, StoreError):
        return 503, "store_unavailable"
    if isinstance(exc, EmbedderError):
        return 503, "embedder_unavailable"
    return 400, "bad_request"


def install_error_handlers(app: "FastAPI") -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def api_error(_: "Request", exc: Exception) -> "JSONResponse":
        assert isinstance(exc, ApiError)
        return api_error_response(exc)

    async def remem_error(_: "Request", exc: Exception) -> "JSONResponse":
        status, type_ = classify(exc)
        message = str(exc) if not isinstance(exc, UnicodeError) else \
            "text must be valid Unicode (no lone surrogates)"
        return error_response(status, type_, message)

    async def validation_error(_: "Request", exc: Exception) -> "JSONResponse":
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            msg = err.get("msg", "invalid")
            if err.get("type") == "string_pattern_mismatch":
                msg = _PATTERN_MESSAGES.get(loc.rsplit(".", 1)[-1],
                                            "must not contain control characters")
            parts.append(f"{loc}: {msg}")
        return error_response(422, "invalid_input", "; ".join(parts) or "invalid request")

    async def http_error(_: "Request", exc: Exception) -> "JSONResponse":
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, _HTTP_TYPES.get(exc.status_code, "error"),
                              message, dict(exc.headers or {}))

    async def internal_error(_: "Request", exc: Exception) -> "JSONResponse":
        log.exception("internal error", exc_info=exc)
        return error_response(500, "internal", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RememError, remem_error)
    app.add_exception_handler(UnicodeError, remem_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
