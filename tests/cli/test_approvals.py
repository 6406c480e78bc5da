"""`actions approve` / `reject`: as an existing user, with their role, never their own proposal."""

from __future__ import annotations

from sqlalchemy import select, update

from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime
from revline.db.models import Action, ActionStatus, LedgerRow, User
from tests.cli.conftest import Cli
from tests.support.events import deliver
from tests.support.outbox import propose

REFUND = {"charge": "ch_1", "customer": "cus_1", "amount": 250_000}


def _refund_awaiting_approval(runtime: Runtime) -> str:
    """A playbook's refund above the approval threshold: it waits for a revops_manager."""
    deliver(runtime, "evt_refund", "refund.requested", REFUND)
    runtime.router().route_pending()
    with runtime.db.read() as session:
        action = session.execute(select(Action)).scalar_one()
    assert (action.status, action.required_role) == (
        ActionStatus.AWAITING_APPROVAL,
        "revops_manager",
    )
    return action.id


def _action(runtime: Runtime, action_id: str) -> Action:
    with runtime.db.read() as session:
        action = session.get(Action, action_id)
    assert action is not None
    return action


def _audit(runtime: Runtime, kind: str) -> list[LedgerRow]:
    with runtime.db.read() as session:
        return list(session.execute(select(LedgerRow).where(LedgerRow.kind == kind)).scalars())


def _users(cli: Cli, *pairs: tuple[str, str]) -> None:
    for name, role in pairs:
        cli.ok("tokens", "create", "--name", name, "--role", role)


def test_approve_as_a_user_with_the_required_role(cli: Cli, runtime: Runtime) -> None:
    refund = _refund_awaiting_approval(runtime)
    _users(cli, ("maya", "revops_manager"), ("vic", "viewer"))

    assert (
        "needs the revops_manager role"
        in cli.fails("actions", "approve", refund, "--as", "vic").stderr
    )
    assert (
        "no user named 'nobody'" in cli.fails("actions", "approve", refund, "--as", "nobody").stderr
    )
    assert _action(runtime, refund).status == ActionStatus.AWAITING_APPROVAL

    approved = cli.ok("actions", "approve", refund, "--as", "maya", "--note", "checked with AP")
    assert f"approved {refund} (stripe.refund.create ch_1) as user:maya" in approved.stdout
    action = _action(runtime, refund)
    assert (action.status, action.approved_by) == (ActionStatus.APPROVED, "user:maya")
    [row] = _audit(runtime, "action.approved")
    assert (row.actor, row.action_id) == ("user:maya", refund)
    assert (row.detail["note"], row.detail["role"]) == ("checked with AP", "revops_manager")

    assert "not awaiting approval" in cli.fails("actions", "approve", refund, "--as", "maya").stderr


def test_four_eyes_nobody_decides_their_own_proposal(cli: Cli, runtime: Runtime) -> None:
    _users(cli, ("maya", "revops_manager"), ("omar", "revops_manager"))
    mine = propose(
        runtime,
        ActionSpec("stripe.refund.create", "ch_9", {"charge": "ch_9", "amount": 500}),
        proposed_by="user:maya",
        person=True,
    )
    assert "four-eyes" in cli.fails("actions", "approve", mine, "--as", "maya").stderr
    assert (
        "four-eyes"
        in cli.fails(
            "actions", "reject", mine, "--as", "maya", "--reason", "changed my mind"
        ).stderr
    )
    assert _audit(runtime, "action.approved") == _audit(runtime, "action.rejected") == []

    rejected = cli.ok("actions", "reject", mine, "--as", "omar", "--reason", "duplicate request")
    assert "rejected" in rejected.stdout and "duplicate request" in rejected.stdout
    assert _action(runtime, mine).status == ActionStatus.CANCELLED
    [row] = _audit(runtime, "action.rejected")
    assert (row.actor, row.detail["reason"]) == ("user:omar", "duplicate request")


def test_admins_approve_anything_disabled_users_nothing(cli: Cli, runtime: Runtime) -> None:
    refund = _refund_awaiting_approval(runtime)
    _users(cli, ("ada", "admin"))
    with runtime.db.write() as session:
        session.execute(update(User).where(User.name == "ada").values(disabled=True))
    assert "disabled" in cli.fails("actions", "approve", refund, "--as", "ada").stderr
    with runtime.db.write() as session:
        session.execute(update(User).where(User.name == "ada").values(disabled=False))
    cli.ok("actions", "approve", refund, "--as", "ada")
    assert _action(runtime, refund).approved_by == "user:ada"


def test_unknown_action(cli: Cli, runtime: Runtime) -> None:
    _users(cli, ("maya", "revops_manager"))
    assert (
        "no action act_missing"
        in cli.fails("actions", "reject", "act_missing", "--as", "maya", "--reason", "x").stderr
    )
