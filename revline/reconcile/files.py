"""Matching exports: a Stripe itemized payout-reconciliation CSV against a NetSuite saved search.

Which column holds which field is a small TOML file; without one, ``DEFAULT_MAPPING`` applies
(Stripe's ``payout_reconciliation.itemized`` columns, and a saved search with the columns named
below). Amounts in the files are major units (``1250.00``); they become minor units in DuckDB as
decimals, never floats. A file is checked whole before it is converted, and refused naming each
row's problem; nothing is guessed or rounded. Everything is read, checked and converted by
DuckDB: a million-row export takes about two seconds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
from babel.numbers import list_currencies

from revline.errors import RevlineError
from revline.money import minor_unit_digits
from revline.reconcile.engine import Matcher

FIELDS = (
    "id",
    "amount",
    "currency",
    "day",
    "charge_id",
    "invoice_id",
    "customer",
    "email",
    "name",
    "reference",
)
REQUIRED = ("id", "amount", "currency", "day")
# Dates as Stripe writes them (ISO 8601, ``created_utc``), else as a NetSuite saved search does
# by default (the user's date preference, M/D/YYYY in a US account, with or without a time). An
# account with another preference names its format in the mapping (``date_format``).
DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M")
# A number in major units as both exports write it: digits with thousands commas or none, a
# point before the fraction, a minus for a refund; at most 15 digits before the point, which
# any currency's minor units hold in a BIGINT. Anything else (``1.250,00``, ``$100.00``,
# ``1,2,3``) is refused, not guessed at.
AMOUNT = r"-?([0-9]{1,3}(,[0-9]{3}){1,4}|[0-9]{1,15})(\.[0-9]+)?"
# How many problems an error lists before it counts the rest.
LISTED = 10

DEFAULT_MAPPING: dict[str, dict[str, str]] = {
    "left": {
        "id": "balance_transaction_id",
        "amount": "gross",
        "currency": "currency",
        "day": "created_utc",
        "charge_id": "charge_id",
        "invoice_id": "invoice_id",
        "customer": "customer_id",
        "email": "customer_email",
        "name": "customer_name",
        "reference": "description",
    },
    "right": {
        "id": "Internal ID",
        "amount": "Amount",
        "currency": "Currency",
        "day": "Date",
        "charge_id": "Stripe Charge ID",
        "invoice_id": "Stripe Invoice ID",
        "customer": "Stripe Customer ID",
        "email": "Email",
        "name": "Name",
        "reference": "Document Number",
    },
}
SIDES = {"left": "Stripe", "right": "NetSuite"}


class MappingError(RevlineError):
    code = "invalid_mapping"
    http_status = 400


class ExportError(RevlineError):
    """An export the engine cannot read as written: refused whole, naming each row's problem."""

    code = "invalid_export"
    http_status = 400


@dataclass(frozen=True)
class ExportColumns:
    """How one export is read: the column of each field, the fields the mapping file named
    (their columns must exist; a default one may be absent when the field is optional), and the
    date format when the mapping gives one."""

    columns: dict[str, str]
    named: frozenset[str] = frozenset()
    date_format: str | None = None


def load_mapping(path: Path | None) -> dict[str, ExportColumns]:
    """The column mapping: the TOML file's ``[left]`` and ``[right]`` over the defaults.

    Anything else in the file is refused, naming it: a misspelt section or field would
    otherwise leave the default column in place without a word.
    """
    defaults = {side: ExportColumns(dict(DEFAULT_MAPPING[side])) for side in SIDES}
    if path is None:
        return defaults
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"column mapping {path}: {exc}") from exc
    unknown_sections = set(document) - set(SIDES)
    if unknown_sections:
        raise MappingError(
            f"column mapping: unknown sections {sorted(unknown_sections)} "
            "(only [left], Stripe, and [right], NetSuite)"
        )
    mapping = {}
    for side in SIDES:
        overrides = document.get(side, {})
        if not isinstance(overrides, dict):
            raise MappingError(f"column mapping: [{side}] must be a table of field = column")
        unknown = set(overrides) - {*FIELDS, "date_format"}
        if unknown:
            raise MappingError(
                f"column mapping [{side}]: unknown fields {sorted(unknown)} "
                f"(the fields are {', '.join(FIELDS)}, and date_format: how the dates are written)"
            )
        for field, column in overrides.items():
            if not isinstance(column, str) or not column.strip():
                raise MappingError(
                    f"column mapping [{side}].{field}: a column name is text, not {column!r}"
                )
        date_format = overrides.pop("date_format", None)
        mapping[side] = ExportColumns(
            {**DEFAULT_MAPPING[side], **overrides}, frozenset(overrides), date_format
        )
    return mapping


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_csv(con: duckdb.DuckDBPyConnection, table: str, path: Path, export: ExportColumns) -> int:
    """Load one export into ``table`` (``l`` or ``r``); returns its row count.

    The file is read as text first and checked whole (every required cell present, amounts
    written as numbers with no more decimals than their currency has, known currencies, dates,
    one row per id); only a file without a problem is converted, so nothing half-read is
    matched.
    """
    if not path.is_file():
        raise MappingError(f"{path} does not exist")
    source = f"read_csv({_quoted(path)}, header = true, all_varchar = true)"
    # Identifiers are quoted, the path is a literal, ``table`` is ours (l or r) and the rest
    # of the SQL below is our own text: nothing from a file or a mapping is spliced in unquoted.
    describe = f"DESCRIBE SELECT * FROM {source}"  # noqa: S608
    present = {row[0] for row in con.execute(describe).fetchall()}
    columns = export.columns
    missing = [f for f in REQUIRED if columns[f] not in present]
    if missing:
        raise MappingError(
            f"{path}: no column for {', '.join(missing)} "
            f"(expected {', '.join(repr(columns[f]) for f in missing)})"
        )
    absent = sorted(f for f in export.named if columns[f] not in present)
    if absent:
        raise MappingError(
            f"{path}: the column mapping names columns the file does not have: "
            + ", ".join(f"{f} = {columns[f]!r}" for f in absent)
        )
    # One pass over the file keeps the fields, trimmed, and each row's date as read; rows keep
    # the file's order, so a row's rowid names it in an error. Dates are taken in UTC.
    con.execute("SET TimeZone = 'UTC'")
    fields = ", ".join(
        f"{_text(columns[f]) if columns[f] in present else 'NULL'} AS {f}" for f in FIELDS
    )
    # A cast that fails is slow (an exception per row): only what looks ISO is cast.
    day = _text(columns["day"])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE export_rows AS SELECT {fields}, "  # noqa: S608
        f"CASE WHEN regexp_matches({day}, '^[0-9]{{4}}-') THEN try_cast({day} AS TIMESTAMPTZ) "
        f"ELSE try_strptime({day}, $formats) END AS moment FROM {source}",
        {"formats": [export.date_format] if export.date_format else list(DATE_FORMATS)},
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE minor_units AS "
        "SELECT unnest($codes) AS code, unnest($digits) AS digits",
        {"codes": list(_MINOR_UNITS), "digits": list(_MINOR_UNITS.values())},
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW export_read AS "
        "SELECT e.rowid + 2 AS at_row, e.*, m.digits "
        "FROM export_rows e LEFT JOIN minor_units m ON m.code = upper(e.currency)"
    )
    try:
        _refuse_problems(con, path, columns, export.date_format)
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT id, "  # noqa: S608
            "CAST(CAST(replace(amount, ',', '') AS DECIMAL(38, 4)) * CAST(10 ** digits AS BIGINT) "
            "AS BIGINT) AS amount, lower(currency) AS currency, CAST(moment AS DATE) AS day, "
            f"{', '.join(FIELDS[4:])} FROM export_read"
        )
    finally:
        con.execute("DROP VIEW export_read; DROP TABLE export_rows; DROP TABLE minor_units")
    count = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(count[0]) if count else 0


def _text(column: str) -> str:
    return f"nullif(trim({_column(column)}), '')"


# Each currency's minor-unit digits (Stripe's: ``money.minor_unit_digits``), the one
# definition of minor units everywhere in Revline; a code missing here is not a currency.
_MINOR_UNITS = {code: minor_unit_digits(code) for code in sorted(list_currencies())}

# What is wrong with a row, as codes ``_refuse_problems`` words: one pass over the export.
_ROW_PROBLEMS = """
SELECT at_row, problems, amount, currency, day, digits, count(*) OVER () AS rows_wrong,
       sum(len(problems)) OVER () AS problems_found
FROM (
    SELECT *, list_filter([
        CASE WHEN id IS NULL THEN 'missing id' END,
        CASE WHEN amount IS NULL THEN 'missing amount' END,
        CASE WHEN currency IS NULL THEN 'missing currency' END,
        CASE WHEN day IS NULL THEN 'missing day' END,
        CASE WHEN NOT regexp_full_match(amount, $amount) THEN 'amount' END,
        CASE WHEN currency IS NOT NULL AND digits IS NULL THEN 'currency' END,
        CASE WHEN regexp_full_match(amount, $amount)
                  AND length(split_part(amount, '.', 2)) > digits THEN 'decimals' END,
        CASE WHEN day IS NOT NULL AND moment IS NULL THEN 'date' END
    ], lambda problem: problem IS NOT NULL) AS problems
    FROM export_read
)
WHERE len(problems) > 0
ORDER BY at_row
LIMIT $listed
"""

# Ids on several rows: counted first, then only those ids' rows listed (a list per id of a
# million would cost more than the count).
_DUPLICATES = """
WITH twice AS (
    SELECT id FROM export_rows WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1
)
SELECT min(rowid) + 2, id, array_to_string(list((rowid + 2)::VARCHAR ORDER BY rowid), ', '),
       count(*) OVER ()
FROM export_rows SEMI JOIN twice USING (id) GROUP BY id
ORDER BY 1
LIMIT $listed
"""


def _refuse_problems(
    con: duckdb.DuckDBPyConnection, path: Path, columns: Mapping[str, str], date_format: str | None
) -> None:
    """Every problem of the export, by row; an ``ExportError`` listing the first ones if there is
    one."""
    listed = {"amount": AMOUNT, "listed": LISTED}
    rows = con.execute(_ROW_PROBLEMS, listed).fetchall()
    duplicates = con.execute(_DUPLICATES, {"listed": LISTED}).fetchall()
    if not rows and not duplicates:
        return
    written = f"as {date_format!r}" if date_format else "as YYYY-MM-DD or M/D/YYYY"
    found: list[tuple[int, str]] = []
    for at_row, problems, amount, currency, day, digits, _, _ in rows:
        for problem in problems:
            if problem.startswith("missing "):
                field = problem.removeprefix("missing ")
                found.append((at_row, f"no {field} (column {columns[field]!r})"))
            elif problem == "amount":
                found.append(
                    (at_row, f"amount {amount!r} is not a number written like 1,250.00 or -20.00")
                )
            elif problem == "currency":
                found.append((at_row, f"currency {currency!r} is not an ISO 4217 code"))
            elif problem == "decimals":
                found.append(
                    (
                        at_row,
                        f"amount {amount!r} has more decimals than {currency.upper()} has "
                        f"minor units ({digits})",
                    )
                )
            else:
                found.append((at_row, f"date {day!r} is not a date written {written}"))
    found += [
        (at_row, f"id {id_!r} is on rows {on_rows}") for at_row, id_, on_rows, _ in duplicates
    ]
    total = (rows[0][7] if rows else 0) + (duplicates[0][3] if duplicates else 0)
    lines = [f"  row {at_row}: {problem}" for at_row, problem in sorted(found)[:LISTED]]
    if total > len(lines):
        lines.append(f"  and {total - len(lines)} more")
    raise ExportError(
        f"{path}: {total} problem{'s' if total > 1 else ''}, nothing was matched:\n"
        + "\n".join(lines)
    )


def matcher_for(left: Path, right: Path, mapping: Mapping[str, ExportColumns]) -> Matcher:
    """A matcher over the two exports, loaded into an in-memory DuckDB."""
    con = duckdb.connect()
    load_csv(con, "l", left, mapping["left"])
    load_csv(con, "r", right, mapping["right"])
    return Matcher(con)


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
