"""The worker is down from Friday 18 December to Monday 4 January (New York) while the API keeps
taking Stripe's webhooks. Five payouts arrived meanwhile or just before. Back on the 4th, the
worker runs every morning it missed, in order, and every payout is deposited on the morning
after it arrived — none left in Undeposited Funds unseen (the scheduler's usual five days of
catch-up skipped the mornings before 28 December, and the first morning it ran looked back only
a week)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from revline.sandbox.runner import Run
from revline.sandbox.scenario import parse
from revline.sandbox.world import World

NEW_YORK = ZoneInfo("America/New_York")
DOWN = (
    datetime(2026, 12, 18, 9, 30, tzinfo=NEW_YORK),
    datetime(2027, 1, 4, 9, 30, tzinfo=NEW_YORK),
)
PEOPLE = {
    "senior_revops_manager": {"name": "Maya Lindqvist", "email": "maya@ourco.example"},
    "billing_analyst": {"name": "Omar Haddad", "email": "omar@ourco.example"},
    "ar_specialist": {"name": "Priya Nair", "email": "priya@ourco.example"},
    "fpa_analyst": {"name": "Jonas Weber", "email": "jonas@ourco.example"},
}
# Customer, the day they paid (the payout made that day), the day the payout arrived.
PAID = [
    ("alpha", date(2026, 12, 17), date(2026, 12, 18)),
    ("bravo", date(2026, 12, 18), date(2026, 12, 21)),
    ("charlie", date(2026, 12, 21), date(2026, 12, 22)),
    ("delta", date(2026, 12, 22), date(2026, 12, 23)),
    ("echo", date(2026, 12, 28), date(2026, 12, 29)),
]


class WorkerDown(Run):
    """The run with no worker during ``DOWN``: webhooks are taken and stored, nothing else."""

    def _settle(self) -> None:
        if DOWN[0] <= self.world.clock.now() < DOWN[1]:
            self.world.stripe.flush_webhooks()
            return
        super()._settle()

    def _next_due_in_revline(self) -> datetime | None:
        due = super()._next_due_in_revline()
        return DOWN[1] if due is not None and DOWN[0] <= due < DOWN[1] else due


def _scenario() -> dict[str, Any]:
    happenings: list[dict[str, Any]] = []
    for n, (customer, day, arrival) in enumerate(PAID, start=1):
        happenings += [
            {
                "at": f"{day}T10:00:00-05:00",
                "type": "payment",
                "customer": customer,
                "invoice": f"in_{customer}",
                "invoice_number": f"INV-2026-14{n:02}",
                "amount": 100_000 * n,
            },
            {"at": f"{day}T12:00:00-05:00", "type": "payout", "arrival": arrival.isoformat()},
        ]
    return {
        "name": "worker_outage",
        "company": {
            "timezone": "America/New_York",
            "holiday_country": "US",
            "currency": "usd",
            "people": PEOPLE,
        },
        "start": "2026-12-17T07:00:00-05:00",
        "until": "2027-01-05T18:00:00-05:00",
        "customers": [
            {"id": c, "name": f"{c.title()} Ltd", "email": f"ap@{c}.example"} for c, _, _ in PAID
        ],
        "happenings": happenings,
    }


def test_every_payout_of_a_fortnight_down_is_deposited_when_the_worker_is_back(
    tmp_path: Path,
) -> None:
    with World(parse(_scenario()), tmp_path) as world:
        report = WorkerDown(world).play()
        calendar = world.runtime.calendar
        deposited = {d.stripe_payout_id: d.date for d in world.netsuite.books.deposits()}
        arrived = {
            p["id"]: datetime.fromtimestamp(p["arrival_date"], UTC).date()
            for p in world.stripe.state.newest_first("payout")
        }
    assert len(arrived) == len(PAID)
    assert deposited == arrived  # each once, dated the day it arrived
    mornings = sorted(c["subject"] for c in report["cases"] if c["kind"] == "payout_reconciliation")
    # Every working morning of the outage was run on the 4th, and can be read and rerun.
    missed = [
        f"payouts:{day}"
        for day in (date(2026, 12, 21) + timedelta(days=n) for n in range(14))
        if calendar.is_working_day(day)
    ]
    assert set(missed) <= set(mornings)
    assert {c["state"] for c in report["cases"] if c["kind"] == "payout_reconciliation"} == {
        "reconciled"
    }
