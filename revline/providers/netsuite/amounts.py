"""NetSuite amounts (decimal major units) to and from Revline's integer minor units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from revline.money import Money, to_minor_units


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units as the decimal NetSuite expects: 1250050 USD → Decimal('12500.50')."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be int minor units, got {amount!r}")
    return Money(amount, currency).decimal


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
    return to_minor_units(number, currency)
