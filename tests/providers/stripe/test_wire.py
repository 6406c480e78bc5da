"""The simulator's wire protocol, spoken directly: what the SDK relies on, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from revline.clock import SimulatedClock
from revline.providers.stripe.sim import CardOutcome, StripeSimulator, StripeState


@pytest.fixture
def http(sim: StripeSimulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers) as client:
        yield client


def _customers(state: StripeState, n: int) -> list[str]:
    return [state.create_customer(f"c{i}@example.com", f"C{i}")["id"] for i in range(n)]


def test_authentication_is_a_bearer_key(sim: StripeSimulator) -> None:
    with httpx.Client(base_url=sim.url) as anonymous:
        missing = anonymous.get("/v1/customers")
        wrong = anonymous.get(
            "/v1/customers", headers={"Authorization": "Bearer sk_test_wrong_key"}
        )
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"].startswith("Invalid API Key provided: sk_test_")
    assert "wrong_key" not in wrong.json()["error"]["message"]  # masked, as Stripe does


def test_unknown_urls_params_and_objects(http: httpx.Client) -> None:
    unknown_url = http.get("/v1/nothing_here")
    assert unknown_url.status_code == 404
    assert unknown_url.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/nothing_here)"
    )
    unknown_param = http.get("/v1/customers", params={"colour": "blue"})
    assert unknown_param.status_code == 400
    assert unknown_param.json()["error"] == {
        "message": "Received unknown parameter: colour",
        "param": "colour",
        "type": "invalid_request_error",
    }
    no_such = http.get("/v1/invoices/in_nope")
    assert no_such.status_code == 404
    assert no_such.json()["error"] == {
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "message": "No such invoice: 'in_nope'",
        "param": "id",
        "type": "invalid_request_error",
    }
    bad_limit = http.get("/v1/customers", params={"limit": "101"})
    assert (bad_limit.status_code, bad_limit.json()["error"]["param"]) == (400, "limit")


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/v1/invoices", "draft, open, paid, uncollectible, void"),
        ("/v1/payouts", "pending, in_transit, paid, failed, canceled"),
    ],
)
def test_a_status_filter_outside_the_resources_statuses_is_refused(
    http: httpx.Client, path: str, statuses: str
) -> None:
    """A misspelt status would otherwise find nothing, silently."""
    refused = http.get(path, params={"status": "bogus"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": f"Invalid status: must be one of {statuses}",
        "param": "status",
        "type": "invalid_request_error",
    }


def test_form_bodies_nest_with_brackets(http: httpx.Client, stripe_state: StripeState) -> None:
    customer = stripe_state.create_customer("a@example.com", "A", {"keep": "1", "drop": "2"})
    body = "metadata[plan]=pro&metadata[drop]=&name=A%20Corp&expand[]=invoice_settings"
    response = http.post(
        f"/v1/customers/{customer['id']}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"keep": "1", "plan": "pro"}
    assert response.json()["name"] == "A Corp"
    conflicting = http.post(f"/v1/customers/{customer['id']}", content="metadata=x&metadata[a]=b")
    assert conflicting.status_code == 400


def test_cursor_pagination(http: httpx.Client, stripe_state: StripeState) -> None:
    ids = _customers(stripe_state, 25)
    newest_first = list(reversed(ids))

    first = http.get("/v1/customers", params={"limit": 10}).json()
    assert (first["object"], first["url"], first["has_more"]) == ("list", "/v1/customers", True)
    assert [c["id"] for c in first["data"]] == newest_first[:10]
    second = http.get(
        "/v1/customers", params={"limit": 10, "starting_after": newest_first[9]}
    ).json()
    assert [c["id"] for c in second["data"]] == newest_first[10:20] and second["has_more"]
    last = http.get(
        "/v1/customers", params={"limit": 10, "starting_after": newest_first[19]}
    ).json()
    assert [c["id"] for c in last["data"]] == newest_first[20:] and not last["has_more"]

    # ending_before pages towards newer objects: the ones just before the cursor, newest first.
    back = http.get("/v1/customers", params={"limit": 3, "ending_before": newest_first[10]}).json()
    assert [c["id"] for c in back["data"]] == newest_first[7:10] and back["has_more"]
    top = http.get("/v1/customers", params={"limit": 10, "ending_before": newest_first[3]}).json()
    assert [c["id"] for c in top["data"]] == newest_first[:3] and not top["has_more"]

    both = http.get("/v1/customers", params={"starting_after": ids[0], "ending_before": ids[1]})
    assert both.status_code == 400
    gone = http.get("/v1/customers", params={"starting_after": "cus_missing"})
    assert (gone.status_code, gone.json()["error"]["code"]) == (400, "resource_missing")


def test_search_results_and_pages(
    http: httpx.Client, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    for i in range(3):
        stripe_state.create_customer("shared@example.com", f"Twin {i}")
    stripe_state.create_customer("other@example.com", "Other")
    clock.advance(timedelta(minutes=2))

    first = http.get(
        "/v1/customers/search", params={"query": "email:'SHARED@example.com'", "limit": 2}
    ).json()
    assert first["object"] == "search_result" and first["url"] == "/v1/customers/search"
    assert [c["name"] for c in first["data"]] == ["Twin 2", "Twin 1"]
    assert first["has_more"] and first["next_page"]
    rest = http.get(
        "/v1/customers/search",
        params={"query": "email:'shared@example.com'", "limit": 2, "page": first["next_page"]},
    ).json()
    assert [c["name"] for c in rest["data"]] == ["Twin 0"]
    assert (rest["has_more"], rest["next_page"]) == (False, None)
    both = http.get(
        "/v1/customers/search", params={"query": "email:'other@example.com' OR name~'twin 1'"}
    ).json()
    assert sorted(c["name"] for c in both["data"]) == ["Other", "Twin 1"]
    broken = http.get("/v1/customers/search", params={"query": "email = x"})
    assert (broken.status_code, broken.json()["error"]["param"]) == (400, "query")


def _refund_body(charge: str, amount: int = 500, reason: str = "duplicate") -> dict[str, Any]:
    return {"charge": charge, "amount": str(amount), "reason": reason}


def _succeeded_charge(state: StripeState) -> str:
    customer = state.create_customer("payer@example.com", "Payer")
    state.create_invoice(customer["id"], 10_000, invoice_id="in_wire")
    return str(state.attempt_payment("in_wire").charge["id"])


def test_idempotency_key_replays_the_first_response(
    http: httpx.Client, stripe_state: StripeState
) -> None:
    charge = _succeeded_charge(stripe_state)
    key = {"Idempotency-Key": "refund-wire-1"}
    first = http.post("/v1/refunds", data=_refund_body(charge), headers=key)
    again = http.post("/v1/refunds", data=_refund_body(charge), headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Request-Id"] == first.headers["Request-Id"]
    assert len(stripe_state.refunds_of(charge)) == 1

    other = http.post("/v1/refunds", data=_refund_body(charge, amount=600), headers=key)
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert "same parameters" in other.json()["error"]["message"]
    elsewhere = http.post("/v1/invoices/in_wire/pay", headers=key)
    assert elsewhere.status_code == 400
    assert "same endpoint" in elsewhere.json()["error"]["message"]
    assert len(stripe_state.refunds_of(charge)) == 1

    without_key = http.post("/v1/refunds", data=_refund_body(charge))
    assert without_key.status_code == 200
    assert len(stripe_state.refunds_of(charge)) == 2


def test_keys_are_pruned_after_24_hours(
    http: httpx.Client, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    charge = _succeeded_charge(stripe_state)
    key = {"Idempotency-Key": "refund-wire-2"}
    http.post("/v1/refunds", data=_refund_body(charge), headers=key)
    clock.advance(timedelta(hours=24))
    later = http.post("/v1/refunds", data=_refund_body(charge), headers=key)
    assert "Idempotent-Replayed" not in later.headers
    assert len(stripe_state.refunds_of(charge)) == 2  # why the adapter looks before it refunds


def test_a_card_decline_is_a_402_saved_for_its_key(
    http: httpx.Client, stripe_state: StripeState
) -> None:
    customer = stripe_state.create_customer("payer@example.com", "Payer")
    stripe_state.set_card(customer["id"], CardOutcome.fails("card_declined", "insufficient_funds"))
    stripe_state.create_invoice(customer["id"], 10_000, invoice_id="in_declined")
    key = {"Idempotency-Key": "pay-wire-1"}
    declined = http.post("/v1/invoices/in_declined/pay", headers=key)
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    assert error["charge"].startswith("ch_")
    assert error["payment_intent"]["status"] == "requires_payment_method"

    stripe_state.card_updated(customer["id"])
    replayed = http.post("/v1/invoices/in_declined/pay", headers=key)
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (402, "true")
    assert stripe_state.get("invoice", "in_declined")["attempt_count"] == 1
    paid = http.post("/v1/invoices/in_declined/pay", headers={"Idempotency-Key": "pay-wire-2"})
    assert (paid.status_code, paid.json()["status"]) == (200, "paid")
    already = http.post("/v1/invoices/in_declined/pay", headers={"Idempotency-Key": "pay-wire-3"})
    assert already.status_code == 400


def test_expand_replaces_ids_with_objects(http: httpx.Client, stripe_state: StripeState) -> None:
    charge = _succeeded_charge(stripe_state)
    one = http.get(
        f"/v1/charges/{charge}", params={"expand[]": ["balance_transaction", "customer"]}
    ).json()
    assert one["balance_transaction"]["object"] == "balance_transaction"
    assert one["customer"]["object"] == "customer"
    listed = http.get("/v1/charges", params={"expand[]": "data.payment_intent"}).json()
    assert listed["data"][0]["payment_intent"]["object"] == "payment_intent"
    refused = http.get(f"/v1/charges/{charge}", params={"expand[]": "nonsense"})
    assert refused.status_code == 400
    assert stripe_state.get("charge", charge)["customer"].startswith("cus_")  # state untouched
