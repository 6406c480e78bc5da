"""The emergency stop and playbook modes through the API, each change in the ledger."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from revline.core.runtime import Runtime, Worker
from tests.api.helpers import bearer, deliver


def _control(client: TestClient, token: str, **body: Any) -> Any:
    return client.post("/api/controls", json=body, headers=bearer(token))


def _ledger_kinds(client: TestClient, token: str) -> list[tuple[str, str]]:
    rows = client.get("/api/ledger", headers=bearer(token)).json()["items"]
    return [(r["kind"], r["actor"]) for r in rows if r["kind"].startswith("control.")]


def test_controls_show_the_stop_and_every_registered_playbook(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get("/api/controls", headers=bearer(tokens["viewer"]))

    assert response.status_code == 200
    assert response.json() == {
        "stop": {"stopped": False, "reason": None, "by": None, "at": None},
        "modes": {"test_chase": "live", "test_refund": "live"},
        "requeued": None,
    }


@pytest.mark.parametrize(
    "role",
    [
        "admin",
        "revops_manager",
        "billing_analyst",
        "ar_specialist",
        "fpa_analyst",
        "spend_ops_lead",
    ],
)
def test_any_operating_role_may_press_stop_and_only_managers_resume(
    client: TestClient, tokens: dict[str, str], role: str
) -> None:
    stopped = _control(client, tokens[role], action="stop", reason="refunds look wrong")
    assert stopped.status_code == 200
    assert stopped.json()["stop"] == {
        "stopped": True,
        "reason": "refunds look wrong",
        "by": f"user:{role}",
        "at": stopped.json()["stop"]["at"],
    }
    assert _control(client, tokens[role], action="stop", reason="again").status_code == 409

    resumer = role if role in ("admin", "revops_manager") else "revops_manager"
    if resumer != role:
        assert _control(client, tokens[role], action="resume").status_code == 403
    resumed = _control(client, tokens[resumer], action="resume")
    assert resumed.status_code == 200
    assert resumed.json()["stop"]["stopped"] is False
    assert _ledger_kinds(client, tokens["viewer"]) == [
        ("control.stop", f"user:{role}"),
        ("control.resume", f"user:{resumer}"),
    ]


def test_stop_holds_due_actions_and_resume_requeues_them(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    _control(client, tokens["billing_analyst"], action="stop", reason="incident 42")
    deliver(client, "evt_f1", "invoice.payment_failed", {"id": "in_9", "customer": "cus_9"})
    Worker(runtime).drain()
    viewer = bearer(tokens["viewer"])
    held = client.get("/api/actions", params={"status": "held"}, headers=viewer).json()["items"]
    assert [a["kind"] for a in held] == ["fake.invoice.pay"]

    resumed = _control(client, tokens["revops_manager"], action="resume")

    assert resumed.json()["requeued"] == 1
    [action] = client.get(
        "/api/actions", params={"case_id": held[0]["case_id"]}, headers=viewer
    ).json()["items"]
    assert action["status"] == "proposed"


def test_a_blank_stop_reason_is_refused(client: TestClient, tokens: dict[str, str]) -> None:
    empty = _control(client, tokens["admin"], action="stop", reason="")
    blank = _control(client, tokens["admin"], action="stop", reason="   ")

    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "invalid_request")
    assert (blank.status_code, blank.json()["error"]["code"]) == (400, "invalid_request")
    assert (
        client.get("/api/controls", headers=bearer(tokens["admin"])).json()["stop"]["stopped"]
        is False
    )


def test_modes_are_set_by_managers_and_recorded(client: TestClient, tokens: dict[str, str]) -> None:
    response = _control(
        client, tokens["revops_manager"], action="mode", playbook="test_chase", mode="canary:10"
    )

    assert response.status_code == 200
    assert response.json()["modes"] == {"test_chase": "canary:10", "test_refund": "live"}
    rows = client.get("/api/ledger", headers=bearer(tokens["viewer"])).json()["items"]
    [row] = [r for r in rows if r["kind"] == "control.mode"]
    assert (row["actor"], row["prior_state"], row["post_state"]) == (
        "user:revops_manager",
        "live",
        "canary:10",
    )
    assert row["detail"] == {"playbook": "test_chase"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "mode", "playbook": "no_such_playbook", "mode": "live"}, 400),
        ({"action": "mode", "playbook": "test_chase", "mode": "sometimes"}, 400),
        ({"action": "mode", "playbook": "test_chase", "mode": "canary:100"}, 400),
        ({"action": "explode"}, 422),
        ({"action": "mode", "playbook": "test_chase"}, 422),
    ],
)
def test_invalid_control_changes_are_refused_and_not_recorded(
    client: TestClient, tokens: dict[str, str], body: dict[str, Any], status: int
) -> None:
    response = _control(client, tokens["admin"], **body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_request"
    assert _ledger_kinds(client, tokens["admin"]) == []
