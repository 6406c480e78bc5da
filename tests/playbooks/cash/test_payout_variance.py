"""A payout whose deposit cannot tie: its own case, until NetSuite holds the deposit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.core.cases import CaseView
from revline.core.inbox import EventView
from revline.core.playbook import Decision, Facts, Trigger
from revline.playbooks.cash.flags import ORPHAN_FLAGGED, PAYOUT_VARIANCE_FLAGGED
from revline.playbooks.cash.payout_variance import PayoutVariance
from tests.support.cases import case_view
from tests.support.events import finding

CALENDAR = WorkingCalendar("America/New_York", "US")
# Friday 4 December 2026, just after the 08:00 morning run (New York).
OPENED = datetime(2026, 12, 4, 13, 0, 5, tzinfo=UTC)
FLAG = {
    "payout": "po_1",
    "amount": 174_650,
    "currency": "USD",
    "arrival": "2026-12-03",
    "lines_total": 174_750,
    "variance": -100,
    "fees": 5_250,
    "lines": [],
}


def _case(state: str = "open") -> CaseView:
    return case_view("payout_variance", "po_1", state, OPENED, id="cas_9")


def _flagged(event_type: str = PAYOUT_VARIANCE_FLAGGED) -> EventView:
    return finding(event_type, "payout_variance:po_1", OPENED, FLAG)


def _decide(trigger: Trigger, state: str = "open", **values: Any) -> Decision:
    facts = Facts(trigger, {"calendar": CALENDAR, "locale": "en_US", **values})
    return PayoutVariance().decide(_case(state), facts, Policy(), trigger.at)


def test_the_variance_flag_opens_a_case_per_payout_and_nothing_else_does() -> None:
    playbook = PayoutVariance()
    ref = playbook.case_for(_flagged())
    assert ref is not None and ref.subject == "po_1"
    assert playbook.case_for(_flagged(ORPHAN_FLAGGED)) is None


def test_the_case_opens_in_the_billing_analysts_queue_with_the_figures() -> None:
    decision = _decide(Trigger("event", OPENED, _flagged()))
    assert (decision.state, decision.queue) == ("open", "billing_analyst")
    assert decision.explanation == (
        "payout po_1 of $1,746.50 (arrived 2026-12-03) does not tie: its deposit lines come to "
        "$1,747.50, $1.00 over the payout; nothing was posted"
    )
    assert decision.data == {"variance": FLAG}
    # Monday 7 December, an hour after the 08:00 run (the weekend does not count).
    assert decision.next_action_at == datetime(2026, 12, 7, 14, tzinfo=UTC)


def test_the_figures_are_written_in_the_company_s_locale() -> None:
    decision = _decide(Trigger("event", OPENED, _flagged()), locale="de_DE")
    assert decision.explanation.startswith("payout po_1 of 1.746,50\xa0$ (arrived 2026-12-03)")


def test_it_waits_while_the_payout_is_not_deposited_and_resolves_once_it_is() -> None:
    checked = datetime(2026, 12, 7, 14, tzinfo=UTC)
    waiting = _decide(Trigger("timer", checked), deposits=[])
    assert waiting.state is None  # stays open
    assert waiting.next_action_at == datetime(2026, 12, 8, 14, tzinfo=UTC)
    resolved = _decide(Trigger("timer", checked), deposits=["5001"])
    assert (resolved.state, resolved.queue, resolved.next_action_at) == ("resolved", None, None)
    assert "deposit 5001" in resolved.explanation


def test_a_person_may_ask_for_the_check_at_once() -> None:
    asked = _decide(Trigger("manual", OPENED, detail={"actor": "user:omar"}), deposits=["5001"])
    assert asked.state == "resolved"


@pytest.mark.parametrize(
    ("status", "said"), [("failed", "returned by the bank"), ("canceled", "cancelled in Stripe")]
)
def test_a_payout_returned_or_cancelled_has_nothing_to_deposit(status: str, said: str) -> None:
    """Its money never reached the bank: the case does not wait for a deposit that must never
    be made."""
    checked = datetime(2026, 12, 7, 14, tzinfo=UTC)
    returned = _decide(Trigger("timer", checked), deposits=[], payout_status=status)
    assert (returned.state, returned.queue, returned.next_action_at) == ("resolved", None, None)
    assert returned.explanation.startswith(f"payout po_1 was {said}: its money never reached")
    still = _decide(Trigger("timer", checked), deposits=[], payout_status="paid")
    assert still.state is None
