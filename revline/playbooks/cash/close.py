"""Month-end close: the FP&A analyst's Stripe-to-NetSuite tie-out and sign-off.

On the ``close_working_day``-th working day of the month at ``close_time`` a close opens for the
previous month (subject ``YYYY-MM``) and runs the tie-out (``tieout.py``). When the Stripe
in-transit balance and NetSuite's Undeposited Funds tie within ``close_variance_threshold``,
a sign-off (``revline.close.sign_off``) is proposed that only an FP&A analyst may approve.
A larger variance blocks the close and opens a ``close_variance`` case in the analyst's queue.

The close checks again every working day at ``close_time`` until it is signed off, and at once
when a person asks for a re-check or explains the variance. The procedure signs a month off only
when the balances tie, so only a check that ties unblocks it: the books are corrected (the
missing payment or deposit recorded, the wrong entry reversed) and the next check ties, the
variance case closes and a sign-off is proposed. A person's explanation of the exact variance is
kept on the case and in the report, for the auditor, but the close stays blocked.

A check that finds a variance while a sign-off waits for approval cancels it; and the sign-off
re-checks the tie when it is carried out (``close_actions``). A sign-off refused there (the books
moved after it was proposed) brings the close back to its check, which blocks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.core.actions import shadowed_again
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import (
    ActionSpec,
    CaseRef,
    Decision,
    Enrichment,
    Facts,
    Playbook,
    Trigger,
    Withdrawal,
)
from revline.core.scheduler import SCHEDULE_SOURCE, DailyAt
from revline.db.models import PENDING_ACTION_STATUSES, ActionStatus
from revline.money import Money
from revline.playbooks.cash.close_actions import CLEAR_VARIANCE, FLAG_VARIANCE, SIGN_OFF
from revline.playbooks.cash.tieout import ClosePeriod, TieOut, gather, tie_out

SCHEDULE = "month_end_close"
QUEUE = "fpa_analyst"
SIGN_OFF_ROLE = "fpa_analyst"
# Who may explain a variance or ask for a check now (the sign-off itself is SIGN_OFF_ROLE's).
CHECK_ROLES = frozenset({"fpa_analyst", "admin"})


class State(StrEnum):
    OPEN = "open"
    VARIANCE = "variance"  # blocked: a variance case waits in the analyst's queue
    AWAITING_SIGN_OFF = "awaiting_sign_off"
    SIGNED_OFF = "signed_off"


MONTH_END_CLOSE = CaseKind(
    name="month_end_close",
    initial=State.OPEN,
    transitions={
        State.OPEN: frozenset({State.VARIANCE, State.AWAITING_SIGN_OFF}),
        State.VARIANCE: frozenset({State.AWAITING_SIGN_OFF}),
        State.AWAITING_SIGN_OFF: frozenset({State.VARIANCE, State.SIGNED_OFF}),
    },
    terminal=frozenset({State.SIGNED_OFF}),
)


class RecordedExplanation(BaseModel):
    """A person's explanation of a variance, kept for the auditor. It unblocks nothing."""

    variance: int
    note: str
    by: str
    at: datetime


@dataclass(frozen=True)
class WorkingDayOfMonth(DailyAt):
    """A procedure run once a month: on its ``nth`` working day (its last, in a month with fewer:
    February has 18 to 20), at a company-local time. A worker down on that day emits it when it
    is back within ``catch_up_days`` (two months: a close missed over a week's outage at New
    Year is still run, late, rather than skipped until February's)."""

    catch_up_days: int = 62
    nth: int = 2

    def is_due_on(self, calendar: WorkingCalendar, day: date) -> bool:
        return self._day_of(calendar, day.year, day.month) == day

    def _day_of(self, calendar: WorkingCalendar, year: int, month: int) -> date:
        return calendar.nth_working_day_of_month(year, month, self.nth, or_last=True)

    def due_dates(self, calendar: WorkingCalendar, now: datetime, after: date | None) -> list[date]:
        days = super().due_dates(calendar, now, after)
        return [day for day in days if self.is_due_on(calendar, day)]

    def next_due(self, calendar: WorkingCalendar, now: datetime) -> datetime | None:
        first = calendar.business_date(now).replace(day=1)
        for months_ahead in range(2):
            index = first.year * 12 + first.month - 1 + months_ahead
            day = self._day_of(calendar, index // 12, index % 12 + 1)
            due = calendar.at_local(day, self.at)
            if due > now:
                return due
        return None


class MonthEndClose(Playbook):
    """The close of one month: tie-out, variance, sign-off."""

    name = "month_end_close"
    case_kind = MONTH_END_CLOSE
    follows_outcomes = True

    def schedules(self, policy: Policy) -> list[DailyAt]:
        return [WorkingDayOfMonth(SCHEDULE, policy.close_time, nth=policy.close_working_day)]

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source != SCHEDULE_SOURCE or event.type != f"schedule.{SCHEDULE}":
            return None
        day = date.fromisoformat(str(event.payload["business_date"]))
        return CaseRef(subject=ClosePeriod.before(day).month)

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        if case.state == State.SIGNED_OFF or _outcome_only(trigger):
            return Facts(trigger)
        return Facts(
            trigger,
            {
                "books": gather(enrichment, ClosePeriod.parse(case.subject)),
                "calendar": enrichment.calendar,
                "locale": enrichment.company.locale,
            },
        )

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        trigger = facts.trigger
        if case.state == State.SIGNED_OFF:
            return Decision(f"{case.subject} is signed off: nothing more to check")
        if _outcome_only(trigger):
            return _outcome(case, trigger)
        tieout = tie_out(facts["books"], policy.close_variance_threshold)
        calendar: WorkingCalendar = facts["calendar"]
        check = _Check(
            case,
            tieout,
            facts["locale"],
            # The next check: the next working day's, or today's when a person checked early.
            calendar.next_working_at(policy.close_time, now),
            _explanations(case, trigger, tieout),
        )
        return check.ready(trigger) if tieout.ties else check.blocked(trigger)


@dataclass(frozen=True)
class _Check:
    case: CaseView
    tieout: TieOut
    locale: str
    next_check_at: datetime
    explanations: list[RecordedExplanation]

    def money(self, amount: int) -> str:
        return Money(amount, self.tieout.currency).format(self.locale)

    def data(self, **more: Any) -> dict[str, Any]:
        kept = [e.model_dump(mode="json") for e in self.explanations]
        return {"tieout": self.tieout.model_dump(mode="json"), "explanations": kept, **more}

    def ready(self, trigger: Trigger) -> Decision:
        variance = self.tieout.variance
        why = (
            f"{self.case.subject} ties within {self.money(self.tieout.threshold)} "
            f"(variance {self.money(variance)})"
        )
        actions = []
        if self.case.state == State.VARIANCE:
            actions.append(
                ActionSpec(
                    CLEAR_VARIANCE,
                    subject=self.case.subject,
                    params={
                        "month": self.case.subject,
                        "currency": self.tieout.currency,
                        "variance": variance,
                    },
                    attempt=_count(self.case, CLEAR_VARIANCE) + 1,
                )
            )
        # One sign-off at a time: none is proposed while one waits, is being carried out, or
        # was carried out and its outcome is not yet followed (the month would be signed twice).
        waiting = _signing(self.case)
        if not waiting:
            actions.append(
                ActionSpec(
                    SIGN_OFF,
                    subject=self.case.subject,
                    params={
                        "month": self.case.subject,
                        "currency": self.tieout.currency,
                        "stripe_in_transit": self.tieout.stripe_in_transit,
                        "undeposited_funds": self.tieout.undeposited_funds,
                        "variance": variance,
                    },
                    attempt=_count(self.case, SIGN_OFF) + 1,
                    requires_role=SIGN_OFF_ROLE,
                    approval_reason=f"sign-off of the {self.case.subject} close",
                )
            )
        return Decision(
            why
            + _refusal(trigger)
            + (": the sign-off waits for an FP&A analyst" if waiting else ": sign-off proposed"),
            state=State.AWAITING_SIGN_OFF,
            actions=tuple(actions),
            next_action_at=self.next_check_at,
            data=self.data(),
            queue=QUEUE,
        )

    def blocked(self, trigger: Trigger) -> Decision:
        variance = self.tieout.variance
        why = (
            f"{self.case.subject} does not tie: a variance of {self.money(variance)} is above "
            f"the {self.money(self.tieout.threshold)} threshold"
        ) + _refusal(trigger)
        if self.tieout.not_placed:
            walked = self.tieout.walked_from
            why += (
                f"; {self.money(self.tieout.not_placed)} of Stripe's balance is not placed among "
                f"the movements walked{f' from {walked.isoformat()}' if walked else ''}: an "
                "older movement, or a hand deposit that booked other than its manual payout took"
            )
        if "explanation" in trigger.detail:
            given = int(trigger.detail["variance"])
            why += (
                f"; {trigger.detail['actor']}'s explanation is recorded, but only books that tie "
                "unblock the sign-off: correct them, then check again"
                if given == variance
                else f"; the explanation given was for {self.money(given)}, not this variance, "
                "and is not recorded"
            )
        actions: list[ActionSpec] = []
        flagged = self.case.data.get("flagged_variance")
        flags = _count(self.case, FLAG_VARIANCE)

        def flag(attempt: int) -> ActionSpec:
            return ActionSpec(
                FLAG_VARIANCE,
                subject=self.case.subject,
                params={
                    "month": self.case.subject,
                    "currency": self.tieout.currency,
                    "variance": variance,
                    "threshold": self.tieout.threshold,
                    "stripe_in_transit": self.tieout.stripe_in_transit,
                    "expected_undeposited_funds": self.tieout.expected_undeposited_funds,
                    "undeposited_funds": self.tieout.undeposited_funds,
                },
                attempt=attempt,
            )

        if self.case.state != State.VARIANCE or flagged != variance:
            actions.append(flag(flags + 1))
        else:
            # The same variance, flagged while the close ran in shadow: flagged again, so the
            # variance case opens once the close is live.
            actions += shadowed_again(self.case, MonthEndClose.name, [flag(flags)])
        cancel = None
        if _pending(self.case, SIGN_OFF):
            cancel = f"a later check found a variance of {self.money(variance)} before sign-off"
            why += "; the pending sign-off is cancelled"
        return Decision(
            why,
            state=State.VARIANCE,
            actions=tuple(actions),
            next_action_at=self.next_check_at,
            cancel_pending=cancel,
            data=self.data(flagged_variance=variance),
            queue=QUEUE,
        )


def _explanations(case: CaseView, trigger: Trigger, tieout: TieOut) -> list[RecordedExplanation]:
    """The explanations on record, with the one a person gives now if it is for this variance
    (one for another amount explains nothing the books show, so it is not kept)."""
    kept = [RecordedExplanation.model_validate(e) for e in case.data.get("explanations", [])]
    detail = trigger.detail
    if (
        trigger.kind == "manual"
        and "explanation" in detail
        and int(detail["variance"]) == tieout.variance
    ):
        kept.append(
            RecordedExplanation(
                variance=tieout.variance,
                note=str(detail["explanation"]),
                by=str(detail["actor"]),
                at=trigger.at,
            )
        )
    return kept


def _outcome_only(trigger: Trigger) -> bool:
    """An action's outcome the close just follows; a sign-off that failed when carried out is
    not one of them: the month is not signed off, and the close checks again."""
    if trigger.kind != "action":
        return False
    assert trigger.event is not None
    payload = trigger.event.payload
    return not (payload["kind"] == SIGN_OFF and payload["status"] == ActionStatus.FAILED)


def _refusal(trigger: Trigger) -> str:
    if trigger.kind != "action":
        return ""
    assert trigger.event is not None
    return f"; the sign-off was refused when carried out ({trigger.event.payload['error']})"


def _outcome(case: CaseView, trigger: Trigger) -> Decision:
    assert trigger.event is not None
    payload = trigger.event.payload
    if payload["kind"] == SIGN_OFF and payload["status"] == ActionStatus.APPLIED:
        # The month is signed on the books the sign-off read, not on the last check's (a
        # sign-off carried out before 2026-12-07 kept its figures only).
        signed = payload["result"] or {}
        return Decision(
            f"{case.subject} is signed off",
            state=State.SIGNED_OFF,
            next_action_at=None,
            # Any other sign-off still waiting (proposed by a check that ran while this one
            # was being carried out) no longer stands.
            withdraw=(Withdrawal(SIGN_OFF, case.subject, f"{case.subject} is signed off"),),
            data={"tieout": signed["tieout"]} if "tieout" in signed else {},
            queue=None,
        )
    return Decision(f"{payload['kind']} {payload['status']}: nothing changes for the close")


def _pending(case: CaseView, kind: str) -> bool:
    return any(a.kind == kind and a.status in PENDING_ACTION_STATUSES for a in case.actions)


def _signing(case: CaseView) -> bool:
    """A sign-off of the case waits, is being carried out, or was carried out."""
    return _pending(case, SIGN_OFF) or any(
        a.kind == SIGN_OFF and a.status in (ActionStatus.EXECUTING, ActionStatus.APPLIED)
        for a in case.actions
    )


def _count(case: CaseView, kind: str) -> int:
    return sum(1 for a in case.actions if a.kind == kind)
