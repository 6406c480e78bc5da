"""Matching exports: a Stripe itemized payout-reconciliation CSV against a NetSuite saved search.

Which column holds which field is a small TOML file; without one, ``DEFAULT_MAPPING`` applies
(Stripe's ``payout_reconciliation.itemized`` columns, and a saved search with the columns named
below). Amounts in the files are major units (``1250.00``); they become minor units in DuckDB as
decimals, never floats. A file is checked whole before it is converted, and refused naming each
row's problem by the line it starts on; nothing is guessed or rounded. Everything is read,
checked and converted by DuckDB: a million-row export takes about two seconds. The file is read
as RFC 4180 says (comma, double quote, a quote doubled inside quotes), never as DuckDB would
guess from its first rows: a quote first used a million rows down is still a quote. A file
DuckDB refuses is looked at again in Python, only then: rows ended both ways (LF and CRLF) are
read after all, and a file that is not UTF-8, or not comma-separated, is refused saying so.
"""

from __future__ import annotations

import csv
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
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
    "category",
)
# Stripe's reporting category is on the Stripe side only: a NetSuite saved search has none.
LEFT_ONLY = frozenset({"category"})
REQUIRED = ("id", "amount", "currency", "day")
# Dates as Stripe writes them (ISO 8601, ``created_utc``), else as a NetSuite saved search does
# by default (the user's date preference, M/D/YYYY in a US account, with or without a time). An
# account with another preference names its format in the mapping (``date_format``).
DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M")
# A number in major units as both exports write it: digits with thousands commas or none, a
# point before the fraction, a minus for a refund; at most ``MOST_DIGITS`` (15) digits before
# the point, and at most ``MINOR_DIGITS`` (18) with the currency's minor units, so 14 before the
# point in CLF or UYW (four minor digits): a BIGINT of minor units holds them. An accountant's
# negative in parentheses, ``(12.50)``, is -12.50: it is read as its minus form (``NUMBER``)
# before anything else. Anything else (``1.250,00``, ``$100.00``, ``1,2,3``, ``(-12.50)``) is
# refused, not guessed at.
# A group of thousands never starts with a zero: ``0,250`` is a decimal comma, not 250.
AMOUNT = r"-?([1-9][0-9]{0,2}(,[0-9]{3}){1,4}|[0-9]{1,15})(\.[0-9]+)?"
MOST_DIGITS = 15
MINOR_DIGITS = 18
NUMBER = "CASE WHEN amount LIKE '(%)' THEN '-' || amount[2:-2] ELSE amount END"
# A year read as less than this was not written in full (``12/31/26`` read as M/D/YYYY is the
# year 26): refused, never taken as the year 26 nor guessed to be 2026.
FIRST_YEAR = 1900
# What a ``date_format`` must name: a year, and a month and a day (or the day of the year).
_FORMAT_PARTS = {
    "a year (%Y, or %y for two digits)": r"%-?[Yy]",
    "a month (%m, %b or %B) or the day of the year (%j)": r"%-?[mbBj]",
    "a day (%d) or the day of the year (%j)": r"%-?[dj]",
}
# The RFC 4180 dialect, stated rather than sniffed from a sample of the file.
DIALECT = (
    "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', comment = '', "
    "skip = 0, strict_mode = true, null_padding = false"
)
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
        "category": "reporting_category",
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
        # UTF-8, with or without the byte order mark Windows editors write.
        document = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"column mapping {path}: not UTF-8 text (byte {exc.start + 1} is "
            f"{exc.object[exc.start]:#04x}); save it as UTF-8"
        ) from exc
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
        fields = [f for f in FIELDS if side == "left" or f not in LEFT_ONLY]
        unknown = set(overrides) - {*fields, "date_format"}
        if unknown:
            raise MappingError(
                f"column mapping [{side}]: unknown fields {sorted(unknown)} "
                f"(the fields are {', '.join(fields)}, and date_format: how the dates are written)"
            )
        for field, column in overrides.items():
            if not isinstance(column, str) or not column.strip():
                raise MappingError(
                    f"column mapping [{side}].{field}: a column name is text, not {column!r}"
                )
        date_format = overrides.pop("date_format", None)
        if date_format is not None:
            _check_date_format(path, side, date_format)
        mapping[side] = ExportColumns(
            {**DEFAULT_MAPPING[side], **overrides}, frozenset(overrides), date_format
        )
    return mapping


def _check_date_format(path: Path, side: str, date_format: str) -> None:
    """A format DuckDB can parse with, naming a whole date: refused otherwise, before any file
    is read."""
    where = f"column mapping {path} [{side}].date_format {date_format!r}"
    try:
        with duckdb.connect() as con:
            con.execute("SELECT try_strptime('', $format)", {"format": date_format})
    except duckdb.Error as exc:
        reason = str(exc).removeprefix("Invalid Input Error: ")
        raise MappingError(f"{where}: {reason}") from exc
    lacking = [part for part, code in _FORMAT_PARTS.items() if not re.search(code, date_format)]
    if lacking:
        raise MappingError(f"{where} does not name {' nor '.join(lacking)}")


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_csv(con: duckdb.DuckDBPyConnection, table: str, path: Path, export: ExportColumns) -> int:
    """Load one export into ``table`` (``l`` or ``r``); returns its row count.

    The file is read as text first and checked whole (as many cells in each row as in the
    header, every required cell present, amounts written as numbers with no more decimals than
    their currency has, known currencies, dates with their year in full, one row per id); only
    a file without a problem is converted, so nothing half-read is matched.
    """
    if not path.is_file():
        raise MappingError(f"{path} does not exist")
    try:
        _read(con, path, path, export)
    except duckdb.Error as exc:
        if not _read_with_one_line_ending(con, path, export):
            raise _unreadable(path, exc) from exc
    try:
        _refuse_problems(con, path, export.columns, export.date_format)
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT id, "  # noqa: S608
            "CAST(CAST(replace(number, ',', '') AS DECIMAL(38, 4)) * CAST(10 ** digits AS BIGINT) "
            "AS BIGINT) AS amount, lower(currency) AS currency, CAST(moment AS DATE) AS day, "
            f"{', '.join(FIELDS[4:])} FROM export_read"
        )
    finally:
        con.execute("DROP VIEW export_read; DROP TABLE export_rows; DROP TABLE minor_units")
    count = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(count[0]) if count else 0


def _read(
    con: duckdb.DuckDBPyConnection, source_path: Path, path: Path, export: ExportColumns
) -> None:
    """The export as text in ``export_rows``, its rows in the file's order, and the view
    ``export_read`` that checks and converts them; a ``MappingError`` if a column is missing.
    ``source_path`` is the file read, ``path`` the export as a person named it (the same file,
    unless its line endings were made one, ``_read_with_one_line_ending``)."""
    source = f"read_csv({_quoted(source_path)}, {DIALECT})"
    # Identifiers are quoted, the path is a literal, ``table`` is ours (l or r) and the rest
    # of the SQL below is our own text: nothing from a file or a mapping is spliced in unquoted.
    describe = f"DESCRIBE SELECT * FROM {source}"  # noqa: S608
    present = {row[0] for row in con.execute(describe).fetchall()}
    columns = export.columns
    missing = [f for f in REQUIRED if columns[f] not in present]
    if missing and len(present) == 1:
        _refuse_separator(path, next(iter(present)))
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
        f"{_text(columns[f]) if columns.get(f) in present else 'NULL'} AS {f}" for f in FIELDS
    )
    # A date_format the mapping names reads every date. Without one, what looks ISO is cast
    # (only that: a cast that fails is slow, an exception per row), the rest read as NetSuite
    # writes it by default.
    day = _text(columns["day"])
    moment = (
        f"try_strptime({day}, $formats)"
        if export.date_format
        else f"CASE WHEN regexp_matches({day}, '^[0-9]{{4}}-') THEN try_cast({day} AS TIMESTAMPTZ) "
        f"ELSE try_strptime({day}, $formats) END"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE export_rows AS SELECT {fields}, "  # noqa: S608
        f"{moment} AS moment FROM {source}",
        {"formats": [export.date_format] if export.date_format else list(DATE_FORMATS)},
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE minor_units AS "
        "SELECT unnest($codes) AS code, unnest($digits) AS digits",
        {"codes": list(_MINOR_UNITS), "digits": list(_MINOR_UNITS.values())},
    )
    # ``at_row`` is the row's record number (the header is 1); an error turns it into the line
    # the row starts on (``_lines``), which differs after a blank line or a line break in a cell.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW export_read AS "  # noqa: S608
        f"SELECT e.rowid + 2 AS at_row, e.*, {NUMBER} AS number, m.digits "
        "FROM export_rows e LEFT JOIN minor_units m ON m.code = upper(e.currency)"
    )


def _unreadable(path: Path, error: duckdb.Error) -> ExportError:
    """Why DuckDB could not read the file, row by row where it can be said: a row with more or
    fewer fields than the header, a stray quote. DuckDB's own line numbers do not count a line
    break inside a quoted cell, so the rows are found again here, by the line each starts on.

    A file that is not UTF-8 is refused as that alone, each line with a byte that is not UTF-8
    named; one that is not comma-separated too, whatever its rows."""
    encoding = _not_utf8(path)
    if encoding:
        return encoding
    first: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as file, suppress(csv.Error):
        first = next(csv.reader(file), [])
    if len(first) == 1:
        _refuse_separator(path, first[0])
    problems: list[tuple[int, str]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, strict=True)
            header: list[str] = []
            end = 0
            for fields in reader:
                start, end = end + 1, reader.line_num
                if not fields:
                    continue
                if not header:
                    header = fields
                elif len(fields) != len(header):
                    problems.append(
                        (start, f"{len(fields)} fields where the header has {len(header)}")
                    )
    except csv.Error as exc:
        problems.append((end + 1, f"not CSV as RFC 4180 writes it ({exc})"))
    if not problems:
        reason = str(error).splitlines()[0].removeprefix("Invalid Input Error: ")
        return ExportError(
            f"{path}: not a CSV file that can be read ({reason}), nothing was matched"
        )
    return _listed(path, "row", " not in the header's columns", problems)


# Separators a spreadsheet writes in place of the comma: a European Excel's "CSV" (semicolons),
# a tab-separated export.
_SEPARATORS = {";": "semicolons (';')", "\t": "tabs"}


def _refuse_separator(path: Path, header: str) -> None:
    """An ``ExportError`` if the header, read as one column, holds another separator."""
    seen = max(_SEPARATORS, key=header.count)
    if seen in header:
        raise ExportError(
            f"{path}: not comma-separated: its header is one column with {_SEPARATORS[seen]} "
            "in it; export the file with commas between the cells, nothing was matched"
        )


def _not_utf8(path: Path) -> ExportError | None:
    """Each line with a byte that is not UTF-8, by its line: the file is decoded a line at a
    time from its bytes (a decoder reading it in blocks names a line near the block's start).
    UTF-8 never has the byte of a line feed inside a character, so a line is split as it is."""
    problems: list[tuple[int, str]] = []
    with path.open("rb") as file:
        for line, raw in enumerate(file, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                character = len(raw[: exc.start].decode("utf-8")) + 1
                problems.append((line, f"byte 0x{raw[exc.start]:02x} at character {character}"))
    if not problems:
        return None
    return _listed(
        path,
        "row",
        " not UTF-8 text (an encoding problem: save the export as UTF-8)",
        [(line, f"not UTF-8 text: {problem}") for line, problem in problems],
    )


def _read_with_one_line_ending(
    con: duckdb.DuckDBPyConnection, path: Path, export: ExportColumns
) -> bool:
    """A file DuckDB could not read, read again with every row ended by a line feed: DuckDB
    takes one line ending for the whole file, and refuses one with rows ended both ways (an LF
    export to which rows were added on Windows) as a file it cannot sniff. Python's reader takes
    either ending, as RFC 4180's readers do; it writes each row again as RFC 4180 says, a line
    break inside a quoted cell kept as it is, the lines as many as before. False if the file has
    no carriage return, or is not read even so: its problem is another, ``_unreadable`` says
    which. Only a refused file is read here, never one DuckDB read."""
    if not _has_carriage_return(path):
        return False
    with tempfile.TemporaryDirectory(prefix="revline-export-") as directory:
        copy = Path(directory) / path.name
        try:
            with (
                path.open(newline="", encoding="utf-8-sig") as file,
                copy.open("w", newline="", encoding="utf-8") as written,
            ):
                csv.writer(written, lineterminator="\n").writerows(csv.reader(file, strict=True))
            _read(con, copy, path, export)
        except (csv.Error, UnicodeDecodeError, duckdb.Error):
            return False
    return True


def _has_carriage_return(path: Path) -> bool:
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            if b"\r" in block:
                return True
    return False


def _text(column: str) -> str:
    return f"nullif(trim({_column(column)}), '')"


# Each currency's minor-unit digits (Stripe's: ``money.minor_unit_digits``), the one
# definition of minor units everywhere in Revline; a code missing here is not a currency.
_MINOR_UNITS = {code: minor_unit_digits(code) for code in sorted(list_currencies())}

# What is wrong with a row, as codes ``_refuse_problems`` words: one pass over the export.
_ROW_PROBLEMS = """
SELECT at_row, problems, amount, currency, day, digits, year(moment) AS year,
       count(*) OVER () AS rows_wrong, sum(len(problems)) OVER () AS problems_found
FROM (
    SELECT *, list_filter([
        CASE WHEN id IS NULL THEN 'missing id' END,
        CASE WHEN amount IS NULL THEN 'missing amount' END,
        CASE WHEN currency IS NULL THEN 'missing currency' END,
        CASE WHEN day IS NULL THEN 'missing day' END,
        CASE WHEN NOT regexp_full_match(number, $amount) THEN 'amount' END,
        CASE WHEN currency IS NOT NULL AND digits IS NULL THEN 'currency' END,
        CASE WHEN regexp_full_match(number, $amount)
                  AND length(split_part(number, '.', 2)) > digits THEN 'decimals' END,
        -- Only a currency of more than 18 - 15 minor digits can exceed 18: the rest skip it.
        CASE WHEN digits > $minor_digits - $most_digits
                  AND regexp_full_match(number, $amount)
                  AND length(replace(ltrim(split_part(number, '.', 1), '-'), ',', ''))
                      > $minor_digits - digits THEN 'range' END,
        CASE WHEN day IS NOT NULL AND moment IS NULL THEN 'date' END,
        CASE WHEN year(moment) < $first_year THEN 'year' END
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
    listed = {
        "amount": AMOUNT,
        "listed": LISTED,
        "first_year": FIRST_YEAR,
        "minor_digits": MINOR_DIGITS,
        "most_digits": MOST_DIGITS,
    }
    rows = con.execute(_ROW_PROBLEMS, listed).fetchall()
    duplicates = con.execute(_DUPLICATES, {"listed": LISTED}).fetchall()
    if not rows and not duplicates:
        return
    line = _lines(
        path,
        [row[0] for row in rows]
        + [int(n) for duplicate in duplicates for n in duplicate[2].split(", ")],
    )
    written = f"as {date_format!r}" if date_format else "as YYYY-MM-DD or M/D/YYYY"
    in_full = "write the year in full" + ("" if date_format else ", or name a date_format with %y")
    found: list[tuple[int, str]] = []
    for at_row, problems, amount, currency, day, digits, year, _, _ in rows:
        at_row = line[at_row]
        for problem in problems:
            if problem.startswith("missing "):
                field = problem.removeprefix("missing ")
                found.append((at_row, f"no {field} (column {columns[field]!r})"))
            elif problem == "amount":
                found.append(
                    (
                        at_row,
                        f"amount {amount!r} is not a number written like 1,250.00, -20.00 "
                        "or (20.00)",
                    )
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
            elif problem == "range":
                found.append(
                    (
                        at_row,
                        f"amount {amount!r} has more than {MINOR_DIGITS - digits} digits before "
                        f"the point: {currency.upper()}'s minor units ({digits}) would not fit "
                        f"{MINOR_DIGITS} digits",
                    )
                )
            elif problem == "year":
                found.append((at_row, f"date {day!r} reads as the year {year}: {in_full}"))
            else:
                found.append((at_row, f"date {day!r} is not a date written {written}"))
    found += [
        (
            line[at_row],
            f"id {id_!r} is on rows {', '.join(str(line[int(n)]) for n in on_rows.split(', '))}",
        )
        for at_row, id_, on_rows, _ in duplicates
    ]
    total = (rows[0][8] if rows else 0) + (duplicates[0][3] if duplicates else 0)
    raise _listed(path, "problem", "", sorted(found), total)


def _listed(
    path: Path,
    noun: str,
    said: str,
    problems: Sequence[tuple[int, str]],
    total: int | None = None,
) -> ExportError:
    """The refusal of a file listing its first ``LISTED`` problems by line, then how many
    more; ``total`` counts them when only some were read."""
    count = len(problems) if total is None else total
    lines = [f"  row {line}: {problem}" for line, problem in problems[:LISTED]]
    if count > len(lines):
        lines.append(f"  and {count - len(lines)} more")
    return ExportError(
        f"{path}: {count} {noun}{'s' if count > 1 else ''}{said}, nothing was matched:\n"
        + "\n".join(lines)
    )


def _lines(path: Path, records: Iterable[int]) -> dict[int, int]:
    """The line of the file each record starts on, by record number (the header is 1), as a
    person counts lines: DuckDB skips a blank line and reads a quoted line break as part of the
    cell, so its record numbers run behind the lines after either. Read only to word an error."""
    wanted = set(records)
    found: dict[int, int] = {}
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        reader = csv.reader(file)
        record, end = 0, 0
        # A file DuckDB read whole is read here too; should Python's reader stop short, the
        # rows it did not reach keep their record numbers.
        with suppress(csv.Error):
            for fields in reader:
                start, end = end + 1, reader.line_num
                if not fields:
                    continue
                record += 1
                if record in wanted:
                    found[record] = start
                    if len(found) == len(wanted):
                        break
    return {n: found.get(n, n) for n in wanted}


def matcher_for(left: Path, right: Path, mapping: Mapping[str, ExportColumns]) -> Matcher:
    """A matcher over the two exports, loaded into an in-memory DuckDB."""
    con = duckdb.connect()
    load_csv(con, "l", left, mapping["left"])
    load_csv(con, "r", right, mapping["right"])
    return Matcher(con)


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
