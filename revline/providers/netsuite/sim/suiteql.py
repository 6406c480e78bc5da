"""SuiteQL, executed for real against the simulator's SQLite tables.

SuiteQL is Oracle-flavoured SQL; SQLite runs most of what Revline sends unchanged. The
differences are bridged openly, never by pattern-matching Revline's queries:

- ``transaction`` is a reserved word in SQLite, so the identifier is quoted wherever it appears
  outside a string literal;
- Oracle's ``TO_DATE(text, fmt)``, ``TO_CHAR(date, fmt)`` (``YYYY``, ``MM``, ``DD``, ``HH24``,
  ``MI``, ``SS``) and ``NVL`` are SQL functions here;
- ``LIKE`` is case-sensitive, as in Oracle (SQLite's is not), with ``ESCAPE``;
- ``SUM`` adds exactly in decimal, as NetSuite does for currency columns (SQLite would add
  floats);
- ``BUILTIN.*`` functions and ``ROWNUM`` are not simulated and are refused with an error, so a
  query that depends on them fails here rather than passing by accident.

Queries run under an authorizer that allows reading only. Results come back as NetSuite's do:
lowercase column names, every value as a string, null columns left out.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime
from decimal import Decimal

_LITERAL = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"")
_TRANSACTION = re.compile(r"\btransaction\b", re.IGNORECASE)
_UNSUPPORTED = re.compile(r"\bBUILTIN\s*\.|\bROWNUM\b", re.IGNORECASE)
_FORMAT = (("YYYY", "%Y"), ("HH24", "%H"), ("MM", "%m"), ("DD", "%d"), ("MI", "%M"), ("SS", "%S"))
_READ_ONLY = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}


class SuiteQLError(Exception):
    """A query NetSuite would answer with 400 ``INVALID_PARAMETER``."""


def translate(query: str) -> str:
    """SuiteQL text as SQLite runs it."""
    parts: list[str] = []
    position = 0
    for literal in _LITERAL.finditer(query):
        parts.append(_translate_code(query[position : literal.start()]))
        parts.append(literal.group(0))
        position = literal.end()
    parts.append(_translate_code(query[position:]))
    return "".join(parts)


def _translate_code(code: str) -> str:
    unsupported = _UNSUPPORTED.search(code)
    if unsupported:
        raise SuiteQLError(f"{unsupported.group(0).strip()} is not supported by the simulator")
    return _TRANSACTION.sub('"transaction"', code)


def _strftime_format(oracle: str) -> str:
    result = oracle.replace('"', "")
    for token, directive in _FORMAT:
        result = result.replace(token, directive)
    return result


def _parse_moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("T", " "))


def to_date(value: str | None, fmt: str = "YYYY-MM-DD") -> str | None:
    """Oracle ``TO_DATE``: text in ``fmt`` to the stored ISO date."""
    if value is None:
        return None
    return datetime.strptime(value, _strftime_format(fmt)).date().isoformat()


def to_char(value: str | None, fmt: str) -> str | None:
    """Oracle ``TO_CHAR`` of a stored date or time."""
    if value is None:
        return None
    return _parse_moment(str(value)).strftime(_strftime_format(fmt))


SqlValue = str | int | float | bytes | None


def nvl(value: SqlValue, default: SqlValue) -> SqlValue:
    return default if value is None else value


def like(pattern: str | None, value: str | None, escape: str | None = None) -> bool | None:
    """Case-sensitive ``value LIKE pattern [ESCAPE escape]`` (SQLite passes pattern first)."""
    if pattern is None or value is None:
        return None
    regex = []
    characters = iter(pattern)
    for ch in characters:
        if escape and ch == escape:
            regex.append(re.escape(next(characters, "")))
        elif ch == "%":
            regex.append(".*")
        elif ch == "_":
            regex.append(".")
        else:
            regex.append(re.escape(ch))
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None


class DecimalSum:
    """``SUM`` over amounts, exact: stored floats are read back as the decimals they were."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.seen = False

    def step(self, value: object) -> None:
        if value is None:
            return
        self.seen = True
        self.total += Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))

    def finalize(self) -> str | None:
        return str(self.total) if self.seen else None


def register_functions(db: sqlite3.Connection) -> None:
    """Teach a connection the SuiteQL functions the simulator supports."""
    db.create_function("TO_DATE", 2, to_date, deterministic=True)
    db.create_function("TO_DATE", 1, to_date, deterministic=True)
    db.create_function("TO_CHAR", 2, to_char, deterministic=True)
    db.create_function("NVL", 2, nvl, deterministic=True)
    db.create_function("LIKE", 2, like, deterministic=True)
    db.create_function("LIKE", 3, like, deterministic=True)
    db.create_aggregate("SUM", 1, DecimalSum)  # type: ignore[arg-type]


def _read_only(action: int, *_args: object) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ONLY else sqlite3.SQLITE_DENY


def _render(value: object) -> str:
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value.is_integer() else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def execute(db: sqlite3.Connection, query: str) -> list[dict[str, str]]:
    """Run a SuiteQL query; every row as NetSuite returns it."""
    if not query.strip().lower().startswith(("select", "with")):
        raise SuiteQLError("Only SELECT statements are allowed in SuiteQL.")
    sql = translate(query)
    db.set_authorizer(_read_only)
    try:
        cursor = db.execute(sql)
        names = [
            column[0].lower() if re.fullmatch(r"\w+", column[0]) else f"expr{index + 1}"
            for index, column in enumerate(cursor.description or ())
        ]
        rows = [tuple(row) for row in cursor.fetchall()]
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise SuiteQLError(f"Invalid search query: {exc}") from exc
    finally:
        db.set_authorizer(None)
    return [
        {name: _render(value) for name, value in zip(names, row, strict=True) if value is not None}
        for row in rows
    ]
