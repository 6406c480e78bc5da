"""Cases and their timeline: what arrived, what was decided, what was done, what was recorded."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from revline.clock import SimulatedClock
from revline.core.runtime import Runtime, Worker
from revline.providers.base import Handlers
from tests.api.helpers import bearer, deliver
from tests.support.recorder import EffectRecorder


def test_the_timeline_shows_events_decisions_actions_with_attempts_and_ledger_rows_in_order(
    client: TestClient,
    runtime: Runtime,
    clock: SimulatedClock,
    handlers: Handlers,
    tokens: dict[str, str],
) -> None:
    handlers.register("fake.invoice.pay", EffectRecorder())
    deliver(client, "evt_fail", "invoice.payment_failed", {"id": "in_5", "customer": "cus_5"})
    Worker(runtime).drain()
    clock.advance(timedelta(hours=2))
    deliver(client, "evt_paid", "invoice.paid", {"id": "in_5", "customer": "cus_5"})
    Worker(runtime).drain()
    viewer = bearer(tokens["viewer"])
    [case] = client.get("/api/cases", params={"customer": "cus_5"}, headers=viewer).json()["items"]

    detail = client.get(f"/api/cases/{case['id']}", headers=viewer).json()

    assert detail["case"]["state"] == "recovered"
    timeline = detail["timeline"]
    times = [entry["at"] for entry in timeline]
    assert times == sorted(times)
    events = [e["event"]["external_id"] for e in timeline if e["entry"] == "event"]
    assert events == ["evt_fail", "evt_paid"]
    assert [e["event"]["payload"]["type"] for e in timeline if e["entry"] == "event"] == [
        "invoice.payment_failed",
        "invoice.paid",
    ]
    decisions = [e["decision"] for e in timeline if e["entry"] == "decision"]
    assert [(d["prior_state"], d["post_state"]) for d in decisions] == [
        ("open", "retrying"),
        ("retrying", "recovered"),
    ]
    [action] = [e["action"] for e in timeline if e["entry"] == "action"]
    assert (action["kind"], action["status"]) == ("fake.invoice.pay", "applied")
    assert [(a["number"], a["outcome"]) for a in action["attempt_log"]] == [(1, "confirmed")]
    ledger_kinds = [e["ledger"]["kind"] for e in timeline if e["entry"] == "ledger"]
    assert ledger_kinds == [
        "case.opened",
        "decision",
        "action.proposed",
        "action.applied",
        "decision",
    ]
    # At one instant the story reads in causal order: the event, then what came of it.
    first_event = next(i for i, e in enumerate(timeline) if e["entry"] == "event")
    first_decision = next(i for i, e in enumerate(timeline) if e["entry"] == "decision")
    assert first_event < first_decision
    # Every decision's event is in the timeline.
    event_ids = {e["event"]["id"] for e in timeline if e["entry"] == "event"}
    assert {d["event_id"] for d in decisions} == event_ids


def test_cases_are_filtered_and_paged(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    for n in range(3):
        deliver(client, f"evt_c{n}", "invoice.payment_failed", {"id": f"in_{n}", "customer": "c1"})
    deliver(client, "evt_r", "refund.requested", {"charge": "ch_1", "customer": "c2", "amount": 1})
    Worker(runtime).drain()
    viewer = bearer(tokens["viewer"])

    def subjects(**params: object) -> list[str]:
        response = client.get("/api/cases", params=params, headers=viewer)
        assert response.status_code == 200
        return sorted(c["subject"] for c in response.json()["items"])

    assert subjects(kind="test_chase") == ["in_0", "in_1", "in_2"]
    assert subjects(customer="c2") == ["ch_1"]
    assert subjects(state="refunding") == ["ch_1"]
    assert subjects(kind="test_chase", state="recovered") == []
    first = client.get("/api/cases", params={"limit": 3}, headers=viewer).json()
    second = client.get("/api/cases", params={"limit": 3, "offset": 3}, headers=viewer).json()
    assert (len(first["items"]), first["next_offset"]) == (3, 3)
    assert (len(second["items"]), second["next_offset"]) == (1, None)


def test_an_unknown_case_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get("/api/cases/cas_nope", headers=bearer(tokens["viewer"]))

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "no case cas_nope"}}


def test_events_are_listed_by_filter_and_shown_with_their_payload(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    deliver(client, "evt_e1", "invoice.payment_failed", {"id": "in_1", "customer": "c"})
    deliver(client, "evt_e2", "customer.created", {"id": "cus_1"})
    Worker(runtime).drain()
    viewer = bearer(tokens["viewer"])

    def ids(**params: str) -> list[str]:
        response = client.get("/api/events", params=params, headers=viewer)
        return [e["external_id"] for e in response.json()["items"]]

    assert ids() == ["evt_e2", "evt_e1"]  # newest first
    assert ids(status="ignored") == ["evt_e2"]
    assert ids(status="processed", source="stripe") == ["evt_e1"]
    assert ids(type="customer.created") == ["evt_e2"]
    assert ids(source="ramp") == []
    listed = client.get("/api/events", headers=viewer).json()["items"][0]
    assert "payload" not in listed
    one = client.get(f"/api/events/{listed['id']}", headers=viewer).json()
    assert one["payload"]["data"]["object"] == {"id": "cus_1"}
    assert client.get("/api/events/999999", headers=viewer).status_code == 404


def test_ledger_is_read_by_correlation_and_verified(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    deliver(client, "evt_l1", "invoice.payment_failed", {"id": "in_1", "customer": "c"})
    deliver(client, "evt_l2", "invoice.payment_failed", {"id": "in_2", "customer": "c"})
    Worker(runtime).drain()
    viewer = bearer(tokens["viewer"])
    [case] = client.get("/api/cases", params={"limit": 1}, headers=viewer).json()["items"]

    story = client.get(
        "/api/ledger", params={"correlation_id": case["correlation_id"]}, headers=viewer
    ).json()
    everything = client.get("/api/ledger", headers=viewer).json()["items"]
    first_page = client.get("/api/ledger", params={"limit": 2}, headers=viewer).json()
    next_page = client.get(
        "/api/ledger", params={"after_seq": first_page["next_after_seq"]}, headers=viewer
    ).json()
    verified = client.get("/api/ledger/verify", headers=viewer).json()

    assert story["items"] and {r["correlation_id"] for r in story["items"]} == {
        case["correlation_id"]
    }
    assert len(story["items"]) < len(everything)
    assert [r["seq"] for r in first_page["items"] + next_page["items"]] == [
        r["seq"] for r in everything
    ]
    assert verified == {
        "ok": True,
        "rows": len(everything),
        "first_bad_seq": None,
        "reason": None,
        "head": f"{everything[-1]['seq']}:{everything[-1]['hash']}",
    }
    anchored = client.get(
        "/api/ledger/verify", params={"anchor": verified["head"]}, headers=viewer
    ).json()
    assert anchored["ok"]
    bad = client.get("/api/ledger/verify", params={"anchor": "1:abc"}, headers=viewer)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_request")
