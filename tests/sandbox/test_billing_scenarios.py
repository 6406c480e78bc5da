"""The failed-payment paths, played with ``revline simulate`` through the real code path."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from revline.cli import app
from revline.db.models import LedgerRow
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import Later, World

BILLING = Path(__file__).resolve().parents[2] / "examples" / "billing"
pytestmark = pytest.mark.slow


def _world_run(name: str, workdir: Path) -> tuple[World, dict[str, Any]]:
    """Play a scenario and keep its world, to look into the simulators afterwards."""
    world = World(load(BILLING / f"{name}.json"), workdir).start()
    try:
        report = Run(world).play()
    except BaseException:
        world.stop()
        raise
    return world, report


def _run(name: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["simulate", str(BILLING / f"{name}.json"), "--json"])
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["ledger"]["verified"] is True
    return report


def _case(report: dict[str, Any], invoice: str) -> dict[str, Any]:
    return next(
        c for c in report["cases"] if c["kind"] == "failed_payment" and c["subject"] == invoice
    )


def _actions(report: dict[str, Any], invoice_case: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (a["at"], a["kind"], a["status"])
        for a in report["actions"]
        if a["case"] == invoice_case["id"]
    ]


def _applied(report: dict[str, Any], case: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        a
        for a in report["actions"]
        if a["case"] == case["id"] and a["kind"] == kind and a["status"] == "applied"
    ]


def test_recovered_by_the_first_manual_retry() -> None:
    report = _run("recovered-first-retry")
    case = _case(report, "in_bluefin_1")
    assert case["state"] == "recovered"
    [pay] = _applied(report, case, "stripe.invoice.pay")
    assert pay["at"] == "2026-03-10T09:00:00-04:00"  # Wednesday failure → Tuesday 09:00
    assert pay["result"]["outcome"] == "paid"
    assert _applied(report, case, "netsuite.revenue.hold")
    assert _applied(report, case, "netsuite.revenue.resume")
    assert not [a for a in report["actions"] if a["kind"] == "stripe.customer.suppress_dunning"]


def test_high_value_email_reply_and_promise() -> None:
    report = _run("high-value-email-promise")
    case = _case(report, "in_acme_1")
    assert case["state"] == "recovered"
    [email] = report["emails"]
    assert email["from"] == "Maya Lindqvist <maya@ourco.example>"
    assert email["to"] == ["Dana Reyes <dana.reyes@acme.example>"]
    assert email["cc"] == ["Felix Nordstrom <felix@ourco.example>"]
    assert "$12,500.00" in email["body"] and "INV-2026-0302" in email["body"]
    assert "https://billing.stripe.com/" in email["body"]
    [log] = _applied(report, case, "netsuite.customer.log_message")
    assert log["params"]["author"] == "maya@ourco.example"
    pays = _applied(report, case, "stripe.invoice.pay")
    # Three cadence days after the email (sent on the 10th) is Monday 16th; the promise to pay
    # on Tuesday 17th moved the retry to the morning after it.
    assert [p["at"] for p in pays] == ["2026-03-10T09:00:00-04:00", "2026-03-18T09:00:00-04:00"]
    assert [p["result"]["outcome"] for p in pays] == ["declined", "paid"]
    assert _applied(report, case, "stripe.customer.restore_dunning")
    assert _applied(report, case, "netsuite.revenue.resume")


def test_high_value_exhausted_goes_to_the_senior_revops_manager() -> None:
    report = _run("high-value-exhausted")
    case = _case(report, "in_acme_1")
    assert (case["state"], case["queue"]) == ("escalated", "senior_revops_manager")
    assert len(_applied(report, case, "stripe.invoice.pay")) == 3
    assert not _applied(report, case, "netsuite.revenue.resume")


def test_low_value_exhausted_closes_with_recognition_held() -> None:
    report = _run("low-value-exhausted")
    case = _case(report, "in_bluefin_1")
    assert (case["state"], case["queue"]) == ("exhausted", "billing_analyst")
    pays = _applied(report, case, "stripe.invoice.pay")
    assert [p["at"][:10] for p in pays] == ["2026-03-10", "2026-03-16", "2026-03-19"]
    assert _applied(report, case, "netsuite.revenue.hold")
    assert not _applied(report, case, "netsuite.revenue.resume")
    assert report["emails"] == []


def test_hard_decline_gets_no_retries_until_a_new_card() -> None:
    report = _run("hard-decline")
    case = _case(report, "in_bluefin_1")
    assert case["state"] == "recovered"
    [pay] = _applied(report, case, "stripe.invoice.pay")
    # Stripe's customer.updated for the new card brings the retry forward to the moment the
    # card was saved (Monday 14:00), rather than the next morning's look for one.
    assert pay["at"] == "2026-03-09T14:00:00-04:00"
    assert pay["params"]["invoice"] == "in_bluefin_1"


def test_duplicated_and_reordered_webhooks_reach_the_true_final_state() -> None:
    report = _run("duplicated-reordered-webhooks")
    assert _case(report, "in_acme_1")["state"] == "recovered"  # Smart Retry recovered it
    bluefin = _case(report, "in_bluefin_1")
    assert bluefin["state"] == "recovered"
    assert len(_applied(report, bluefin, "stripe.invoice.pay")) == 1
    assert len(_applied(report, bluefin, "netsuite.revenue.hold")) == 1


def test_the_whole_run_in_shadow_mode_applies_nothing() -> None:
    report = _run("shadow")
    billing = [
        a
        for a in report["actions"]
        if a["kind"].startswith(("stripe.", "email.", "netsuite.revenue"))
    ]
    assert billing and {a["status"] for a in billing} == {"shadowed"}
    assert report["emails"] == []


def test_stripes_dunning_goes_on_below_the_threshold_and_is_silent_above_it(
    tmp_path: Path,
) -> None:
    """Rule 6 and rule 5. Manual control (auto_advance off) stops Stripe emailing about an
    invoice by itself; below the threshold Revline has Stripe send its email after every
    declined manual retry, above it Stripe stays silent once Revline has the invoice."""
    low_world, low = _world_run("low-value-exhausted", tmp_path / "low")
    try:
        case = _case(low, "in_bluefin_1")
        sends = _applied(low, case, "stripe.invoice.send")
        pays = _applied(low, case, "stripe.invoice.pay")
        assert [s["at"] for s in sends] == [p["at"] for p in pays]  # one per declined retry
        manual_control = _applied(low, case, "stripe.invoice.stop_auto_retry")[0]["at"]
        emails = low_world.stripe.state.dunning_emails
        after = [e for e in emails if e.at > datetime.fromisoformat(manual_control)]
        assert [e.kind for e in after] == ["invoice_sent"] * 3
        assert {e.email for e in after} == {"ap@bluefin.example"}
    finally:
        low_world.stop()
    high_world, high = _world_run("high-value-exhausted", tmp_path / "high")
    try:
        case = _case(high, "in_acme_1")
        assert not _applied(high, case, "stripe.invoice.send")
        assert _applied(high, case, "stripe.customer.suppress_dunning")
        manual_control = _applied(high, case, "stripe.invoice.stop_auto_retry")[0]["at"]
        emails = high_world.stripe.state.dunning_emails
        # Stripe wrote about the first charge and its automatic retry, then never again.
        assert [e.kind for e in emails] == ["payment_failed", "payment_failed"]
        assert all(e.at <= datetime.fromisoformat(manual_control) for e in emails)
    finally:
        high_world.stop()


def _pipeline_excluded(world: World, customer: str) -> tuple[bool, str | None]:
    row = world.netsuite.books.row(
        "SELECT custentity_revline_pipeline_excluded AS excluded,"
        " custentity_revline_pipeline_reason AS reason FROM customer WHERE id = ?",
        (int(world.customers[customer]["netsuite"]),),
    )
    assert row is not None
    return row["excluded"] == "T", row["reason"] or None


def test_the_customer_leaves_the_pipeline_reports_while_recognition_is_held(
    tmp_path: Path,
) -> None:
    world, report = _world_run("low-value-exhausted", tmp_path / "held")
    try:
        case = _case(report, "in_bluefin_1")
        [hold] = _applied(report, case, "netsuite.revenue.hold")
        [exclude] = _applied(report, case, "netsuite.customer.exclude_from_pipeline")
        assert exclude["at"] == hold["at"]
        assert _pipeline_excluded(world, "bluefin") == (True, "dunning")
    finally:
        world.stop()
    world, report = _world_run("recovered-first-retry", tmp_path / "back")
    try:
        case = _case(report, "in_bluefin_1")
        [resume] = _applied(report, case, "netsuite.revenue.resume")
        [include] = _applied(report, case, "netsuite.customer.include_in_pipeline")
        assert include["at"] == resume["at"]
        assert _pipeline_excluded(world, "bluefin") == (False, None)
    finally:
        world.stop()


def test_failures_count_across_the_subscription() -> None:
    """Rule 4: the second invoice's first failed charge is the subscription's third, so
    recognition is held at once, before Stripe's automatic retry; it resumes only when the
    last of the two invoices is paid."""
    report = _run("subscription-second-invoice")
    first, second = _case(report, "in_bluefin_1"), _case(report, "in_bluefin_2")
    [hold] = _applied(report, second, "netsuite.revenue.hold")
    assert hold["at"] == "2026-03-09T10:00:00-04:00"  # the moment of its first failure
    assert (first["state"], second["state"]) == ("recovered", "recovered")
    # The second invoice was paid first (Thursday 12th): the first was still in dunning.
    assert not _applied(report, second, "netsuite.revenue.resume")
    [resume] = _applied(report, first, "netsuite.revenue.resume")
    assert resume["at"] >= "2026-03-16"
    assert _applied(report, first, "netsuite.customer.include_in_pipeline")


def test_an_invoice_voided_while_its_email_waits_for_approval_sends_nothing(
    tmp_path: Path,
) -> None:
    """Acme's personal email waits for the senior RevOps manager (nobody approves in this run);
    on Wednesday 11 March someone voids the invoice in the Stripe dashboard. Stripe's
    ``invoice.voided`` reaches the case at once: the waiting email is cancelled, and the case
    goes to the billing analyst — no email about an invoice nobody owes any more."""
    scenario = load(BILLING / "high-value-email-promise.json")
    scenario = scenario.model_copy(
        update={"approve": "none", "happenings": scenario.happenings[:1]}
    )
    world = World(scenario, tmp_path).start()
    try:
        voided_at = datetime(2026, 3, 11, 9, tzinfo=ZoneInfo("America/New_York"))

        def void() -> str:
            world.stripe.state.close_unpaid("in_acme_1", status="void")
            return "in_acme_1 voided in the dashboard"

        world.later.append(Later(voided_at, "void", void))
        report = Run(world).play()
    finally:
        world.stop()
    case = _case(report, "in_acme_1")
    assert (case["state"], case["queue"]) == ("escalated", "billing_analyst")
    (email,) = [
        a for a in report["actions"] if a["case"] == case["id"] and a["kind"] == "email.send"
    ]
    assert email["status"] == "cancelled"
    assert [m for m in report["emails"] if "INV-2026-0302" in str(m)] == []


def test_what_an_outcome_tells_the_case_is_in_the_ledger(tmp_path: Path) -> None:
    """The hold's outcome tells the case when recognition was held: the month-end close and
    ``revline billing`` read it. An outcome that leaves the case's state as it was still has
    what it changed written on its decision row, not only in the case."""
    world, _ = _world_run("high-value-exhausted", tmp_path)
    try:
        with world.runtime.db.read() as session:
            found = [
                row.detail["data"]
                for row in session.execute(
                    select(LedgerRow).where(LedgerRow.kind == "decision")
                ).scalars()
                if row.detail.get("trigger") == "action" and row.detail.get("data")
            ]
    finally:
        world.stop()
    assert any("recognition_held_since" in data for data in found)
