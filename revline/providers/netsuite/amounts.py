"""NetSuite amounts (decimal major units) to and from Revline's integer minor units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision


def precision(currency: str) -> int:
    """Digits after the decimal point for a currency (2 for USD, 0 for JPY)."""
    return int(get_currency_precision(currency.upper()))


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units as the decimal NetSuite expects: 1250050 USD → Decimal('12500.50')."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be int minor units, got {amount!r}")
    return Decimal(amount).scaleb(-precision(currency))


def to_minor(value: Decimal | int | str, currency: str) -> int:
    """A NetSuite amount as minor units, exactly; a fraction of a minor unit is an error.

    NetSuite rounds currency fields to the currency's precision, so a value with more digits
    means something is wrong (a computed column, a rate): refusing beats silently rounding.
    """
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    scaled = number.scaleb(precision(currency))
    whole = scaled.to_integral_value()
    if scaled != whole:
        raise ValueError(f"{value} {currency.upper()} is not a whole number of minor units")
    return int(whole)
