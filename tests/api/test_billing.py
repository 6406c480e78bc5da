"""``GET /api/billing/dunning`` and ``POST /api/cases/{id}/promise``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.core import auth, cases
from revline.core.runtime import Runtime
from revline.db.models import Action, Case
from revline.playbooks.billing.failed_payment import FAILED_PAYMENT
from revline.sandbox.runner import Run
from revline.sandbox.scenario import parse
from revline.sandbox.world import World
from tests.api.helpers import bearer

BILLING = Path(__file__).resolve().parents[2] / "examples" / "billing"


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
            ("netsuite.customer.exclude_from_pipeline", "applied", now),
            ("email.send", "awaiting_approval", None),
        ):
            session.add(
                Action(
                    id=f"act_{kind.rsplit('.', 1)[-1]}",
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
    assert entry["pipeline_excluded_since"] == entry["recognition_held_since"]
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


# -- end to end: a scenario's world, Revline's real API over HTTP ---------------------------------


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """A scenario played up to its ``until``; the test then acts over HTTP and plays on."""
    name, changes = request.param
    document = {**json.loads((BILLING / f"{name}.json").read_text()), **changes}
    with World(parse(document), tmp_path) as played:
        Run(played).play()
        yield played


def _play_on(world: World, until: str) -> dict[str, Any]:
    """Play on to ``until``: no further happenings, only what Revline has scheduled."""
    world.scenario = world.scenario.model_copy(
        update={"until": datetime.fromisoformat(until), "happenings": []}
    )
    return Run(world).play()


def _api(world: World, role: str) -> httpx.Client:
    with world.runtime.db.write() as session:
        _, token = auth.create_token(session, name=role, role=role, now=world.clock.now())
    return httpx.Client(base_url=world.api.url, headers=bearer(token))


def _entry(api: httpx.Client, invoice: str) -> dict[str, Any]:
    response = api.get("/api/billing/dunning")
    assert response.status_code == 200
    entry: dict[str, Any] = next(e for e in response.json() if e["invoice"] == invoice)
    return entry


def _pays(world: World, invoice: str) -> list[tuple[str, str, str | None]]:
    with world.runtime.db.read() as session:
        rows = session.execute(
            select(Action)
            .where(Action.kind == "stripe.invoice.pay", Action.subject == invoice)
            .order_by(Action.created_at)
        ).scalars()
        return [
            (
                a.status,
                a.created_at.astimezone(world.runtime.calendar.tz).isoformat(),
                (a.result or {}).get("outcome"),
            )
            for a in rows
        ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "world", [("low-value-exhausted", {"until": "2026-03-10T12:00:00-04:00"})], indirect=True
)
def test_a_promise_over_http_moves_the_next_retry_to_the_morning_after(world: World) -> None:
    api = _api(world, "billing_analyst")
    before = _entry(api, "in_bluefin_1")
    # Manual retry 1 (Tuesday 10th) was declined; the next is on the timer for Monday 16th.
    # No retry action waits in the outbox meanwhile: it is proposed when the timer fires.
    assert before["manual_attempts"] == 1
    assert before["next_retry_at"] == "2026-03-16T13:00:00Z"
    assert _pays(world, "in_bluefin_1") == [("applied", "2026-03-10T09:00:00-04:00", "declined")]
    response = api.post(
        f"/api/cases/{before['case_id']}/promise", json={"promised_date": "2026-03-17"}
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert (after["state"], after["promised_date"]) == ("promised", "2026-03-17")
    assert after["next_retry_at"] == "2026-03-18T13:00:00Z"  # Wednesday 09:00, the morning after
    _play_on(world, "2026-03-18T12:00:00-04:00")
    # Nothing ran on the 16th; the second retry ran on the 18th, and nothing was cancelled.
    assert _pays(world, "in_bluefin_1") == [
        ("applied", "2026-03-10T09:00:00-04:00", "declined"),
        ("applied", "2026-03-18T09:00:00-04:00", "declined"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "world",
    [("high-value-exhausted", {"until": "2026-03-10T12:00:00-04:00", "approve": "none"})],
    indirect=True,
)
def test_a_rejected_personal_email_goes_to_her_queue_and_retries_go_on(world: World) -> None:
    manager = _api(world, "revops_manager")
    waiting = _entry(manager, "in_acme_1")
    assert waiting["state"] == "awaiting_approval"
    [email] = waiting["pending_approvals"]
    assert email["kind"] == "email.send"
    rejected = manager.post(
        f"/api/actions/{email['action_id']}/reject", json={"reason": "I will call Dana myself"}
    )
    assert rejected.status_code == 200, rejected.text
    report = _play_on(world, "2026-03-16T12:00:00-04:00")
    entry = _entry(manager, "in_acme_1")
    assert (entry["state"], entry["queue"]) == ("retrying", "senior_revops_manager")
    assert entry["pending_approvals"] == []
    assert report["emails"] == []  # nothing went out
    # Three cadence days after the rejection (Tuesday 10th): Wednesday, Thursday, Monday.
    assert _pays(world, "in_acme_1") == [
        ("applied", "2026-03-10T09:00:00-04:00", "declined"),
        ("applied", "2026-03-16T09:00:00-04:00", "declined"),
    ]
    with world.runtime.db.read() as session:
        case = session.execute(select(Case).where(Case.subject == "in_acme_1")).scalar_one()
        assert "I will call Dana myself" in case.data["email_rejected"]
