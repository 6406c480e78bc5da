"""A month-end variance: the work item that blocks a close until the variance is resolved.

Opened (or reopened) when a close's tie-out is off by more than ``close_variance_threshold``,
in the FP&A analyst's queue with the figures. It follows its month's close and decides nothing
of its own: the close reports the variance resolved when the books were corrected and a check
ties (``corrected``). An explanation does not resolve it: the close keeps it on record and stays
blocked until the books tie.
"""

from __future__ import annotations

from datetime import datetime

from revline.config import Policy
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import CaseRef, Decision, Enrichment, Facts, Playbook, Trigger
from revline.money import Money
from revline.playbooks.cash.close_actions import VARIANCE_CLEARED, VARIANCE_FLAGGED
from revline.playbooks.cash.flags import FINDING_SOURCE

QUEUE = "fpa_analyst"

CLOSE_VARIANCE = CaseKind(
    name="close_variance",
    initial="open",
    transitions={
        "open": frozenset({"corrected"}),
        "corrected": frozenset({"open"}),
    },
    terminal=frozenset({"corrected"}),
)


class CloseVariance(Playbook):
    name = "close_variance"
    case_kind = CLOSE_VARIANCE

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source != FINDING_SOURCE or event.type not in (VARIANCE_FLAGGED, VARIANCE_CLEARED):
            return None
        return CaseRef(subject=str(event.payload["month"]), opens=event.type == VARIANCE_FLAGGED)

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        return Facts(trigger, {"locale": enrichment.company.locale})

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        event = facts.trigger.event
        if facts.trigger.kind != "event" or event is None:
            return Decision("a close variance moves only with its month's close")
        found = event.payload
        variance = Money(int(found["variance"]), str(found["currency"])).format(facts["locale"])
        if event.type == VARIANCE_FLAGGED:
            return Decision(
                f"the {case.subject} tie-out is off by {variance}, above the threshold: the close "
                "waits until the books are corrected and a check ties",
                state="open",
                data={"variance": dict(found), "resolution": None},
                queue=QUEUE,
            )
        return Decision(
            f"resolved: the books were corrected and the tie-out ties (variance {variance})",
            state="corrected",
            data={"resolution": dict(found)},
            queue=None,
        )
