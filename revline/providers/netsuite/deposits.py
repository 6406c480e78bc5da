"""The bank deposit for one Stripe payout, as Revline asks NetSuite for it.

A payout is gross charges minus Stripe's fees and refunds. Finance books it as one deposit:
the customer payments it settles move out of Undeposited Funds (``payment`` lines), and every
other amount is its own line to its own GL account, never netted: Stripe's processing fees go
to GL 6700-8 as a cash-back line, refunds and negative adjustments are cash-back lines too, and
positive adjustments are ``other`` deposit lines. The lines must add up to the payout to the
cent, or nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

from revline.providers.base import ProviderError
from revline.providers.netsuite import amounts, errors
from revline.providers.netsuite.records import CustomerPayment, DepositSublist

LineType = Literal["payment", "refund", "fee", "adjustment"]
LINE_TYPES: tuple[str, ...] = get_args(LineType)


@dataclass(frozen=True)
class DepositLineRequest:
    """One line of a payout. ``amount`` is signed: positive adds to the deposit."""

    type: LineType
    amount: int
    account: str | None = None  # GL account number; required except on payment lines
    reference: str | None = None  # payment: customer payment id or Stripe charge id

    @property
    def sublist(self) -> DepositSublist:
        if self.type == "payment":
            return "payment"
        return "other" if self.amount > 0 else "cashback"

    @property
    def memo(self) -> str:
        return f"{self.type} {self.reference}" if self.reference else self.type


@dataclass(frozen=True)
class DepositRequest:
    """A payout's deposit: the payout id, its amount, and lines that sum to it exactly."""

    payout: str
    amount: int
    currency: str
    lines: tuple[DepositLineRequest, ...]
    date: date | None = None
    bank_account: str | None = None  # account number; the adapter's default when None

    def __post_init__(self) -> None:
        if not self.payout:
            raise refused("a deposit needs the Stripe payout id")
        if self.amount <= 0:
            raise refused(f"payout {self.payout}: the amount must be positive, not {self.amount}")
        if not self.lines:
            raise refused(f"payout {self.payout}: a deposit needs at least one line")
        lines_total = sum(line.amount for line in self.lines)
        if lines_total != self.amount:
            raise refused(
                f"payout {self.payout}: the lines sum to {lines_total} but the payout is "
                f"{self.amount} {self.currency.upper()} (minor units); nothing was sent",
                "lines_do_not_sum",
            )
        references = [line.reference for line in self.lines if line.type == "payment"]
        if len(references) != len(set(references)):
            raise refused(f"payout {self.payout}: a customer payment appears twice")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], fee_account: str) -> DepositRequest:
        """From a ``netsuite.deposit.create`` action's parameters; fee lines default to
        ``fee_account``."""
        raw_lines = params.get("lines")
        if not isinstance(raw_lines, Sequence) or isinstance(raw_lines, str):
            raise refused("params.lines must be a list of lines")
        deposit_date = params.get("date")
        return cls(
            payout=_text(params, "payout"),
            amount=_minor_units(params.get("amount"), "amount"),
            currency=_text(params, "currency").upper(),
            lines=tuple(_line(raw, fee_account) for raw in raw_lines),
            date=date.fromisoformat(deposit_date) if isinstance(deposit_date, str) else None,
            bank_account=params.get("bank_account") or None,
        )


def refused(message: str, code: str = "invalid_deposit") -> ProviderError:
    return errors.refused(message, code)


def _text(params: Mapping[str, Any], key: str) -> str:
    raw = params.get(key)
    if not isinstance(raw, str) or not raw:
        raise refused(f"params.{key} must be a non-empty string")
    return raw


def _minor_units(raw: object, what: str) -> int:
    # Floats are refused rather than rounded: an amount must already be whole minor units.
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise refused(f"{what} must be an integer of minor units, got {raw!r}")
    return raw


def _line(raw: object, fee_account: str) -> DepositLineRequest:
    if not isinstance(raw, Mapping):
        raise refused(f"a deposit line must be an object, got {raw!r}")
    kind = raw.get("type")
    if kind not in LINE_TYPES:
        raise refused(f"deposit line type must be one of {', '.join(LINE_TYPES)}, got {kind!r}")
    amount = _minor_units(raw.get("amount"), "a deposit line amount")
    if amount == 0:
        raise refused("a deposit line of zero says nothing; leave it out")
    reference = raw.get("reference") or None
    account = raw.get("account") or (fee_account if kind == "fee" else None)
    if kind == "payment":
        if amount < 0 or not reference:
            raise refused("a payment line needs a positive amount and the payment's reference")
        account = None
    elif not account:
        raise refused(f"a {kind} line needs the GL account it posts to")
    return DepositLineRequest(type=kind, amount=amount, account=account, reference=reference)


def body(
    request: DepositRequest,
    *,
    bank_account_id: str,
    account_ids: Mapping[str, str],
    payments: Mapping[str, CustomerPayment],
    idempotency_key: str,
) -> dict[str, Any]:
    """The REST ``deposit`` record to create.

    ``account_ids`` maps GL account numbers to internal ids; ``payments`` maps each payment
    line's reference to the customer payment it resolved to.
    """
    currency = request.currency
    payment_items: list[dict[str, Any]] = []
    other_items: list[dict[str, Any]] = []
    cashback_items: list[dict[str, Any]] = []
    for line in request.lines:
        if line.sublist == "payment":
            payment = payments[str(line.reference)]
            payment_items.append(
                {
                    "doc": {"id": payment.id},
                    "deposit": True,
                    "paymentAmount": amounts.to_major(line.amount, currency),
                }
            )
            continue
        item = {
            "account": {"id": account_ids[str(line.account)]},
            "amount": amounts.to_major(abs(line.amount), currency),
            "memo": line.memo,
        }
        (other_items if line.sublist == "other" else cashback_items).append(item)
    record: dict[str, Any] = {
        "account": {"id": bank_account_id},
        "memo": f"Stripe payout {request.payout}",
        "custbody_stripe_payout_id": request.payout,
        "custbody_revline_idempotency_key": idempotency_key,
        "payment": {"items": payment_items},
        "other": {"items": other_items},
        "cashBack": {"items": cashback_items},
    }
    if request.date is not None:
        record["tranDate"] = request.date.isoformat()
    return record
