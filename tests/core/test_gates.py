"""Gates, as a table: what needs a person, whom, and when an action may run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from revline.config import ApprovalRule, Policy
from revline.core.gates import evaluate, may_approve
from revline.core.playbook import ActionSpec

NOW = datetime(2026, 12, 1, 14, tzinfo=UTC)
POLICY = Policy(
    refund_approval_threshold=100_000,
    refund_approval_threshold_in={"JPY": 150_000},
    approval_rules=[ApprovalRule(action="ramp.card.*", above=500_000, role="spend_ops_lead")],
)


@pytest.mark.parametrize(
    ("spec", "flags", "person", "role", "reason_part", "delay_hours"),
    [
        (ActionSpec("stripe.refund.create", "ch_1", {"amount": 100_000}), {}, False, None, None, 0),
        (
            ActionSpec("stripe.refund.create", "ch_1", {"amount": 100_001}),
            {},
            False,
            "revops_manager",
            "above the approval threshold",
            0,
        ),
        (
            ActionSpec("ramp.card.create", "v", {"amount": 600_000}),
            {},
            False,
            "spend_ops_lead",
            "above the approval threshold",
            0,
        ),
        (ActionSpec("ramp.card.create", "v", {"amount": 400_000}), {}, False, None, None, 0),
        # A refund in the company's currency is compared as it is; in another, with that
        # currency's own threshold, and without one it always waits: £1,000 is not 100,000 cents.
        (
            ActionSpec("stripe.refund.create", "ch_1", {"amount": 100_000, "currency": "usd"}),
            {},
            False,
            None,
            None,
            0,
        ),
        (
            ActionSpec("stripe.refund.create", "ch_1", {"amount": 100_000, "currency": "gbp"}),
            {},
            False,
            "revops_manager",
            "no approval threshold in GBP, and Revline converts no currencies",
            0,
        ),
        (
            ActionSpec("stripe.refund.create", "ch_1", {"amount": 90_000, "currency": "jpy"}),
            {},
            False,
            None,
            None,
            0,
        ),
        (
            ActionSpec("stripe.refund.create", "ch_1", {"amount": 150_001, "currency": "jpy"}),
            {},
            False,
            "revops_manager",
            "of 150001 is above the approval threshold 150000",
            0,
        ),
        (
            ActionSpec("stripe.invoice.pay", "in_1"),
            {"dispute_open": True},
            False,
            "revops_manager",
            "case flagged: dispute_open",
            0,
        ),
        (ActionSpec("stripe.invoice.pay", "in_1"), {"dispute_open": False}, False, None, None, 0),
        (
            ActionSpec(
                "email.send",
                "in_1",
                requires_role="revops_manager",
                approval_reason="personal dunning email",
            ),
            {},
            False,
            "revops_manager",
            "personal dunning email",
            0,
        ),
        (
            ActionSpec("stripe.invoice.pay", "in_1"),
            {},
            True,
            "revops_manager",
            "a second person approves",
            0,
        ),
        (ActionSpec("stripe.subscription.cancel", "sub_1"), {}, False, None, None, 72),
        (ActionSpec("x.y.z", "s", irreversible=True), {}, False, None, None, 72),
    ],
)
def test_gate_table(
    spec: ActionSpec,
    flags: dict[str, bool],
    person: bool,
    role: str | None,
    reason_part: str | None,
    delay_hours: int,
) -> None:
    gate = evaluate(
        spec, case_flags=flags, policy=POLICY, currency="usd", now=NOW, proposed_by_person=person
    )
    assert gate.required_role == role
    if reason_part is None:
        assert gate.reason is None
    else:
        assert gate.reason is not None and reason_part in gate.reason
    assert gate.not_before == NOW + timedelta(hours=delay_hours)
    assert gate.irreversible is (delay_hours > 0)


def test_safety_window_never_shortens_a_later_not_before() -> None:
    later = NOW + timedelta(days=5)
    gate = evaluate(
        ActionSpec("access.suspend", "c", not_before=later),
        case_flags={},
        policy=POLICY,
        currency="usd",
        now=NOW,
        proposed_by_person=False,
    )
    assert gate.not_before == later


@pytest.mark.parametrize(
    ("approver", "required", "allowed"),
    [
        ("admin", "revops_manager", True),
        ("revops_manager", "revops_manager", True),
        ("billing_analyst", "revops_manager", False),
        ("viewer", None, False),
        ("admin", None, True),
        ("fpa_analyst", "fpa_analyst", True),
        ("admin", "fpa_analyst", False),  # the close is the FP&A analyst's to sign
        ("revops_manager", "fpa_analyst", False),
    ],
)
def test_who_may_approve(approver: str, required: str | None, allowed: bool) -> None:
    exclusive = Policy().exclusive_approval_roles
    assert (
        may_approve(approver_role=approver, required_role=required, exclusive_roles=exclusive)
        is allowed
    )


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_viewers_and_agents_never_approve_even_if_a_rule_names_them(role: str) -> None:
    assert may_approve(approver_role=role, required_role=role) is False
