"""Duplicate invoice resolution played through the sandbox: simulators, webhooks, worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revline.providers.netsuite.records import InvoiceStatus
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load, parse
from revline.sandbox.world import World
from tests.support.netsuite import gl_balance

SCENARIO = (
    Path(__file__).resolve().parents[2] / "examples" / "cash" / "duplicate_invoice_refunded.json"
)


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def test_a_paid_duplicate_is_voided_refunded_apologised_for_and_out_of_recognition(
    tmp_path: Path,
) -> None:
    with World(load(SCENARIO), tmp_path) as world:
        report = Run(world).play()
        books = world.netsuite.books
        by_number = {invoice.number: invoice for invoice in books.invoices()}
        kept, duplicate = by_number["INV-2026-1301"], by_number["INV-2026-1302"]
        plans = books.revenue_plans()
        receivables = books.balance("AcctRec")
        refunds_gl = gl_balance(world, "4090")

    # The morning after the payout arrived, the reconciliation finds the pair and flags it.
    (flag,) = _actions(report, "revline.duplicate.flag")
    assert flag["at"] == "2026-12-04T08:00:00-05:00"
    assert (flag["params"]["kept_invoice_number"], flag["params"]["invoice_number"]) == (
        "INV-2026-1301",
        "INV-2026-1302",
    )
    (case,) = [c for c in report["cases"] if c["kind"] == "duplicate_invoice"]
    assert (case["customer"], case["state"]) == ("bluefin", "resolved")

    # 1. The duplicate is voided in NetSuite — a void, never a credit memo.
    (void,) = _actions(report, "netsuite.invoice.void")
    assert void["status"] == "applied" and void["result"]["status"] == "voided"
    assert duplicate.status is InvoiceStatus.VOIDED
    assert kept.status is InvoiceStatus.PAID_IN_FULL
    # 2. The duplicate charge is refunded with reason `duplicate` (below the approval amount).
    (refund,) = _actions(report, "stripe.refund.create")
    assert refund["status"] == "applied"
    assert (refund["params"]["reason"], refund["params"]["amount"]) == ("duplicate", 42_000)
    assert refund["params"]["charge"] == flag["params"]["charge"]
    # 3. A one-line apology quoting the kept invoice, from the AR specialist to the AP contact.
    (email,) = report["emails"]
    assert email["to"] == ["kenji.tanaka@bluefin.example"]
    assert email["from"] == "Priya Nair <priya@ourco.example>"
    assert "invoice INV-2026-1301 stands" in email["body"]
    assert email["at"] == "2026-12-04T08:00:00-05:00"
    # 4. The voided invoice leaves the recognition schedule the same day.
    (exit_,) = _actions(report, "netsuite.revenue.exit")
    assert exit_["status"] == "applied" and exit_["at"].startswith("2026-12-04")
    assert [p for p in plans if p.invoice_id == duplicate.id] == []
    assert [p for p in plans if p.invoice_id == kept.id] != []

    # Both payments were real money: the first payout is deposited whole. The refund comes back
    # on the next payout as its own line on 4090, which the customer refund record offsets.
    first, second = _actions(report, "netsuite.deposit.create")
    assert [line["type"] for line in first["params"]["lines"]] == ["payment", "payment", "fee"]
    refund_lines = [line for line in second["params"]["lines"] if line["type"] == "refund"]
    assert [(line["amount"], line["account"]) for line in refund_lines] == [(-42_000, "4090")]
    (books_refund,) = _actions(report, "netsuite.customer_refund.create")
    assert books_refund["status"] == "applied" and books_refund["params"]["account"] == "4090"
    assert refunds_gl == 0  # the customer refund and the deposit's refund line cancel
    assert receivables == 0  # nobody owes anything, and no credit is left on the customer
    assert report["ledger"]["verified"] is True


def test_a_refund_above_the_approval_amount_waits_and_so_does_the_apology(
    tmp_path: Path,
) -> None:
    scenario = load(SCENARIO)
    scenario = scenario.model_copy(update={"policy": {"refund_approval_threshold": 40_000}})
    with World(scenario, tmp_path) as world:
        report = Run(world).play()
    (refund,) = _actions(report, "stripe.refund.create")
    assert refund["status"] == "awaiting_approval"
    assert _actions(report, "netsuite.invoice.void")[0]["status"] == "applied"
    assert report["emails"] == []  # nothing is said until the money is on its way back
    assert _actions(report, "netsuite.customer_refund.create") == []
    (case,) = [c for c in report["cases"] if c["kind"] == "duplicate_invoice"]
    assert case["state"] == "resolving"


def test_last_months_invoice_in_the_look_back_does_not_hide_this_months_duplicate(
    tmp_path: Path,
) -> None:
    """Bluefin paid December's 420.00 on the 1st. On the 28th it is billed 420.00 twice and
    pays both. The morning run reads weeks of Bluefin's invoices, December's first among them:
    the 28th's invoice stands (four weeks after the 1st's, a period, not a duplicate) and its
    copy, the same day, is the duplicate."""
    document = json.loads(SCENARIO.read_text())
    happenings = [
        {
            "at": "2026-12-01T10:00:00-05:00",
            "type": "payment",
            "customer": "bluefin",
            "invoice": "in_blue_dec",
            "invoice_number": "INV-2026-1201",
            "amount": 42_000,
        },
        {"at": "2026-12-02T06:00:00-05:00", "type": "payout"},
        {
            "at": "2026-12-28T10:00:00-05:00",
            "type": "duplicate_invoice",
            "customer": "bluefin",
            "amount": 42_000,
            "kept_invoice_number": "INV-2026-1301",
            "duplicate_invoice_number": "INV-2026-1302",
        },
        {"at": "2026-12-29T06:00:00-05:00", "type": "payout"},
    ]
    scenario = parse({**document, "happenings": happenings, "until": "2026-12-31T18:00:00-05:00"})
    with World(scenario, tmp_path) as world:
        report = Run(world).play()

    # The morning after the second payout arrived (Wednesday 30th): the pair, nothing else.
    (flag,) = _actions(report, "revline.duplicate.flag")
    assert flag["at"] == "2026-12-31T08:00:00-05:00"
    assert (flag["params"]["kept_invoice_number"], flag["params"]["invoice_number"]) == (
        "INV-2026-1301",
        "INV-2026-1302",
    )
    (void,) = _actions(report, "netsuite.invoice.void")
    assert void["params"]["invoice"] == flag["params"]["invoice"]
    assert len(_actions(report, "netsuite.deposit.create")) == 2  # both payouts, whole
    assert report["ledger"]["verified"] is True


def test_a_copy_paid_before_the_original_is_found_the_morning_the_original_is_paid(
    tmp_path: Path,
) -> None:
    """examples/cash/duplicate_paid_before_original.json: Bluefin pays the copy (INV-2026-1302)
    on 1 December; its payout is deposited on the 4th, one payment among others. Bluefin pays
    the original on the 7th; the morning its payout is reconciled (the 10th), both are paid and
    the copy, deposited a week ago, is voided and its charge refunded."""
    example = SCENARIO.with_name("duplicate_paid_before_original.json")
    with World(load(example), tmp_path) as world:
        report = Run(world).play()
        by_number = {invoice.number: invoice for invoice in world.netsuite.books.invoices()}
        copy_charge = world.stripe.state.newest_first("charge")[-1]["id"]

    first, second = _actions(report, "netsuite.deposit.create")
    assert (first["at"], first["status"]) == ("2026-12-04T08:00:00-05:00", "applied")
    (flag,) = _actions(report, "revline.duplicate.flag")
    assert flag["at"] == second["at"] == "2026-12-10T08:00:00-05:00"
    assert (flag["params"]["kept_invoice_number"], flag["params"]["invoice_number"]) == (
        "INV-2026-1301",
        "INV-2026-1302",
    )
    assert flag["params"]["charge"] == copy_charge  # the charge that paid the copy
    assert by_number["INV-2026-1302"].status is InvoiceStatus.VOIDED
    assert by_number["INV-2026-1301"].status is InvoiceStatus.PAID_IN_FULL
    (refund,) = _actions(report, "stripe.refund.create")
    assert (refund["status"], refund["params"]["charge"]) == ("applied", copy_charge)
    assert report["ledger"]["verified"] is True
