"""Matching exports: a Stripe itemized payout-reconciliation CSV against a NetSuite saved search.

Which column holds which field is a small TOML file; without one, ``DEFAULT_MAPPING`` applies
(Stripe's ``payout_reconciliation.itemized`` columns, and a saved search with the columns named
below). Amounts in the files are major units (``1250.00``); they become minor units in DuckDB as
decimals, never floats. Everything is read and converted by DuckDB, so a million rows load in
about a second.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
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
# Minor units per major unit where it is not 100 (JPY 1, KWD 1000): the same CLDR digits that
# define minor units everywhere else in Revline (``money.minor_unit_digits``), as SQL.
_NOT_CENTS = {
    code.lower(): 10 ** minor_unit_digits(code)
    for code in list_currencies()
    if minor_unit_digits(code) != 2
}

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


class MappingError(RevlineError):
    code = "invalid_mapping"
    http_status = 400


def load_mapping(path: Path | None) -> dict[str, dict[str, str]]:
    """The column mapping: the TOML file's ``[left]`` and ``[right]`` over the defaults.

    Anything else in the file is refused, naming it: a misspelt section or field would
    otherwise leave the default column in place without a word.
    """
    if path is None:
        return DEFAULT_MAPPING
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"column mapping {path}: {exc}") from exc
    unknown_sections = set(document) - {"left", "right"}
    if unknown_sections:
        raise MappingError(
            f"column mapping: unknown sections {sorted(unknown_sections)} "
            "(only [left], Stripe, and [right], NetSuite)"
        )
    mapping = {side: dict(DEFAULT_MAPPING[side]) for side in ("left", "right")}
    for side in ("left", "right"):
        overrides = document.get(side, {})
        if not isinstance(overrides, dict):
            raise MappingError(f"column mapping: [{side}] must be a table of field = column")
        unknown = set(overrides) - set(FIELDS)
        if unknown:
            raise MappingError(
                f"column mapping [{side}]: unknown fields {sorted(unknown)} "
                f"(the fields are {', '.join(FIELDS)})"
            )
        for field, column in overrides.items():
            if not isinstance(column, str) or not column.strip():
                raise MappingError(
                    f"column mapping [{side}].{field}: a column name is text, not {column!r}"
                )
        mapping[side].update(overrides)
    return mapping


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select(columns: Mapping[str, str], present: set[str], path: Path) -> str:
    missing = [f for f in REQUIRED if columns.get(f) not in present]
    if missing:
        raise MappingError(
            f"{path}: no column for {', '.join(missing)} "
            f"(expected {', '.join(repr(columns.get(f)) for f in missing)})"
        )

    def text(field: str) -> str:
        name = columns.get(field)
        if name not in present:
            return f"NULL::VARCHAR AS {field}"
        return f"nullif(trim({_column(str(name))}), '') AS {field}"

    amount = _column(columns["amount"])
    currency = f"lower(trim({_column(columns['currency'])}))"
    whens = " ".join(f"WHEN '{code}' THEN {factor}" for code, factor in sorted(_NOT_CENTS.items()))
    exponent = f"CASE {currency} {whens} ELSE 100 END"
    return (
        f"SELECT trim({_column(columns['id'])}) AS id, "
        f"CAST(round(CAST(replace({amount}, ',', '') AS DECIMAL(18, 4)) * {exponent}) AS BIGINT)"
        f" AS amount, {currency} AS currency, "
        f"CAST(CAST({_column(columns['day'])} AS TIMESTAMP) AS DATE) AS day, "
        + ", ".join(text(f) for f in FIELDS[4:])
    )


def load_csv(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, columns: Mapping[str, str]
) -> int:
    """Load one export into ``table`` (``l`` or ``r``); returns its row count."""
    if not path.is_file():
        raise MappingError(f"{path} does not exist")
    source = f"read_csv({_quoted(path)}, header = true, all_varchar = true)"
    # Identifiers are quoted and the path is a literal; ``table`` is ours (l or r).
    describe = f"DESCRIBE SELECT * FROM {source}"  # noqa: S608
    present = {row[0] for row in con.execute(describe).fetchall()}
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS {_select(columns, present, path)} FROM {source}"
    )
    count = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(count[0]) if count else 0


def matcher_for(left: Path, right: Path, mapping: Mapping[str, Mapping[str, str]]) -> Matcher:
    """A matcher over the two exports, loaded into an in-memory DuckDB."""
    con = duckdb.connect()
    load_csv(con, "l", left, mapping["left"])
    load_csv(con, "r", right, mapping["right"])
    return Matcher(con)


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
