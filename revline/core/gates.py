"""Gates: policy evaluated on every proposed action, the same for playbooks and people.

- an amount above a configured threshold needs a person with the rule's role, and so does an
  amount in a currency the rule gives no threshold in;
- a case carrying a blocking flag (an open dispute, suspected fraud) goes to a person;
- an action a person or an assistant proposed always needs a second person (four-eyes);
- an irreversible action waits out the safety window, and a contradicting event cancels it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from revline.config import ApprovalRule, Policy
from revline.core.playbook import ActionSpec

ADMIN = "admin"


@dataclass(frozen=True)
class Gate:
    """The outcome for one action: whom it waits for, why, and from when it may run."""

    required_role: str | None
    reason: str | None
    not_before: datetime
    irreversible: bool


def _amount(params: Mapping[str, Any]) -> int | None:
    amount = params.get("amount")
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else None


def _over_threshold(
    spec: ActionSpec, rule: ApprovalRule, amount: int, company_currency: str
) -> str | None:
    """Why the rule's role must approve the amount, or None."""
    currency = str(spec.params.get("currency") or company_currency).lower()
    threshold = rule.above if currency == company_currency else rule.above_in.get(currency)
    if threshold is None:
        return (
            f"{spec.kind} of {amount} {currency.upper()}: no approval threshold in "
            f"{currency.upper()}, and Revline converts no currencies"
        )
    if amount > threshold:
        return f"{spec.kind} of {amount} is above the approval threshold {threshold}"
    return None


def evaluate(
    spec: ActionSpec,
    *,
    case_flags: Mapping[str, Any],
    policy: Policy,
    currency: str,
    now: datetime,
    proposed_by_person: bool,
) -> Gate:
    """``currency`` is the company's: thresholds are in it, and an action's amount is when its
    parameters name no other."""
    reasons: list[str] = []
    role: str | None = None

    def need(r: str, why: str) -> None:
        nonlocal role
        role = role or r
        reasons.append(why)

    amount = _amount(spec.params)
    for rule in policy.approval_rules_with_defaults():
        if fnmatch.fnmatchcase(spec.kind, rule.action) and amount is not None:
            why = _over_threshold(spec, rule, amount, currency.lower())
            if why:
                need(rule.role, why)
    flagged = sorted(f for f in policy.blocking_flags if case_flags.get(f))
    if flagged:
        need(policy.blocking_flag_role, f"case flagged: {', '.join(flagged)}")
    if spec.requires_role:
        need(spec.requires_role, spec.approval_reason or "the playbook asks for approval")
    if proposed_by_person:
        need(policy.blocking_flag_role, "proposed by a person: a second person approves")

    not_before = spec.not_before or now
    irreversible = spec.irreversible or spec.kind in policy.irreversible_actions
    if irreversible:
        not_before = max(not_before, now + timedelta(hours=policy.safety_window_hours))
    return Gate(role, "; ".join(reasons) or None, not_before, irreversible)


# Roles that read and propose but never decide, whatever a configured rule names.
NEVER_APPROVE = frozenset({"viewer", "agent"})


def may_approve(
    *, approver_role: str, required_role: str | None, exclusive_roles: Collection[str] = ()
) -> bool:
    """The required role approves; so does an admin, unless the role is one only it may
    exercise (``policy.exclusive_approval_roles``)."""
    if approver_role in NEVER_APPROVE:
        return False
    if required_role is not None and approver_role == required_role:
        return True
    return approver_role == ADMIN and required_role not in exclusive_roles
