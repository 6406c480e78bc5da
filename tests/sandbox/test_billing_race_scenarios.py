"""A payment racing a manual retry, played with ``revline simulate`` through the real code path.

``examples/billing/success-during-retry.json``: Bluefin's card fails on Wednesday and Stripe's
automatic retry fails too, so Revline takes manual control and holds recognition; the first
manual retry is due Tuesday 09:00. That morning the customer pays the invoice by card on its
hosted page just as the retry reaches Stripe (``payment_succeeds`` with ``during_retry``):
Stripe refuses to pay a paid invoice, and the case must still end recovered, charged once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from revline.cli import app
from revline.db.models import Action, Attempt, Case
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import World

SCENARIO = (
    Path(__file__).resolve().parents[2] / "examples" / "billing" / "success-during-retry.json"
)
INVOICE = "in_bluefin_1"
RETRY_AT = "2026-03-10T09:00:00-04:00"  # Wednesday's failure → the Tuesday morning retry
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, dict[str, Any]]]:
    """The scenario played once, its world kept to look into the simulators and the database;
    the report is the document ``revline simulate --json`` prints."""
    with World(load(SCENARIO), tmp_path_factory.mktemp("race")) as world:
        yield world, Run(world).play()


def _case(report: dict[str, Any]) -> dict[str, Any]:
    [case] = [
        c for c in report["cases"] if c["kind"] == "failed_payment" and c["subject"] == INVOICE
    ]
    return case


def _of(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["case"] == _case(report)["id"] and a["kind"] == kind]


def test_the_retry_meets_a_paid_invoice_and_the_case_is_recovered(
    played: tuple[World, dict[str, Any]],
) -> None:
    _, report = played
    case = _case(report)
    assert (case["state"], case["queue"], case["closed_at"]) == ("recovered", None, RETRY_AT)
    # The retry was decided and carried out: Stripe refused it as already paid, which the
    # adapter reports as the goal reached, with no charge of its own.
    [pay] = _of(report, "stripe.invoice.pay")
    assert (pay["at"], pay["status"], pay["error"]) == (RETRY_AT, "applied", None)
    result = pay["result"]
    assert (result["outcome"], result["already_paid"], result["charge"]) == ("paid", True, None)
    assert (result["status"], result["amount_paid"], result["amount_remaining"]) == (
        "paid",
        180_000,
        0,
    )
    # Recovered as any recovery below the MRR threshold: recognition and the pipeline reports
    # come back; Stripe's dunning was never suppressed, so there is nothing to restore, and no
    # invoice email follows a retry that was not declined.
    for kind in ("netsuite.revenue.resume", "netsuite.customer.include_in_pipeline"):
        assert [(a["at"], a["status"]) for a in _of(report, kind)] == [(RETRY_AT, "applied")]
    for kind in (
        "stripe.customer.suppress_dunning",
        "stripe.customer.restore_dunning",
        "stripe.invoice.send",
    ):
        assert not _of(report, kind)
    assert report["ledger"]["verified"] is True


def test_the_invoice_is_charged_once(played: tuple[World, dict[str, Any]]) -> None:
    world, _ = played
    state = world.stripe.state
    [invoice_payment] = [
        p for p in state.newest_first("invoice_payment") if p["invoice"] == INVOICE
    ]
    intent = invoice_payment["payment"]["payment_intent"]
    charges = [c for c in state.newest_first("charge") if c["payment_intent"] == intent]
    # The first charge and Stripe's automatic retry failed; the customer's own payment is the
    # one that succeeded. Revline's retry charged nothing.
    assert sorted(c["status"] for c in charges) == ["failed", "failed", "succeeded"]
    [paid] = [c for c in charges if c["status"] == "succeeded"]
    assert (paid["amount"], paid["created"]) == (
        180_000,
        int(datetime.fromisoformat(RETRY_AT).timestamp()),
    )
    invoice = state.get("invoice", INVOICE)
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", 180_000)
    with world.runtime.db.read() as session:
        [(action, key)] = session.execute(
            select(Action.id, Action.idempotency_key).where(
                Action.kind == "stripe.invoice.pay", Action.subject == INVOICE
            )
        ).all()
        calls = (
            session.execute(select(Attempt.outcome).where(Attempt.action_id == action))
            .scalars()
            .all()
        )
    assert calls == ["confirmed"]  # executed once, and Stripe's refusal was not retried
    # The payment's events are the customer's: none names the retry's request.
    caused = [
        e["type"]
        for e in state.newest_first("event")
        if (e["request"] or {}).get("idempotency_key") == key
    ]
    assert caused == []
    # The Stripe→NetSuite connector recorded the one payment, with the charge that made it.
    customer = world.customers["bluefin"]["netsuite"]
    payments = [p for p in world.netsuite.books.customer_payments() if p.customer_id == customer]
    assert [(p.amount, p.stripe_charge_id) for p in payments] == [(180_000, paid["id"])]


def test_recognition_resumes_on_the_payments_settlement_date(
    played: tuple[World, dict[str, Any]],
) -> None:
    world, _ = played
    state = world.stripe.state
    [paid] = [c for c in state.newest_first("charge") if c["status"] == "succeeded"]
    available_on = state.get("balance_transaction", paid["balance_transaction"])["available_on"]
    calendar = world.runtime.calendar
    settled = calendar.business_date(datetime.fromtimestamp(available_on, UTC))
    with world.runtime.db.read() as session:
        case = session.execute(
            select(Case).where(Case.kind == "failed_payment", Case.subject == INVOICE)
        ).scalar_one()
        resume = session.execute(
            select(Action).where(
                Action.case_id == case.id, Action.kind == "netsuite.revenue.resume"
            )
        ).scalar_one()
        settled_on, not_before = case.data["settled_on"], resume.not_before
    assert settled_on == settled.isoformat() == "2026-03-10"
    assert not_before.astimezone(calendar.tz).isoformat() == "2026-03-10T00:00:00-04:00"
    customer = world.customers["bluefin"]["netsuite"]
    plans = world.netsuite.books.revenue_plans(customer)
    assert plans and not any(plan.on_hold for plan in plans)


def test_simulate_json_shows_the_race() -> None:
    result = CliRunner().invoke(app, ["simulate", str(SCENARIO), "--json"])
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert _case(report)["state"] == "recovered"
    [pay] = _of(report, "stripe.invoice.pay")
    assert (pay["at"], pay["status"], pay["result"]["already_paid"]) == (RETRY_AT, "applied", True)
