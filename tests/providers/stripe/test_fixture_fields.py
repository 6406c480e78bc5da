"""Every object the simulator serves carries every field of Stripe's own sample of its resource."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from revline.providers.stripe.sim import CardOutcome, StripeSimulator
from revline.providers.stripe.sim.templates import REMOVED_FIELDS, RESOURCES

REFERENCE = Path(__file__).parents[4] / "shared" / "reference" / "stripe" / "fixtures3.json"
PACKAGED = resources.files("revline.providers.stripe.sim").joinpath("stripe_fixtures.json")


def _samples() -> dict[str, dict[str, Any]]:
    samples: dict[str, dict[str, Any]] = json.loads(PACKAGED.read_text("utf-8"))["resources"]
    return samples


def missing_fields(sample: Any, served: Any, path: str = "") -> list[str]:
    """Fields of ``sample`` absent from ``served``, at every depth where both are objects.

    A field Stripe leaves null on this object (``served`` is None) has no fields to compare;
    lists are compared by their first items. ``data.object`` of an event is its own resource.
    """
    if not isinstance(sample, dict) or not isinstance(served, dict):
        if isinstance(sample, list) and isinstance(served, list) and sample and served:
            return missing_fields(sample[0], served[0], f"{path.rstrip('.')}[0].")
        return []
    absent = [f"{path}{key}" for key in sample if key not in served]
    for key, value in sample.items():
        if key in served and f"{path}{key}" != "data.object":
            absent += missing_fields(value, served[key], f"{path}{key}.")
    return absent


@pytest.fixture
def served(sim: StripeSimulator) -> Iterator[dict[str, dict[str, Any]]]:
    """One object of each resource, read back over HTTP."""
    state = sim.state
    acme = state.create_customer("billing@acme.example", "Acme Corp")
    state.create_invoice(acme["id"], 120_000, invoice_id="in_fields", subscription="sub_fields")
    paid = state.attempt_payment("in_fields")
    refund = state.create_refund(paid.charge["id"], amount=1_000, reason="duplicate")
    dispute = state.dispute(paid.charge["id"], amount=5_000)
    note = state.issue_credit_note("in_fields", 2_000, reason="order_change")
    orphan = state.orphan_payment("payer@example.com", 3_000, via="checkout_link")
    payout = state.create_payout()
    assert payout is not None and orphan.checkout_session is not None
    state.set_card(acme["id"], CardOutcome.fails("expired_card"))
    state.create_invoice(acme["id"], 5_000, invoice_id="in_fields_failed")
    state.attempt_payment("in_fields_failed")
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers) as http:
        portal = http.post(
            "/v1/billing_portal/sessions",
            data={"customer": acme["id"], "flow_data[type]": "payment_method_update"},
        ).json()
        paths = {
            "customer": f"/v1/customers/{acme['id']}",
            "invoice": "/v1/invoices/in_fields",
            "charge": f"/v1/charges/{paid.charge['id']}",
            "payment_intent": f"/v1/payment_intents/{paid.payment_intent['id']}",
            "refund": f"/v1/refunds/{refund['id']}",
            "credit_note": f"/v1/credit_notes/{note['id']}",
            "payout": f"/v1/payouts/{payout['id']}",
            "balance_transaction": f"/v1/balance_transactions/{paid.charge['balance_transaction']}",
            "checkout.session": f"/v1/checkout/sessions/{orphan.checkout_session['id']}",
            "dispute": f"/v1/disputes/{dispute['id']}",
            "balance": "/v1/balance",
        }
        objects = {name: http.get(path).json() for name, path in paths.items()}
        objects["billing_portal.session"] = portal
        objects["event"] = http.get("/v1/events", params={"limit": 1}).json()["data"][0]
        objects["invoice_payment"] = http.get(
            "/v1/invoice_payments", params={"invoice": "in_fields"}
        ).json()["data"][0]
        objects["failed charge"] = http.get(
            "/v1/charges", params={"customer": acme["id"], "limit": 1}
        ).json()["data"][0]
    yield objects


@pytest.mark.parametrize("resource", [*RESOURCES, "failed charge"])
def test_every_field_of_stripes_sample_is_served(
    served: dict[str, dict[str, Any]], resource: str
) -> None:
    sample_name = "charge" if resource == "failed charge" else resource
    sample = _samples()[sample_name]
    obj = served[resource]
    assert obj["object"] == sample["object"]
    removed = REMOVED_FIELDS.get(sample_name, frozenset())
    assert [f for f in missing_fields(sample, obj) if f not in removed] == []
    assert not removed & set(obj), f"{resource} carries fields the current API removed"


def test_current_invoice_shape(served: dict[str, dict[str, Any]]) -> None:
    invoice = served["invoice"]
    assert not {"subscription", "charge", "payment_intent", "paid"} & set(invoice)
    assert invoice["parent"]["subscription_details"]["subscription"] == "sub_fields"
    line = invoice["lines"]["data"][0]
    assert line["parent"]["subscription_item_details"]["subscription"] == "sub_fields"
    assert line["parent"]["subscription_item_details"]["proration"] is False


def test_the_packaged_samples_are_stripes_own() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"Stripe's fixtures are not at {REFERENCE}")
    reference = json.loads(REFERENCE.read_text("utf-8"))["resources"]
    assert _samples() == {name: reference[name] for name in RESOURCES}
