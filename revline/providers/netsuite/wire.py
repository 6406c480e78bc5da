"""JSON on the NetSuite wire with exact amounts: decimals in, decimals out, never floats.

NetSuite writes currency amounts as JSON numbers in major units (``12500.5``). Python's ``json``
would read them as floats and cannot write a ``Decimal`` at all, so both directions go through
here: numbers with a fraction are read as ``Decimal``, and ``Decimal`` is written as its exact
digits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def loads(raw: bytes | str) -> Any:
    """Parse a JSON document, reading fractional numbers as ``Decimal``."""
    return json.loads(raw, parse_float=Decimal)


def dumps(value: object) -> bytes:
    """Serialise ``value`` (dicts, lists, str, int, bool, None, finite Decimal) as JSON."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode()


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite amount: {value}")
        out.append(format(value, "f"))
    elif isinstance(value, str):
        out.append(json.dumps(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {key!r}")
            if index:
                out.append(",")
            out.append(json.dumps(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        # Floats land here on purpose: an amount must arrive as int minor units or Decimal.
        raise TypeError(f"cannot send {type(value).__name__} to NetSuite: {value!r}")
