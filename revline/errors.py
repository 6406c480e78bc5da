"""The one error root. Each area defines its family beside its code; the API maps them to HTTP."""

from __future__ import annotations


class RevlineError(Exception):
    """Base of every error Revline raises on purpose.

    ``retryable`` tells the executor and the inbox whether trying again later can succeed.
    ``code`` is a stable machine-readable name; ``http_status`` is what the API answers.
    """

    code: str = "revline_error"
    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class ConfigError(RevlineError):
    """The configuration file or environment is invalid."""

    code = "invalid_configuration"


class NotConfigured(ConfigError):
    """A provider a procedure needs has no settings: the request cannot be served here."""

    code = "provider_not_configured"
    http_status = 503


class NotFound(RevlineError):
    code = "not_found"
    http_status = 404


class Conflict(RevlineError):
    code = "conflict"
    http_status = 409


class InvalidRequest(RevlineError):
    code = "invalid_request"
    http_status = 400


class Forbidden(RevlineError):
    code = "forbidden"
    http_status = 403


class Unauthorized(RevlineError):
    code = "unauthorized"
    http_status = 401
