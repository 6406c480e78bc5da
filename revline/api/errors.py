"""Every API error has one shape: ``{"error": {"code": ..., "message": ...}}``.

Revline's own errors carry their code and HTTP status; FastAPI's validation errors and routing
misses are translated here; anything unexpected becomes a 500 without a stack trace in the body
(the trace goes to the server log only).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revline.errors import InvalidRequest, RevlineError

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


# -- the API's own error family -------------------------------------------------------------


class MissingSignature(InvalidRequest):
    code = "missing_signature"


class InvalidSignature(InvalidRequest):
    code = "invalid_signature"


class StaleSignature(InvalidRequest):
    """The signature matches but its timestamp is outside the tolerance: a replay or a bad clock."""

    code = "stale_signature"


class MalformedJson(InvalidRequest):
    code = "malformed_json"


class InvalidEvent(InvalidRequest):
    """Valid JSON, but not an event of the provider the endpoint belongs to."""

    code = "invalid_event"


class ClientDisconnected(InvalidRequest):
    """The sender hung up before the body arrived; the answer reaches nobody, nothing is stored."""

    code = "client_disconnected"


class PayloadTooLarge(RevlineError):
    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaType(RevlineError):
    code = "unsupported_media_type"
    http_status = 415


class WebhookNotConfigured(RevlineError):
    """No secret for this provider: refusing is safer than accepting unsigned events."""

    code = "webhook_not_configured"
    http_status = 503


class IngestUnavailable(RevlineError):
    """The event could not be stored (or the ingest writer is not running); the sender retries."""

    code = "ingest_unavailable"
    http_status = 503
    retryable = True


class DatabaseNotReady(RevlineError):
    """The database has no schema: the service refuses to start on it."""

    code = "database_not_ready"
    http_status = 503


class DatabaseUnavailable(RevlineError):
    code = "database_unavailable"
    http_status = 503
    retryable = True


# -- responses and handlers -----------------------------------------------------------------

_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one error shape, with ``WWW-Authenticate`` on 401 as RFC 6750 asks."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _revline_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RevlineError)
    if exc.http_status >= 500:
        log.warning("answering %s %s: %s", exc.http_status, exc.code, exc.message)
    return error_response(exc.http_status, exc.code, exc.message)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Location and reason only: the offending input may be a secret the caller mistyped.
    problems = "; ".join(
        f"{'.'.join(str(part) for part in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
        for err in exc.errors()
    )
    return error_response(422, "invalid_request", problems or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"no resource at {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail) or HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message)


class CatchAll:
    """ASGI middleware: an unexpected exception is logged with its trace and answered with a
    bare 500, instead of propagating to the server (which would log it a second time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a clean 500; the server closes the connection
            response = error_response(
                500, "internal_error", "an internal error occurred; it has been logged"
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(RevlineError, _revline_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchAll)
