"""The simulated Stripe API over HTTP: the v1 endpoints Revline uses, as Stripe answers them.

Bearer authentication, form-encoded bodies with bracketed nesting, unknown parameters refused,
``expand[]``, cursor pagination and search, ``Idempotency-Key`` replay, and Stripe's error
bodies. Each request runs under the account's lock, so it sees and leaves a consistent account.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revline.clock import Clock
from revline.providers.stripe.sim import listing
from revline.providers.stripe.sim.errors import StripeApiError, invalid, missing
from revline.providers.stripe.sim.forms import parse_params
from revline.providers.stripe.sim.state import StripeState

Obj = dict[str, Any]
Handler = Callable[[StripeState, Obj, dict[str, str]], Obj]
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class Endpoint:
    method: str
    pattern: re.Pattern[str]
    params: frozenset[str]
    handle: Handler


@dataclass(frozen=True)
class SavedResponse:
    endpoint: str
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    saved_at: datetime


class IdempotencyKeys:
    """Saved first responses per key; Stripe prunes a key 24 hours after its first use."""

    def __init__(self, clock: Clock, ttl: timedelta = IDEMPOTENCY_KEY_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._saved: dict[str, SavedResponse] = {}

    def lookup(self, key: str) -> SavedResponse | None:
        saved = self._saved.get(key)
        if saved is not None and self.clock.now() - saved.saved_at >= self.ttl:
            del self._saved[key]
            return None
        return saved

    def save(self, key: str, response: SavedResponse) -> None:
        self._saved[key] = response


# -- parameters ---------------------------------------------------------------------------


def _text(params: Obj, name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise invalid(f"Missing required param: {name}.", param=name)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a string", param=name)
    return value


def _metadata(params: Obj) -> tuple[dict[str, str] | None, bool]:
    """``metadata[k]=v`` pairs, and whether ``metadata=`` asked to clear them all."""
    value = params.get("metadata")
    if value is None:
        return None, False
    if value == "":
        return None, True
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid("Invalid metadata: must be a hash of strings", param="metadata")
    return dict(value), False


def _filtered(items: list[Obj], params: Obj, fields: dict[str, str]) -> list[Obj]:
    """Keep items whose field equals each given parameter (``fields``: param → object field)."""
    for param, field in fields.items():
        wanted = _text(params, param)
        if wanted is not None:
            items = [item for item in items if item.get(field) == wanted]
    return items


def _created(items: list[Obj], params: Obj, name: str = "created") -> list[Obj]:
    within = listing.time_filter(params, name)
    return [item for item in items if within(item[name])]


def _page(state: StripeState, kind: str, items: list[Obj], params: Obj, url: str) -> Obj:
    """A cursor page of ``items`` (already filtered) created within ``params["created"]``."""

    def place(object_id: str) -> int | None:
        return state.position(kind, object_id)

    return listing.page(_created(items, params), params, url, kind, place)


# -- handlers -----------------------------------------------------------------------------


def _retrieve(kind: str) -> Handler:
    def handle(state: StripeState, _params: Obj, args: dict[str, str]) -> Obj:
        return state.get(kind, args["id"])

    return handle


def _list_customers(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    # ``email`` is exact and case-sensitive on the list endpoint (unlike search).
    items = _filtered(state.newest_first("customer"), params, {"email": "email"})
    return _page(state, "customer", items, params, "/v1/customers")


CUSTOMER_SEARCH_FIELDS = frozenset({"email", "name", "phone", "description"})


def _search_customers(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    indexed = [c for c in state.newest_first("customer") if state.searchable(c["id"])]
    return listing.search(indexed, params, "/v1/customers/search", CUSTOMER_SEARCH_FIELDS)


def _delete_customer(state: StripeState, _params: Obj, args: dict[str, str]) -> Obj:
    return state.delete_customer(args["id"])


def _update_customer(state: StripeState, params: Obj, args: dict[str, str]) -> Obj:
    metadata, clear = _metadata(params)
    return state.update_customer(
        args["id"],
        email=_text(params, "email"),
        name=_text(params, "name"),
        metadata=metadata,
        clear_metadata=clear,
    )


INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
PAYOUT_STATUSES = ("pending", "in_transit", "paid", "failed", "canceled")


def _status(params: Obj, statuses: tuple[str, ...]) -> None:
    """A list's ``status`` filter is one of the resource's statuses, or the request is refused
    (a misspelt one would otherwise find nothing, silently)."""
    status = _text(params, "status")
    if status is not None and status not in statuses:
        raise invalid(f"Invalid status: must be one of {', '.join(statuses)}", param="status")


def _list_invoices(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    _status(params, INVOICE_STATUSES)
    items = _filtered(
        state.newest_first("invoice"), params, {"customer": "customer", "status": "status"}
    )
    subscription = _text(params, "subscription")
    if subscription is not None:
        items = [
            i
            for i in items
            if ((i["parent"] or {}).get("subscription_details") or {}).get("subscription")
            == subscription
        ]
    return _page(state, "invoice", items, params, "/v1/invoices")


def _update_invoice(state: StripeState, params: Obj, args: dict[str, str]) -> Obj:
    metadata, _clear = _metadata(params)
    return state.update_invoice(
        args["id"],
        auto_advance=listing.boolean(params, "auto_advance") if "auto_advance" in params else None,
        description=_text(params, "description"),
        metadata=metadata,
    )


def _pay_invoice(state: StripeState, params: Obj, args: dict[str, str]) -> Obj:
    out_of_band = "paid_out_of_band" in params and listing.boolean(params, "paid_out_of_band")
    result = state.pay_invoice(args["id"], paid_out_of_band=out_of_band)
    return result if isinstance(result, dict) else result.invoice


def _send_invoice(state: StripeState, _params: Obj, args: dict[str, str]) -> Obj:
    return state.send_invoice(args["id"])


def _list_invoice_payments(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = _filtered(
        state.newest_first("invoice_payment"), params, {"invoice": "invoice", "status": "status"}
    )
    payment = params.get("payment")
    if payment is not None:
        if not isinstance(payment, dict):
            raise invalid("Invalid payment: must be a hash", param="payment")
        intent = _text(payment, "payment_intent")
        if intent is not None:
            items = [p for p in items if p["payment"].get("payment_intent") == intent]
    return _page(state, "invoice_payment", items, params, "/v1/invoice_payments")


def _list_charges(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = _filtered(
        state.newest_first("charge"),
        params,
        {"customer": "customer", "payment_intent": "payment_intent"},
    )
    return _page(state, "charge", items, params, "/v1/charges")


def _list_refunds(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = _filtered(
        state.newest_first("refund"),
        params,
        {"charge": "charge", "payment_intent": "payment_intent"},
    )
    return _page(state, "refund", items, params, "/v1/refunds")


def _list_disputes(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = _filtered(
        state.newest_first("dispute"),
        params,
        {"charge": "charge", "payment_intent": "payment_intent"},
    )
    return _page(state, "dispute", items, params, "/v1/disputes")


def _create_refund(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    charge = _text(params, "charge")
    intent = _text(params, "payment_intent")
    if charge is None and intent is None:
        raise invalid(
            "One of the following params should be provided for this request: "
            "payment_intent or charge."
        )
    if charge is None:
        latest = state.get("payment_intent", str(intent))["latest_charge"]
        if latest is None:
            raise invalid(
                f"PaymentIntent {intent} has no charge to refund.", param="payment_intent"
            )
        charge = str(latest)
    metadata, _clear = _metadata(params)
    return state.create_refund(
        charge,
        amount=listing.integer(params, "amount") if "amount" in params else None,
        reason=_text(params, "reason"),
        metadata=metadata,
    )


def _list_credit_notes(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = _filtered(
        state.newest_first("credit_note"), params, {"invoice": "invoice", "customer": "customer"}
    )
    return _page(state, "credit_note", items, params, "/v1/credit_notes")


def _list_payouts(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    _status(params, PAYOUT_STATUSES)
    items = _filtered(state.newest_first("payout"), params, {"status": "status"})
    items = _created(items, params, "arrival_date")
    return _page(state, "payout", items, params, "/v1/payouts")


def _balance(state: StripeState, _params: Obj, _args: dict[str, str]) -> Obj:
    return state.balance()


def _list_balance_transactions(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    payout = _text(params, "payout")
    if payout is not None:
        if state.kind_of(payout) != "payout":
            raise missing("payout", payout, "payout")
        items = state.payout_transactions(payout)
    else:
        items = state.newest_first("balance_transaction")
    items = _filtered(items, params, {"type": "type", "source": "source", "currency": "currency"})
    return _page(state, "balance_transaction", items, params, "/v1/balance_transactions")


def _create_portal_session(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    customer = str(_text(params, "customer", required=True))
    flow = params.get("flow_data")
    flow_type = None
    if flow is not None:
        if not isinstance(flow, dict):
            raise invalid("Invalid flow_data: must be a hash", param="flow_data")
        flow_type = _text(flow, "type", required=True)
        if flow_type not in (
            "payment_method_update",
            "subscription_cancel",
            "subscription_update",
            "subscription_update_confirm",
        ):
            raise invalid(f"Invalid flow_data[type]: {flow_type}", param="flow_data[type]")
    if state.kind_of(customer) != "customer":
        raise invalid(f"No such customer: '{customer}'", param="customer", code="resource_missing")
    return state.create_portal_session(
        customer, return_url=_text(params, "return_url"), flow_type=flow_type
    )


def _list_checkout_sessions(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = _filtered(
        state.newest_first("checkout.session"),
        params,
        {"payment_intent": "payment_intent", "customer": "customer", "status": "status"},
    )
    return _page(state, "checkout.session", items, params, "/v1/checkout/sessions")


def _list_events(state: StripeState, params: Obj, _args: dict[str, str]) -> Obj:
    items = state.newest_first("event")
    types = params.get("types")
    if types is not None:
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise invalid("Invalid array: types", param="types")
        if len(types) > 20:
            raise invalid("types may contain at most 20 event types", param="types")
        items = [e for e in items if e["type"] in types]
    pattern = _text(params, "type")
    if pattern is not None:
        if pattern.endswith("*"):
            items = [e for e in items if e["type"].startswith(pattern[:-1])]
        else:
            items = [e for e in items if e["type"] == pattern]
    return _page(state, "event", items, params, "/v1/events")


def _id(pattern: str) -> str:
    return pattern.replace("{id}", r"(?P<id>[^/]+)")


_PAGE = listing.PAGE_PARAMS
ENDPOINTS: tuple[Endpoint, ...] = tuple(
    Endpoint(method, re.compile(_id(path)), frozenset(params) | {"expand"}, handle)
    for method, path, params, handle in (
        ("GET", "/v1/customers", {"email", "created", *_PAGE}, _list_customers),
        ("GET", "/v1/customers/search", listing.SEARCH_PARAMS, _search_customers),
        ("GET", "/v1/customers/{id}", set(), _retrieve("customer")),
        ("POST", "/v1/customers/{id}", {"email", "name", "metadata"}, _update_customer),
        ("DELETE", "/v1/customers/{id}", set(), _delete_customer),
        (
            "GET",
            "/v1/invoices",
            {"customer", "status", "subscription", "created", *_PAGE},
            _list_invoices,
        ),
        ("GET", "/v1/invoices/{id}", set(), _retrieve("invoice")),
        ("POST", "/v1/invoices/{id}", {"auto_advance", "description", "metadata"}, _update_invoice),
        ("POST", "/v1/invoices/{id}/pay", {"paid_out_of_band", "off_session"}, _pay_invoice),
        ("POST", "/v1/invoices/{id}/send", set(), _send_invoice),
        (
            "GET",
            "/v1/invoice_payments",
            {"invoice", "payment", "status", "created", *_PAGE},
            _list_invoice_payments,
        ),
        ("GET", "/v1/charges", {"customer", "payment_intent", "created", *_PAGE}, _list_charges),
        ("GET", "/v1/charges/{id}", set(), _retrieve("charge")),
        ("GET", "/v1/payment_intents/{id}", set(), _retrieve("payment_intent")),
        ("GET", "/v1/refunds", {"charge", "payment_intent", "created", *_PAGE}, _list_refunds),
        (
            "POST",
            "/v1/refunds",
            {"charge", "payment_intent", "amount", "reason", "metadata"},
            _create_refund,
        ),
        ("GET", "/v1/refunds/{id}", set(), _retrieve("refund")),
        ("GET", "/v1/disputes", {"charge", "payment_intent", "created", *_PAGE}, _list_disputes),
        ("GET", "/v1/disputes/{id}", set(), _retrieve("dispute")),
        ("GET", "/v1/credit_notes", {"invoice", "customer", "created", *_PAGE}, _list_credit_notes),
        ("GET", "/v1/credit_notes/{id}", set(), _retrieve("credit_note")),
        ("GET", "/v1/payouts", {"arrival_date", "created", "status", *_PAGE}, _list_payouts),
        ("GET", "/v1/payouts/{id}", set(), _retrieve("payout")),
        ("GET", "/v1/balance", set(), _balance),
        (
            "GET",
            "/v1/balance_transactions",
            {"payout", "type", "source", "currency", "created", *_PAGE},
            _list_balance_transactions,
        ),
        ("GET", "/v1/balance_transactions/{id}", set(), _retrieve("balance_transaction")),
        (
            "POST",
            "/v1/billing_portal/sessions",
            {"customer", "return_url", "flow_data", "locale"},
            _create_portal_session,
        ),
        (
            "GET",
            "/v1/checkout/sessions",
            {"payment_intent", "customer", "status", "created", *_PAGE},
            _list_checkout_sessions,
        ),
        ("GET", "/v1/checkout/sessions/{id}", set(), _retrieve("checkout.session")),
        ("GET", "/v1/events", {"types", "type", "created", *_PAGE}, _list_events),
        ("GET", "/v1/events/{id}", set(), _retrieve("event")),
    )
)


# -- expansion ----------------------------------------------------------------------------


def _expand(node: Any, parts: list[str], state: StripeState, path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(item, parts, state, path)
        return
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if head not in node:
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        kind = state.kind_of(value)
        if kind is None:
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        node[head] = state.get(kind, value)
    _expand(node[head], rest, state, path)


def expand(obj: Obj, params: Obj, state: StripeState) -> Obj:
    """Replace the ids named by ``expand[]`` (``customer``, ``data.source``…) with objects."""
    paths = params.get("expand")
    if paths is None:
        return obj
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise invalid("Invalid array: expand", param="expand")
    for path in paths:
        _expand(obj, path.split("."), state, path)
    return obj


# -- the application ----------------------------------------------------------------------


def _error_response(error: StripeApiError, headers: dict[str, str]) -> Response:
    return Response(json.dumps(error.body()), error.status, headers, "application/json")


def _authenticate(request: Request, api_key: str) -> StripeApiError | None:
    header = request.headers.get("authorization", "")
    if not header:
        return StripeApiError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.",
        )
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or given.strip() != api_key:
        shown = given.strip()
        return StripeApiError(
            401,
            "invalid_request_error",
            f"Invalid API Key provided: {shown[:8]}{'*' * max(0, len(shown) - 12)}{shown[-4:]}",
        )
    return None


def _route(method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
    for endpoint in ENDPOINTS:
        match = endpoint.pattern.fullmatch(path)
        if match is not None and endpoint.method == method:
            return endpoint, match.groupdict()
    raise StripeApiError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we "
        "can help at https://support.stripe.com/.",
    )


def create_app(state: StripeState, api_key: str) -> Starlette:
    """The HTTP face of ``state``, answering only requests that bear ``api_key``."""
    keys = IdempotencyKeys(state.clock)
    request_numbers = itertools.count(1)

    async def dispatch(request: Request) -> Response:
        request_id = f"req_{next(request_numbers):014d}"
        headers = {"Request-Id": request_id, "Stripe-Version": stripe.api_version}
        refused = _authenticate(request, api_key)
        if refused is not None:
            return _error_response(refused, headers)
        raw = await request.body()
        method, path = request.method, request.url.path
        try:
            pairs = parse_qsl(request.url.query, keep_blank_values=True)
            if raw:
                pairs += parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
            params = parse_params(pairs)
            endpoint, args = _route(method, path)
            unknown = sorted(set(params) - endpoint.params)
            if unknown:
                raise invalid(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
        except StripeApiError as refusal:
            return _error_response(refusal, headers)
        except UnicodeDecodeError:
            return _error_response(invalid("The request body is not valid UTF-8."), headers)

        key = request.headers.get("idempotency-key") if method == "POST" else None
        if key is not None:
            headers["Idempotency-Key"] = key
            if len(key) > MAX_IDEMPOTENCY_KEY:
                too_long = invalid(
                    f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters long."
                )
                return _error_response(too_long, headers)
        fingerprint = json.dumps(params, sort_keys=True)
        with state.lock:
            saved = keys.lookup(key) if key is not None else None
            if saved is not None and key is not None:
                return _replay(saved, f"{method} {path}", fingerprint, key, headers)
            status, body, keep = _execute(state, endpoint, params, args, request_id, key)
            if key is not None and keep:
                keys.save(
                    key,
                    SavedResponse(
                        f"{method} {path}", fingerprint, status, body, request_id, state.clock.now()
                    ),
                )
        return Response(body, status, headers, "application/json")

    routes = [Route("/v1/{path:path}", dispatch, methods=["GET", "POST", "DELETE"])]
    return Starlette(routes=routes)


def _execute(
    state: StripeState,
    endpoint: Endpoint,
    params: Obj,
    args: dict[str, str],
    request_id: str,
    key: str | None,
) -> tuple[int, bytes, bool]:
    """Status, body, and whether an idempotency key keeps this answer."""
    try:
        with state.request_scope(request_id, key):
            result = copy.deepcopy(endpoint.handle(state, params, args))
            return 200, json.dumps(expand(result, params, state)).encode(), True
    except StripeApiError as error:
        return error.status, json.dumps(error.body()).encode(), error.saved


def _replay(
    saved: SavedResponse, endpoint: str, fingerprint: str, key: str, headers: dict[str, str]
) -> Response:
    if saved.endpoint != endpoint:
        error = StripeApiError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used for the same endpoint they were "
            f"first used for ('{saved.endpoint}' vs '{endpoint}'). Try using a key other than "
            f"'{key}' if you meant to execute a different request.",
        )
        return _error_response(error, headers)
    if saved.fingerprint != fingerprint:
        error = StripeApiError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
        )
        return _error_response(error, headers)
    replayed = {**headers, "Request-Id": saved.request_id, "Idempotent-Replayed": "true"}
    return Response(saved.body, saved.status, replayed, "application/json")
