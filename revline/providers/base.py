"""What the executor needs from a provider: a handler per action kind, and one error type.

A handler receives the action's parameters and idempotency key, calls its provider, and returns
the provider's confirmation. It raises ``ProviderError`` (retryable or not) when the provider did
not confirm. Adapters translate their SDK's errors into this one family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from revline.errors import RevlineError


class ProviderError(RevlineError):
    """A provider did not confirm an effect.

    Retryable: connection errors, 409, 429 and 5xx. Not retryable: other 4xx, which go to the
    manual queue for a person.
    """

    code = "provider_error"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        provider: str = "",
        status: int | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.provider = provider
        self.status = status
        self.provider_code = provider_code

    @classmethod
    def from_status(
        cls, provider: str, status: int, message: str, provider_code: str | None = None
    ) -> ProviderError:
        retryable = status in (409, 429) or status >= 500
        return cls(
            message,
            retryable=retryable,
            provider=provider,
            status=status,
            provider_code=provider_code,
        )


@dataclass(frozen=True)
class ActionRequest:
    action_id: str
    kind: str
    subject: str
    params: Mapping[str, Any]
    idempotency_key: str
    attempt: int


Handler = Callable[[ActionRequest], Mapping[str, Any]]


class Handlers:
    """Action kind → the adapter call that carries it out."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._by_kind:
            raise ValueError(f"a handler for {kind!r} is already registered")
        self._by_kind[kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._by_kind.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._by_kind)
