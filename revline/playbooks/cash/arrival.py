"""The day a Stripe payout reaches the bank: a calendar day, not an instant.

Stripe gives a payout's ``arrival_date`` as a timestamp: midnight UTC of the arrival day. Read in
company time it is the evening before anywhere west of Greenwich, so a New York deposit would be
dated the day before the bank received the money, and a payout arriving on the 1st would be
booked in the month before. The day is read, and asked for, in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from revline.providers.stripe.records import Payout


def arrival_day(payout: Payout) -> date:
    """The day the bank receives the payout."""
    return payout.arrival_date.astimezone(UTC).date()


def arriving(first: date, before: date) -> tuple[datetime, datetime]:
    """The ``arrival_date`` range, inclusive both ends, of the payouts that arrive on ``first``
    or later and before ``before``."""
    return (
        datetime.combine(first, time(0), UTC),
        datetime.combine(before, time(0), UTC) - timedelta(seconds=1),
    )
