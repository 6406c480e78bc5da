"""A day's payouts as the morning reconciliation left them: the read model behind
``GET /api/cash/payouts`` and ``revline cash payouts``.

Read from Revline's own records, never from a provider: the day's ``payouts:<date>`` case and
the data of its latest decision, the deposit action of each payout (whichever morning proposed
it), for each orphan payment the flag that handed it on and the investigation it opened, and for
a payout whose deposit cannot tie the variance case it opened.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revline.db.models import Action, ActionStatus, Case, Decision
from revline.errors import InvalidRequest, NotFound
from revline.playbooks.cash.orphans import ORPHAN_PAYMENT
from revline.playbooks.cash.payout_variance import PAYOUT_VARIANCE
from revline.playbooks.cash.payouts import FLAGGED_TO_A_VARIANCE_CASE, PAYOUT_RECONCILIATION
from revline.providers.netsuite.actions import DEPOSIT_CREATE


class CaseLink(BaseModel):
    """A case the day's findings opened: an orphan's investigation, a payout's variance."""

    case_id: str
    state: str
    queue: str | None


class TransactionMatch(BaseModel):
    """One payment of the payout and what the matching engine made of it."""

    transaction: str  # the Stripe balance transaction
    status: str  # matched | proposed | blocked | unmatched
    tier: str | None
    reason: str
    netsuite: list[str]  # the NetSuite customer payment(s) matched or proposed
    charge: str | None  # the Stripe charge the payment settled
    orphan_case: CaseLink | None


class DepositLine(BaseModel):
    type: str  # payment | refund | adjustment | fee
    amount: int
    account: str | None = None
    reference: str | None = None


class Deposit(BaseModel):
    """The payout's ``netsuite.deposit.create`` action, on whichever day's case proposed it."""

    action_id: str
    case_id: str | None
    status: str
    date: date | None
    lines: list[DepositLine]
    applied_at: datetime | None
    netsuite_deposit: str | None  # NetSuite's internal id, once applied
    last_error: str | None


class ReturnedPayout(BaseModel):
    """A payout the bank returned whose money this payout pays out again."""

    payout: str
    amount: int
    # NetSuite's deposits for it: none means its payments are lines of this payout's deposit;
    # any means the money came back from the bank and a person books it (status returned_payout).
    deposits: list[str]


class PayoutEntry(BaseModel):
    payout: str
    amount: int | None
    currency: str | None
    arrival: date | None
    # deposit_proposed | recording_payments | already_deposited | orphans_pending |
    # matches_pending | variance | returned_payout
    status: str
    fees: int | None
    # Payout minus the deposit lines (and the returned money a person books); None while
    # payments are unresolved.
    variance: int | None
    unresolved: list[str]  # balance transactions keeping the deposit from being posted
    deposit: Deposit | None
    # Opened when the lines could not tie (status variance) or returned money waits for a
    # person (status returned_payout).
    variance_case: CaseLink | None
    transactions: list[TransactionMatch]
    returned: list[ReturnedPayout] = []


class PayoutDay(BaseModel):
    business_date: date
    case_id: str
    state: str  # reconciled | recording | exceptions
    queue: str | None
    # When the day was last reconciled: the morning run, or a person's rerun (not an outcome of
    # one of its actions arriving later, which decides nothing about the day).
    updated_at: datetime
    payouts: list[PayoutEntry]


_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def business_date(value: str | None, name: str = "date") -> date:
    """The ``YYYY-MM-DD`` a person asked for; refused naming the parameter otherwise."""
    if not value:
        raise InvalidRequest(f"{name} is required (YYYY-MM-DD)")
    # Only that form: ``date.fromisoformat`` also reads 20261204 and the week date 2026-W49-5,
    # which a person mistyping would not know showed another morning.
    try:
        if not _YYYY_MM_DD.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a date as YYYY-MM-DD, not {value!r}") from None


def _reconciled_at(session: Session, case: Case) -> datetime:
    ran = session.execute(
        select(func.max(Decision.at)).where(
            Decision.case_id == case.id, Decision.trigger.in_(("event", "manual"))
        )
    ).scalar_one()
    return ran if ran is not None else case.updated_at


def payouts_of(session: Session, day: date) -> PayoutDay:
    """The payout reconciliation of business date ``day``; ``NotFound`` if none ran."""
    case = session.execute(
        select(Case).where(Case.kind == PAYOUT_RECONCILIATION.name, Case.subject == _subject(day))
    ).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no payout reconciliation for {day.isoformat()}")
    summary: list[dict[str, Any]] = list(case.data.get("payouts", []))
    deposits = _deposits(session, [entry["payout"] for entry in summary])
    investigations = _cases_of(
        session,
        ORPHAN_PAYMENT.name,
        {
            str(match["charge"])
            for entry in summary
            for match in entry.get("matches", [])
            if match["status"] == "unmatched" and match.get("charge")
        },
    )
    variances = _cases_of(
        session,
        PAYOUT_VARIANCE.name,
        {e["payout"] for e in summary if e["status"] in FLAGGED_TO_A_VARIANCE_CASE},
    )
    return PayoutDay(
        business_date=day,
        case_id=case.id,
        state=case.state,
        queue=case.queue,
        updated_at=_reconciled_at(session, case),
        payouts=[
            _entry(
                entry,
                deposits.get(entry["payout"]),
                variances.get(entry["payout"]),
                investigations,
            )
            for entry in summary
        ],
    )


def _subject(day: date) -> str:
    return f"payouts:{day.isoformat()}"


def _deposits(session: Session, payouts: list[str]) -> dict[str, Deposit]:
    """Each payout's deposit action: the one applied, else the latest. A payout has more than
    one when its deposit was composed again with other lines before it was posted."""
    if not payouts:
        return {}
    rows = session.execute(
        select(Action)
        .where(Action.kind == DEPOSIT_CREATE, Action.subject.in_(payouts))
        .order_by(Action.created_at, Action.id)
    ).scalars()
    found: dict[str, Deposit] = {}
    for action in rows:
        standing = found.get(action.subject)
        if standing is not None and standing.status == ActionStatus.APPLIED:
            continue
        result = action.result or {}
        found[action.subject] = Deposit(
            action_id=action.id,
            case_id=action.case_id,
            status=action.status,
            # The day NetSuite booked it once it did (a closed month moves it), else the day
            # asked for.
            date=result.get("date") or action.params.get("date"),
            lines=[DepositLine.model_validate(line) for line in action.params.get("lines", [])],
            applied_at=action.applied_at,
            netsuite_deposit=result.get("deposit"),
            last_error=action.last_error,
        )
    return found


def _cases_of(session: Session, kind: str, subjects: set[str]) -> dict[str, CaseLink]:
    """The cases of ``kind`` opened for these subjects (charges, payouts), by subject."""
    if not subjects:
        return {}
    rows = session.execute(
        select(Case).where(Case.kind == kind, Case.subject.in_(subjects))
    ).scalars()
    return {row.subject: CaseLink(case_id=row.id, state=row.state, queue=row.queue) for row in rows}


def _entry(
    entry: dict[str, Any],
    deposit: Deposit | None,
    variance_case: CaseLink | None,
    investigations: dict[str, CaseLink],
) -> PayoutEntry:
    transactions = []
    for match in entry.get("matches", []):
        charge = match.get("charge")
        orphan = match["status"] == "unmatched" and charge is not None
        transactions.append(
            TransactionMatch(
                transaction=match["transaction"],
                status=match["status"],
                tier=match["tier"],
                reason=match["reason"],
                netsuite=list(match["netsuite"]),
                charge=charge,
                orphan_case=investigations.get(charge) if orphan else None,
            )
        )
    return PayoutEntry(
        payout=entry["payout"],
        amount=entry.get("amount"),
        currency=entry.get("currency"),
        arrival=entry.get("arrival"),
        status=entry["status"],
        fees=entry.get("fees"),
        variance=entry.get("variance"),
        unresolved=list(entry.get("unresolved", [])),
        deposit=deposit,
        variance_case=variance_case,
        transactions=transactions,
        returned=[ReturnedPayout.model_validate(r) for r in entry.get("returned", [])],
    )
