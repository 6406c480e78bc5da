"""The simulated account's HTTP surface: REST records, SuiteQL, OAuth 2.0 tokens, the RESTlet.

Every call but the token request must authenticate (TBA or a bearer token) or is answered 401
``INVALID_LOGIN``. ``ConcurrencyGate`` enforces the account's concurrency limit across all of
them: the request over the limit is refused at once (429 for REST, 400
``SSS_REQUEST_LIMIT_EXCEEDED`` for the RESTlet) and counted.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from http import HTTPStatus
from json import JSONDecodeError
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revline.providers.netsuite import wire
from revline.providers.netsuite.auth import OAUTH2_ENDPOINT
from revline.providers.netsuite.sim import suiteql
from revline.providers.netsuite.sim.books import NetSuiteBooks
from revline.providers.netsuite.sim.oauth import Gatekeeper, Refused
from revline.providers.netsuite.sim.rest import RestError, RestRecords
from revline.providers.netsuite.sim.restlet import DEPLOY_ID, SCRIPT_ID, Restlet, RestletError
from revline.providers.simulator import ASGIApp, Message, Receive, Scope, Send

RESTLET_PATH = "/app/site/hosting/restlet.nl"
SUITEQL_MAX_LIMIT = 1000
_TYPE_URL = {
    400: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
    401: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2",
    404: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5",
    405: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.6",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1",
}
_REST_CODES = {429: "CONCURRENCY_LIMIT_EXCEEDED", 500: "UNEXPECTED_ERROR", 503: "UNEXPECTED_ERROR"}


def rest_error_body(status: int, code: str, detail: str, path: str | None = None) -> bytes:
    """NetSuite's REST error document."""
    error: dict[str, str] = {"detail": detail, "o:errorCode": code}
    if path:
        error["o:errorPath"] = path
    body = {
        "type": _TYPE_URL.get(status, _TYPE_URL[400]),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "o:errorDetails": [error],
    }
    return wire.dumps(body)


def fault_body(status: int) -> tuple[dict[str, str], bytes]:
    """The body of an injected fault (``FaultInjector``): REST's shape."""
    code = _REST_CODES.get(status, "UNEXPECTED_ERROR")
    detail = "Simulated fault: the request was not processed."
    return {"content-type": "application/json"}, rest_error_body(status, code, detail)


def _json(body: Any, status: int = 200) -> Response:
    return Response(wire.dumps(body), status_code=status, media_type="application/json")


def _rest_error(status: int, code: str, detail: str, path: str | None = None) -> Response:
    content = rest_error_body(status, code, detail, path)
    return Response(content, status_code=status, media_type="application/json")


def _restlet_error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


@dataclass(frozen=True)
class SeenRequest:
    """One request as the account saw it, for tests and the sandbox."""

    method: str
    path: str
    query: str
    status: int
    idempotency_key: str | None


class ConcurrencyGate:
    """ASGI middleware: at most ``limit`` requests in flight; the rest refused immediately.

    ``processing_seconds`` is how long each admitted request stays in flight before it is
    served (NetSuite's own latency), which is what makes requests overlap.
    """

    def __init__(self, app: ASGIApp, limit: int, processing_seconds: float = 0.0) -> None:
        self.app = app
        self.limit = limit
        self.processing_seconds = processing_seconds
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.refused = 0
        self.seen: list[SeenRequest] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        key = headers.get("x-revline-idempotency-key")
        with self._lock:
            admitted = self.in_flight < self.limit
            if admitted:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            else:
                self.refused += 1
        if not admitted:
            if path == RESTLET_PATH:
                response = _restlet_error(
                    400,
                    "SSS_REQUEST_LIMIT_EXCEEDED",
                    "The request could not be processed: the concurrency limit was exceeded.",
                )
            else:
                response = _rest_error(
                    429,
                    "CONCURRENCY_LIMIT_EXCEEDED",
                    "Concurrent request limit exceeded. Request blocked.",
                )
            self._record(scope, path, response.status_code, key)
            await response(scope, receive, send)
            return
        status = {"code": 0}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            if self.processing_seconds:
                await asyncio.sleep(self.processing_seconds)
            await self.app(scope, receive, tracking_send)
        finally:
            with self._lock:
                self.in_flight -= 1
            self._record(scope, path, status["code"], key)

    def _record(self, scope: Scope, path: str, status: int, key: str | None) -> None:
        query = bytes(scope.get("query_string", b"")).decode()
        with self._lock:
            self.seen.append(SeenRequest(str(scope.get("method", "")), path, query, status, key))


class AccountApp:
    """The Starlette application of one simulated account."""

    def __init__(self, books: NetSuiteBooks, gatekeeper: Gatekeeper) -> None:
        self.books = books
        self.gatekeeper = gatekeeper
        self.records = RestRecords(books)
        self.restlet_script = Restlet(books)
        record = "/services/rest/record/v1/{record_type}"
        self.app = Starlette(
            routes=[
                Route(OAUTH2_ENDPOINT, self.token, methods=["POST"]),
                Route("/services/rest/query/v1/suiteql", self.suiteql, methods=["POST"]),
                Route(record, self.create, methods=["POST"]),
                Route(record + "/{record_id}", self.record, methods=["GET", "PATCH"]),
                Route(
                    record + "/{record_id}/!transform/{target_type}",
                    self.transform,
                    methods=["POST"],
                ),
                Route(RESTLET_PATH, self.restlet, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- authentication ------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str | None:
        """None when the caller is who it says; else why not."""
        header = request.headers.get("authorization", "")
        try:
            if header.lower().startswith("bearer "):
                self.gatekeeper.verify_bearer(header[7:].strip())
            else:
                self.gatekeeper.verify_tba(
                    request.method,
                    request.url.scheme,
                    request.headers.get("host", request.url.netloc),
                    request.scope["raw_path"].decode(),
                    request.scope.get("query_string", b"").decode(),
                    header,
                )
        except Refused as exc:
            return exc.reason
        return None

    def _refuse_rest_login(self, reason: str) -> Response:
        detail = (
            "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite "
            f"UI at Setup > Users/Roles > User Management > View Login Audit Trail. ({reason})"
        )
        return _rest_error(401, "INVALID_LOGIN", detail)

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        return wire.loads(raw) if raw else {}

    # -- endpoints ------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        try:
            answer = self.gatekeeper.issue_token(form, f"{_base(request)}{OAUTH2_ENDPOINT}")
        except Refused as exc:
            status = 401 if exc.oauth_error == "invalid_client" else 400
            return _json({"error": exc.oauth_error, "error_description": exc.reason}, status)
        return _json(answer)

    async def suiteql(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused:
            return self._refuse_rest_login(refused)
        if request.headers.get("prefer", "").lower() != "transient":
            return _rest_error(400, "INVALID_PARAMETER", "SuiteQL requires Prefer: transient.")
        try:
            limit = int(request.query_params.get("limit", SUITEQL_MAX_LIMIT))
            offset = int(request.query_params.get("offset", 0))
            body = await self._body(request)
        except (ValueError, JSONDecodeError):
            return _rest_error(400, "INVALID_PARAMETER", "Invalid limit, offset or body.")
        if not 1 <= limit <= SUITEQL_MAX_LIMIT or offset < 0 or offset % limit:
            return _rest_error(
                400,
                "INVALID_PARAMETER",
                f"limit must be 1..{SUITEQL_MAX_LIMIT} and offset a multiple of it.",
            )
        query = body.get("q") if isinstance(body, dict) else None
        if not isinstance(query, str):
            return _rest_error(400, "INVALID_PARAMETER", "The body needs a q.", "q")
        try:
            with self.books.lock:
                rows = suiteql.execute(self.books.db, query)
        except suiteql.SuiteQLError as exc:
            return _rest_error(400, "INVALID_PARAMETER", str(exc), "q")
        page = rows[offset : offset + limit]
        has_more = offset + limit < len(rows)
        url = f"{_base(request)}/services/rest/query/v1/suiteql"
        links = [{"rel": "self", "href": f"{url}?limit={limit}&offset={offset}"}]
        if has_more:
            links.append({"rel": "next", "href": f"{url}?limit={limit}&offset={offset + limit}"})
        return _json(
            {
                "links": links,
                "count": len(page),
                "hasMore": has_more,
                "offset": offset,
                "totalResults": len(rows),
                "items": [{"links": [], **row} for row in page],
            }
        )

    def _strict(self, request: Request) -> bool:
        return request.headers.get("x-netsuite-propertynamevalidation", "").lower() == "error"

    def _created(self, request: Request, record_type: str, record_id: str) -> Response:
        location = f"{_base(request)}/services/rest/record/v1/{record_type}/{record_id}"
        return Response(status_code=204, headers={"Location": location})

    async def create(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused:
            return self._refuse_rest_login(refused)
        record_type = request.path_params["record_type"]
        try:
            body = await self._body(request)
            record_id = self.records.create(record_type, body, self._strict(request))
        except JSONDecodeError:
            return _rest_error(400, "INVALID_CONTENT", "The body is not valid JSON.")
        except RestError as exc:
            return _rest_error(exc.status, exc.code, exc.detail, exc.path)
        return self._created(request, record_type, record_id)

    async def record(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused:
            return self._refuse_rest_login(refused)
        record_type = request.path_params["record_type"]
        record_id = request.path_params["record_id"]
        try:
            if request.method == "GET":
                expand = request.query_params.get("expandSubResources", "").lower() == "true"
                return _json(self.records.get(record_type, record_id, _base(request), expand))
            body = await self._body(request)
            self.records.update(record_type, record_id, body, self._strict(request))
        except JSONDecodeError:
            return _rest_error(400, "INVALID_CONTENT", "The body is not valid JSON.")
        except RestError as exc:
            return _rest_error(exc.status, exc.code, exc.detail, exc.path)
        return Response(status_code=204)

    async def transform(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused:
            return self._refuse_rest_login(refused)
        params = request.path_params
        try:
            body = await self._body(request)
            new_id = self.records.transform(
                params["record_type"],
                params["record_id"],
                params["target_type"],
                body,
                self._strict(request),
            )
        except JSONDecodeError:
            return _rest_error(400, "INVALID_CONTENT", "The body is not valid JSON.")
        except RestError as exc:
            return _rest_error(exc.status, exc.code, exc.detail, exc.path)
        return self._created(request, params["target_type"], new_id)

    async def restlet(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused:
            return _restlet_error(
                401, "INVALID_LOGIN_ATTEMPT", f"Invalid login attempt. ({refused})"
            )
        script = request.query_params.get("script")
        deploy = request.query_params.get("deploy")
        if (script, deploy) != (SCRIPT_ID, DEPLOY_ID):
            return _restlet_error(
                400,
                "SSS_INVALID_SCRIPTLET_ID",
                "That Suitelet is invalid, disabled, or no longer exists.",
            )
        try:
            answer = self.restlet_script.post(await self._body(request))
        except JSONDecodeError:
            return _restlet_error(400, "REVLINE_BAD_REQUEST", "The body is not valid JSON.")
        except RestletError as exc:
            return _restlet_error(400, exc.code, exc.message)
        return _json(answer)
