"""Small test-only playbooks that exercise the spine (business ones live in revline/playbooks)."""

from __future__ import annotations

from datetime import datetime, timedelta

from revline.config import Policy
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import (
    ActionSpec,
    CaseRef,
    Decision,
    Facts,
    Playbook,
    PlaybookRegistry,
)

CHASE = CaseKind(
    name="test_chase",
    initial="open",
    transitions={
        "open": frozenset({"retrying", "recovered", "exhausted"}),
        "retrying": frozenset({"recovered", "exhausted"}),
    },
    terminal=frozenset({"recovered", "exhausted"}),
)


def _object(event: EventView) -> dict[str, object]:
    data = event.payload.get("data", {})
    obj = data.get("object", {}) if isinstance(data, dict) else {}
    return obj if isinstance(obj, dict) else {}


class InvoiceChase(Playbook):
    """A failed invoice is retried once a day up to three times; a payment closes the case.

    Uses the provider's event time, so a late-arriving stale failure cannot reopen a paid case.
    """

    name = "test_chase"
    case_kind = CHASE

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.type not in ("invoice.payment_failed", "invoice.paid", "charge.dispute.created"):
            return None
        obj = _object(event)
        invoice = obj.get("invoice") or obj.get("id")
        customer = obj.get("customer")
        return CaseRef(str(invoice), customer=str(customer) if customer else None)

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        trigger = facts.trigger
        if trigger.kind == "timer":
            return self._retry(case, now, "the retry timer came due")
        assert trigger.event is not None
        event = trigger.event
        happened = (event.occurred_at or now).isoformat()
        last_paid = case.data.get("paid_at")
        if event.type == "charge.dispute.created":
            return Decision("a dispute was opened", flags={**case.flags, "dispute_open": True})
        if event.type == "invoice.paid":
            return Decision(
                "the invoice was paid",
                state="recovered",
                cancel_pending="invoice paid",
                next_action_at=None,
                data={"paid_at": happened},
            )
        if last_paid is not None and happened <= str(last_paid):
            return Decision(
                "a failure older than the payment: nothing to do",
                data={"contradictions": case.data.get("contradictions", 0) + 1},
                contradiction=True,
            )
        if case.state == "recovered":
            return Decision("a failure after payment: a new attempt is Stripe's business")
        return self._retry(case, now, "the charge failed")

    def _retry(self, case: CaseView, now: datetime, why: str) -> Decision:
        attempt = int(case.data.get("attempts", 0)) + 1
        if attempt > 3:
            return Decision(f"{why}; three retries used", state="exhausted", next_action_at=None)
        return Decision(
            f"{why}; retry {attempt} of 3",
            state="retrying",
            data={"attempts": attempt},
            actions=(
                ActionSpec(
                    "fake.invoice.pay", case.subject, {"invoice": case.subject}, attempt=attempt
                ),
            ),
            next_action_at=now + timedelta(days=1),
        )


REFUND = CaseKind(
    name="test_refund",
    initial="requested",
    transitions={"requested": frozenset({"refunding", "suspending"})},
    terminal=frozenset(),
)


class RefundDesk(Playbook):
    """``refund.requested`` proposes a refund; ``access.revoke_requested`` an irreversible step."""

    name = "test_refund"
    case_kind = REFUND

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.type not in ("refund.requested", "access.revoke_requested"):
            return None
        obj = _object(event)
        return CaseRef(str(obj["charge"]), customer=str(obj.get("customer", "")) or None)

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        event = facts.trigger.event
        assert event is not None
        obj = _object(event)
        if event.type == "access.revoke_requested":
            return Decision(
                "access revocation requested",
                state="suspending",
                actions=(
                    ActionSpec(
                        "fake.access.suspend",
                        case.subject,
                        {"charge": case.subject},
                        irreversible=True,
                    ),
                ),
            )
        amount = obj["amount"]
        assert isinstance(amount, int)
        return Decision(
            "a refund was requested",
            state="refunding",
            actions=(
                ActionSpec(
                    "stripe.refund.create",
                    case.subject,
                    {
                        "charge": case.subject,
                        "amount": amount,
                        "currency": "usd",
                        "reason": "requested_by_customer",
                    },
                ),
            ),
        )


def test_registry() -> PlaybookRegistry:
    return PlaybookRegistry([InvoiceChase(), RefundDesk()])


def stripe_event(
    event_id: str, type_: str, obj: dict[str, object], created: int = 1_764_597_600
) -> dict[str, object]:
    """A Stripe-shaped event body (fields as in Stripe's fixture for ``event``)."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
        "request": {"id": None, "idempotency_key": None},
    }
