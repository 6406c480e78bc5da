"""What the matching engine compares: entries on each side, the rules, and the outcome per entry.

The left side is Stripe (a payment, a balance transaction, a row of the itemized payout
reconciliation report); the right side is NetSuite (a customer payment or an invoice, a row of a
saved search). Both are reduced to the same few fields so one engine serves a morning's payout
and a year of exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


@dataclass(frozen=True)
class Entry:
    """One record to match. ``amount`` is minor units, ``currency`` an ISO code (any case).

    ``charge_id`` and ``invoice_id`` are the stable ids of the mapping (the Stripe charge and
    Stripe invoice a NetSuite record carries in ``custbody_stripe_charge_id`` and
    ``custbody_stripe_invoice_id``); ``customer`` is the Stripe customer id on both sides;
    ``reference`` is free text that may quote an invoice number (left) or the document number
    itself (right). ``category`` is Stripe's ``reporting_category`` of a left entry (``charge``,
    ``refund``, ``dispute``, ...), None when not known: only a payment (``charge``, ``payment``)
    settles a NetSuite customer payment and only a ``refund`` a customer refund; a row of any
    other category is never paired.
    """

    id: str
    amount: int
    currency: str
    day: date
    charge_id: str | None = None
    invoice_id: str | None = None
    customer: str | None = None
    email: str | None = None
    name: str | None = None
    reference: str | None = None
    category: str | None = None


# No amount has more than 18 digits of minor units (``files.MINOR_DIGITS``): a wider drift means
# nothing, and the engine's 64-bit arithmetic on it would overflow. A window of a century is
# the same kind of bound on dates.
MOST_DRIFT = 10**18 - 1
MOST_WINDOW_DAYS = 36_500


@dataclass(frozen=True)
class MatchRules:
    """The tolerances of the tiers. Amounts in minor units."""

    amount_drift: int = 0
    date_window_days: int = 3
    # A scored candidate is applied without a person only when it is the sole candidate with an
    # exact piece of evidence and leads the next candidate by at least this much (0..1).
    auto_margin: float = 0.2
    min_score: float = 0.6

    def __post_init__(self) -> None:
        for name in ("amount_drift", "date_window_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} is a whole number, not {value!r}")
        for name in ("auto_margin", "min_score"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} is a number between 0 and 1, not {value!r}")
        if self.amount_drift < 0 or self.date_window_days < 0:
            raise ValueError(
                f"the drift ({self.amount_drift}) and the window ({self.date_window_days}) "
                "cannot be negative"
            )
        if self.amount_drift > MOST_DRIFT or self.date_window_days > MOST_WINDOW_DAYS:
            raise ValueError(
                f"the drift ({self.amount_drift}) is at most {MOST_DRIFT} minor units and the "
                f"window ({self.date_window_days}) at most {MOST_WINDOW_DAYS} days"
            )
        if not (0 <= self.auto_margin <= 1 and 0 <= self.min_score <= 1):
            raise ValueError(
                f"the margin ({self.auto_margin}) and the least score ({self.min_score}) "
                "are between 0 and 1"
            )


class MatchStatus(StrEnum):
    MATCHED = "matched"  # applied: exact key, tolerance, or a scored match that is auto-eligible
    PROPOSED = "proposed"  # a person decides: ambiguous, scored, one-to-many
    BLOCKED = "blocked"  # a candidate exists but cannot be matched (currency mismatch)
    UNMATCHED = "unmatched"  # no candidate at all


class Tier(StrEnum):
    EXACT_CHARGE = "exact_charge_id"
    EXACT_INVOICE = "exact_invoice_id"
    TOLERANCE = "tolerance"
    ONE_TO_MANY = "one_to_many"
    SCORED = "scored"


@dataclass(frozen=True)
class Match:
    """The outcome for one left entry: which right entries, by which tier, and why."""

    left: str
    status: MatchStatus
    rights: tuple[str, ...] = ()
    tier: Tier | None = None
    reason: str = ""
    score: float | None = None


@dataclass(frozen=True)
class MatchReport:
    """Every left entry's outcome, and the right entries nothing claimed."""

    matches: tuple[Match, ...]
    unmatched_right: tuple[str, ...]

    def of(self, left_id: str) -> Match:
        for match in self.matches:
            if match.left == left_id:
                return match
        raise KeyError(left_id)

    def by_status(self, status: MatchStatus) -> list[Match]:
        return [match for match in self.matches if match.status is status]
