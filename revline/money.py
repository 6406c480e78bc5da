"""Money in integer minor units with an ISO currency; formatting for people through Babel."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

from babel import Locale
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
        return Decimal(self.amount).scaleb(-minor_unit_digits(self.currency))

    def format(self, locale: str = "en_US") -> str:
        """For people: ``$12,500.00``, ``12.500,00 €``, ``¥1,200``, ``HUF1,000.50``."""
        value = self.decimal
        if value == value.quantize(Decimal(1).scaleb(-get_currency_precision(self.currency))):
            return format_currency(value, self.currency, locale=locale)
        # CLDR gives some currencies fewer digits than their minor unit (none for HUF and ISK,
        # two in Stripe): a fraction there is shown with every digit of the minor unit, never
        # rounded away, in the locale's currency pattern.
        where = Locale.parse(locale)
        pattern = copy.copy(where.currency_formats["standard"])
        digits = minor_unit_digits(self.currency)
        pattern.frac_prec = (digits, digits)
        return str(pattern.apply(value, where, currency=self.currency, currency_digits=False))

    def __str__(self) -> str:
        return self.format()


# Minor units are Stripe's, because Stripe's integer amounts enter Revline as they are and every
# decimal amount (NetSuite's, Ramp's legacy fields, an export's) is converted to match them.
# Stripe (docs.stripe.com/currencies) gives every currency two decimals except its zero-decimal
# and three-decimal lists. That is ISO 4217's exponent except for two: ISK, zero-decimal in ISO,
# which Stripe keeps at two decimals (``100`` is 1 króna, and a charge must be a multiple of
# 100), and MGA, two in ISO, zero-decimal in Stripe. CLDR (Babel) is not used here: it gives 0
# for HUF, IDR, COP and others whose Stripe amounts have two decimals, 100 times off.
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# Stripe's three-decimal currencies, then ISO 4217's others (which Stripe does not process).
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND", "IQD", "LYD"])
# ISO 4217's units of account with four decimals (Chile's UF, Uruguay's wage index unit).
FOUR_DECIMAL = frozenset({"CLF", "UYW"})


def minor_unit_digits(currency: str) -> int:
    """Digits of a currency's minor unit: 2 for USD and ISK, 0 for JPY, 3 for KWD. The one
    definition of "minor units" for every provider's amounts (Stripe's, see above)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in FOUR_DECIMAL:
        return 4
    return 2


def to_minor_units(major: Decimal | int, currency: str) -> int:
    """An amount in major units as integer minor units, exactly: a fraction of a minor unit is
    refused rather than rounded, since it means a rate or a computed value slipped in."""
    if isinstance(major, bool) or not isinstance(major, Decimal | int):
        raise TypeError(f"an amount in major units must be a Decimal or an int, got {major!r}")
    scaled = Decimal(major).scaleb(minor_unit_digits(currency))
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{major} {currency.upper()} is not a whole number of minor units")
    return int(scaled)


def total(amounts: list[Money], currency: str) -> Money:
    """The sum of amounts that must all be in ``currency``."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
