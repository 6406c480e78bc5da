"""``GET /api/billing/dunning`` and ``POST /api/cases/{id}/promise``."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from revline.core import cases
from revline.core.runtime import Runtime
from revline.db.models import Action, Case
from revline.playbooks.billing.failed_payment import FAILED_PAYMENT
from tests.api.helpers import bearer


def _case_in_dunning(runtime: Runtime) -> str:
    now = runtime.clock.now()
    with runtime.db.write() as session:
        case, _ = cases.open_or_get(
            session,
            kind=FAILED_PAYMENT,
            playbook="failed_payment",
            subject="in_acme_1",
            customer="cus_acme",
            correlation_id=None,
            now=now,
        )
        row = session.get(Case, case.id)
        assert row is not None
        row.state = "awaiting_approval"
        row.data = {"tier": "high_value", "mrr": 1_250_000, "failures": 3, "manual_attempts": 1}
        for kind, status, applied in (
            ("netsuite.revenue.hold", "applied", now),
            ("email.send", "awaiting_approval", None),
        ):
            session.add(
                Action(
                    id=f"act_{kind}",
                    case_id=case.id,
                    playbook="failed_payment",
                    kind=kind,
                    subject="in_acme_1",
                    customer="cus_acme",
                    idempotency_key=f"k:{kind}",
                    params={},
                    params_hash="h",
                    status=status,
                    not_before=now,
                    proposed_by="playbook",
                    gate_reason="personal email" if applied is None else None,
                    created_at=now,
                    updated_at=now,
                    applied_at=applied,
                )
            )
    return case.id


def test_dunning_lists_tier_attempts_hold_and_approvals(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _case_in_dunning(runtime)
    response = client.get("/api/billing/dunning", headers=bearer(tokens["viewer"]))
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["case_id"] == case_id and entry["tier"] == "high_value"
    assert (entry["manual_attempts"], entry["max_manual_attempts"]) == (1, 3)
    assert entry["recognition_held_since"] is not None
    assert [a["kind"] for a in entry["pending_approvals"]] == ["email.send"]


def test_only_finance_roles_record_a_promise(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _case_in_dunning(runtime)
    body = {"promised_date": (runtime.clock.now() + timedelta(days=3)).date().isoformat()}
    denied = client.post(
        f"/api/cases/{case_id}/promise", json=body, headers=bearer(tokens["viewer"])
    )
    assert denied.status_code == 403
    missing = client.post(
        "/api/cases/cas_nope/promise", json=body, headers=bearer(tokens["billing_analyst"])
    )
    assert missing.status_code == 404
    invalid = client.post(
        f"/api/cases/{case_id}/promise",
        json={"promised_date": "soon"},
        headers=bearer(tokens["billing_analyst"]),
    )
    assert invalid.status_code in (400, 422)
