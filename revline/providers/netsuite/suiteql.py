"""Writing SuiteQL safely: literals, ids and dates.

SuiteQL over REST takes no bind parameters, so every value is embedded in the query text. These
helpers are the only way values get there: strings are quoted with doubled single quotes (and
control characters refused), ids must be digits, dates go through ``TO_DATE`` so the account's
date-format preference never matters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

_DIGITS = re.compile(r"[0-9]+")


def text(value: str) -> str:
    """A quoted string literal."""
    if any(ord(ch) < 32 for ch in value):
        raise ValueError(f"control characters are not allowed in a SuiteQL literal: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def like_contains(fragment: str) -> str:
    """A ``LIKE`` pattern matching ``fragment`` anywhere, with ``%`` and ``_`` taken literally.

    Use with ``ESCAPE '\\'``.
    """
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return text(f"%{escaped}%")


def internal_id(value: str | int) -> str:
    """A NetSuite internal id (digits only), ready to embed."""
    rendered = str(value)
    if not _DIGITS.fullmatch(rendered):
        raise ValueError(f"not a NetSuite internal id: {value!r}")
    return rendered


def id_list(values: Iterable[str | int]) -> str:
    """A parenthesised list of internal ids for ``IN (...)``."""
    rendered = [internal_id(value) for value in values]
    if not rendered:
        raise ValueError("an IN list needs at least one id")
    return "(" + ", ".join(rendered) + ")"


def day(value: date) -> str:
    """A date literal independent of the account's date format."""
    return f"TO_DATE('{value.isoformat()}', 'YYYY-MM-DD')"


def is_internal_id(value: str) -> bool:
    """Whether ``value`` looks like a NetSuite internal id rather than a name or Stripe id."""
    return bool(_DIGITS.fullmatch(value))
