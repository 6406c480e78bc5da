"""The outbox: deterministic keys, conflicts on reuse, approvals with four-eyes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from revline.core import actions
from revline.core.actions import IdempotencyConflict, idempotency_key
from revline.core.ledger import verify
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime
from revline.db.models import Action, ActionStatus, LedgerRow
from revline.errors import Conflict, Forbidden
from tests.support.outbox import propose


def test_key_is_built_from_domain_identity() -> None:
    assert idempotency_key("billing", "stripe.invoice.pay", "in_1", 2) == (
        "billing:stripe.invoice.pay:in_1:2"
    )
    long = idempotency_key("p", "k", "s" * 400, 1)
    assert len(long) == 255
    assert long != idempotency_key("p", "k", "s" * 401, 1)


def test_same_key_same_params_is_the_same_action(runtime: Runtime) -> None:
    spec = ActionSpec("fake.invoice.pay", "in_1", {"amount": 5000, "currency": "usd"})
    first = propose(runtime, spec)
    assert propose(runtime, spec) == first
    with runtime.db.read() as session:
        assert session.execute(select(func.count()).select_from(Action)).scalar_one() == 1


def test_same_key_other_params_is_a_conflict(runtime: Runtime) -> None:
    propose(runtime, ActionSpec("fake.invoice.pay", "in_1", {"amount": 5000}))
    with pytest.raises(IdempotencyConflict, match="other parameters"):
        propose(runtime, ActionSpec("fake.invoice.pay", "in_1", {"amount": 5001}))


def test_shadow_actions_are_recorded_never_runnable(runtime: Runtime) -> None:
    action_id = propose(runtime, ActionSpec("fake.invoice.pay", "in_1"), live=False)
    with runtime.db.read() as session:
        assert session.get(Action, action_id).status == ActionStatus.SHADOWED  # type: ignore[union-attr]


def _awaiting(runtime: Runtime) -> str:
    spec = ActionSpec("stripe.refund.create", "ch_1", {"amount": 250_000, "currency": "usd"})
    action_id = propose(runtime, spec, proposed_by="user:priya", person=True)
    with runtime.db.read() as session:
        action = session.get(Action, action_id)
        assert action is not None
        assert action.status == ActionStatus.AWAITING_APPROVAL
        assert action.required_role == "revops_manager"
    return action_id


def test_nobody_approves_their_own_proposal(runtime: Runtime) -> None:
    action_id = _awaiting(runtime)
    with pytest.raises(Forbidden, match="four-eyes"), runtime.db.write() as session:
        actions.approve(
            session,
            runtime.ledger,
            action_id=action_id,
            approver="user:priya",
            approver_role="admin",
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
        )


def test_approval_needs_the_required_role(runtime: Runtime) -> None:
    action_id = _awaiting(runtime)
    with pytest.raises(Forbidden, match="revops_manager"), runtime.db.write() as session:
        actions.approve(
            session,
            runtime.ledger,
            action_id=action_id,
            approver="user:omar",
            approver_role="billing_analyst",
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
        )


def test_approval_is_recorded_and_cannot_repeat(runtime: Runtime) -> None:
    action_id = _awaiting(runtime)
    with runtime.db.write() as session:
        approved = actions.approve(
            session,
            runtime.ledger,
            action_id=action_id,
            approver="user:maya",
            approver_role="revops_manager",
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
            note="checked the charge",
        )
        assert (approved.status, approved.approved_by) == (ActionStatus.APPROVED, "user:maya")
    with pytest.raises(Conflict, match="not awaiting approval"), runtime.db.write() as session:
        actions.reject(
            session,
            runtime.ledger,
            action_id=action_id,
            approver="user:jonas",
            approver_role="admin",
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
            reason="late",
        )
    with runtime.db.read() as session:
        kinds = session.execute(select(LedgerRow.kind).order_by(LedgerRow.seq)).scalars().all()
        assert kinds == ["action.proposed", "action.approved"]
        assert verify(session).ok


def test_rejection_cancels_with_the_reason(runtime: Runtime) -> None:
    action_id = _awaiting(runtime)
    with runtime.db.write() as session:
        rejected = actions.reject(
            session,
            runtime.ledger,
            action_id=action_id,
            approver="user:maya",
            approver_role="revops_manager",
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
            reason="customer withdrew the request",
        )
    assert rejected.status == ActionStatus.CANCELLED
    assert rejected.last_error == "rejected by user:maya: customer withdrew the request"
