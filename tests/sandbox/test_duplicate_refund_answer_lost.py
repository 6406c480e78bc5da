"""A duplicate's refund that Stripe made, but whose answer never reached Revline (a 500 from the
load balancer after Stripe committed it). The executor retries it later; before the retry runs,
the void's outcome brings the case back. Stripe then shows the charge refunded while the case's
refund is not applied: the refund carries the case's duplicate invoice, so it is the case's own,
never one "made by hand" — the retry finds it and records it, and a later failure of it reaches
the AR specialist as any failure of the case's refund does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from revline.db.models import Action, LedgerRow
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.errors import StripeRequestError
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import Later, World

SCENARIO = (
    Path(__file__).resolve().parents[2] / "examples" / "cash" / "duplicate_invoice_refunded.json"
)
# The Monday after: Stripe fails the refund (the card since closed).
FAILS_LATER = datetime(2026, 12, 7, 10, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture
def answer_lost(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Stripe makes the first refund asked of it, and its answer is lost; the ids made so."""
    create_refund = StripeAdapter.create_refund
    lost: list[str] = []

    def made_then_500(self: StripeAdapter, *args: Any, **kwargs: Any) -> Any:
        refund = create_refund(self, *args, **kwargs)
        if not lost:
            lost.append(refund.id)
            raise StripeRequestError("Stripe answered 500", retryable=True, status=500)
        return refund

    monkeypatch.setattr(StripeAdapter, "create_refund", made_then_500)
    yield lost


def test_a_refund_whose_answer_was_lost_is_the_cases_own(
    tmp_path: Path, answer_lost: list[str]
) -> None:
    with World(load(SCENARIO), tmp_path) as world:
        report = Run(world).play()
        with world.runtime.db.read() as session:
            refund = session.execute(
                select(Action).where(Action.kind == "stripe.refund.create")
            ).scalar_one()
            explanations = [
                str(row.detail.get("explanation"))
                for row in session.execute(
                    select(LedgerRow)
                    .where(LedgerRow.case_id == refund.case_id, LedgerRow.kind == "decision")
                    .order_by(LedgerRow.seq)
                ).scalars()
            ]
        made = world.stripe.state.newest_first("refund")
    assert answer_lost and [r["id"] for r in made] == answer_lost  # the money moved once
    assert (refund.status, refund.attempts) == ("applied", 2)
    assert refund.result is not None and refund.result["refund"] == answer_lost[0]
    assert not any("by hand" in explanation for explanation in explanations)
    booked = [a for a in report["actions"] if a["kind"] == "netsuite.customer_refund.create"]
    assert [a["params"]["memo"] for a in booked] == [
        f"Stripe refund {answer_lost[0]} of duplicate invoice INV-2026-1302"
    ]
    (case,) = [c for c in report["cases"] if c["kind"] == "duplicate_invoice"]
    assert case["state"] == "resolved"


def test_a_refund_whose_answer_was_lost_and_that_fails_later_reaches_the_ar_specialist(
    tmp_path: Path, answer_lost: list[str]
) -> None:
    with World(load(SCENARIO), tmp_path) as world:

        def fails() -> str:
            world.stripe.state.settle_refund(answer_lost[0], succeeded=False)
            return f"{answer_lost[0]} failed"

        world.later.append(Later(FAILS_LATER, "Stripe fails the refund", fails))
        report = Run(world).play()
    (case,) = [c for c in report["cases"] if c["kind"] == "duplicate_invoice"]
    assert (case["state"], case["queue"]) == ("needs_person", "ar_specialist")
