"""The simulated Ramp developer API over HTTP: the wire protocol the real adapter speaks.

It imitates what the adapter depends on: the client-credentials token endpoint (HTTP Basic,
``grant_type=client_credentials``, scopes), bearer auth with per-endpoint scopes (403 without
one), 200 requests per rolling 10 s per client (then 429 with ``Retry-After``), keyset
pagination (``page_size`` 2 to 100, ``start`` = the last id of the previous page, ``page.next`` a
full URL), ``error_v2`` bodies, an ``x-trace-id`` header on every response, and
``Idempotency-Key`` on writes (a replay answers the first success again; the same key on a
different request is refused).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revline.providers.ramp import wire
from revline.providers.ramp.client import API_PATH
from revline.providers.ramp.ratelimit import RAMP_LIMIT, RAMP_WINDOW_SECONDS, RollingWindow
from revline.providers.ramp.records import ReviewDecision
from revline.providers.ramp.sim.state import RampState, SimError
from revline.providers.simulator import Message, Receive, Scope, Send

ALL_SCOPES: tuple[str, ...] = (
    "transactions:read",
    "receipts:read",
    "memos:write",
    "cards:read",
    "cards:write",
    "limits:write",
    "users:read",
    "departments:read",
    "accounting:read",
    "accounting:write",
    "vendors:read",
)
TOKEN_LIFETIME = timedelta(days=10)
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime


Handler = Callable[[Request, Any, Token], tuple[int, Any]]


class RampApi:
    """An ASGI app over a ``RampState``.

    ``monotonic`` drives the rate limit (wall-clock, as Ramp's is; tests pass a fake one);
    token expiry follows the state's clock, so a sandbox run that moves the clock by weeks
    sees its tokens expire and the adapter fetch new ones.
    """

    def __init__(
        self,
        state: RampState,
        client_id: str,
        client_secret: str,
        *,
        scopes: Sequence[str] = ALL_SCOPES,
        seed: int = 0,
        rate_limit: int = RAMP_LIMIT,
        rate_window: float = RAMP_WINDOW_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self._client_id = client_id
        self._client_secret = client_secret
        self._allowed_scopes = frozenset(scopes)
        self._rate = (rate_limit, rate_window, monotonic)
        self._windows: dict[str, RollingWindow] = {}
        self._tokens: dict[str, Token] = {}
        self._replays: dict[tuple[str, str], tuple[tuple[str, str, bytes], int, Any]] = {}
        # A separate generator for tokens and trace ids: how many requests a run makes (which
        # faults change) must not change the ids of the business's objects.
        self._rng = random.Random(seed + 2)
        self._lock = threading.Lock()
        self.token_requests = 0
        self.throttled = 0
        self._app = Starlette(
            routes=self._routes(),
            exception_handlers={HTTPException: self._http_exception},  # type: ignore[dict-item]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every response carries an ``x-trace-id``, as Ramp's do."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        trace = self.trace_id()

        async def traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-trace-id", trace.encode())]
            await send(message)

        await self._app(scope, receive, traced)

    def trace_id(self) -> str:
        with self._lock:
            return f"{self._rng.getrandbits(128):032x}"

    def error_body(self, status: int) -> tuple[dict[str, str], bytes]:
        """What an injected fault looks like: Ramp's error body, with a trace id."""
        code = "RATE_LIMITED" if status == 429 else "INTERNAL_ERROR"
        headers = {"content-type": "application/json", "x-trace-id": self.trace_id()}
        if status == 429:
            headers["retry-after"] = "1"
        return headers, wire.encode(_error_v2(code, "injected fault", {}))

    # -- routing -----------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        state = self.state

        def listing(kind: str) -> Handler:
            return lambda request, _body, _token: (
                200,
                self._page(request, state.listing(kind, request.query_params)),
            )

        def one(kind: str, param: str = "id") -> Handler:
            return lambda request, _body, _token: (
                200,
                state.get_wire(kind, request.path_params[param]),
            )

        routes: list[tuple[str, str, str | None, Handler]] = [
            ("GET", "/transactions", "transactions:read", listing("transactions")),
            ("GET", "/transactions/{id}", "transactions:read", one("transactions")),
            ("PATCH", "/transactions/{id}", "accounting:write", self._code_transaction),
            ("POST", "/transactions/{id}/review", "accounting:write", self._review),
            ("GET", "/receipts", "receipts:read", listing("receipts")),
            ("GET", "/receipts/{id}", "receipts:read", one("receipts")),
            ("POST", "/memos/{id}", "memos:write", self._memo),
            ("GET", "/users", "users:read", listing("users")),
            ("GET", "/users/{id}", "users:read", one("users")),
            ("GET", "/departments", "departments:read", listing("departments")),
            ("GET", "/accounting/accounts", "accounting:read", listing("accounts")),
            ("GET", "/vendors", "vendors:read", listing("vendors")),
            ("POST", "/cards/deferred/virtual", "cards:write", self._create_card),
            ("GET", "/cards/deferred/status/{id}", "cards:read", self._card_status),
            ("GET", "/cards/{id}", "cards:read", one("cards")),
            # Registration needs only a valid token here; Ramp's own scope for it is unverified.
            ("POST", "/webhooks", None, self._subscribe),
        ]
        return [
            Route(f"{API_PATH}/token", self._token, methods=["POST"]),
            *(
                Route(f"{API_PATH}{path}", self._endpoint(scope, handler), methods=[method])
                for method, path, scope, handler in routes
            ),
        ]

    def _endpoint(
        self, required_scope: str | None, handler: Handler
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                token = self._authenticate(request)
                self._throttle(token)
                if required_scope is not None and required_scope not in token.scopes:
                    raise SimError(
                        403,
                        "INSUFFICIENT_SCOPE",
                        f"this request needs the {required_scope} scope",
                        {"required_scope": required_scope},
                    )
                key = request.headers.get("idempotency-key")
                if key and request.method != "GET":
                    status, payload = self._once(token, key, request, raw, handler)
                else:
                    status, payload = handler(request, _body(raw), token)
            except SimError as exc:
                return self._error(exc)
            return _json(status, payload)

        return endpoint

    def _once(
        self, token: Token, key: str, request: Request, raw: bytes, handler: Handler
    ) -> tuple[int, Any]:
        """Apply a keyed write once; a replay answers the first success again.

        Only successes are remembered: a request refused because the business was not ready
        (a rejection without a reason, say) can be retried with the same key once it is.
        """
        fingerprint = (request.method, request.url.path, raw)
        # The state's lock makes check, apply and remember one step, even against a replay
        # arriving while the first request is still being applied.
        with self.state.lock:
            earlier = self._replays.get((token.client_id, key))
            if earlier is not None:
                if earlier[0] != fingerprint:
                    raise SimError(
                        400,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this Idempotency-Key was used with a different request",
                    )
                return earlier[1], earlier[2]
            status, payload = handler(request, _body(raw), token)
            self._replays[(token.client_id, key)] = (fingerprint, status, payload)
            return status, payload

    # -- auth and limits ---------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        client = _basic_credentials(request.headers.get("authorization"))
        if client is None or not (
            hmac.compare_digest(client[0].encode(), self._client_id.encode())
            and hmac.compare_digest(client[1].encode(), self._client_secret.encode())
        ):
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        form = {
            name: values[-1]
            for name, values in parse_qs((await request.body()).decode("latin-1")).items()
        }
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials")
        requested = frozenset(form.get("scope", "").split()) or self._allowed_scopes
        if not requested <= self._allowed_scopes:
            unknown = " ".join(sorted(requested - self._allowed_scopes))
            return _oauth_error(400, "invalid_scope", f"not granted to this app: {unknown}")
        expires_at = self.state.clock.now() + TOKEN_LIFETIME
        with self._lock:
            access_token = f"ramp_tok_{self._rng.getrandbits(192):048x}"
            self._tokens[access_token] = Token(client[0], requested, expires_at)
        return _json(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": int(TOKEN_LIFETIME.total_seconds()),
                "scope": " ".join(sorted(requested)),
            },
        )

    def _authenticate(self, request: Request) -> Token:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            token = self._tokens.get(credential.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise SimError(401, "UNAUTHORIZED", "a valid bearer token is required")
        if token.expires_at <= self.state.clock.now():
            raise SimError(401, "UNAUTHORIZED", "the access token has expired")
        return token

    def _throttle(self, token: Token) -> None:
        with self._lock:
            window = self._windows.get(token.client_id)
            if window is None:
                window = self._windows[token.client_id] = RollingWindow(*self._rate)
        wait = window.try_acquire()
        if wait > 0:
            with self._lock:
                self.throttled += 1
            raise SimError(
                429,
                "RATE_LIMITED",
                "more than the allowed requests in the rolling window",
                {"retry_after_seconds": math.ceil(wait)},
            )

    # -- endpoints with logic ----------------------------------------------------------------

    def _code_transaction(self, request: Request, body: Any, _token: Token) -> tuple[int, Any]:
        selections = _field(body, "accounting_field_selections", list)
        gl = [s for s in selections if isinstance(s, Mapping) and s.get("type") == "GL_ACCOUNT"]
        if len(gl) != 1 or not isinstance(gl[0].get("id"), str):
            raise SimError(400, "INVALID_REQUEST", "exactly one GL_ACCOUNT selection with an id")
        return 200, self.state.select_gl_account(request.path_params["id"], gl[0]["id"])

    def _review(self, request: Request, body: Any, token: Token) -> tuple[int, Any]:
        try:
            decision = ReviewDecision(_field(body, "decision", str))
        except ValueError as exc:
            raise SimError(400, "INVALID_REQUEST", "decision is APPROVE or REJECT") from exc
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise SimError(400, "INVALID_REQUEST", "reason is a string")
        return 200, self.state.review(request.path_params["id"], decision, reason, token.client_id)

    def _memo(self, request: Request, body: Any, _token: Token) -> tuple[int, Any]:
        memo = _field(body, "memo", str)
        return 201, self.state.write_memo(request.path_params["id"], memo)

    def _create_card(self, _request: Request, body: Any, token: Token) -> tuple[int, Any]:
        if not isinstance(body, Mapping):
            raise SimError(400, "INVALID_REQUEST", "the body is a JSON object")
        return 201, self.state.start_card_task(body, token.client_id)

    def _card_status(self, request: Request, _body: Any, _token: Token) -> tuple[int, Any]:
        return 200, self.state.poll_card_task(request.path_params["id"])

    def _subscribe(self, _request: Request, body: Any, _token: Token) -> tuple[int, Any]:
        endpoint_url = _field(body, "endpoint_url", str)
        event_types = _field(body, "event_types", list)
        subscription = self.state.subscribe(endpoint_url, [str(t) for t in event_types])
        return 201, {
            "id": subscription.id,
            "endpoint_url": subscription.endpoint_url,
            "event_types": list(subscription.event_types),
            "secret": subscription.secret,
            "status": "ENABLED",
        }

    # -- responses ---------------------------------------------------------------------------

    def _page(self, request: Request, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Keyset pagination: ``start`` is the id of the last row of the previous page."""
        try:
            page_size = int(request.query_params.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError as exc:
            raise SimError(400, "INVALID_REQUEST", "page_size is a number") from exc
        if not 2 <= page_size <= 100:
            raise SimError(400, "INVALID_REQUEST", "page_size must be between 2 and 100")
        first = 0
        start = request.query_params.get("start")
        if start is not None:
            ids = [row["id"] for row in rows]
            if start not in ids:
                raise SimError(400, "INVALID_REQUEST", f"unknown start cursor {start}")
            first = ids.index(start) + 1
        chunk = rows[first : first + page_size]
        more = first + page_size < len(rows)
        following = str(request.url.include_query_params(start=chunk[-1]["id"])) if more else None
        return {"data": chunk, "page": {"next": following}}

    def _error(self, exc: SimError) -> Response:
        headers = {}
        if exc.status == 429 and "retry_after_seconds" in exc.info:
            headers["Retry-After"] = str(exc.info["retry_after_seconds"])
        return Response(
            wire.encode(_error_v2(exc.code, exc.message, exc.info)),
            status_code=exc.status,
            media_type="application/json",
            headers=headers,
        )

    async def _http_exception(self, _request: Request, exc: HTTPException) -> Response:
        code = "NOT_FOUND" if exc.status_code == 404 else "INVALID_REQUEST"
        return self._error(SimError(exc.status_code, code, str(exc.detail)))


def _error_v2(code: str, message: str, info: Mapping[str, Any]) -> dict[str, Any]:
    return {"error_v2": {"error_code": code, "message": message, "additional_info": dict(info)}}


def _json(status: int, payload: Any) -> Response:
    return Response(wire.encode(payload), status_code=status, media_type="application/json")


def _oauth_error(status: int, error: str, description: str) -> Response:
    return _json(status, {"error": error, "error_description": description})


def _body(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return wire.decode(raw)
    except ValueError as exc:
        raise SimError(400, "INVALID_REQUEST", "the body is not valid JSON") from exc


def _field(body: Any, name: str, kind: type) -> Any:
    value = body.get(name) if isinstance(body, Mapping) else None
    if not isinstance(value, kind):
        raise SimError(400, "INVALID_REQUEST", f"{name} is required ({kind.__name__})")
    return value


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        # Latin-1, as authlib encodes it; it decodes any byte, so only bad base64 fails.
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("latin-1")
    except binascii.Error:
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None
