"""The router, driven by the test playbooks: events and timers in, decisions and actions out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from revline.core.controls import canary_bucket, parse_mode
from revline.core.ledger import verify
from revline.core.runtime import Runtime, Worker
from revline.db.models import Action, ActionStatus, Case, Decision, LedgerRow
from revline.errors import InvalidRequest
from revline.providers.base import Handlers, ProviderError
from tests.support.controls import set_mode
from tests.support.events import deliver
from tests.support.recorder import EffectRecorder

FAILED = "invoice.payment_failed"
INVOICE = {"id": "in_1", "customer": "cus_1"}


@pytest.fixture
def provider(handlers: Handlers) -> EffectRecorder:
    recorder = EffectRecorder()
    handlers.register("fake.invoice.pay", recorder)
    handlers.register("fake.access.suspend", recorder)
    handlers.register("stripe.refund.create", recorder)
    return recorder


def _case(runtime: Runtime, subject: str = "in_1") -> Case:
    with runtime.db.read() as session:
        return session.execute(select(Case).where(Case.subject == subject)).scalar_one()


def _actions(runtime: Runtime) -> list[Action]:
    with runtime.db.read() as session:
        return list(
            session.execute(select(Action).order_by(Action.created_at, Action.id)).scalars()
        )


def _contradictions_counted(playbook: str) -> float:
    return REGISTRY.get_sample_value("revline_contradictions_total", {"playbook": playbook}) or 0


def _set_mode(runtime: Runtime, playbook: str, mode: str) -> None:
    set_mode(runtime, playbook, mode, actor="user:t")


def test_failure_opens_a_case_retries_on_timers_then_exhausts(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    deliver(runtime, "evt_1", FAILED, INVOICE)
    worker = Worker(runtime)
    worker.drain()
    case = _case(runtime)
    assert (case.state, case.customer, case.data) == ("retrying", "cus_1", {"attempts": 1})
    assert case.next_action_at == runtime.clock.now() + timedelta(days=1)
    for _ in range(3):
        runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
        worker.drain()
    case = _case(runtime)
    assert (case.state, case.next_action_at) == ("exhausted", None)
    assert case.closed_at is not None
    assert sorted(provider.effects) == [f"test_chase:fake.invoice.pay:in_1:{n}" for n in (1, 2, 3)]
    with runtime.db.read() as session:
        decisions = session.execute(select(Decision).order_by(Decision.id)).scalars().all()
        assert [d.trigger for d in decisions] == ["event", "timer", "timer", "timer"]
        assert decisions[-1].explanation == "the retry timer came due; three retries used"
        assert verify(session).ok


def test_a_payment_cancels_pending_actions(runtime: Runtime, provider: EffectRecorder) -> None:
    _set_mode(runtime, "test_chase", "live")
    deliver(runtime, "evt_1", FAILED, INVOICE)
    runtime.router().route_pending()  # decided, not yet executed
    deliver(runtime, "evt_2", "invoice.paid", INVOICE)
    Worker(runtime).drain()
    [action] = _actions(runtime)
    assert action.status == ActionStatus.CANCELLED
    assert action.last_error == "cancelled: invoice paid"
    assert provider.calls == {}
    assert _case(runtime).state == "recovered"


def test_out_of_order_events_resolve_to_the_true_final_state(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    failed_at = runtime.clock.now() - timedelta(minutes=3)
    paid_at = runtime.clock.now() - timedelta(minutes=1)
    counted_before = _contradictions_counted("test_chase")
    # The success arrives first; the older failure is delivered late.
    deliver(runtime, "evt_paid", "invoice.paid", INVOICE, created=paid_at)
    deliver(runtime, "evt_failed", FAILED, INVOICE, created=failed_at)
    Worker(runtime).drain()
    case = _case(runtime)
    assert case.state == "recovered"
    assert case.data["contradictions"] == 1
    assert _contradictions_counted("test_chase") == counted_before + 1
    assert _actions(runtime) == []


def test_shadow_mode_decides_and_records_but_never_executes(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    _set_mode(runtime, "test_chase", "shadow")
    deliver(runtime, "evt_1", FAILED, INVOICE)
    Worker(runtime).drain()
    [action] = _actions(runtime)
    assert action.status == ActionStatus.SHADOWED
    assert provider.calls == {}
    assert _case(runtime).state == "retrying"
    with runtime.db.read() as session:
        decision = session.execute(select(Decision)).scalar_one()
    assert decision.mode == "shadow"


def test_off_mode_ignores_events(runtime: Runtime, provider: EffectRecorder) -> None:
    _set_mode(runtime, "test_chase", "off")
    deliver(runtime, "evt_1", FAILED, INVOICE)
    Worker(runtime).drain()
    with runtime.db.read() as session:
        assert session.execute(select(Case)).first() is None


def test_canary_is_live_for_a_stable_share_of_customers(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    _set_mode(runtime, "test_chase", "canary:30")
    customers = [f"cus_{i}" for i in range(40)]
    for i, customer in enumerate(customers):
        deliver(runtime, f"evt_{i}", FAILED, {"id": f"in_{i}", "customer": customer})
    Worker(runtime).drain()
    by_customer = {a.customer: a.status for a in _actions(runtime)}
    for customer in customers:
        live = canary_bucket("test_chase", customer) < 30
        assert by_customer[customer] == (ActionStatus.APPLIED if live else ActionStatus.SHADOWED)
    assert 0 < sum(s == ActionStatus.APPLIED for s in by_customer.values()) < 40


@pytest.mark.parametrize("bad", ["canary:0", "canary:100", "fast", "canary:x"])
def test_invalid_modes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid playbook mode"):
        parse_mode(bad)


def test_a_disputed_case_goes_to_a_person(runtime: Runtime, provider: EffectRecorder) -> None:
    deliver(runtime, "evt_d", "charge.dispute.created", {"invoice": "in_1", "customer": "cus_1"})
    deliver(runtime, "evt_1", FAILED, INVOICE)
    Worker(runtime).drain()
    [action] = _actions(runtime)
    assert action.status == ActionStatus.AWAITING_APPROVAL
    assert action.gate_reason == "case flagged: dispute_open"
    assert provider.calls == {}


def test_refunds_above_the_threshold_wait_for_a_manager(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    threshold = runtime.settings.policy.refund_approval_threshold
    deliver(
        runtime,
        "evt_small",
        "refund.requested",
        {"charge": "ch_small", "amount": threshold, "customer": "c"},
    )
    deliver(
        runtime,
        "evt_big",
        "refund.requested",
        {"charge": "ch_big", "amount": threshold + 1, "customer": "c"},
    )
    Worker(runtime).drain()
    status = {a.subject: (a.status, a.required_role) for a in _actions(runtime)}
    assert status == {
        "ch_small": (ActionStatus.APPLIED, None),
        "ch_big": (ActionStatus.AWAITING_APPROVAL, "revops_manager"),
    }


def test_irreversible_actions_wait_out_the_safety_window(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    deliver(runtime, "evt_r", "access.revoke_requested", {"charge": "ch_1", "customer": "c"})
    worker = Worker(runtime)
    worker.drain()
    [action] = _actions(runtime)
    assert action.irreversible
    assert action.not_before == runtime.clock.now() + timedelta(hours=72)
    runtime.clock.advance(timedelta(hours=71))  # type: ignore[attr-defined]
    worker.drain()
    assert provider.calls == {}
    runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    worker.drain()
    assert list(provider.effects) == ["test_refund:fake.access.suspend:ch_1:1"]


def test_a_lost_race_decides_again_from_fresh_state(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """Two decisions computed on the same snapshot: the second must not overwrite the first."""
    deliver(runtime, "evt_1", FAILED, INVOICE)
    worker = Worker(runtime)
    worker.drain()
    router = runtime.router()
    chase = runtime.playbooks.get("test_chase")
    assert chase is not None
    original_enrich = chase.enrich
    interfered = {"done": False}

    def enrich_with_interference(case, trigger, enrichment):  # type: ignore[no-untyped-def]
        facts = original_enrich(case, trigger, enrichment)
        if not interfered["done"]:
            interfered["done"] = True
            deliver(runtime, "evt_2", FAILED, INVOICE)
            runtime.router().route_pending()  # moves the case while we are deciding
        return facts

    chase.enrich = enrich_with_interference  # type: ignore[method-assign]
    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    router.fire_due_timers()
    chase.enrich = original_enrich  # type: ignore[method-assign]
    case = _case(runtime)
    # evt_2 made attempt 2; the timer lost its race, re-read, and found its timer moved on.
    assert case.data["attempts"] == 2
    assert case.state_version == 3
    keys = sorted(a.idempotency_key for a in _actions(runtime))
    assert keys == ["test_chase:fake.invoice.pay:in_1:1", "test_chase:fake.invoice.pay:in_1:2"]


def test_a_timer_whose_facts_cannot_be_gathered_is_postponed_and_decided_later(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """A provider that does not answer while a timer's facts are gathered: the case keeps its
    state, its timer moves out with backoff, other work goes on, and the decision comes later."""
    deliver(runtime, "evt_1", FAILED, INVOICE)
    worker = Worker(runtime)
    worker.drain()
    chase = runtime.playbooks.get("test_chase")
    assert chase is not None
    original_enrich = chase.enrich
    refusals = {"left": 2}

    def enrich_refused_twice(case, trigger, enrichment):  # type: ignore[no-untyped-def]
        if refusals["left"]:
            refusals["left"] -= 1
            raise ProviderError("stripe answered 429", retryable=True)
        return original_enrich(case, trigger, enrichment)

    chase.enrich = enrich_refused_twice  # type: ignore[method-assign]
    try:
        runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
        due = runtime.clock.now()
        assert worker.drain() == 1  # the timer fired, failed, and nothing else is due
        first_retry = _case(runtime).next_action_at
        assert first_retry is not None and first_retry > due
        assert (_case(runtime).state, _case(runtime).data) == ("retrying", {"attempts": 1})

        runtime.clock.set(first_retry)  # type: ignore[attr-defined]
        worker.drain()
        second_retry = _case(runtime).next_action_at
        assert second_retry is not None and second_retry > first_retry

        runtime.clock.set(second_retry)  # type: ignore[attr-defined]
        worker.drain()
    finally:
        chase.enrich = original_enrich  # type: ignore[method-assign]
    assert _case(runtime).data == {"attempts": 2}
    assert sorted(provider.effects) == [f"test_chase:fake.invoice.pay:in_1:{n}" for n in (1, 2)]


def test_every_decision_is_explained_in_the_ledger(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    deliver(runtime, "evt_1", FAILED, INVOICE)
    Worker(runtime).drain()
    case = _case(runtime)
    with runtime.db.read() as session:
        rows = (
            session.execute(
                select(LedgerRow)
                .where(LedgerRow.correlation_id == case.correlation_id)
                .order_by(LedgerRow.seq)
            )
            .scalars()
            .all()
        )
    assert [r.kind for r in rows] == [
        "case.opened",
        "decision",
        "action.proposed",
        "action.applied",
    ]
    decision = rows[1]
    assert (decision.prior_state, decision.post_state) == ("open", "retrying")
    assert decision.detail["explanation"] == "the charge failed; retry 1 of 3"
    assert decision.detail["event"] == "evt_1"
    assert decision.detail["actions"] == ["test_chase:fake.invoice.pay:in_1:1"]


def test_a_playbook_following_outcomes_decides_on_them(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """The chase, told of each applied retry, notes the provider's confirmation on the case."""
    from revline.core.playbook import Decision as Choice
    from revline.core.playbook import Facts
    from tests.support.playbooks import InvoiceChase

    class Attentive(InvoiceChase):
        follows_outcomes = True

        def decide(self, case, facts: Facts, policy, now):  # type: ignore[no-untyped-def]
            trigger = facts.trigger
            if trigger.kind == "action":
                assert trigger.event is not None
                payload = trigger.event.payload
                return Choice(
                    f"{payload['kind']} {payload['status']}",
                    data={
                        "confirmed": payload["result"]["id"],
                        "seen_actions": [a.status for a in case.actions],
                    },
                )
            return super().decide(case, facts, policy, now)

    from revline.core.playbook import PlaybookRegistry

    runtime.playbooks = PlaybookRegistry([Attentive()])
    deliver(runtime, "evt_1", FAILED, INVOICE)
    Worker(runtime).drain()
    case = _case(runtime)
    assert case.data["confirmed"] == "fx_1"
    assert case.data["seen_actions"] == ["applied"]
    with runtime.db.read() as session:
        triggers = session.execute(select(Decision.trigger).order_by(Decision.id)).scalars().all()
    assert triggers == ["event", "action"]
