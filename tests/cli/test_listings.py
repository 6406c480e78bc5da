"""Reading the work: events, cases, actions and a case's timeline, as tables and as JSON.

The rows are made the way production makes them: events in the inbox, routed through the test
playbooks, actions executed against a recording provider.
"""

from __future__ import annotations

from typing import Any

import pytest

from revline.core.playbook import PlaybookRegistry
from revline.core.runtime import Runtime, Worker
from revline.providers.base import Handlers
from tests.cli.conftest import Cli
from tests.support.events import deliver
from tests.support.recorder import EffectRecorder

EVENT_KEYS = {
    "id",
    "source",
    "external_id",
    "type",
    "status",
    "attempts",
    "occurred_at",
    "received_at",
    "processed_at",
    "next_attempt_at",
    "last_error",
}
CASE_KEYS = {
    "id",
    "kind",
    "playbook",
    "subject",
    "customer",
    "state",
    "state_version",
    "correlation_id",
    "next_action_at",
    "queue",
    "flags",
    "opened_at",
    "updated_at",
    "closed_at",
}
ACTION_KEYS = {
    "id",
    "case_id",
    "playbook",
    "kind",
    "subject",
    "customer",
    "status",
    "params",
    "idempotency_key",
    "not_before",
    "irreversible",
    "required_role",
    "gate_reason",
    "proposed_by",
    "approved_by",
    "approved_at",
    "attempts",
    "last_error",
    "created_at",
    "updated_at",
    "applied_at",
}


@pytest.fixture
def worked(runtime: Runtime, handlers: Handlers) -> Runtime:
    """A failed invoice (retried and paid), a refund awaiting approval, an ignored event."""
    handlers.register("fake.invoice.pay", EffectRecorder())
    deliver(runtime, "evt_fail", "invoice.payment_failed", {"id": "in_1", "customer": "cus_1"})
    deliver(runtime, "evt_refund", "refund.requested", {"charge": "ch_1", "amount": 250_000})
    deliver(runtime, "evt_other", "customer.created", {"id": "cus_9"})
    Worker(runtime, "test-worker").drain()
    return runtime


def _one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    [row] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def test_events_list(cli: Cli, worked: Runtime) -> None:
    events = cli.json("events", "list")
    assert [e["external_id"] for e in events] == ["evt_other", "evt_refund", "evt_fail"]
    assert all(set(e) == EVENT_KEYS for e in events)
    assert _one(events, external_id="evt_fail")["status"] == "processed"
    assert events[0]["received_at"] == "2026-12-01T14:00:00.000000Z"

    assert [e["external_id"] for e in cli.json("events", "list", "--status", "ignored")] == [
        "evt_other"
    ]
    assert cli.json("events", "list", "--source", "ramp") == []
    assert len(cli.json("events", "list", "--limit", "1")) == 1

    table = cli.ok("events", "list").stdout
    # Stored in UTC, shown in the company's timezone.
    assert "2026-12-01 09:00:00" in table and "times in America/New_York" in table
    assert "invoice.payment_failed" in table


def test_cases_list_and_show(cli: Cli, worked: Runtime) -> None:
    cases = cli.json("cases", "list")
    assert all(set(c) == CASE_KEYS for c in cases)
    chase = _one(cases, kind="test_chase")
    assert (chase["subject"], chase["state"], chase["customer"]) == ("in_1", "retrying", "cus_1")
    assert [c["kind"] for c in cli.json("cases", "list", "--kind", "test_refund")] == [
        "test_refund"
    ]
    assert cli.json("cases", "list", "--state", "recovered") == []

    timeline = cli.json("cases", "show", chase["id"])
    assert set(timeline) == {"case", "data", "decisions", "actions", "ledger"}
    assert timeline["case"] == chase
    assert timeline["data"] == {"attempts": 1}
    [decision] = timeline["decisions"]
    assert decision["explanation"] == "the charge failed; retry 1 of 3"
    [history] = timeline["actions"]
    assert set(history) == {"action", "attempts"}
    assert history["action"]["status"] == "applied"
    assert [(a["number"], a["outcome"], a["worker"]) for a in history["attempts"]] == [
        (1, "confirmed", "test-worker")
    ]
    assert [row["kind"] for row in timeline["ledger"]] == [
        "case.opened",
        "decision",
        "action.proposed",
        "action.applied",
    ]
    assert {row["case_id"] for row in timeline["ledger"]} == {chase["id"]}

    shown = cli.ok("cases", "show", chase["id"]).stdout
    for expected in ("the charge failed; retry 1 of 3", "#1 confirmed", "action.applied"):
        assert expected in shown
    assert "no case cas_missing" in cli.fails("cases", "show", "cas_missing").stderr


def test_actions_list_leaves_money_in_minor_units(cli: Cli, worked: Runtime) -> None:
    actions = cli.json("actions", "list")
    assert all(set(a) == ACTION_KEYS for a in actions)
    refund = _one(actions, kind="stripe.refund.create")
    assert refund["params"]["amount"] == 250_000
    assert (refund["status"], refund["required_role"]) == ("awaiting_approval", "revops_manager")

    waiting = cli.json("actions", "list", "--status", "awaiting_approval")
    assert [a["id"] for a in waiting] == [refund["id"]]
    assert [a["id"] for a in cli.json("actions", "list", "--case", refund["case_id"])] == [
        refund["id"]
    ]
    table = cli.ok("actions", "list", "--status", "awaiting_approval").stdout
    assert refund["id"] in table and '"amount":250000' in table and "revops_manager" in table


def test_worker_once_drains_what_is_due(
    cli: Cli, runtime: Runtime, cli_registry: PlaybookRegistry
) -> None:
    deliver(runtime, "evt_fail", "invoice.payment_failed", {"id": "in_7", "customer": "cus_7"})
    deliver(runtime, "evt_other", "customer.created", {"id": "cus_9"})
    cli.ok("mode", "test_chase", "live")

    done = cli.ok("worker", "--once")
    assert "worker pass done: 3 units of work" in done.stdout  # 2 events routed, 1 action run
    assert "worker pass done: 0 units of work" in cli.ok("worker", "--once").stdout

    assert {e["status"] for e in cli.json("events", "list")} == {"processed", "ignored"}
    [case] = cli.json("cases", "list")
    assert (case["kind"], case["state"]) == ("test_chase", "retrying")
    # No adapter is configured for the test action kind: it goes to the manual queue.
    [action] = cli.json("actions", "list", "--case", case["id"])
    assert action["status"] == "failed"
    assert "no adapter is registered for fake.invoice.pay" in action["last_error"]
