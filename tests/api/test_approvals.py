"""Approvals through the API: the gate's role, four-eyes, and proposals by people and assistants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from revline.core.runtime import Runtime, Worker
from tests.api.helpers import bearer, deliver
from tests.conftest import RAMP_SECRET, STRIPE_SECRET, STRIPE_SECRET_OLD

REFUND_THRESHOLD = 100_000


def _refund_action(
    client: TestClient, runtime: Runtime, tokens: dict[str, str], amount: int
) -> Any:
    """A refund request routed by the RefundDesk playbook; returns its action."""
    deliver(
        client,
        f"evt_refund_{amount}",
        "refund.requested",
        {"charge": f"ch_{amount}", "customer": "cus_1", "amount": amount},
    )
    Worker(runtime).drain()
    listed = client.get(
        "/api/actions", params={"kind": "stripe.refund.create"}, headers=bearer(tokens["viewer"])
    ).json()["items"]
    [action] = [a for a in listed if a["subject"] == f"ch_{amount}"]
    return action


def _chase_case(client: TestClient, runtime: Runtime, tokens: dict[str, str]) -> str:
    deliver(client, "evt_fail_1", "invoice.payment_failed", {"id": "in_1", "customer": "cus_1"})
    Worker(runtime).drain()
    [case] = client.get(
        "/api/cases", params={"kind": "test_chase"}, headers=bearer(tokens["viewer"])
    ).json()["items"]
    return str(case["id"])


def _approve(client: TestClient, token: str, action_id: str, note: str | None = None) -> Any:
    body = {"note": note} if note else None
    return client.post(f"/api/actions/{action_id}/approve", json=body, headers=bearer(token))


def _propose(client: TestClient, token: str, case_id: str, **body: Any) -> Any:
    proposal = {"kind": "email.send", "subject": "cus_1", "params": {"template": "dunning_1"}}
    proposal.update(body)
    return client.post(f"/api/cases/{case_id}/actions", json=proposal, headers=bearer(token))


def test_a_refund_above_the_threshold_waits_for_the_refund_role(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    action = _refund_action(client, runtime, tokens, REFUND_THRESHOLD + 50_000)
    assert action["status"] == "awaiting_approval"
    assert action["required_role"] == "revops_manager"
    assert f"above the approval threshold {REFUND_THRESHOLD}" in action["gate_reason"]

    analyst = _approve(client, tokens["billing_analyst"], action["id"])
    assert analyst.status_code == 403
    assert "revops_manager" in analyst.json()["error"]["message"]

    manager = _approve(client, tokens["revops_manager"], action["id"], note="customer verified")
    assert manager.status_code == 200
    approved = manager.json()
    assert (approved["status"], approved["approved_by"]) == ("approved", "user:revops_manager")

    again = _approve(client, tokens["revops_manager_2"], action["id"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")

    rows = client.get(
        "/api/ledger", params={"case_id": action["case_id"]}, headers=bearer(tokens["viewer"])
    ).json()["items"]
    [row] = [r for r in rows if r["kind"] == "action.approved"]
    assert row["actor"] == "user:revops_manager"
    assert row["detail"]["note"] == "customer verified"
    assert row["action_id"] == action["id"]


def test_a_refund_below_the_threshold_waits_for_nobody(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    action = _refund_action(client, runtime, tokens, 5_000)

    assert action["required_role"] is None
    assert action["status"] != "awaiting_approval"
    assert _approve(client, tokens["admin"], action["id"]).status_code == 409


def test_admin_may_approve_what_waits_for_any_role(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    action = _refund_action(client, runtime, tokens, 250_000)

    response = _approve(client, tokens["admin"], action["id"])

    assert (response.status_code, response.json()["approved_by"]) == (200, "user:admin")


def test_a_rejection_needs_a_reason_that_goes_to_the_ledger(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    action = _refund_action(client, runtime, tokens, 300_000)
    url = f"/api/actions/{action['id']}/reject"
    manager = bearer(tokens["revops_manager"])

    missing = client.post(url, headers=manager)
    blank = client.post(url, json={"reason": "   "}, headers=manager)
    rejected = client.post(url, json={"reason": "duplicate request"}, headers=manager)

    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "invalid_request")
    assert blank.status_code == 422
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "cancelled"
    rows = client.get("/api/ledger", params={"case_id": action["case_id"]}, headers=manager).json()[
        "items"
    ]
    [row] = [r for r in rows if r["kind"] == "action.rejected"]
    assert (row["actor"], row["detail"]["reason"]) == ("user:revops_manager", "duplicate request")


def test_a_person_cannot_approve_their_own_proposal(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _chase_case(client, runtime, tokens)

    proposed = _propose(client, tokens["revops_manager"], case_id)
    assert proposed.status_code == 201
    action = proposed.json()["action"]
    assert proposed.json()["created"] is True
    assert action["status"] == "awaiting_approval"
    assert action["proposed_by"] == "user:revops_manager"
    assert "proposed by a person" in action["gate_reason"]
    assert action["playbook"] == "test_chase" and action["case_id"] == case_id

    own = _approve(client, tokens["revops_manager"], action["id"])
    own_reject = client.post(
        f"/api/actions/{action['id']}/reject",
        json={"reason": "changed my mind"},
        headers=bearer(tokens["revops_manager"]),
    )
    assert own.status_code == 403 and "four-eyes" in own.json()["error"]["message"]
    assert own_reject.status_code == 403

    second = _approve(client, tokens["revops_manager_2"], action["id"])
    assert second.status_code == 200
    assert second.json()["approved_by"] == "user:revops_manager_2"


def test_an_assistant_proposes_and_only_a_person_with_the_role_approves(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _chase_case(client, runtime, tokens)

    proposed = _propose(client, tokens["agent"], case_id, kind="stripe.invoice.pay")
    action = proposed.json()["action"]

    assert proposed.status_code == 201
    assert (action["status"], action["proposed_by"]) == ("awaiting_approval", "user:agent")
    for role in ("agent", "viewer", "billing_analyst"):
        assert _approve(client, tokens[role], action["id"]).status_code == 403, role
    Worker(runtime).drain()  # awaiting approval: the executor does not touch it
    assert _approve(client, tokens["revops_manager"], action["id"]).status_code == 200


def test_proposing_again_returns_the_same_action_and_other_params_conflict(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _chase_case(client, runtime, tokens)
    first = _propose(client, tokens["ar_specialist"], case_id)
    again = _propose(client, tokens["ar_specialist"], case_id)
    other = _propose(client, tokens["ar_specialist"], case_id, params={"template": "final"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert again.json()["action"]["id"] == first.json()["action"]["id"]
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_conflict")


def test_in_shadow_mode_a_proposal_is_only_recorded(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _chase_case(client, runtime, tokens)
    client.post(
        "/api/controls",
        json={"action": "mode", "playbook": "test_chase", "mode": "shadow"},
        headers=bearer(tokens["admin"]),
    )

    proposed = _propose(client, tokens["agent"], case_id)

    assert proposed.json()["action"]["status"] == "shadowed"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "Not A Kind", "subject": "x"}, 422),
        ({"kind": "stripe.refund.create", "subject": ""}, 422),
        ({"kind": "stripe.refund.create", "subject": "ch_1", "params": {"amount": 10.5}}, 422),
        ({"kind": "stripe.refund.create", "subject": "ch_1", "surprise": True}, 422),
    ],
)
def test_invalid_proposals_are_refused(
    client: TestClient,
    runtime: Runtime,
    tokens: dict[str, str],
    body: dict[str, Any],
    status: int,
) -> None:
    case_id = _chase_case(client, runtime, tokens)
    response = client.post(
        f"/api/cases/{case_id}/actions", json=body, headers=bearer(tokens["agent"])
    )

    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_request"


def test_proposing_on_an_unknown_case_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    response = _propose(client, tokens["agent"], "cas_missing")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_approving_an_unknown_action_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    response = _approve(client, tokens["admin"], "act_missing")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_actions_are_filtered_by_status_case_and_kind(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    case_id = _chase_case(client, runtime, tokens)
    _propose(client, tokens["agent"], case_id)
    viewer = bearer(tokens["viewer"])

    def kinds(**params: str) -> list[str]:
        response = client.get("/api/actions", params=params, headers=viewer)
        return sorted(a["kind"] for a in response.json()["items"])

    assert kinds(case_id=case_id) == ["email.send", "fake.invoice.pay"]
    assert kinds(status="awaiting_approval") == ["email.send"]
    assert kinds(kind="fake.invoice.pay") == ["fake.invoice.pay"]
    assert kinds(case_id="cas_other") == []
    bad = client.get("/api/actions", params={"status": "pending"}, headers=viewer)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_request")


def test_the_ledger_names_people_but_never_holds_a_token_or_a_secret(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    action = _refund_action(client, runtime, tokens, 400_000)
    _approve(client, tokens["revops_manager"], action["id"], note="ok")
    client.post(
        "/api/controls", json={"action": "stop", "reason": "drill"}, headers=bearer(tokens["admin"])
    )

    rows = client.get("/api/ledger", headers=bearer(tokens["admin"])).json()["items"]
    text = json.dumps(rows)

    assert {"user:revops_manager", "user:admin"} <= {row["actor"] for row in rows}
    for secret in [*tokens.values(), STRIPE_SECRET, STRIPE_SECRET_OLD, RAMP_SECRET]:
        assert secret not in text
    assert "rvl_" not in text
