"""Money in integer minor units with an ISO currency; formatting for people through Babel."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

from revline.errors import RevlineError


class CurrencyMismatch(RevlineError):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"
    http_status = 400


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units (cents for USD, yen for JPY) of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money amount must be an int of minor units, got {self.amount!r}")
        normalised = self.currency.upper()
        if len(normalised) != 3 or not normalised.isalpha():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")
        object.__setattr__(self, "currency", normalised)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def abs(self) -> Money:
        return Money(abs(self.amount), self.currency)

    @property
    def decimal(self) -> Decimal:
        """The amount in major units, exact (never a float)."""
        return Decimal(self.amount).scaleb(-get_currency_precision(self.currency))

    def format(self, locale: str = "en_US") -> str:
        """For people: ``$12,500.00``, ``12.500,00 €``, ``¥1,200``."""
        return format_currency(self.decimal, self.currency, locale=locale)

    def __str__(self) -> str:
        return self.format()


def total(amounts: list[Money], currency: str) -> Money:
    """The sum of amounts that must all be in ``currency``."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
