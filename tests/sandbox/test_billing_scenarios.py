"""The failed-payment paths, played with ``revline simulate`` through the real code path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from revline.cli import app

BILLING = Path(__file__).resolve().parents[2] / "examples" / "billing"
pytestmark = pytest.mark.slow


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
    # The promise (Thursday 12th) moved the retry to Monday 16th: Friday is paused.
    assert [p["at"] for p in pays] == ["2026-03-10T09:00:00-04:00", "2026-03-16T09:00:00-04:00"]
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
    assert pay["at"] == "2026-03-10T09:00:00-04:00"  # the morning after the card was updated


def test_success_arriving_at_the_retry_cancels_it() -> None:
    report = _run("success-during-retry")
    case = _case(report, "in_bluefin_1")
    assert case["state"] == "recovered"
    assert not _applied(report, case, "stripe.invoice.pay")
    assert _applied(report, case, "netsuite.revenue.resume")


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
