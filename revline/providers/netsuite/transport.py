"""One account's HTTP channel: authentication, the concurrency cap, retries and paging.

NetSuite limits concurrent requests per account (REST, SOAP and RESTlets together) and refuses
the excess with 429 or ``SSS_REQUEST_LIMIT_EXCEEDED``. Every request of an adapter holds one of
``concurrency_limit`` slots while it is on the wire, so Revline alone never exceeds its share.
Refusals still come when other integrations use the account; those are retried here with
backoff and jitter, because a refused request had no effect. Reads are also retried on 5xx and
connection errors. Writes are not: whether a write that failed mid-way took effect is for the
caller to find out (by its idempotency key) before trying again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from revline.clock import Clock
from revline.config import NetSuite
from revline.errors import ConfigError
from revline.providers.base import ProviderError
from revline.providers.netsuite import errors, wire
from revline.providers.netsuite.auth import (
    OAUTH2_ENDPOINT,
    Authenticator,
    ClientCredentials,
    TokenBasedAuth,
)

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Revline-Idempotency-Key"
SUITEQL_PAGE_MAX = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a refused (or, for reads, failed) request is tried again."""

    attempts: int = 6
    base_seconds: float = 0.2
    cap_seconds: float = 5.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))
        jittered = ceiling / 2 + rng.uniform(0, ceiling / 2)
        return min(self.cap_seconds, max(jittered, retry_after or 0.0))


def default_base_url(account_id: str) -> str:
    """``https://<account>.suitetalk.api.netsuite.com``: lowercase, ``_`` becomes ``-``."""
    return f"https://{account_id.lower().replace('_', '-')}.suitetalk.api.netsuite.com"


def _secret(value: Any, name: str) -> str:
    if value is None:
        raise ConfigError(f"netsuite.{name} is not configured")
    return str(value.get_secret_value())


class Transport:
    """Sends requests to one NetSuite account."""

    def __init__(
        self,
        settings: NetSuite,
        *,
        clock: Clock,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not settings.account_id:
            raise ConfigError("netsuite.account_id is not configured")
        self.account_id = settings.account_id
        self.base_url = (settings.base_url or default_base_url(settings.account_id)).rstrip("/")
        self.rest_url = f"{self.base_url}/services/rest"
        self.restlet_url = settings.restlet_url
        self.concurrency_limit = settings.concurrency_limit
        self._slots = threading.BoundedSemaphore(settings.concurrency_limit)
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.auth = self._authenticator(settings, clock)

    def _authenticator(self, settings: NetSuite, clock: Clock) -> Authenticator:
        if settings.auth == "tba":
            return TokenBasedAuth(
                account_id=self.account_id,
                consumer_key=_secret(settings.consumer_key, "consumer_key"),
                consumer_secret=_secret(settings.consumer_secret, "consumer_secret"),
                token_id=_secret(settings.token_id, "token_id"),
                token_secret=_secret(settings.token_secret, "token_secret"),
                clock=clock,
            )
        if not settings.certificate_id:
            raise ConfigError("netsuite.certificate_id is not configured")
        return ClientCredentials(
            token_url=f"{self.base_url}{OAUTH2_ENDPOINT}",
            client_id=_secret(settings.client_id, "client_id"),
            certificate_id=settings.certificate_id,
            private_key_pem=_secret(settings.private_key_pem, "private_key_pem"),
            clock=clock,
            fetch=self._fetch_token,
        )

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- sending ------------------------------------------------------------------------------

    def _pause(self, attempt: int, response: httpx.Response | None) -> None:
        retry_after: float | None = None
        if response is not None:
            header = response.headers.get("Retry-After", "")
            retry_after = float(header) if header.isdigit() else None
        with self._rng_lock:
            delay = self._retry.delay(attempt, self._rng, retry_after)
        self._sleep(delay)

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> httpx.Response:
        with self._slots:
            return self._http.request(method, url, headers=dict(headers), content=content)

    def send(
        self,
        method: str,
        url: str,
        *,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        write: bool,
        context: str,
        authenticate: bool = True,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; a 2xx response, or ``ProviderError``.

        ``write`` says whether the request may change NetSuite; only reads are repeated after a
        5xx or a lost connection.
        """
        base_headers = {"Accept": "application/json", **(headers or {})}
        content: bytes | None = None
        if form is not None:
            content = _form(form)
            base_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            content = wire.dumps(body)
            base_headers["Content-Type"] = "application/json"
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._retry.attempts
            request_headers = dict(base_headers)
            if authenticate:
                request_headers["Authorization"] = self.auth.authorization(method, url)
            try:
                response = self._send_once(method, url, request_headers, content)
            except httpx.TransportError as exc:
                if not write and not last:
                    log.info("NetSuite %s failed (%s); retrying", context, exc)
                    self._pause(attempt, None)
                    continue
                raise errors.unavailable(f"NetSuite {context}: {exc}") from exc
            if response.is_success:
                return response
            error = errors.from_response(response, context)
            if (
                response.status_code == 401
                and authenticate
                and not reauthenticated
                and self.auth.invalidate()
            ):
                reauthenticated = True  # an expired or revoked bearer token: fetch a new one
                continue
            limited = errors.is_limit_exceeded(error)
            if not last and (limited or (not write and error.retryable)):
                log.info("NetSuite %s refused (%s); retrying", context, error.message)
                self._pause(attempt, response)
                continue
            raise error

    def _fetch_token(self, url: str, form: Mapping[str, str]) -> Mapping[str, Any]:
        response = self.send(
            "POST", url, form=form, write=False, context="token", authenticate=False
        )
        body = wire.loads(response.content)
        if not isinstance(body, dict):
            raise errors.unavailable("NetSuite token: the answer was not a JSON object")
        return body

    # -- the three surfaces ------------------------------------------------------------------

    def rest(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        idempotency_key: str | None = None,
        query: str = "",
    ) -> httpx.Response:
        """A REST record call under ``/services/rest/``; writes carry the idempotency key."""
        headers: dict[str, str] = {}
        write = method != "GET"
        if write:
            # Refuse unknown field names instead of NetSuite's default of ignoring them: a
            # mistyped custom field must fail loudly, not drop a Stripe id on the floor.
            headers["X-NetSuite-PropertyNameValidation"] = "Error"
            if idempotency_key:
                headers[IDEMPOTENCY_HEADER] = idempotency_key
        url = f"{self.rest_url}/{path}{'?' + query if query else ''}"
        return self.send(
            method, url, body=body, headers=headers, write=write, context=f"{method} {path}"
        )

    def suiteql(self, query: str, page_size: int = SUITEQL_PAGE_MAX) -> list[dict[str, Any]]:
        """Every row of a SuiteQL query, page by page.

        Offsets page over a result that must be in a stable order, so the query must say
        ``ORDER BY``, ending on a unique column.
        """
        if "order by" not in " ".join(query.lower().split()):
            raise ValueError("a paged SuiteQL query needs a stable ORDER BY")
        if not 1 <= page_size <= SUITEQL_PAGE_MAX:
            raise ValueError(f"page_size must be 1..{SUITEQL_PAGE_MAX}")
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            url = f"{self.rest_url}/query/v1/suiteql?limit={page_size}&offset={offset}"
            response = self.send(
                "POST",
                url,
                body={"q": query},
                headers={"Prefer": "transient"},
                write=False,
                context="SuiteQL",
            )
            page = wire.loads(response.content)
            for item in page.get("items", []):
                item.pop("links", None)
                rows.append(item)
            if not page.get("hasMore"):
                return rows
            offset += page_size

    def restlet(
        self, action: str, payload: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """Call Revline's RESTlet; its answer is ``{"ok": true, "replayed": bool, "result"}``.

        A RESTlet sees only the request body, not headers, so the key travels in both: the
        header for proxies and logs, the body for the script's own de-duplication.
        """
        if not self.restlet_url:
            raise errors.refused("netsuite.restlet_url is not configured", "not_configured")
        body = {"action": action, "idempotency_key": idempotency_key, **payload}
        response = self.send(
            "POST",
            self.restlet_url,
            body=body,
            headers={IDEMPOTENCY_HEADER: idempotency_key},
            write=True,
            context=f"RESTlet {action}",
        )
        answer = wire.loads(response.content)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise ProviderError(
                f"NetSuite RESTlet {action}: unexpected answer {answer!r}",
                retryable=False,
                provider=errors.PROVIDER,
                status=response.status_code,
            )
        return answer


def _form(values: Mapping[str, str]) -> bytes:
    return str(httpx.QueryParams(dict(values))).encode()
