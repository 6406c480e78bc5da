"""JSON on Ramp's wire, without a float anywhere money passes.

Ramp mixes two money shapes: ``CurrencyAmount {amount, currency_code}`` in integer minor units,
and legacy fields in major units as JSON decimals (a transaction's ``amount``, a card's
``spending_restrictions.amount``). A JSON decimal read as a float can be off by a cent once
summed, so this module reads every JSON number with a fraction as ``Decimal`` and writes
``Decimal`` back as an exact JSON number. The adapter and the simulator both use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from revline.money import Money, to_minor_units


def decode(raw: bytes | str) -> Any:
    """Parse JSON, reading decimals as ``Decimal`` (never ``float``)."""
    return json.loads(raw, parse_float=Decimal)


def encode(value: Any) -> bytes:
    """Serialise to compact JSON; ``Decimal`` becomes an exact JSON number."""
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(key))}:{_encode(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not written to Ramp: use Decimal or integer minor units")
    return json.dumps(value)


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units as an exact amount in major units (``12345`` USD → ``123.45``)."""
    return Money(minor, currency).decimal


def to_minor(major: Decimal | int, currency: str) -> int:
    """An amount in major units as integer minor units; a fraction of a cent is refused."""
    return to_minor_units(major, currency)
