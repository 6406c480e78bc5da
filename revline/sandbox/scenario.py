"""The scenario contract of ``revline simulate`` (SCENARIOS.md): parsing and validation.

A scenario is a small story: a company, its customers, and happenings in Stripe, NetSuite and
Ramp at given times. An invalid scenario is refused whole, with the field that is wrong named
(``happenings.2.customer: unknown customer 'acme'``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from revline.errors import RevlineError
from revline.providers.simulator import Faults
from revline.providers.stripe.sim.state import FeeSchedule

MinorUnits = Annotated[int, Field(ge=0)]


class InvalidScenario(RevlineError):
    code = "invalid_scenario"
    http_status = 400


def fee_schedule(rate: str | None) -> FeeSchedule | None:
    """``"2.9%+30"`` → 2.9 % plus 30 minor units per charge; None keeps Stripe's standard."""
    if rate is None:
        return None
    percent, _, fixed = rate.replace(" ", "").partition("+")
    try:
        return FeeSchedule(Decimal(percent.rstrip("%")), int(fixed or 0))
    except (ArithmeticError, ValueError) as exc:
        raise ValueError(f"{rate!r} is not like '2.9%+30'") from exc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonIn(_Strict):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class CompanyIn(_Strict):
    name: str = "Our Company"
    timezone: str = "America/New_York"
    holiday_country: str = "US"
    holiday_subdivision: str | None = None
    currency: str = Field("usd", pattern=r"^[A-Za-z]{3}$")
    people: dict[str, PersonIn] = {}


class SubscriptionIn(_Strict):
    id: str = Field(min_length=1)
    amount: MinorUnits
    interval: Literal["month", "year"] = "month"


class CustomerIn(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    mrr_trailing_3m: MinorUnits = 0
    ap_contact: PersonIn | None = None
    relationship_owner: PersonIn | None = None
    subscription: SubscriptionIn | None = None


class _Happening(_Strict):
    at: AwareDatetime


class PaymentFails(_Happening):
    type: Literal["payment_fails"]
    customer: str
    invoice: str
    invoice_number: str | None = None
    amount: MinorUnits
    code: str
    decline_code: str | None = None
    smart_retry_after: timedelta = timedelta(hours=1)
    smart_retry_recovers: bool = False


class CardUpdated(_Happening):
    type: Literal["card_updated"]
    customer: str


class PaymentSucceeds(_Happening):
    type: Literal["payment_succeeds"]
    customer: str
    invoice: str | None = None
    # bank_transfer: paid out of band, no charge; card: on the invoice's hosted payment page.
    via: Literal["bank_transfer", "card"] = "bank_transfer"
    # True: not at `at` but the moment Revline's next manual retry of the invoice reaches
    # Stripe (at or after `at`), just before Stripe processes it: the retry meets a paid invoice.
    during_retry: bool = False


class CustomerReplies(_Happening):
    type: Literal["customer_replies"]
    customer: str
    promised_date: date
    invoice: str | None = None


class Payment(_Happening):
    type: Literal["payment"]
    customer: str
    invoice: str
    invoice_number: str | None = None
    amount: MinorUnits
    # False: the company's Stripe→NetSuite connector missed it; NetSuite has the invoice only.
    recorded_in_netsuite: bool = True


class Payout(_Happening):
    type: Literal["payout"]
    fee_rate: str | None = Field(None, description='e.g. "2.9%+30"; default Stripe\'s standard')
    arrival: date | None = None
    manual_amount: MinorUnits | None = Field(
        None,
        description="a manual payout of this many minor units, made in the Dashboard (Stripe "
        "lists no balance transactions for it); default an automatic payout of the balance",
    )

    @field_validator("fee_rate")
    @classmethod
    def _a_price(cls, rate: str | None) -> str | None:
        fee_schedule(rate)  # refused now, naming the happening, not half-way through the run
        return rate

    @model_validator(mode="after")
    def _priced_only_when_automatic(self) -> Payout:
        if self.manual_amount is not None and self.fee_rate is not None:
            raise ValueError("fee_rate reprices what an automatic payout settles, not a manual one")
        # Money cannot reach the bank before Stripe sent it: a deposit dated before its payout.
        # Stripe's arrival date is a UTC day, so the payout's day is too.
        made = self.at.astimezone(UTC).date()
        if self.arrival is not None and self.arrival < made:
            raise ValueError(f"arrival {self.arrival} is before the payout is made ({made}, UTC)")
        return self


class PayoutRerun(_Happening):
    """The billing analyst runs a morning's payout reconciliation again (as with
    ``revline cash rerun``): ``date`` is the business date of that morning."""

    type: Literal["payout_rerun"]
    date: date


class OrphanPayment(_Happening):
    type: Literal["orphan_payment"]
    email: str
    amount: MinorUnits
    email_typo_of: str | None = None
    via: Literal["checkout_link", "portal"] = "portal"
    # The open NetSuite invoice of ``email_typo_of`` the payment was meant for (its number).
    meant_for_invoice: str | None = None

    @model_validator(mode="after")
    def _meant_for_a_customer(self) -> OrphanPayment:
        if self.meant_for_invoice and not self.email_typo_of:
            raise ValueError("meant_for_invoice needs email_typo_of: whose invoice it is")
        return self


class Refund(_Happening):
    """Someone refunds a paid invoice's charge in the Stripe dashboard."""

    type: Literal["refund"]
    customer: str
    invoice: str
    amount: Annotated[int, Field(gt=0)] | None = Field(
        None, description="minor units; default all that is left of the charge"
    )
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] = "requested_by_customer"


class DuplicateInvoice(_Happening):
    """Two invoices for one obligation, both paid: at ``at``, or the copy at ``at`` and the
    invoice it copies at ``kept_paid_at`` (the customer paid the copy first)."""

    type: Literal["duplicate_invoice"]
    customer: str
    amount: MinorUnits
    kept_invoice_number: str
    duplicate_invoice_number: str
    kept_paid_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _copy_paid_first(self) -> DuplicateInvoice:
        if self.kept_paid_at is not None and self.kept_paid_at <= self.at:
            raise ValueError("kept_paid_at must be after at: the copy is paid first")
        return self


class UndepositedFundsEntry(_Happening):
    """A journal entry keyed by hand in NetSuite against Undeposited Funds."""

    type: Literal["undeposited_funds_entry"]
    id: str = Field(min_length=1, description="a name the correction refers to")
    amount: int = Field(description="minor units; positive debits Undeposited Funds")
    offset_account: str = "4000"
    on: date | None = Field(None, description="the entry's date; default the day of `at`")
    memo: str | None = None

    @model_validator(mode="after")
    def _not_zero(self) -> UndepositedFundsEntry:
        if self.amount == 0:
            raise ValueError("amount must not be zero")
        return self


class UndepositedFundsCorrection(_Happening):
    """The hand-keyed entry reversed by a correcting journal entry."""

    type: Literal["undeposited_funds_correction"]
    entry: str = Field(description="the id of the undeposited_funds_entry it reverses")
    on: date | None = Field(None, description="the correction's date; default the day of `at`")
    memo: str | None = None


class LineItem(_Strict):
    description: str
    amount: MinorUnits


class RampTransaction(_Happening):
    type: Literal["ramp_transaction"]
    cardholder: str
    merchant: str
    amount: MinorUnits
    receipt: Literal["legible", "illegible", "none"] = "legible"
    line_items: list[LineItem] = []


class SaasContractApproved(_Happening):
    type: Literal["saas_contract_approved"]
    vendor: str
    monthly_fee: MinorUnits
    contract_pdf: str | None = None


Happening = Annotated[
    PaymentFails
    | CardUpdated
    | PaymentSucceeds
    | CustomerReplies
    | Payment
    | Payout
    | PayoutRerun
    | OrphanPayment
    | Refund
    | DuplicateInvoice
    | RampTransaction
    | SaasContractApproved
    | UndepositedFundsEntry
    | UndepositedFundsCorrection,
    Field(discriminator="type"),
]

# Happenings whose `customer` (or `email_typo_of`) must name a scenario customer.
_CUSTOMER_FIELDS = ("customer", "email_typo_of")


class Scenario(_Strict):
    name: str | None = None
    company: CompanyIn = CompanyIn()
    start: AwareDatetime
    until: AwareDatetime
    policy: dict[str, Any] = {}
    mode: Literal["live", "shadow"] = "live"
    approve: Literal["none", "all"] = "none"
    faults: Faults = Faults()
    customers: list[CustomerIn] = []
    happenings: list[Happening] = []

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.until <= self.start:
            raise ValueError("until must be after start")
        ids = [c.id for c in self.customers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"customer ids repeat: {', '.join(duplicates)}")
        known = set(ids)
        for index, happening in enumerate(self.happenings):
            if not self.start <= happening.at <= self.until:
                raise _FieldError(f"happenings.{index}.at", "is outside start..until")
            for name in _CUSTOMER_FIELDS:
                value = getattr(happening, name, None)
                if value is not None and value not in known:
                    raise _FieldError(f"happenings.{index}.{name}", f"unknown customer {value!r}")
        return self

    @model_validator(mode="after")
    def _corrections_follow_entries(self) -> Scenario:
        entries: set[str] = set()
        in_time = sorted(enumerate(self.happenings), key=lambda pair: (pair[1].at, pair[0]))
        for index, happening in in_time:
            if isinstance(happening, UndepositedFundsEntry):
                entries.add(happening.id)
            elif (
                isinstance(happening, UndepositedFundsCorrection) and happening.entry not in entries
            ):
                raise _FieldError(
                    f"happenings.{index}.entry",
                    f"no undeposited_funds_entry {happening.entry!r} before it",
                )
        return self


class _FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def parse(document: dict[str, Any], name: str | None = None) -> Scenario:
    """Validate a scenario document; the error names every field that is wrong."""
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        raise InvalidScenario(f"invalid scenario: {_describe(exc)}") from exc
    return scenario if scenario.name or not name else scenario.model_copy(update={"name": name})


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        # Drop the union member name pydantic puts in discriminated-union paths.
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "typed-dict"))]
        message = str(err["msg"]).removeprefix("Value error, ")
        if ":" in message and message.split(":", 1)[0].startswith("happenings."):
            problems.append(message)
        else:
            problems.append(f"{'.'.join(loc) or 'scenario'}: {message}")
    return "; ".join(problems)


def load(path: Path) -> Scenario:
    """Read a scenario from JSON or YAML."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidScenario(f"cannot read scenario {path}: {exc.strerror}") from exc
    try:
        document = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidScenario(
            f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from exc
    if not isinstance(document, dict):
        raise InvalidScenario(f"{path}: a scenario is an object with start, until, happenings…")
    return parse(document, name=path.stem)
