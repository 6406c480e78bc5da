"""The Ramp adapter: the developer API v1 over httpx, with OAuth 2.0 client credentials.

What it takes care of, so callers do not have to:

- **Auth.** authlib's ``OAuth2Client`` (an ``httpx.Client``) fetches a client-credentials token
  with HTTP Basic client authentication and the configured scopes, and keeps it until shortly
  before it expires (Ramp's tokens last ten days). A 401 drops the token and retries once with
  a fresh one: a token revoked or expired early must not fail the work.
- **Rate limit.** Ramp allows 200 requests per rolling 10 s. A client-side limiter waits for a
  free slot before every request; a 429 anyway (another process sharing the app) is retried
  after ``Retry-After`` or an exponential backoff, a few times, then raised as retryable.
- **Retries.** Reads are also retried on 5xx and connection errors. Writes are not retried
  here: a 5xx on a write may have had an effect, so it goes back to the executor, which retries
  with the same idempotency key.
- **Errors.** ``{"error_v2": {error_code, message, additional_info}}`` becomes a
  ``ProviderError`` with Ramp's ``error_code`` and the ``x-trace-id`` Ramp support asks for.
- **Pagination.** ``page_size`` and the ``start`` cursor taken from ``page.next``.

``review_transaction`` is the single place that knows how a spend decision reaches Ramp; see its
docstring.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import authlib.deprecate  # noqa: F401  (imported first so the filter below can override it)
import httpx

from revline import config
from revline.errors import ConfigError
from revline.providers.base import ProviderError
from revline.providers.ramp import wire
from revline.providers.ramp.ratelimit import RAMP_LIMIT, RAMP_WINDOW_SECONDS, RateLimiter
from revline.providers.ramp.records import (
    GL_ACCOUNT,
    Card,
    CardTask,
    CardTaskStatus,
    Department,
    GLAccount,
    Memo,
    Receipt,
    ReviewDecision,
    Transaction,
    User,
    Vendor,
)

with warnings.catch_warnings():
    # authlib installs an "always" filter for its warnings when first imported
    # (authlib.deprecate, imported above), so this filter must come after it.
    # authlib 1.9 warns that its httpx integration moves to the httpx2 package; the
    # integration works as documented, and the warning is noise in every command's output.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

log = logging.getLogger(__name__)

PROVIDER = "ramp"
API_PATH = "/developer/v1"
# Refresh this long before Ramp says the token expires, so no request carries a dying token.
TOKEN_LEEWAY_SECONDS = 300
CARD_INTERVALS = frozenset({"DAILY", "MONTHLY", "QUARTERLY", "YEARLY", "TOTAL"})

R = TypeVar("R")


class RampAdapter:
    """Typed calls to Ramp. Thread-safe: one adapter serves every worker thread.

    ``currency`` is the business's currency, in which Ramp states legacy major-unit amounts
    (card limits). ``sleep``, ``monotonic`` and ``rng`` are injectable so tests never wait.
    """

    def __init__(
        self,
        api_base: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str],
        *,
        currency: str = "USD",
        timeout: float = 30.0,
        rate_limit: int = RAMP_LIMIT,
        rate_window: float = RAMP_WINDOW_SECONDS,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        card_poll_interval: float = 1.0,
        card_poll_attempts: int = 30,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_retries < 0 or card_poll_attempts < 1:
            raise ValueError("max_retries must be >= 0 and card_poll_attempts >= 1")
        self.base_url = api_base.rstrip("/") + API_PATH
        self.currency = currency.upper()
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._card_poll_interval = card_poll_interval
        self._card_poll_attempts = card_poll_attempts
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(rate_limit, rate_window, sleep=sleep, monotonic=monotonic)
        self._token_lock = threading.Lock()
        self._gl_lock = threading.Lock()
        self._gl_by_code: dict[str, GLAccount] = {}
        self._http = OAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
            scope=" ".join(scopes),
            token_endpoint=f"{self.base_url}/token",
            grant_type="client_credentials",
            leeway=TOKEN_LEEWAY_SECONDS // 2,
            timeout=timeout,
        )
        # authlib reads a token response as JSON and keeps whatever it finds; a 429 or 5xx
        # page from the token endpoint must become a ProviderError instead.
        self._http.register_compliance_hook("access_token_response", self._check_token_response)

    @classmethod
    def from_settings(
        cls, settings: config.Ramp, *, currency: str = "USD", **options: Any
    ) -> RampAdapter:
        """An adapter for ``[ramp]`` in the configuration; refuses to start without credentials."""
        if settings.client_id is None or settings.client_secret is None:
            raise ConfigError("ramp.client_id and ramp.client_secret are required for Ramp")
        return cls(
            settings.api_base,
            settings.client_id.get_secret_value(),
            settings.client_secret.get_secret_value(),
            settings.scopes,
            currency=currency,
            **options,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RampAdapter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------

    def list_transactions(
        self,
        *,
        state: str | None = None,
        approval_status: str | None = None,
        sync_status: str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        user_id: str | None = None,
        department_id: str | None = None,
        updated_after: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[Transaction]:
        """Every matching transaction, fetching pages as the caller iterates."""
        filters = {
            "state": state,
            "approval_status": approval_status,
            "sync_status": sync_status,
            "from_date": from_date,
            "to_date": to_date,
            "user_id": user_id,
            "department_id": department_id,
            "updated_after": updated_after,
        }
        for item in self._paginate("/transactions", filters, page_size):
            yield self._read(Transaction.from_wire, item, "transaction")

    def get_transaction(self, transaction_id: str) -> Transaction:
        data = self._request("GET", f"/transactions/{transaction_id}")
        return self._read(Transaction.from_wire, data, "transaction")

    def list_receipts(self, transaction_id: str) -> list[Receipt]:
        """The receipts attached to one transaction."""
        items = self._paginate("/receipts", {"transaction_id": transaction_id}, 100)
        return [self._read(Receipt.from_wire, item, "receipt") for item in items]

    def create_memo(self, transaction_id: str, memo: str, idempotency_key: str) -> Memo:
        """Set the transaction's memo (the note the cardholder sees on the transaction)."""
        data = self._request(
            "POST",
            f"/memos/{transaction_id}",
            body={"memo": memo},
            idempotency_key=idempotency_key,
        )
        return self._read(Memo.from_wire, data, "memo")

    def set_gl_account(
        self, transaction_id: str, gl_code: str, idempotency_key: str
    ) -> Transaction:
        """Code the transaction to the GL account with ``gl_code`` (e.g. ``6610``).

        Replaces the transaction's GL-account selection and keeps its other accounting fields.
        The endpoint (``PATCH /transactions/{id}`` with ``accounting_field_selections``) is
        **unverified** against Ramp, like the review in ``review_transaction``.
        """
        account = self.gl_account_by_code(gl_code)
        body = {"accounting_field_selections": [{"type": GL_ACCOUNT, "id": account.id}]}
        data = self._request(
            "PATCH", f"/transactions/{transaction_id}", body=body, idempotency_key=idempotency_key
        )
        return self._read(Transaction.from_wire, data, "transaction")

    def review_transaction(
        self,
        transaction_id: str,
        decision: ReviewDecision | str,
        gl_code: str | None,
        reason: str | None,
        idempotency_key: str,
    ) -> Transaction:
        """Approve (coded to ``gl_code``) or reject (with ``reason``) a transaction under review.

        **The single place to change when Ramp's approval API is confirmed.** No approval
        endpoint was found in Ramp's public developer API. Until one is, Revline records the
        decision with ``POST /developer/v1/transactions/{id}/review`` ``{decision, reason}``,
        which the simulator serves; an approval first codes the GL account through
        ``set_gl_account``. Everything else in Revline (the action handlers, the playbooks) calls
        this method and nothing below it.

        Both requests carry an idempotency key derived from ``idempotency_key``, so a retry
        after a crash cannot record a second decision.
        """
        decision = ReviewDecision(decision)
        body: dict[str, Any] = {"decision": decision.value}
        if decision is ReviewDecision.APPROVE:
            if not gl_code:
                raise ValueError("an approval needs a GL code")
            self.set_gl_account(transaction_id, gl_code, f"{idempotency_key}:gl")
        else:
            if not reason:
                raise ValueError("a rejection needs a reason")
            body["reason"] = reason
        data = self._request(
            "POST",
            f"/transactions/{transaction_id}/review",
            body=body,
            idempotency_key=f"{idempotency_key}:review",
        )
        return self._read(Transaction.from_wire, data, "transaction")

    # -- people and accounting ---------------------------------------------------------------

    def list_users(
        self, *, department_id: str | None = None, role: str | None = None
    ) -> list[User]:
        items = self._paginate("/users", {"department_id": department_id, "role": role}, 100)
        return [self._read(User.from_wire, item, "user") for item in items]

    def get_user(self, user_id: str) -> User:
        return self._read(User.from_wire, self._request("GET", f"/users/{user_id}"), "user")

    def list_departments(self) -> list[Department]:
        items = self._paginate("/departments", {}, 100)
        return [self._read(Department.from_wire, item, "department") for item in items]

    def list_gl_accounts(self) -> list[GLAccount]:
        items = self._paginate("/accounting/accounts", {}, 100)
        return [self._read(GLAccount.from_wire, item, "GL account") for item in items]

    def gl_account_by_code(self, code: str) -> GLAccount:
        """The GL account with ``code``; the chart is cached and re-read on a miss."""
        with self._gl_lock:
            if code not in self._gl_by_code:
                self._gl_by_code = {account.code: account for account in self.list_gl_accounts()}
            account = self._gl_by_code.get(code)
        if account is None:
            raise ProviderError(
                f"Ramp has no GL account with code {code}",
                retryable=False,
                provider=PROVIDER,
                provider_code="gl_account_not_found",
            )
        return account

    def find_vendor(self, name: str) -> Vendor | None:
        """The vendor whose name matches ``name`` (case and surrounding spaces ignored)."""
        wanted = name.strip().casefold()
        for item in self._paginate("/vendors", {}, 100):
            vendor = self._read(Vendor.from_wire, item, "vendor")
            if vendor.name.strip().casefold() == wanted:
                return vendor
        return None

    # -- cards -------------------------------------------------------------------------------

    def create_virtual_card(
        self,
        *,
        user_id: str,
        display_name: str,
        limit: int,
        interval: str,
        idempotency_key: str,
        vendor_ids: Sequence[str] = (),
        category_ids: Sequence[int] = (),
        blocked_mcc_codes: Sequence[str] = (),
        transaction_amount_limit: int | None = None,
        gl_account_id: str | None = None,
    ) -> str:
        """Start a deferred virtual-card creation; returns the task id to poll.

        ``limit`` and ``transaction_amount_limit`` are minor units of the business currency;
        Ramp's card API takes major units, converted exactly here. Ramp de-duplicates on the
        body's ``idempotency_key``: a retry returns the original task. ``gl_account_id`` is
        sent as ``accounting_gl_account_id``, a field that is **unverified** against Ramp.
        """
        if interval not in CARD_INTERVALS:
            raise ValueError(f"interval must be one of {sorted(CARD_INTERVALS)}")
        restrictions: dict[str, Any] = {
            "amount": wire.to_major(limit, self.currency),
            "interval": interval,
            "vendor_whitelist": list(vendor_ids),
            "categories_whitelist": list(category_ids),
            "blocked_mcc_codes": list(blocked_mcc_codes),
        }
        if transaction_amount_limit is not None:
            restrictions["transaction_amount_limit"] = wire.to_major(
                transaction_amount_limit, self.currency
            )
        body: dict[str, Any] = {
            "user_id": user_id,
            "idempotency_key": idempotency_key,
            "display_name": display_name,
            "spending_restrictions": restrictions,
        }
        if gl_account_id is not None:
            body["accounting_gl_account_id"] = gl_account_id
        data = self._request("POST", "/cards/deferred/virtual", body=body)
        return self._read(lambda d: str(d["id"]), data, "card task")

    def get_card_task(self, task_id: str) -> CardTask:
        data = self._request("GET", f"/cards/deferred/status/{task_id}")
        return self._read(CardTask.from_wire, data, "card task")

    def wait_for_card_task(self, task_id: str) -> CardTask:
        """Poll a deferred card task until ``SUCCESS``.

        ``ERROR`` is final (not retryable: the same idempotency key returns the same failed
        task). A task still running after the poll budget is retryable: the executor comes
        back later and, with the same key, finds the same task.
        """
        for attempt in range(self._card_poll_attempts):
            task = self.get_card_task(task_id)
            if task.status is CardTaskStatus.SUCCESS:
                return task
            if task.status is CardTaskStatus.ERROR:
                raise ProviderError(
                    f"Ramp could not create the card (task {task_id}): {task.error}",
                    retryable=False,
                    provider=PROVIDER,
                    provider_code="card_task_error",
                )
            if attempt + 1 < self._card_poll_attempts:
                self._sleep(self._card_poll_interval)
        raise ProviderError(
            f"card task {task_id} still {task.status} after {self._card_poll_attempts} polls",
            retryable=True,
            provider=PROVIDER,
            provider_code="card_task_pending",
        )

    def get_card(self, card_id: str) -> Card:
        data = self._request("GET", f"/cards/{card_id}")
        return self._read(lambda d: Card.from_wire(d, self.currency), data, "card")

    # -- webhooks ----------------------------------------------------------------------------

    def register_webhook(self, endpoint_url: str, event_types: Sequence[str]) -> dict[str, str]:
        """Subscribe ``endpoint_url`` to ``event_types``; returns ``{id, secret}``.

        The secret is what ``ramp_webhook_secret`` must be set to. Ramp also sends a
        verification challenge to the endpoint, which the simulator does not.
        """
        data = self._request(
            "POST", "/webhooks", body={"endpoint_url": endpoint_url, "event_types": event_types}
        )
        return self._read(lambda d: {"id": str(d["id"]), "secret": str(d["secret"])}, data, "hook")

    # -- the wire ----------------------------------------------------------------------------

    def _paginate(
        self, path: str, filters: Mapping[str, Any], page_size: int
    ) -> Iterator[Mapping[str, Any]]:
        if not 2 <= page_size <= 100:
            raise ValueError("Ramp's page_size is between 2 and 100")
        query: dict[str, str] = {
            name: value.isoformat() if isinstance(value, datetime) else str(value)
            for name, value in filters.items()
            if value is not None
        }
        query["page_size"] = str(page_size)
        seen: set[str] = set()
        while True:
            body = self._request("GET", path, params=query)
            if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                raise self._unreadable(f"a page of {path} without a data list")
            yield from body["data"]
            following = (body.get("page") or {}).get("next")
            if not following:
                return
            cursor = _cursor(str(following))
            if cursor is None or cursor in seen:
                # A page that points nowhere new would loop forever.
                raise self._unreadable(f"a page of {path} with an unusable next link")
            seen.add(cursor)
            query["start"] = cursor

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One API call, with the token, the rate limit, and the retries described above."""
        url = f"{self.base_url}{path}"
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        if body is not None:
            content = wire.encode(body)
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        safe = method == "GET"
        retries = 0
        fresh_token = False
        while True:
            try:
                self._ensure_token()
            except ProviderError as exc:
                # Fetching a token has no effect to duplicate: retry what may pass.
                if exc.retryable and retries < self._max_retries:
                    retries += 1
                    self._backoff(retries, None)
                    continue
                raise
            self._limiter.acquire()
            try:
                response = self._http.request(
                    method, url, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if safe and retries < self._max_retries:
                    retries += 1
                    self._backoff(retries, None)
                    continue
                raise ProviderError(
                    f"Ramp {method} {path} failed: {exc!r}", retryable=True, provider=PROVIDER
                ) from exc
            status = response.status_code
            if status == 401 and not fresh_token:
                fresh_token = True
                self._drop_token()
                continue
            if (status == 429 or (safe and status >= 500)) and retries < self._max_retries:
                retries += 1
                self._backoff(retries, response)
                continue
            if response.is_success:
                try:
                    return wire.decode(response.content)
                except ValueError as exc:
                    raise ProviderError(
                        f"Ramp {method} {path} answered {status} with a body that is not JSON",
                        retryable=True,
                        provider=PROVIDER,
                        status=status,
                    ) from exc
            raise _error(response, f"{method} {path}")

    def _ensure_token(self) -> None:
        with self._token_lock:
            token = self._http.token
            if token is None or token.is_expired(leeway=TOKEN_LEEWAY_SECONDS):
                try:
                    self._http.fetch_token(grant_type="client_credentials")
                except httpx.TransportError as exc:
                    raise ProviderError(
                        f"Ramp token request failed: {exc!r}", retryable=True, provider=PROVIDER
                    ) from exc

    def _drop_token(self) -> None:
        with self._token_lock:
            self._http.token = None

    @staticmethod
    def _check_token_response(response: httpx.Response) -> httpx.Response:
        if response.status_code != 200:
            raise _error(response, "token request")
        return response

    def _backoff(self, retry: int, response: httpx.Response | None) -> None:
        delay: float | None = None
        if response is not None:
            try:
                delay = float(response.headers.get("retry-after", ""))
            except ValueError:
                delay = None
        if delay is None or delay < 0:
            ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (retry - 1))
            delay = self._rng.uniform(ceiling / 2, ceiling)  # jitter: workers do not align
        self._sleep(min(delay, self._backoff_cap))

    def _read(self, parse: Callable[[Any], R], data: Any, what: str) -> R:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise self._unreadable(f"a {what} Revline cannot read ({exc!r})") from exc

    @staticmethod
    def _unreadable(what: str) -> ProviderError:
        return ProviderError(
            f"Ramp answered with {what}",
            retryable=False,
            provider=PROVIDER,
            provider_code="unreadable_response",
        )


def _cursor(following: str) -> str | None:
    """The ``start`` cursor of a ``page.next``, which Ramp gives as a full URL.

    Only the cursor is taken: the next request goes to the configured base with the same
    filters, never to whatever host a response names.
    """
    if "?" not in following and "/" not in following:
        return following or None
    values = parse_qs(urlsplit(following).query).get("start")
    return values[0] if values else None


def _error(response: httpx.Response, doing: str) -> ProviderError:
    """A ``ProviderError`` from a Ramp error response, logged with its ``x-trace-id``."""
    trace = response.headers.get("x-trace-id")
    code: str | None = None
    message = response.reason_phrase or "error"
    try:
        document = wire.decode(response.content)
    except ValueError:
        document = None
    if isinstance(document, Mapping):
        detail = document.get("error_v2")
        if isinstance(detail, Mapping):
            code = str(detail.get("error_code") or "") or None
            message = str(detail.get("message") or message)
        elif isinstance(document.get("error"), str):
            # The token endpoint answers in OAuth's shape: {"error", "error_description"}.
            code = str(document["error"])
            message = str(document.get("error_description") or code)
    log.warning(
        "Ramp %s answered %s %s: %s (x-trace-id %s)",
        doing,
        response.status_code,
        code,
        message,
        trace,
    )
    answer = f"{response.status_code} {code}" if code else str(response.status_code)
    return ProviderError.from_status(
        PROVIDER,
        response.status_code,
        f"Ramp {doing} answered {answer}: {message} (x-trace-id {trace})",
        provider_code=code,
    )
