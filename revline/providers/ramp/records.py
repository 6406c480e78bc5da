"""Ramp's objects as Revline's neutral, typed records (what playbooks see, never raw JSON).

Money is integer minor units plus an ISO currency code. Ramp sends ``CurrencyAmount {amount,
currency_code}`` in minor units for newer fields and major-unit decimals for legacy ones (a
transaction's ``amount``, a card's limit); ``from_wire`` converts the legacy ones exactly, via
``revline.providers.ramp.wire``. Provider states (transaction ``state``, ``approval_status``,
``sync_status``) stay strings: Ramp adds values, and an unknown one must not make a transaction
unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from revline.money import Money
from revline.providers.ramp.wire import to_minor

GL_ACCOUNT = "GL_ACCOUNT"


class ReviewDecision(StrEnum):
    """A spend decision on a transaction."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"


class CardTaskStatus(StrEnum):
    """The states of a deferred card-creation task."""

    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


def parse_time(value: Any) -> datetime:
    """An ISO 8601 time from Ramp, as aware UTC (Ramp's times without an offset are UTC)."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in values or ())


def _major(value: Any) -> Decimal | int:
    """A legacy major-unit amount as ``wire.decode`` reads it (never a float)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"expected a decimal amount, got {value!r}")
    return value


@dataclass(frozen=True)
class CurrencyAmount:
    """Ramp's ``CurrencyAmount``: integer minor units and an ISO currency code."""

    amount: int
    currency: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CurrencyAmount:
        amount = data["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(f"a CurrencyAmount is integer minor units, got {amount!r}")
        return cls(amount, str(data["currency_code"]).upper())

    def to_wire(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency_code": self.currency}

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True)
class AccountingFieldSelection:
    """One accounting coding on a transaction or line item (a GL account, a class, …)."""

    id: str
    name: str
    external_id: str | None
    type: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AccountingFieldSelection:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            external_id=_opt_str(data.get("external_id")),
            type=str(data["type"]),
        )


@dataclass(frozen=True)
class CardHolder:
    user_id: str
    first_name: str
    last_name: str
    department_id: str | None
    department_name: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CardHolder:
        return cls(
            user_id=str(data["user_id"]),
            first_name=str(data.get("first_name") or ""),
            last_name=str(data.get("last_name") or ""),
            department_id=_opt_str(data.get("department_id")),
            department_name=_opt_str(data.get("department_name")),
        )

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class LineItem:
    amount: CurrencyAmount
    memo: str | None
    accounting_field_selections: tuple[AccountingFieldSelection, ...]

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> LineItem:
        return cls(
            amount=CurrencyAmount.from_wire(data["amount"]),
            memo=_opt_str(data.get("memo")),
            accounting_field_selections=tuple(
                AccountingFieldSelection.from_wire(item)
                for item in data.get("accounting_field_selections") or ()
            ),
        )


@dataclass(frozen=True)
class PolicyViolation:
    id: str
    type: str
    memo: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> PolicyViolation:
        return cls(id=str(data["id"]), type=str(data["type"]), memo=_opt_str(data.get("memo")))


@dataclass(frozen=True)
class Transaction:
    """A card transaction. ``amount`` is minor units of ``currency`` (the settled amount)."""

    id: str
    amount: int
    currency: str
    state: str
    user_transaction_time: datetime
    card_holder: CardHolder
    merchant_id: str | None
    merchant_name: str
    sk_category_name: str | None
    memo: str | None
    receipts: tuple[str, ...]
    line_items: tuple[LineItem, ...]
    policy_violations: tuple[PolicyViolation, ...]
    accounting_field_selections: tuple[AccountingFieldSelection, ...]
    approval_status: str | None
    sync_status: str | None
    original_amount: CurrencyAmount | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Transaction:
        currency = str(data["currency_code"]).upper()
        original = data.get("original_transaction_amount")
        return cls(
            id=str(data["id"]),
            amount=to_minor(_major(data["amount"]), currency),
            currency=currency,
            state=str(data["state"]),
            user_transaction_time=parse_time(data["user_transaction_time"]),
            card_holder=CardHolder.from_wire(data["card_holder"]),
            merchant_id=_opt_str(data.get("merchant_id")),
            merchant_name=str(data.get("merchant_name") or ""),
            sk_category_name=_opt_str(data.get("sk_category_name")),
            memo=_opt_str(data.get("memo")),
            receipts=_strings(data.get("receipts")),
            line_items=tuple(LineItem.from_wire(item) for item in data.get("line_items") or ()),
            policy_violations=tuple(
                PolicyViolation.from_wire(item) for item in data.get("policy_violations") or ()
            ),
            accounting_field_selections=tuple(
                AccountingFieldSelection.from_wire(item)
                for item in data.get("accounting_field_selections") or ()
            ),
            approval_status=_opt_str(data.get("approval_status")),
            sync_status=_opt_str(data.get("sync_status")),
            original_amount=CurrencyAmount.from_wire(original) if original else None,
        )

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def gl_selection(self) -> AccountingFieldSelection | None:
        """The GL account the transaction is coded to, if any."""
        return next((s for s in self.accounting_field_selections if s.type == GL_ACCOUNT), None)

    @property
    def gl_code(self) -> str | None:
        selection = self.gl_selection
        return selection.external_id if selection else None


@dataclass(frozen=True)
class Receipt:
    id: str
    transaction_id: str | None
    user_id: str | None
    receipt_url: str | None
    created_at: datetime

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Receipt:
        return cls(
            id=str(data["id"]),
            transaction_id=_opt_str(data.get("transaction_id")),
            user_id=_opt_str(data.get("user_id")),
            receipt_url=_opt_str(data.get("receipt_url")),
            created_at=parse_time(data["created_at"]),
        )


@dataclass(frozen=True)
class User:
    """A Ramp user: a cardholder, and possibly a manager (a team owner) of others."""

    id: str
    first_name: str
    last_name: str
    email: str
    role: str
    department_id: str | None
    manager_id: str | None
    is_manager: bool

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> User:
        return cls(
            id=str(data["id"]),
            first_name=str(data.get("first_name") or ""),
            last_name=str(data.get("last_name") or ""),
            email=str(data["email"]),
            role=str(data["role"]),
            department_id=_opt_str(data.get("department_id")),
            manager_id=_opt_str(data.get("manager_id")),
            is_manager=bool(data.get("is_manager", False)),
        )

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Department:
    id: str
    name: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Department:
        return cls(id=str(data["id"]), name=str(data["name"]))


@dataclass(frozen=True)
class GLAccount:
    """A general-ledger account synced into Ramp from the ERP (``code`` is e.g. ``6610``)."""

    id: str
    name: str
    code: str
    classification: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> GLAccount:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            code=str(data["code"]),
            classification=str(data.get("classification") or ""),
        )


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Vendor:
        return cls(id=str(data["id"]), name=str(data["name"]))


@dataclass(frozen=True)
class Memo:
    transaction_id: str
    memo: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Memo:
        return cls(transaction_id=str(data["transaction_id"]), memo=str(data["memo"]))


@dataclass(frozen=True)
class CardTask:
    """A deferred card creation: ``card_id`` once ``SUCCESS``, ``error`` once ``ERROR``."""

    id: str
    status: CardTaskStatus
    card_id: str | None
    error: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CardTask:
        details = data.get("data") or {}
        error = details.get("error")
        message = error.get("message") if isinstance(error, Mapping) else error
        return cls(
            id=str(data["id"]),
            status=CardTaskStatus(data["status"]),
            card_id=_opt_str(details.get("card_id")),
            error=_opt_str(message),
        )


@dataclass(frozen=True)
class Card:
    """A virtual card. ``limit`` is minor units of ``currency`` per ``interval``."""

    id: str
    display_name: str
    cardholder_id: str
    state: str
    limit: int
    currency: str
    interval: str
    vendor_whitelist: tuple[str, ...]
    categories_whitelist: tuple[str, ...]
    blocked_mcc_codes: tuple[str, ...]
    transaction_amount_limit: int | None
    gl_account_id: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], currency: str) -> Card:
        """``currency``: the business's currency, in which Ramp states card limits."""
        restrictions = data.get("spending_restrictions") or {}
        per_transaction = restrictions.get("transaction_amount_limit")
        return cls(
            id=str(data["id"]),
            display_name=str(data.get("display_name") or ""),
            cardholder_id=str(data["cardholder_id"]),
            state=str(data["state"]),
            limit=to_minor(_major(restrictions["amount"]), currency),
            currency=currency.upper(),
            interval=str(restrictions["interval"]),
            vendor_whitelist=_strings(restrictions.get("vendor_whitelist")),
            categories_whitelist=_strings(restrictions.get("categories_whitelist")),
            blocked_mcc_codes=_strings(restrictions.get("blocked_mcc_codes")),
            transaction_amount_limit=(
                None if per_transaction is None else to_minor(_major(per_transaction), currency)
            ),
            gl_account_id=_opt_str(data.get("accounting_gl_account_id")),
        )
