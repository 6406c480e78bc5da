"""The month-end tie-out: Stripe's in-transit balance walked to NetSuite's Undeposited Funds.

At month end, money Stripe has collected but the bank has not yet booked is in two places on
the Stripe side: the balance not yet paid out, and payouts in transit. On the NetSuite side the
same money sits in Undeposited Funds: customer payments recorded but not yet deposited. The two
differ for known reasons, each itemised:

- **payouts not yet deposited**: a payout reached the bank by month end but NetSuite has no
  deposit for it dated by month end, so its payments are still in Undeposited Funds;
- **payments not yet recorded**: a Stripe payment with no NetSuite customer payment dated by
  month end (an orphan, or one recorded in the next month — even on a deposit dated by month
  end, which then moved it out of Undeposited Funds before it came in);
- **timing differences**: Stripe's fees are withheld from the balance but booked in NetSuite
  only with each payout's deposit, and so are refunds and other balance adjustments.

A payout the bank returned (or Stripe cancelled) by month end gave its money back to the balance
(a ``payout_failure``), and the next payout pays it out again. If NetSuite had not deposited it
by month end, its movements are members of that later payout, in transit, not deposited or
deposited as it is; while the ``payout_failure`` is still in the balance, so are they (counted
once, never the ``payout_failure`` too). If NetSuite had, its movements stay deposited and the
``payout_failure`` is money like any other, Stripe's again: an item of its own says NetSuite's
books still have it in the bank.

The balance not yet paid out is the one Stripe reports at month end (its balance now, less
every movement since). The walk places the movements behind it, reading back 31 days first,
further while the movements it places do not come to Stripe's figure (money a manual payout
schedule leaves in the balance longer); what it still cannot place is shown as such.

What the items do not explain is the variance. ``gather`` reads the providers (the playbook's
``enrich`` calls it, and so does the sign-off when it is carried out); ``tie_out`` is pure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, computed_field

from revline.clock import WorkingCalendar
from revline.core.playbook import Enrichment
from revline.errors import RevlineError
from revline.money import Money
from revline.playbooks.cash.arrival import arrival_day
from revline.playbooks.cash.deposit import (
    FEE_TYPES,
    PAYMENT_TYPES,
    PAYOUT_TYPES,
    REFUND_TYPES,
    RETURNED_TYPES,
    carried,
    fees_of,
)
from revline.playbooks.cash.returned import itemised, returned_payouts
from revline.providers.netsuite.records import CustomerPayment, Deposit
from revline.providers.stripe.records import PAYMENTS_BALANCE, BalanceTransaction, Payout

# How far before the month the walk reads Stripe's movements. Stripe pays automatic payouts out
# within a month at most (a monthly schedule), so nothing created longer ago can still be unpaid
# at its end; a manual payout schedule may leave money in the balance longer, so while the walk
# does not come to the balance Stripe reports, it reads further back, as far as a year.
LOOKBACK_DAYS = (31, 92, 366)
DUNNING = "dunning"
# ASCII digits only, the whole text: "2026-12\n" or Arabic-Indic digits are not a month's name.
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class InvalidMonth(RevlineError):
    code = "invalid_month"
    http_status = 400


@dataclass(frozen=True)
class ClosePeriod:
    """A calendar month in the company's timezone."""

    month: str  # YYYY-MM
    first_day: date
    last_day: date

    @classmethod
    def parse(cls, text: str) -> ClosePeriod:
        """``YYYY-MM``; anything else is refused with what was wrong."""
        found = _MONTH.fullmatch(text)
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise InvalidMonth(f"month {text!r} is not a month like 2026-12 (YYYY-MM)")
        try:
            first = date(int(found.group(1)), int(found.group(2)), 1)
            return cls(text, first, next_month(first) - timedelta(days=1))
        except ValueError as exc:  # no such day: year 0, or no month after 9999-12
            raise InvalidMonth(
                f"month {text!r} is out of range: a close covers a month from 0001-01 to 9999-11"
            ) from exc

    @classmethod
    def before(cls, day: date) -> ClosePeriod:
        """The month before the one ``day`` is in: the month a close on ``day`` closes."""
        previous = day.replace(day=1) - timedelta(days=1)
        return cls.parse(f"{previous.year:04d}-{previous.month:02d}")

    def ends_at(self, calendar: WorkingCalendar) -> datetime:
        """The instant the month ends (exclusive), in UTC."""
        return calendar.at_local(self.last_day + timedelta(days=1), time(0))


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


@dataclass(frozen=True)
class PayoutAtMonthEnd:
    """A payout created by month end, what it settled, and where it stood at month end."""

    payout: Payout
    transactions: tuple[BalanceTransaction, ...]
    arrived_on: date  # the day the bank received it (its Stripe arrival date)
    deposited_on: date | None  # date of its NetSuite deposit, if any
    # The customer payments its deposits dated by month end moved out of Undeposited Funds.
    deposited_payments: tuple[CustomerPayment, ...] = ()
    # The words of those deposits' other and cash-back lines' memos, where a refund, an
    # adjustment or a returned payout is named by its Stripe id: Revline's own deposits write
    # ``refund re_…``, and so may a person.
    deposited_references: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReturnedAfterDeposit:
    """A payout the bank returned by month end after NetSuite had deposited it by then."""

    payout: str
    amount: int  # what came back to Stripe's balance
    back: str  # its payout_failure (payout_cancel) balance transaction
    returned_on: date  # the day that was created, company time
    deposits: tuple[str, ...]  # NetSuite's deposits for it dated by month end
    deposited_on: date


@dataclass(frozen=True)
class TieOutBooks:
    """What the tie-out reads from Stripe and NetSuite for one month."""

    period: ClosePeriod
    currency: str  # ISO, lowercase as Stripe has it
    timezone: str
    transactions: tuple[BalanceTransaction, ...]  # created in the look-back up to month end
    payouts: tuple[PayoutAtMonthEnd, ...]
    # The NetSuite customer payments recording each Stripe charge, by charge id, by date.
    recorded: Mapping[str, tuple[CustomerPayment, ...]]
    undeposited_funds: int  # NetSuite's Undeposited Funds balance at month end
    held: tuple[HeldRecognition, ...]
    # What each payout returned (or cancelled) by month end and not deposited by then had
    # settled, by payout id: its movements are the balance's, or the payout's that pays them out.
    returned_payouts: Mapping[str, tuple[BalanceTransaction, ...]] = field(default_factory=dict)
    # The payouts returned by month end that NetSuite had deposited by then.
    returned_after_deposit: tuple[ReturnedAfterDeposit, ...] = ()
    # Stripe's balance in ``currency`` at month end, as Stripe reports it (None: not read, and
    # the walk's own sum stands for it); the first day whose movements were read.
    reported_balance: int | None = None
    walked_from: date | None = None
    other_currencies: tuple[OtherCurrency, ...] = ()
    locale: str = "en_US"  # the company's: amounts written into the items' descriptions


class ItemKind(StrEnum):
    PAYOUT_NOT_DEPOSITED = "payout_not_deposited"
    PAYOUT_RETURNED_AFTER_DEPOSIT = "payout_returned_after_deposit"
    PAYMENT_NOT_RECORDED = "payment_not_recorded"
    FEES_NOT_BOOKED = "fees_not_booked"
    REFUND_NOT_BOOKED = "refund_not_booked"
    ADJUSTMENT_NOT_BOOKED = "adjustment_not_booked"


ITEM_HEADINGS = {
    ItemKind.PAYOUT_NOT_DEPOSITED: "Payouts not yet deposited in NetSuite",
    ItemKind.PAYOUT_RETURNED_AFTER_DEPOSIT: "Payouts the bank returned after their deposit",
    ItemKind.PAYMENT_NOT_RECORDED: "Payments not yet recorded in NetSuite",
    ItemKind.FEES_NOT_BOOKED: "Timing: Stripe fees booked with the deposit",
    ItemKind.REFUND_NOT_BOOKED: "Timing: refunds booked with the deposit",
    ItemKind.ADJUSTMENT_NOT_BOOKED: "Timing: adjustments booked with the deposit",
}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReconcilingItem(_Record):
    """One known difference; ``amount`` is what it adds to the Stripe side to reach NetSuite."""

    kind: ItemKind
    reference: str
    description: str
    amount: int
    on: date | None = None


class InTransitPayout(_Record):
    payout: str
    amount: int
    arrival: date


class HeldRecognition(_Record):
    """A customer whose recognition NetSuite holds for dunning."""

    customer_id: str
    customer: str
    stripe_customer_id: str | None
    plans: list[str]
    amount: int
    currency: str


class OtherCurrency(_Record):
    """Money in a currency other than the company's, which the walk leaves out: no exchange
    rate ties NetSuite's converted books to Stripe's, so a person ties it. ``amount`` is in
    minor units of ``amount_currency`` (NetSuite's base for Undeposited Funds; the payout's own
    for a payout)."""

    reference: str
    currency: str
    amount: int
    amount_currency: str
    description: str


class TieOut(_Record):
    """The walk for one month, with its figures in minor units of ``currency``."""

    month: str
    currency: str
    as_of: date
    balance_not_paid_out: int
    # Of that balance, what the walk could not place among the movements it read from
    # ``walked_from`` (older ones, or a manual payout that took other than its deposit's
    # payments): no item explains it.
    not_placed: int = 0
    walked_from: date | None = None
    payouts_in_transit: list[InTransitPayout]
    items: list[ReconcilingItem]
    undeposited_funds: int
    threshold: int
    held: list[HeldRecognition]
    # Left out of the walk: what Undeposited Funds holds of payments in other currencies, and
    # payouts in other currencies in transit or not deposited at month end.
    other_currencies: list[OtherCurrency] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def in_transit_total(self) -> int:
        return sum(p.amount for p in self.payouts_in_transit)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stripe_in_transit(self) -> int:
        """Stripe's balance not yet paid out plus payouts in transit, at month end."""
        return self.balance_not_paid_out + self.in_transit_total

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_undeposited_funds(self) -> int:
        return self.stripe_in_transit + sum(item.amount for item in self.items)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def variance(self) -> int:
        """What the items leave unexplained: NetSuite's balance less what it should be."""
        return self.undeposited_funds - self.expected_undeposited_funds

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ties(self) -> bool:
        return abs(self.variance) <= self.threshold

    def subtotals(self) -> list[tuple[ItemKind, int, int]]:
        """Per kind of item, in walk order: (kind, how many, total)."""
        found = []
        for kind in ItemKind:
            of_kind = [item.amount for item in self.items if item.kind is kind]
            if of_kind:
                found.append((kind, len(of_kind), sum(of_kind)))
        return found


def figures(data: Mapping[str, Any]) -> TieOut:
    """A tie-out back from its JSON form (a case's data), computed fields dropped."""
    computed = set(TieOut.model_computed_fields)
    return TieOut.model_validate({k: v for k, v in data.items() if k not in computed})


@dataclass(frozen=True)
class _Walk:
    """Where the money of each movement read stood at month end."""

    in_transit: list[PayoutAtMonthEnd]
    not_deposited: list[PayoutAtMonthEnd]
    members: dict[str, tuple[BalanceTransaction, ...]]  # what each payout paid out, by id
    member_of: dict[str, PayoutAtMonthEnd]  # movement id → the payout that paid it out
    still_in_balance: list[BalanceTransaction]


def _walk(books: TieOutBooks) -> _Walk:
    period = books.period
    in_transit = [p for p in books.payouts if p.arrived_on > period.last_day]
    not_deposited = [
        p
        for p in books.payouts
        if p.arrived_on <= period.last_day
        and (p.deposited_on is None or p.deposited_on > period.last_day)
    ]
    # A returned payout whose payout_failure no payout settled yet: its movements are in the
    # balance, even one created before the look-back.
    moved = {t.id: t for t in books.transactions}
    for of_returned in books.returned_payouts.values():
        moved.update((t.id, t) for t in of_returned)
    # A returned payout's movements stand in for the payout_failure that pays them out again.
    members = {p.payout.id: carried(p.transactions, books.returned_payouts) for p in books.payouts}
    # A manual payout settled no movement in particular. Until NetSuite has its deposit, what
    # it took leaves the balance with its own movement and the movements it paid out are walked
    # as the balance's; once deposited by month end, what its deposits name (payments, refunds,
    # adjustments, returned payouts) is what it paid out, as the person who booked it said.
    by_hand = set()
    for p in books.payouts:
        if p.payout.automatic:
            continue
        if p in not_deposited or p in in_transit:
            by_hand.add(p.payout.id)
        else:
            members[p.payout.id] = _paid_out_by_hand(p, moved.values(), books.recorded)
    member_of = {t.id: p for p in books.payouts for t in members[p.payout.id]}
    # The money of a payout returned after its deposit is Stripe's again, in the balance or on
    # the payout that pays it out; its own item says NetSuite's books still have it in the bank.
    back_after_deposit = {r.payout for r in books.returned_after_deposit}
    still_in_balance = [
        t
        for t in moved.values()
        if t.currency == books.currency
        and t.id not in member_of
        and (t.type not in _OWN_MOVES or t.source in back_after_deposit | by_hand)
    ]
    return _Walk(in_transit, not_deposited, members, member_of, still_in_balance)


def walked_balance(books: TieOutBooks) -> int:
    """The balance not yet paid out at month end as the movements read place it: what
    ``gather`` compares with the balance Stripe reports."""
    return sum(t.net for t in _walk(books).still_in_balance)


def tie_out(books: TieOutBooks, threshold: int) -> TieOut:
    """Walk the Stripe in-transit balance to Undeposited Funds, itemising what differs. Pure."""
    period = books.period
    tz = ZoneInfo(books.timezone)
    walk = _walk(books)
    in_transit, not_deposited = walk.in_transit, walk.not_deposited
    members, member_of = walk.members, walk.member_of
    still_in_balance = walk.still_in_balance
    placed = sum(t.net for t in still_in_balance)
    balance = placed if books.reported_balance is None else books.reported_balance
    # Every movement whose money had not reached a NetSuite deposit by month end, by payout.
    open_movements: list[tuple[str | None, BalanceTransaction]] = [
        (None, t) for t in still_in_balance if t.type not in _OWN_MOVES
    ]
    for held in (*in_transit, *not_deposited):
        open_movements += [
            (held.payout.id, t) for t in members[held.payout.id] if t.type not in _OWN_MOVES
        ]

    items = [
        ReconcilingItem(
            kind=ItemKind.PAYOUT_NOT_DEPOSITED,
            reference=p.payout.id,
            description=(
                f"reached the bank on {p.arrived_on.isoformat()}; no NetSuite deposit by month "
                "end, so its payments are still in Undeposited Funds"
            ),
            amount=p.payout.amount,
            on=p.arrived_on,
        )
        for p in not_deposited
    ]
    items += [
        ReconcilingItem(
            kind=ItemKind.PAYOUT_RETURNED_AFTER_DEPOSIT,
            reference=r.payout,
            description=(
                f"returned by the bank on {r.returned_on.isoformat()} after NetSuite deposit "
                f"{', '.join(r.deposits)} of {r.deposited_on.isoformat()}: Stripe holds its "
                "money again, NetSuite's books have it in the bank until a person books the "
                "return"
            ),
            amount=-r.amount,
            on=r.returned_on,
        )
        for r in books.returned_after_deposit
        # Only while Stripe holds the money: a later payout deposited by month end (a person
        # booked it) took it to the bank, and NetSuite with it.
        if r.back not in member_of or member_of[r.back] in (*in_transit, *not_deposited)
    ]
    items += [
        _recorded_after_deposit(p, payment, p.deposited_on)
        for p in books.payouts
        if p.deposited_on is not None and p.deposited_on <= period.last_day
        for payment in p.deposited_payments
        if payment.date > period.last_day
    ]
    fees: dict[str | None, int] = defaultdict(int)
    for payout_id, txn in open_movements:
        fees[payout_id] += fees_of(txn)
        on = txn.created.astimezone(tz).date()
        if txn.type in FEE_TYPES:
            continue
        if txn.type in PAYMENT_TYPES:
            items += _unrecorded(txn, books.recorded, period, on, books.locale)
        elif txn.type in REFUND_TYPES:
            items.append(_not_booked(ItemKind.REFUND_NOT_BOOKED, txn, payout_id, on))
        else:
            items.append(_not_booked(ItemKind.ADJUSTMENT_NOT_BOOKED, txn, payout_id, on))
    for payout_id, fee in fees.items():
        if fee:
            items.append(
                ReconcilingItem(
                    kind=ItemKind.FEES_NOT_BOOKED,
                    reference=payout_id or "balance",
                    description=(
                        f"Stripe fees withheld from payout {payout_id}, booked on its deposit"
                        if payout_id
                        else "Stripe fees on the balance not yet paid out"
                    ),
                    amount=fee,
                )
            )
    items.sort(key=lambda item: (list(ItemKind).index(item.kind), item.on or period.last_day))
    return TieOut(
        month=period.month,
        currency=books.currency.upper(),
        as_of=period.last_day,
        balance_not_paid_out=balance,
        not_placed=balance - placed,
        walked_from=books.walked_from,
        payouts_in_transit=[
            InTransitPayout(payout=p.payout.id, amount=p.payout.amount, arrival=p.arrived_on)
            for p in in_transit
        ],
        items=items,
        undeposited_funds=books.undeposited_funds,
        threshold=threshold,
        held=list(books.held),
        other_currencies=list(books.other_currencies),
    )


def _paid_out_by_hand(
    deposited: PayoutAtMonthEnd,
    moved: Iterable[BalanceTransaction],
    recorded: Mapping[str, tuple[CustomerPayment, ...]],
) -> tuple[BalanceTransaction, ...]:
    """The movements a manual payout deposited by month end paid out, with its own: the
    payments whose customer payment is on its deposits, and the refunds, adjustments and
    returned payouts' money a line of them names by Stripe id (the refund, the dispute, the
    returned payout, or the balance transaction)."""
    on_deposits = {payment.id for payment in deposited.deposited_payments}
    named = deposited.deposited_references
    return tuple(
        t
        for t in moved
        if (
            t.type in PAYMENT_TYPES
            and any(payment.id in on_deposits for payment in recorded.get(t.source or "", ()))
        )
        or (t.type not in PAYMENT_TYPES | PAYOUT_TYPES and bool({t.id, t.source} & named))
        or (t.type in PAYOUT_TYPES and t.source == deposited.payout.id)
    )


def _unrecorded(
    txn: BalanceTransaction,
    recorded: Mapping[str, tuple[CustomerPayment, ...]],
    period: ClosePeriod,
    on: date,
    locale: str,
) -> list[ReconcilingItem]:
    """What of a Stripe payment NetSuite had not recorded by month end: all of it, or the part
    not keyed by then (a charge keyed in parts)."""
    found = recorded.get(txn.source or "", ())
    # Only a payment in the movement's currency records it: a charge in euros settled into the
    # dollar balance that NetSuite records in euros cannot be netted without a rate.
    payments = [p for p in found if p.currency.lower() == txn.currency.lower()]
    elsewhere = [p for p in found if p.currency.lower() != txn.currency.lower()]
    by_then = sum(p.amount for p in payments if p.date <= period.last_day)
    missing = txn.amount - by_then
    if missing <= 0:
        return []
    later = [p.date for p in payments if p.date > period.last_day]
    if elsewhere and not by_then:
        recorded_as = ", ".join(sorted({p.money.format(locale) for p in elsewhere}))
        why = (
            f"NetSuite records it in another currency ({recorded_as}), not "
            f"{txn.currency.upper()}: a person converts it"
        )
    elif by_then:
        money = Money(by_then, txn.currency.upper()).format(locale)
        why = f"{money} of it recorded in NetSuite by month end" + (
            f", the rest on {later[0].isoformat()}" if later else ", the rest not yet"
        )
    elif later:
        why = f"recorded in NetSuite on {later[0].isoformat()}, after month end"
    else:
        why = "no NetSuite customer payment carries this charge"
    return [
        ReconcilingItem(
            kind=ItemKind.PAYMENT_NOT_RECORDED,
            reference=str(txn.source or txn.id),
            description=f"Stripe payment of {on.isoformat()}: {why}",
            amount=-missing,
            on=on,
        )
    ]


def _recorded_after_deposit(
    held: PayoutAtMonthEnd, payment: CustomerPayment, deposited_on: date
) -> ReconcilingItem:
    """A customer payment dated after month end on a deposit dated by then (books keyed by
    hand): at month end the deposit had moved it out of Undeposited Funds before it came in, so
    NetSuite's balance is short by the payment, while Stripe's in-transit balance no longer
    holds the payout."""
    return ReconcilingItem(
        kind=ItemKind.PAYMENT_NOT_RECORDED,
        reference=payment.stripe_charge_id or payment.id,
        description=(
            f"payment {payment.number or payment.id} on payout {held.payout.id}: recorded in "
            f"NetSuite on {payment.date.isoformat()}, after month end, while its payout's "
            f"deposit of {deposited_on.isoformat()} already moved it out of Undeposited Funds"
        ),
        amount=-payment.amount,
        on=deposited_on,
    )


def _not_booked(
    kind: ItemKind, txn: BalanceTransaction, payout_id: str | None, on: date
) -> ReconcilingItem:
    where = f"payout {payout_id}" if payout_id else "the balance not yet paid out"
    return ReconcilingItem(
        kind=kind,
        reference=str(txn.source or txn.id),
        description=f"{txn.type} on {where}, booked on the payout's deposit",
        amount=-txn.amount,
        on=on,
    )


# A payout's own movement, and a returned payout's money back on the balance: never an item
# (the returned payout's own movements count in its place).
_OWN_MOVES = PAYOUT_TYPES | RETURNED_TYPES


def gather(enrichment: Enrichment, period: ClosePeriod) -> TieOutBooks:
    """Read what the tie-out of ``period`` needs from the Stripe and NetSuite adapters.

    The close's check (its ``enrich``) and the sign-off when it is carried out both read the
    books here, so the sign-off re-checks exactly what the close checked. Stripe's balance at
    month end is read first; the movements are read back ``LOOKBACK_DAYS`` at a time until the
    walk places all of it, or a year back.
    """
    reported = enrichment.adapters["stripe"].balance_at(
        period.ends_at(enrichment.calendar), enrichment.company.currency.lower()
    )
    for days in LOOKBACK_DAYS:
        books = _read(enrichment, period, period.first_day - timedelta(days=days), reported)
        if walked_balance(books) == reported:
            break
    return books


def _read(enrichment: Enrichment, period: ClosePeriod, since: date, reported: int) -> TieOutBooks:
    """The books of ``period`` with Stripe's movements read from ``since``."""
    stripe = enrichment.adapters["stripe"]
    netsuite = enrichment.adapters["netsuite"]
    calendar = enrichment.calendar
    currency = enrichment.company.currency.lower()
    start = calendar.at_local(since, time(0))
    end = period.ends_at(calendar) - timedelta(seconds=1)
    # Only what moved the balance Stripe pays out: an Issuing or prefunding balance is not in it.
    transactions = [
        t
        for t in stripe.list_balance_transactions(created_from=start, created_until=end)
        if t.balance_type == PAYMENTS_BALANCE
    ]
    # A payout returned or cancelled by month end gave its money back to the balance then: its
    # payout_failure (payout_cancel) transaction is among the month's. One the bank returned
    # later, even before this tie-out, was in transit or in the bank at month end and counts so.
    returned = {t.source for t in transactions if t.type in RETURNED_TYPES and t.source}
    # Customer payments dated through today, not only by month end: one recorded since is still
    # not recorded at month end, and its item says when it was.
    today = calendar.business_date(enrichment.clock.now())
    payments = netsuite.customer_payments_dated(
        since - timedelta(days=1), max(today, period.last_day)
    )
    # A returned payout NetSuite deposited by month end: its payments had left Undeposited
    # Funds, so nothing of what it settled is followed (as the daily reconciliation does).
    deposited: dict[str, list[Deposit]] = {}

    def settled(payout_id: str) -> list[BalanceTransaction]:
        by_then = [d for d in netsuite.deposits_for_payout(payout_id) if d.date <= period.last_day]
        if by_then:
            deposited[payout_id] = by_then
            return []
        return itemised(stripe, payout_id)

    walked = returned_payouts(transactions, settled)
    # Each returned payout's payout_failure and its day: among the month's movements, or those
    # of a returned payout that paid it out again.
    failures = {
        str(t.source): (t.id, t.created.astimezone(calendar.tz).date())
        for t in (*transactions, *(t for r in walked for t in r.transactions))
        if t.type in RETURNED_TYPES and t.source
    }
    payouts = []
    other_currencies: list[OtherCurrency] = []
    for payout in stripe.list_payouts(created_from=start, created_until=end):
        # A payout returned by month end is not one of them, unless NetSuite had deposited it
        # by then: what it settled had left Undeposited Funds with that deposit.
        if payout.id in returned and payout.id not in deposited:
            continue
        if payout.currency != currency:
            other_currencies += _other_currency_payout(payout, period, netsuite)
            continue
        arrived_on = arrival_day(payout)
        deposited_on = None
        on_deposits: tuple[CustomerPayment, ...] = ()
        references: frozenset[str] = frozenset()
        if arrived_on <= period.last_day:
            deposits = netsuite.deposits_for_payout(payout.id)
            deposited_on = min((d.date for d in deposits), default=None)
            on_deposits = _deposited_payments(deposits, period, payments, netsuite)
            references = _deposited_references(deposits, period)
        payouts.append(
            PayoutAtMonthEnd(
                payout,
                # Stripe itemises only an automatic payout: a manual one settled no movement
                # in particular (see ``tie_out``).
                tuple(stripe.payout_transactions(payout.id)) if payout.automatic else (),
                arrived_on,
                deposited_on,
                on_deposits,
                references,
            )
        )
    # The company's currency is walked; what NetSuite holds of others is named, not walked.
    undeposited = netsuite.undeposited_funds_by_currency(currency.upper(), as_of=period.last_day)
    walked_funds = undeposited.pop(currency.upper(), Money(0, currency)).amount
    return TieOutBooks(
        period=period,
        currency=currency,
        timezone=calendar.tz.key,
        transactions=tuple(transactions),
        payouts=tuple(sorted(payouts, key=lambda p: (p.payout.created, p.payout.id))),
        recorded=_by_charge(
            payments,
            (t for p in payouts for t in p.transactions),
            transactions,
            *(r.transactions for r in walked),
            stripe=stripe,
            netsuite=netsuite,
        ),
        returned_payouts={r.payout: r.transactions for r in walked if r.payout not in deposited},
        returned_after_deposit=tuple(
            ReturnedAfterDeposit(
                r.payout,
                r.amount,
                *failures[r.payout],
                tuple(d.id for d in deposited[r.payout]),
                min(d.date for d in deposited[r.payout]),
            )
            for r in walked
            if r.payout in deposited
        ),
        undeposited_funds=walked_funds,
        held=tuple(held_for_dunning(netsuite)),
        reported_balance=reported,
        walked_from=since,
        locale=enrichment.company.locale,
        other_currencies=(
            *(
                OtherCurrency(
                    reference="Undeposited Funds",
                    currency=code,
                    amount=held.amount,
                    amount_currency=held.currency,
                    description=(
                        f"NetSuite's Undeposited Funds holds payments in {code}, booked in "
                        f"{held.currency} at NetSuite's rates"
                    ),
                )
                for code, held in sorted(undeposited.items())
                if held.amount
            ),
            *other_currencies,
        ),
    )


def _other_currency_payout(
    payout: Payout, period: ClosePeriod, netsuite: Any
) -> list[OtherCurrency]:
    """A payout in another currency still on its way to NetSuite at month end: in transit, or
    in the bank with no deposit dated by then."""
    arrived_on = arrival_day(payout)
    if arrived_on > period.last_day:
        where = f"in transit at month end (arrives {arrived_on.isoformat()})"
    elif not any(d.date <= period.last_day for d in netsuite.deposits_for_payout(payout.id)):
        where = f"reached the bank on {arrived_on.isoformat()}; no NetSuite deposit by month end"
    else:
        return []
    code = payout.currency.upper()
    return [
        OtherCurrency(
            reference=payout.id,
            currency=code,
            amount=payout.amount,
            amount_currency=code,
            description=f"Stripe payout in {code}, {where}",
        )
    ]


def _by_charge(
    payments: list[CustomerPayment],
    *moved: Iterable[BalanceTransaction],
    stripe: Any,
    netsuite: Any,
) -> dict[str, tuple[CustomerPayment, ...]]:
    """The customer payments recording each Stripe charge, by date: those dated by month end
    say how much of it was recorded then, a later one when the rest was. A payment keyed by
    hand without the charge id records the charge whose Stripe invoice its invoice carries (per
    the stable-ID mapping, as the daily reconciliation finds it), or, keyed against several
    invoices, the charge of each."""
    in_order = sorted(payments, key=lambda p: (p.date, p.id))
    recorded: dict[str, tuple[CustomerPayment, ...]] = {}
    for payment in in_order:
        if payment.stripe_charge_id:
            recorded[payment.stripe_charge_id] = (
                *recorded.get(payment.stripe_charge_id, ()),
                payment,
            )
    by_hand = [p for p in in_order if not p.stripe_charge_id and p.applied_invoices]
    if not by_hand:
        return recorded
    invoices = {
        i.id: i for i in netsuite.invoices({i for p in by_hand for i in p.applied_invoices})
    }
    # Stripe invoice → the payments keyed by hand against its NetSuite invoice; a remittance
    # keyed against several invoices records each of their charges.
    of_invoice: dict[str, list[CustomerPayment]] = defaultdict(list)
    for payment in by_hand:
        for applied in payment.applied_invoices:
            invoice = invoices.get(applied)
            if invoice is not None and invoice.stripe_invoice_id:
                of_invoice[invoice.stripe_invoice_id].append(payment)
    charges = {
        str(t.source)
        for of_some in moved
        for t in of_some
        if t.type in PAYMENT_TYPES and t.source and t.source not in recorded
    }
    asked = [stripe.get_charge(charge_id) for charge_id in sorted(charges)]
    # Two charges of one invoice (a retry after a partial payment) each take the payment keyed
    # for their amount first; then a charge keyed in parts takes every part left.
    for exact in (True, False):
        for charge in asked:
            keyed = of_invoice.get(charge.invoice or "")
            if charge.id in recorded or not keyed:
                continue
            same = next((p for p in keyed if p.amount == charge.amount), None)
            if same is not None:
                taken = [same]
            elif exact:
                continue
            else:
                taken = list(keyed)
            for payment in taken:
                keyed.remove(payment)
            recorded[charge.id] = tuple(taken)
    return recorded


def _deposited_references(deposits: list[Deposit], period: ClosePeriod) -> frozenset[str]:
    """The words (Stripe ids among them) of the memos on a payout's deposits dated by month
    end, on their lines other than payments: ``refund re_…``, ``adjustment dp_…``, or a
    person's own words naming the refund."""
    return frozenset(
        word
        for deposit in deposits
        if deposit.date <= period.last_day
        for line in deposit.lines
        if line.payment_id is None and line.memo
        for word in _WORD.findall(line.memo)
    )


# A word of free text, as a Stripe id is one: letters, digits and underscores.
_WORD = re.compile(r"[A-Za-z0-9_]+")


def _deposited_payments(
    deposits: list[Deposit], period: ClosePeriod, payments: list[CustomerPayment], netsuite: Any
) -> tuple[CustomerPayment, ...]:
    """The customer payments on a payout's deposits dated by month end. Those dated outside
    the payments read (keyed by hand long before, or dated ahead) are asked for one by one."""
    dated = {p.id: p for p in payments}
    found = []
    for deposit in deposits:
        if deposit.date > period.last_day:
            continue
        for line in deposit.lines:
            if line.payment_id is None:
                continue
            payment = dated.get(line.payment_id) or netsuite.customer_payment(line.payment_id)
            if payment is not None:
                found.append(payment)
    return tuple(found)


def held_for_dunning(netsuite: Any) -> list[HeldRecognition]:
    """Customers whose revenue plans NetSuite holds for dunning, with the plans held: one entry
    per customer and currency, since amounts in two currencies are never added."""
    plans: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for plan in netsuite.held_revenue_plans():
        if plan.hold_reason == DUNNING:
            plans[plan.customer_id, plan.currency].append(plan)
    held = []
    for (customer_id, currency), of_customer in sorted(plans.items()):
        customer = netsuite.customer(customer_id)
        held.append(
            HeldRecognition(
                customer_id=customer_id,
                customer=customer.name if customer else customer_id,
                stripe_customer_id=customer.stripe_customer_id if customer else None,
                plans=[p.number or p.id for p in of_customer],
                amount=sum(p.amount for p in of_customer),
                currency=currency,
            )
        )
    return held
