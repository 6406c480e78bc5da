"""The outbox: deterministic keys, conflicts on reuse, approvals with four-eyes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from revline.core import actions
from revline.core.actions import IdempotencyConflict, idempotency_key
from revline.core.ledger import verify
from revline.core.playbook import ActionSpec, Withdrawal
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


def test_a_superseding_action_cancels_the_ones_still_pending_for_its_subject(
    runtime: Runtime,
) -> None:
    """A payout's deposit composed again with other lines: the pending one is cancelled, the
    one already carried out, another subject's and another playbook's are left alone."""

    def deposit(subject: str, lines: str) -> ActionSpec:
        return ActionSpec(
            "netsuite.deposit.create", subject, {"lines": lines}, attempt=lines, supersedes=True
        )

    applied = propose(runtime, deposit("po_1", "a"))
    with runtime.db.write() as session:
        session.get(Action, applied).status = ActionStatus.APPLIED  # type: ignore[union-attr]
    pending = propose(runtime, deposit("po_1", "b"))
    other_payout = propose(runtime, deposit("po_2", "b"))
    other_playbook = propose(runtime, deposit("po_1", "b"), playbook="other")
    latest = propose(runtime, deposit("po_1", "c"))
    # The same deposit proposed again supersedes nothing.
    assert propose(runtime, deposit("po_1", "c")) == latest

    with runtime.db.read() as session:
        status = {a.id: (a.status, a.last_error) for a in session.execute(select(Action)).scalars()}
        cancelled = session.execute(
            select(LedgerRow).where(
                LedgerRow.action_id == pending, LedgerRow.kind == "action.cancelled"
            )
        ).scalar_one()
        assert verify(session).ok
    assert status[pending] == (
        ActionStatus.CANCELLED,
        "superseded by test_chase:netsuite.deposit.create:po_1:c",
    )
    assert cancelled.detail["superseded_by"] == latest
    assert status[applied][0] == ActionStatus.APPLIED
    assert status[other_payout][0] == status[other_playbook][0] == ActionStatus.PROPOSED
    assert status[latest][0] == ActionStatus.PROPOSED


def test_a_withdrawal_cancels_what_is_still_pending_of_its_kind_and_subject(
    runtime: Runtime,
) -> None:
    """A payout the bank returned: its deposits not yet started are cancelled under every key,
    the one already carried out, another payout's and another playbook's are left alone, and
    withdrawing again finds nothing."""

    def deposit(subject: str, lines: str) -> ActionSpec:
        return ActionSpec("netsuite.deposit.create", subject, {"lines": lines}, attempt=lines)

    applied = propose(runtime, deposit("po_1", "a"))
    with runtime.db.write() as session:
        session.get(Action, applied).status = ActionStatus.APPLIED  # type: ignore[union-attr]
    pending = [propose(runtime, deposit("po_1", lines)) for lines in ("b", "c")]
    other_payout = propose(runtime, deposit("po_2", "b"))
    other_playbook = propose(runtime, deposit("po_1", "b"), playbook="other")
    returned = Withdrawal("netsuite.deposit.create", "po_1", "payout po_1 was returned")

    def withdraw() -> list[str]:
        with runtime.db.write() as session:
            return actions.withdraw(
                session,
                runtime.ledger,
                playbook="test_chase",
                withdrawal=returned,
                actor="playbook:test_chase",
                now=runtime.clock.now(),
            )

    assert sorted(withdraw()) == sorted(pending)
    assert withdraw() == []
    # For good: the same effect proposed again, under any key, is cancelled as it is proposed.
    later = propose(runtime, deposit("po_1", "d"))
    with runtime.db.read() as session:
        status = {a.id: (a.status, a.last_error) for a in session.execute(select(Action)).scalars()}
        rows = session.execute(
            select(LedgerRow).where(LedgerRow.kind == "action.cancelled")
        ).scalars()
        assert [row.detail["why"] for row in rows] == ["payout po_1 was returned"] * 3
        assert verify(session).ok
    for action_id in [*pending, later]:
        assert status[action_id] == (ActionStatus.CANCELLED, "withdrawn: payout po_1 was returned")
    assert status[applied][0] == ActionStatus.APPLIED
    assert status[other_payout][0] == status[other_playbook][0] == ActionStatus.PROPOSED


def test_a_live_decision_takes_what_shadow_mode_recorded_live_under_todays_gates(
    runtime: Runtime,
) -> None:
    """Shadow mode records what would have been done without using up its key: once the
    playbook is live, proposing it again carries it out, gated as a new proposal is."""
    plain = ActionSpec("fake.invoice.pay", "in_1", {"amount": 5000, "currency": "usd"})
    gated = ActionSpec("stripe.refund.create", "ch_1", {"amount": 250_000, "currency": "usd"})
    shadowed = [propose(runtime, spec, live=False) for spec in (plain, gated)]
    assert [propose(runtime, spec) for spec in (plain, gated)] == shadowed
    with runtime.db.read() as session:
        taken = [session.get(Action, action_id) for action_id in shadowed]
        rows = session.execute(
            select(LedgerRow).where(LedgerRow.kind == "action.taken_live").order_by(LedgerRow.seq)
        ).scalars()
        assert [(row.prior_state, row.post_state) for row in rows] == [
            (ActionStatus.SHADOWED, ActionStatus.PROPOSED),
            (ActionStatus.SHADOWED, ActionStatus.AWAITING_APPROVAL),
        ]
        assert verify(session).ok
    assert [(a.status, a.required_role) for a in taken if a is not None] == [
        (ActionStatus.PROPOSED, None),
        (ActionStatus.AWAITING_APPROVAL, "revops_manager"),
    ]
    # Shadow mode proposing it again changes nothing; other parameters are still a conflict.
    assert propose(runtime, plain, live=False) == shadowed[0]
    with pytest.raises(IdempotencyConflict):
        propose(runtime, ActionSpec("fake.invoice.pay", "in_1", {"amount": 5001}))
