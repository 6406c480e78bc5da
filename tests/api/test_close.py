"""``GET /api/close/{month}``: the month-end tie-out as the close's latest check left it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from revline.core.cases import CaseKind
from revline.core.runtime import Runtime
from revline.db.models import Action
from revline.playbooks.billing.failed_payment import FAILED_PAYMENT, HOLD
from revline.playbooks.cash.close import MONTH_END_CLOSE
from revline.playbooks.cash.close_actions import SIGN_OFF
from revline.playbooks.cash.tieout import (
    HeldRecognition,
    InTransitPayout,
    ItemKind,
    ReconcilingItem,
    TieOut,
)
from tests.api.helpers import bearer
from tests.support.cases import stored_case

TIEOUT = TieOut(
    month="2026-12",
    currency="USD",
    as_of=date(2026, 12, 31),
    balance_not_paid_out=9_680,
    payouts_in_transit=[InTransitPayout(payout="po_2", amount=174_750, arrival=date(2027, 1, 1))],
    items=[
        ReconcilingItem(
            kind=ItemKind.FEES_NOT_BOOKED,
            reference="po_2",
            description="Stripe fees withheld from payout po_2, booked on its deposit",
            amount=5_250,
        ),
        ReconcilingItem(
            kind=ItemKind.PAYMENT_NOT_RECORDED,
            reference="ch_orphan",
            description="Stripe payment of 2026-12-30: no NetSuite customer payment",
            amount=-10_000,
            on=date(2026, 12, 30),
        ),
    ],
    undeposited_funds=180_920,
    threshold=500,
    held=[
        HeldRecognition(
            customer_id="1001",
            customer="Acme Corp",
            stripe_customer_id="cus_acme",
            plans=["RP-301"],
            amount=1_250_000,
            currency="USD",
        )
    ],
)


# Jonas explained the variance; it stays blocked (an explanation is kept for the auditor only).
EXPLANATION = {
    "variance": 1_240,
    "note": "receipt keyed twice",
    "by": "user:jonas",
    "at": "2027-01-05T15:00:00Z",
}


# Acme as the sign-off found it: exhausted, three retries. Its case has moved on since.
SIGNED_ON = {
    "customer": "Acme Corp",
    "netsuite_customer_id": "1001",
    "stripe_customer_id": "cus_acme",
    "plans": ["RP-301"],
    "held_amount": 1_250_000,
    "currency": "USD",
    "held_since": "2026-12-10T15:00:00Z",
    "dunning": [
        {
            "case_id": "case_acme",
            "invoice": "in_acme_7",
            "tier": "high_value",
            "state": "exhausted",
            "manual_attempts": 3,
            "max_manual_attempts": 3,
            "held_since": "2026-12-10T15:00:00Z",
        }
    ],
}


def seed_close(runtime: Runtime, *, signed_off: bool = False, awaiting: bool = False) -> str:
    """The December close after its check (its data holds the tie-out), and the dunning case
    of the customer NetSuite holds recognition for; returns the close's case id."""
    now = runtime.clock.now()
    with runtime.db.write() as session:

        def case(kind: CaseKind, playbook: str, subject: str, **fields: Any) -> str:
            return stored_case(session, kind, playbook, subject, now, **fields)

        def action(case_id: str, kind: str, subject: str, **fields: Any) -> None:
            session.add(
                Action(
                    id=f"act_{kind}",
                    case_id=case_id,
                    playbook="test",
                    kind=kind,
                    subject=subject,
                    idempotency_key=f"test:{kind}:{subject}:1",
                    params={},
                    params_hash="h",
                    not_before=now,
                    proposed_by="playbook",
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
            )

        close = case(
            MONTH_END_CLOSE,
            "month_end_close",
            "2026-12",
            state="signed_off" if signed_off else "variance",
            data={"tieout": TIEOUT.model_dump(mode="json"), "explanations": [EXPLANATION]},
        )
        if signed_off:
            action(
                close,
                SIGN_OFF,
                "2026-12",
                status="applied",
                applied_at=now,
                approved_by="user:jonas",
                result={"tieout": TIEOUT.model_dump(mode="json"), "held_recognition": [SIGNED_ON]},
            )
        if awaiting:
            action(
                close,
                SIGN_OFF,
                "2026-12",
                status="awaiting_approval",
                required_role="fpa_analyst",
            )
        dunning = case(
            FAILED_PAYMENT,
            "failed_payment",
            "in_acme_7",
            customer="cus_acme",
            state="retrying",
            data={"tier": "high_value", "manual_attempts": 1, "failures": 2},
        )
        action(dunning, HOLD, "cus_acme", status="applied", applied_at=now)
    return close


def test_the_report_walks_stripe_to_netsuite_and_lists_the_holds(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = seed_close(runtime)
    response = client.get("/api/close/2026-12", headers=bearer(tokens["viewer"]))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["case_id"], report["state"]) == (case_id, "variance")
    walk = report["tieout"]
    assert walk["stripe_in_transit"] == 9_680 + 174_750
    assert walk["expected_undeposited_funds"] == 9_680 + 174_750 + 5_250 - 10_000
    assert walk["variance"] == 1_240
    assert walk["ties"] is False
    assert [i["kind"] for i in walk["items"]] == ["fees_not_booked", "payment_not_recorded"]
    (held,) = report["held_recognition"]
    assert held["customer"] == "Acme Corp"
    (dunning,) = held["dunning"]
    assert (dunning["tier"], dunning["manual_attempts"], dunning["state"]) == (
        "high_value",
        1,
        "retrying",
    )
    assert held["held_since"] == dunning["held_since"] is not None
    assert report["signed_off_by"] is None
    assert report["explanations"] == [EXPLANATION]


def test_a_signed_off_month_names_who_signed(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    seed_close(runtime, signed_off=True)
    report = client.get("/api/close/2026-12", headers=bearer(tokens["fpa_analyst"])).json()
    assert (report["state"], report["signed_off_by"]) == ("signed_off", "user:jonas")
    # The holds as they were signed on, not the dunning case as it stands today.
    assert report["held_recognition"] == [SIGNED_ON]
    refused = client.post(
        "/api/close/2026-12/explain",
        json={"variance": 1240, "note": "a bank fee"},
        headers=bearer(tokens["fpa_analyst"]),
    )
    assert refused.status_code == 409
    assert "already signed off" in refused.json()["error"]["message"]


def test_a_month_signed_before_the_sign_off_kept_what_it_read_still_reports(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    """A sign-off carried out by an earlier Revline kept its figures only: the month reads as
    its close's last check left it, with the dunning context read now."""
    seed_close(runtime, signed_off=True)
    with runtime.db.write() as session:
        signed = session.get(Action, f"act_{SIGN_OFF}")
        assert signed is not None
        signed.result = {"month": "2026-12", "variance": 1_240, "undeposited_funds": 180_920}
    response = client.get("/api/close/2026-12", headers=bearer(tokens["viewer"]))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["state"], report["tieout"]["variance"]) == ("signed_off", 1_240)
    (held,) = report["held_recognition"]
    assert [case["state"] for case in held["dunning"]] == ["retrying"]


def test_an_unknown_month_is_a_404_naming_it(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get("/api/close/2026-11", headers=bearer(tokens["viewer"]))
    assert response.status_code == 404
    assert "2026-11" in response.json()["error"]["message"]


def test_a_malformed_month_is_a_400_saying_what_is_wrong(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get("/api/close/december", headers=bearer(tokens["viewer"]))
    assert response.status_code == 400
    assert "YYYY-MM" in response.json()["error"]["message"]


def test_reading_needs_a_token_and_explaining_or_rechecking_an_fpa_analyst(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    seed_close(runtime)
    assert client.get("/api/close/2026-12").status_code == 401
    response = client.post(
        "/api/close/2026-12/explain",
        json={"variance": 1240, "note": "a bank fee"},
        headers=bearer(tokens["billing_analyst"]),
    )
    assert response.status_code == 403
    response = client.post("/api/close/2026-12/recheck", headers=bearer(tokens["viewer"]))
    assert response.status_code == 403
    assert "explain or re-check a close" in response.json()["error"]["message"]


def test_a_signed_off_month_is_not_checked_again(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    seed_close(runtime, signed_off=True)
    refused = client.post("/api/close/2026-12/recheck", headers=bearer(tokens["fpa_analyst"]))
    assert refused.status_code == 409
    assert "already signed off" in refused.json()["error"]["message"]


def test_only_an_fpa_analyst_signs_the_close_not_even_an_admin(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    seed_close(runtime, awaiting=True)
    url = f"/api/actions/act_{SIGN_OFF}/approve"
    for role in ("admin", "revops_manager"):
        refused = client.post(url, headers=bearer(tokens[role]))
        assert refused.status_code == 403, role
        assert "fpa_analyst" in refused.json()["error"]["message"]
    signed = client.post(url, headers=bearer(tokens["fpa_analyst"]))
    assert signed.status_code == 200
    assert (signed.json()["status"], signed.json()["approved_by"]) == (
        "approved",
        "user:fpa_analyst",
    )


@pytest.mark.parametrize("month", ["0000-12", "9999-12"])
def test_a_month_outside_the_calendar_is_a_400_naming_it(
    client: TestClient, tokens: dict[str, str], month: str
) -> None:
    for method, url in (
        ("GET", f"/api/close/{month}"),
        ("POST", f"/api/close/{month}/recheck"),
    ):
        response = client.request(method, url, headers=bearer(tokens["fpa_analyst"]))
        assert response.status_code == 400, (url, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_month"
        assert f"month '{month}' is out of range" in error["message"]
