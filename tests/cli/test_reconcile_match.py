"""``revline reconcile match`` over a Stripe export and a NetSuite saved search."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revline.cli import app
from tests.cli.conftest import Cli

STRIPE = (
    "balance_transaction_id,created_utc,charge_id,invoice_id,customer_id,customer_email,"
    "customer_name,gross,currency,description\n"
    """txn_1,2026-12-01 10:00:00,ch_1,in_1,cus_a,ap@bluefin.example,Bluefin,1800.00,usd,Sub
txn_2,2026-12-01 11:00:00,ch_2,,cus_b,billing@acme.example,Acme,"12,500.00",usd,Sub
txn_3,2026-12-01 12:00:00,ch_3,,,someone@unknown.example,,420.00,usd,
txn_4,2026-12-01 12:30:00,ch_4,,,,,99.00,usd,
"""
)
NETSUITE = (
    "Internal ID,Date,Stripe Charge ID,Stripe Invoice ID,Stripe Customer ID,Email,Name,Amount,"
    "Currency,Document Number\n"
    """5001,2026-12-01,ch_1,in_1,cus_a,ap@bluefin.example,Bluefin Labs,1800.00,USD,PYMT-1
5002,2026-12-02,,,cus_b,billing@acme.example,Acme Corp,12500.00,USD,PYMT-2
5004,2026-12-01,ch_4,,,,,99.00,EUR,PYMT-4
5009,2026-12-01,,,,,,7.00,USD,PYMT-9
"""
)


def test_exports_are_matched_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "stripe.csv").write_text(STRIPE)
    (tmp_path / "netsuite.csv").write_text(NETSUITE)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "reconcile",
            "match",
            "--left",
            str(tmp_path / "stripe.csv"),
            "--right",
            str(tmp_path / "netsuite.csv"),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["counts"] == {"matched": 2, "proposed": 0, "blocked": 1, "unmatched": 1}
    assert report["netsuite_unclaimed"] == 1  # 5009, listed in unmatched.csv beside txn_3
    matched = list(csv.DictReader((out / "matched.csv").open()))
    assert [(r["stripe_id"], r["netsuite_ids"], r["tier"]) for r in matched] == [
        ("txn_1", "5001", "exact_charge_id"),
        ("txn_2", "5002", "tolerance"),
    ]
    assert matched[1]["amount"] == "1250000"  # "12,500.00" in minor units, never a float
    (blocked,) = csv.DictReader((out / "ambiguous.csv").open())
    assert blocked["reason"] == "currency mismatch: Stripe USD, NetSuite EUR"
    unmatched = {(r["side"], r["id"]) for r in csv.DictReader((out / "unmatched.csv").open())}
    assert unmatched == {("stripe", "txn_3"), ("netsuite", "5009")}


def _match(tmp_path: Path, stripe: str, netsuite: str, *more: str) -> list[str]:
    (tmp_path / "stripe.csv").write_text(stripe)
    (tmp_path / "netsuite.csv").write_text(netsuite)
    return [
        "reconcile",
        "match",
        "--left",
        str(tmp_path / "stripe.csv"),
        "--right",
        str(tmp_path / "netsuite.csv"),
        "--out",
        str(tmp_path / "out"),
        *more,
    ]


# A saved search with the company's own column names, and a Stripe export whose charge id
# column was renamed by a spreadsheet.
CUSTOM_NETSUITE = (
    "Internal Id,Date,Charge,Customer,Total,Currency,Invoice #\n"
    "5001,2026-12-01,ch_1,cus_a,1800.00,USD,INV-1\n"
    "5002,2026-12-02,,cus_b,12500.00,USD,INV-2\n"
)
CUSTOM_MAPPING = """
[left]
charge_id = "Charge ID"

[right]
id = "Internal Id"
amount = "Total"
charge_id = "Charge"
customer = "Customer"
reference = "Invoice #"
"""


def test_a_column_mapping_file_names_the_companys_own_columns(tmp_path: Path) -> None:
    stripe = STRIPE.replace("charge_id", "Charge ID", 1)
    (tmp_path / "map.toml").write_text(CUSTOM_MAPPING)
    args = _match(tmp_path, stripe, CUSTOM_NETSUITE, "--columns", str(tmp_path / "map.toml"))
    report = Cli().json(*args)
    assert report["counts"] == {"matched": 2, "proposed": 0, "blocked": 0, "unmatched": 2}
    matched = list(csv.DictReader((tmp_path / "out" / "matched.csv").open()))
    assert [(r["stripe_id"], r["netsuite_ids"], r["tier"]) for r in matched] == [
        ("txn_1", "5001", "exact_charge_id"),  # through the renamed charge columns
        ("txn_2", "5002", "tolerance"),  # through the renamed amount and customer columns
    ]
    assert matched[1]["amount"] == "1250000"


def test_without_the_mapping_the_same_files_are_refused_naming_the_missing_columns(
    tmp_path: Path,
) -> None:
    refused = Cli().fails(*_match(tmp_path, STRIPE, CUSTOM_NETSUITE))
    assert "netsuite.csv: no column for id, amount (expected 'Internal ID', 'Amount')" in (
        refused.stderr
    )


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        (
            '[right]\ndate = "Date"',
            "column mapping [right]: unknown fields ['date'] (the fields are id, amount, "
            "currency, day, charge_id, invoice_id, customer, email, name, reference, and "
            "date_format: how the dates are written)",
        ),
        (
            '[netsuite]\nid = "Internal Id"',
            "column mapping: unknown sections ['netsuite'] (only [left], Stripe, and [right], "
            "NetSuite)",
        ),
        ('id = "Internal Id"', "column mapping: unknown sections ['id']"),
        ('left = "Internal Id"', "column mapping: [left] must be a table of field = column"),
        ("[right]\nid = 5", "column mapping [right].id: a column name is text, not 5"),
        ('[right]\nid = ""', "column mapping [right].id: a column name is text, not ''"),
        ("[right\nid = 1", "Expected ']' at the end of a table declaration (at line 1"),
    ],
)
def test_an_invalid_column_mapping_is_refused_naming_the_problem(
    tmp_path: Path, mapping: str, problem: str
) -> None:
    (tmp_path / "map.toml").write_text(mapping)
    args = _match(tmp_path, STRIPE, NETSUITE, "--columns", str(tmp_path / "map.toml"))
    refused = Cli().fails(*args)
    assert problem in refused.stderr
    assert not (tmp_path / "out").exists()


def test_a_mapping_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    (tmp_path / "map.toml").write_bytes(b"\xef\xbb\xbf" + CUSTOM_MAPPING.encode())
    stripe = STRIPE.replace("charge_id", "Charge ID", 1)
    args = _match(tmp_path, stripe, CUSTOM_NETSUITE, "--columns", str(tmp_path / "map.toml"))
    assert Cli().json(*args, "--json")["counts"]["matched"] == 2


def test_a_mapping_that_is_not_utf8_is_refused_naming_the_byte(tmp_path: Path) -> None:
    """Saved as Windows-1252: refused with what is wrong, and no traceback."""
    (tmp_path / "map.toml").write_bytes('[right]\nname = "Nom du client é"\n'.encode("cp1252"))
    refused = Cli().fails(
        *_match(tmp_path, STRIPE, NETSUITE, "--columns", str(tmp_path / "map.toml"))
    )
    assert (
        f"column mapping {tmp_path / 'map.toml'}: not UTF-8 text (byte 31 is 0xe9); save it as "
        "UTF-8"
    ) in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_missing_mapping_file_is_refused_naming_it(tmp_path: Path) -> None:
    args = _match(tmp_path, STRIPE, NETSUITE, "--columns", str(tmp_path / "nowhere.toml"))
    refused = Cli().fails(*args)
    assert f"column mapping {tmp_path / 'nowhere.toml'}:" in refused.stderr


def test_amounts_become_minor_units_by_each_currencys_own_digits(tmp_path: Path) -> None:
    """Yen have no minor unit and Kuwaiti dinars three digits of one: the export's major units
    become the same minor units Stripe and the rest of Revline count in."""
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency\n"
        'txn_y,2026-12-01 10:00:00,ch_y,"1,200",jpy\n'
        "txn_k,2026-12-01 10:00:00,ch_k,12.345,kwd\n"
        "txn_u,2026-12-01 10:00:00,ch_u,12.34,usd\n"
    )
    netsuite = (
        "Internal ID,Date,Stripe Charge ID,Amount,Currency\n"
        "1,2026-12-01,ch_y,1200,JPY\n2,2026-12-01,ch_k,12.345,KWD\n3,2026-12-01,ch_u,12.34,USD\n"
    )
    result = CliRunner().invoke(
        app, [*_match(tmp_path, stripe, netsuite), "--out", str(tmp_path / "out"), "--json"]
    )
    assert result.exit_code == 0, result.output
    matched = list(csv.DictReader((tmp_path / "out" / "matched.csv").open()))
    assert sorted((r["stripe_id"], r["amount"]) for r in matched) == [
        ("txn_k", "12345"),
        ("txn_u", "1234"),
        ("txn_y", "1200"),
    ]


def test_an_export_with_bad_rows_is_refused_whole_naming_each_row(tmp_path: Path) -> None:
    """Nothing is guessed: not a European decimal comma, a currency symbol, a fraction of a
    cent, an unknown currency, an unreadable date, a row missing its currency or an id twice."""
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency\n"
        'txn_1,2026-12-01 10:00:00,ch_1,"1.250,00",eur\n'
        "txn_2,2026-12-01 10:00:00,ch_2,$100.00,usd\n"
        "txn_3,2026-12-01 10:00:00,ch_3,12.345,usd\n"
        "txn_4,2026-12-01 10:00:00,ch_4,12.34,usx\n"
        "txn_5,yesterday,ch_5,12.34,usd\n"
        "txn_6,2026-12-01 10:00:00,ch_6,12.34,\n"
        "txn_1,2026-12-01 10:00:00,ch_7,1.00,usd\n"
        'txn_8,2026-12-01 10:00:00,ch_8,"1,200.5",jpy\n'
        "txn_9,2026-12-01 10:00:00,ch_9,1234567890123456.00,usd\n"
        'txn_10,2026-12-01 10:00:00,ch_10,"0,250",kwd\n'
    )
    refused = Cli().fails(*_match(tmp_path, stripe, NETSUITE))
    assert f"{tmp_path / 'stripe.csv'}: 10 problems, nothing was matched:" in refused.stderr
    for problem in (
        "row 2: amount '1.250,00' is not a number written like 1,250.00, -20.00 or (20.00)",
        "row 2: id 'txn_1' is on rows 2, 8",
        "row 3: amount '$100.00' is not a number written like 1,250.00, -20.00 or (20.00)",
        "row 4: amount '12.345' has more decimals than USD has minor units (2)",
        "row 5: currency 'usx' is not an ISO 4217 code",
        "row 6: date 'yesterday' is not a date written as YYYY-MM-DD or M/D/YYYY",
        "row 7: no currency (column 'currency')",
        "row 9: amount '1,200.5' has more decimals than JPY has minor units (0)",
        "row 10: amount '1234567890123456.00' is not a number written like 1,250.00, -20.00 "
        "or (20.00)",
        # A decimal comma, not 250 dinars: a group of thousands never starts with a zero.
        "row 11: amount '0,250' is not a number written like 1,250.00, -20.00 or (20.00)",
    ):
        assert problem in refused.stderr
    assert not (tmp_path / "out").exists()


def test_netsuite_dates_are_read_as_the_account_writes_them(tmp_path: Path) -> None:
    """A saved search writes dates by the user's preference: M/D/YYYY in a US account without
    a mapping, any other format named in it."""
    us = NETSUITE.replace("2026-12-01", "12/1/2026").replace("2026-12-02", "12/2/2026 9:30 am")
    report = Cli().json(*_match(tmp_path, STRIPE, us), "--json")
    assert report["counts"]["matched"] == 2
    (tmp_path / "map.toml").write_text('[right]\ndate_format = "%d.%m.%Y"\n')
    german = NETSUITE.replace("2026-12-01", "01.12.2026").replace("2026-12-02", "02.12.2026")
    args = _match(tmp_path, STRIPE, german, "--columns", str(tmp_path / "map.toml"), "--json")
    assert Cli().json(*args)["counts"]["matched"] == 2
    refused = Cli().fails(*_match(tmp_path, STRIPE, us, "--columns", str(tmp_path / "map.toml")))
    assert "row 2: date '12/1/2026' is not a date written as '%d.%m.%Y'" in refused.stderr


def test_a_date_format_reads_dates_that_begin_with_the_year_too(tmp_path: Path) -> None:
    """An account writing year, day, month: 2026-01-12 is 1 December, as the mapping says, not
    12 January; and a 12-hour time after an ISO date is read by the format, not refused."""
    (tmp_path / "map.toml").write_text('[right]\ndate_format = "%Y-%d-%m"\n')
    one_december = NETSUITE.replace("2026-12-01", "2026-01-12").replace("2026-12-02", "2026-02-12")
    args = _match(tmp_path, STRIPE, one_december, "--columns", str(tmp_path / "map.toml"))
    assert Cli().json(*args, "--json")["counts"]["matched"] == 2
    (tmp_path / "map.toml").write_text('[right]\ndate_format = "%Y-%m-%d %I:%M %p"\n')
    evening = NETSUITE.replace("2026-12-01", "2026-12-01 11:30 pm").replace(
        "2026-12-02", "2026-12-02 9:00 am"
    )
    args = _match(tmp_path, STRIPE, evening, "--columns", str(tmp_path / "map.toml"))
    assert Cli().json(*args, "--json")["counts"]["matched"] == 2


def test_a_mapping_naming_a_column_the_file_lacks_is_refused(tmp_path: Path) -> None:
    """A misspelt optional column would otherwise switch its tier off without a word."""
    (tmp_path / "map.toml").write_text('[right]\ncharge_id = "Stripe Charge"\n')
    args = _match(tmp_path, STRIPE, NETSUITE, "--columns", str(tmp_path / "map.toml"))
    refused = Cli().fails(*args)
    assert (
        "netsuite.csv: the column mapping names columns the file does not have: "
        "charge_id = 'Stripe Charge'"
    ) in refused.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--amount-drift", "-1"),
        ("--date-window", "-1"),
        # Wider than any amount: it would overflow the engine's 64-bit arithmetic.
        ("--amount-drift", "9223372036854775807"),
        ("--date-window", "100000"),
    ],
)
def test_tolerances_are_refused_beyond_their_bounds(
    tmp_path: Path, option: str, value: str
) -> None:
    refused = CliRunner().invoke(app, [*_match(tmp_path, STRIPE, NETSUITE), option, value])
    assert refused.exit_code == 2, refused.output
    assert f"Invalid value for '{option}'" in refused.output
    assert not (tmp_path / "out").exists()


def test_a_long_list_of_problems_names_the_first_ten_and_counts_the_rest(tmp_path: Path) -> None:
    rows = "".join(f"txn_{i},2026-12-01,ch_{i},{i}.001,usd\n" for i in range(12))
    stripe = "balance_transaction_id,created_utc,charge_id,gross,currency\n" + rows
    refused = Cli().fails(*_match(tmp_path, stripe, NETSUITE))
    assert "12 problems, nothing was matched:" in refused.stderr
    assert "row 11: amount '9.001'" in refused.stderr
    assert "row 12:" not in refused.stderr
    assert "\n  and 2 more\nno report was written" in refused.stderr


def test_a_time_with_an_offset_is_dated_in_utc(tmp_path: Path) -> None:
    """23:30 in California on 30 November is 1 December in UTC, the day Stripe's
    ``created_utc`` would give it: one day from NetSuite's 2 December, within a one-day window."""
    stripe = STRIPE.replace("2026-12-01 11:00:00", "2026-11-30 23:30:00-08:00")
    Cli().json(*_match(tmp_path, stripe, NETSUITE, "--date-window", "1"), "--json")
    matched = {r["stripe_id"]: r for r in csv.DictReader((tmp_path / "out" / "matched.csv").open())}
    assert matched["txn_2"]["tier"] == "tolerance"
    assert matched["txn_2"]["reason"].endswith("dates 1 days apart")


def _report(tmp_path: Path, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader((tmp_path / "out" / f"{name}.csv").open(newline="")))


def test_only_a_payment_row_settles_the_netsuite_customer_payment(tmp_path: Path) -> None:
    """Stripe's itemized report carries the charge id on a dispute, its reversal and a failed
    refund as on the charge itself; only the charge row settles NetSuite's customer payment."""
    stripe = (
        "balance_transaction_id,created_utc,reporting_category,charge_id,gross,currency\n"
        "txn_1,2026-12-01 10:00:00,charge,ch_1,50.00,usd\n"
        "txn_2,2026-12-01 10:00:00,dispute,ch_2,-70.00,usd\n"
        "txn_3,2026-12-03 10:00:00,dispute_reversal,ch_2,70.00,usd\n"
        "txn_4,2026-12-03 10:00:00,refund_failure,ch_4,30.00,usd\n"
    )
    netsuite = (
        "Internal ID,Date,Stripe Charge ID,Amount,Currency\n"
        "5001,2026-12-01,ch_1,50.00,USD\n"
        "5002,2026-11-20,ch_2,70.00,USD\n"
        "5004,2026-11-25,ch_4,30.00,USD\n"
    )
    report = Cli().json(*_match(tmp_path, stripe, netsuite))
    assert report["counts"] == {"matched": 1, "proposed": 0, "blocked": 0, "unmatched": 3}
    assert [(r["stripe_id"], r["netsuite_ids"]) for r in _report(tmp_path, "matched")] == [
        ("txn_1", "5001")
    ]
    unmatched = {r["id"]: r["reason"] for r in _report(tmp_path, "unmatched")}
    for txn, category in (("txn_2", "dispute"), ("txn_3", "dispute_reversal")):
        assert unmatched[txn].startswith(f"Stripe reporting category {category}: only a charge")
    assert unmatched["txn_4"].startswith("Stripe reporting category refund_failure:")
    assert unmatched["5002"] == unmatched["5004"] == "no Stripe entry matched it"


def test_a_quote_first_used_far_down_the_file_is_still_a_quote(tmp_path: Path) -> None:
    """The dialect is RFC 4180's, not sniffed from the first 20,480 rows: a description with a
    comma, quoted, 30,000 rows down is one cell."""
    rows = "".join(f"txn_{i},2026-12-01,ch_{i},1.00,usd,Plan\n" for i in range(30_000))
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency,description\n"
        + rows
        + 'txn_q,2026-12-01,ch_q,2.00,usd,"Plan, ""annual"""\n'
    )
    netsuite = "Internal ID,Date,Stripe Charge ID,Amount,Currency\n5001,2026-12-01,ch_q,2.00,USD\n"
    report = Cli().json(*_match(tmp_path, stripe, netsuite))
    assert report["counts"]["matched"] == 1
    assert report["counts"]["unmatched"] == 30_000
    (matched,) = _report(tmp_path, "matched")
    assert (matched["stripe_id"], matched["netsuite_ids"], matched["amount"]) == (
        "txn_q",
        "5001",
        "200",
    )


def test_a_two_digit_year_is_refused_unless_the_format_says_so(tmp_path: Path) -> None:
    """12/31/26 read as M/D/YYYY would be the year 26: refused; a mapping naming %y reads
    2026."""
    netsuite = NETSUITE.replace("2026-12-01", "12/1/26").replace("2026-12-02", "12/2/26")
    refused = Cli().fails(*_match(tmp_path, STRIPE, netsuite))
    assert (
        "row 2: date '12/1/26' reads as the year 26: write the year in full, or name a "
        "date_format with %y"
    ) in refused.stderr
    (tmp_path / "map.toml").write_text('[right]\ndate_format = "%m/%d/%y"\n')
    args = _match(tmp_path, STRIPE, netsuite, "--columns", str(tmp_path / "map.toml"))
    assert Cli().json(*args)["counts"]["matched"] == 2
    (tmp_path / "map.toml").write_text('[right]\ndate_format = "%m/%d/%Y"\n')
    args = _match(tmp_path, STRIPE, netsuite, "--columns", str(tmp_path / "map.toml"))
    assert "row 2: date '12/1/26' reads as the year 26: write the year in full\n" in (
        Cli().fails(*args).stderr
    )


def test_a_row_with_more_or_fewer_fields_than_the_header_is_refused_by_its_line(
    tmp_path: Path,
) -> None:
    """Lines as a person counts them: the header is line 1, a blank line counts, and a quoted
    line break makes a row two lines long."""
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency,description\n"
        "\n"
        'txn_1,2026-12-01,ch_1,1.00,usd,"two\nlines"\n'
        "txn_2,2026-12-01,ch_2,1.00,usd,Plan,extra\n"
        "txn_3,2026-12-01,ch_3,1.00\n"
    )
    refused = Cli().fails(*_match(tmp_path, stripe, NETSUITE))
    assert refused.stderr.startswith(
        f"error: {tmp_path / 'stripe.csv'}: 2 rows not in the header's columns, nothing was "
        "matched:\n"
        "  row 5: 7 fields where the header has 6\n"
        "  row 6: 4 fields where the header has 6\n"
        "no report was written"
    )
    assert not (tmp_path / "out").exists()


def test_a_row_after_a_blank_line_or_a_line_break_is_named_by_its_line(tmp_path: Path) -> None:
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency,description\n"
        "\n"
        'txn_1,2026-12-01,ch_1,1.00,usd,"two\nlines"\n'
        "txn_2,2026-12-01,ch_2,1.0.0,usd,Plan\n"
        "txn_1,2026-12-01,ch_3,1.00,usd,Plan\n"
    )
    refused = Cli().fails(*_match(tmp_path, stripe, NETSUITE))
    assert "  row 5: amount '1.0.0' is not a number" in refused.stderr
    assert "  row 3: id 'txn_1' is on rows 3, 6" in refused.stderr


@pytest.mark.parametrize(
    ("date_format", "problem"),
    [
        ("%d.%Q.%Y", "Unrecognized format for strftime/strptime: %Q"),
        ("%d.%m", "does not name a year (%Y, or %y for two digits)"),
        ("%H:%M", "does not name a year"),
    ],
)
def test_a_date_format_that_cannot_read_a_date_is_refused_naming_it(
    tmp_path: Path, date_format: str, problem: str
) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(f'[right]\ndate_format = "{date_format}"\n')
    refused = Cli().fails(*_match(tmp_path, STRIPE, NETSUITE, "--columns", str(mapping)))
    assert f"column mapping {mapping} [right].date_format '{date_format}'" in refused.stderr
    assert problem in refused.stderr
    assert not (tmp_path / "out").exists()


def test_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text(tmp_path: Path) -> None:
    """OWASP's CSV injection: a cell beginning with =, +, -, @, a tab or a carriage return opens
    as text; the amounts stay numbers, a refund's minus included."""
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency\n"
        '"=HYPERLINK(""http://x.example"")",2026-12-01,ch_1,18.00,usd\n'
        "@SUM(A1),2026-12-01,ch_2,-5.00,usd\n"
        '"\tcmd",2026-12-01,ch_3,7.00,usd\n'
        "-2+3,2026-12-01,ch_4,8.00,usd\n"
    )
    netsuite = (
        "Internal ID,Date,Stripe Charge ID,Amount,Currency\n"
        "+5001,2026-12-01,ch_1,18.00,USD\n"
        "=5009,2026-12-01,,9.00,USD\n"
    )
    Cli().json(*_match(tmp_path, stripe, netsuite))
    (matched,) = _report(tmp_path, "matched")
    assert (matched["stripe_id"], matched["netsuite_ids"], matched["amount"]) == (
        '\'=HYPERLINK("http://x.example")',
        "'+5001",
        "1800",
    )
    unmatched = {r["id"]: r["amount"] for r in _report(tmp_path, "unmatched")}
    assert unmatched == {"'@SUM(A1)": "-500", "'\tcmd": "700", "'-2+3": "800", "'=5009": "900"}


def test_an_accountants_negative_in_parentheses_is_a_negative(tmp_path: Path) -> None:
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency\n"
        "txn_1,2026-12-01,ch_1,(12.50),usd\n"
        'txn_2,2026-12-01,ch_2,"(1,250.00)",usd\n'
    )
    netsuite = (
        "Internal ID,Date,Stripe Charge ID,Amount,Currency\n"
        "r1,2026-12-01,ch_1,-12.50,USD\n"
        'r2,2026-12-01,ch_2,"(1,250.00)",USD\n'
    )
    assert Cli().json(*_match(tmp_path, stripe, netsuite))["counts"]["matched"] == 2
    assert {(r["stripe_id"], r["amount"]) for r in _report(tmp_path, "matched")} == {
        ("txn_1", "-1250"),
        ("txn_2", "-125000"),
    }
    for amount in ("(-12.50)", "-(12.50)", "(12.505)", "(12.50"):
        bad = stripe.replace("(12.50)", amount, 1)
        refused = Cli().fails(*_match(tmp_path, bad, netsuite))
        assert f"row 2: amount '{amount}'" in refused.stderr


def test_a_refused_run_leaves_no_report_of_an_earlier_run(tmp_path: Path) -> None:
    """matched.csv from yesterday's run, beside today's refusal, would be read as today's."""
    Cli().json(*_match(tmp_path, STRIPE, NETSUITE))
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "ambiguous.csv",
        "matched.csv",
        "unmatched.csv",
    ]
    (out / "notes.txt").write_text("mine")
    bad = STRIPE.replace("1800.00", "18OO.00")
    refused = Cli().fails(*_match(tmp_path, bad, NETSUITE))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert "row 2: amount '18OO.00' is not a number" in refused.stderr
    assert refused.stderr.rstrip().endswith(
        "no report was written, and the earlier run's matched.csv, ambiguous.csv, "
        f"unmatched.csv in {out} were removed (they are not this run's)"
    )


def test_a_refused_run_never_deletes_its_own_input(tmp_path: Path) -> None:
    """Matching again what the last run left unmatched: ``--left out/unmatched.csv`` is refused
    up front, naming it, and the file stays (a refusal removes an earlier run's reports, never an
    input)."""
    out = tmp_path / "out"
    out.mkdir()
    leftover = out / "unmatched.csv"
    leftover.write_text("side,id,reason,amount,currency\nstripe,txn_3,orphan,42000,usd\n")
    (tmp_path / "netsuite.csv").write_text(NETSUITE)
    args = _match(tmp_path, STRIPE, NETSUITE)
    args[args.index("--left") + 1] = str(leftover)
    refused = Cli().fails(*args)
    assert leftover.exists(), "the refused run deleted its own --left file"
    assert f"--left {leftover} is the unmatched.csv this run would write into {out}" in (
        refused.stderr
    )
    # Named by another way to the same file, it is refused the same.
    args[args.index("--left") + 1] = str(out / ".." / "out" / "unmatched.csv")
    Cli().fails(*args)
    assert leftover.exists()


def test_an_out_directory_that_is_a_file_is_refused_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("not a directory")
    refused = Cli().fails(*_match(tmp_path, STRIPE, NETSUITE))
    assert f"--out {tmp_path / 'out'} is a file, not a directory" in refused.stderr
    assert (tmp_path / "out").read_text() == "not a directory"
    # A directory that cannot be made: refused naming it, not a traceback.
    args = _match(tmp_path, STRIPE, NETSUITE)
    args[args.index("--out") + 1] = str(tmp_path / "out" / "reports")
    refused = Cli().fails(*args)
    assert f"cannot write the reports into {tmp_path / 'out' / 'reports'}:" in refused.stderr


@pytest.mark.parametrize(("separator", "named"), [(";", "semicolons (';')"), ("\t", "tabs")])
def test_an_export_not_separated_by_commas_is_refused_saying_so(
    tmp_path: Path, separator: str, named: str
) -> None:
    """A European Excel "CSV" (semicolons) or a tab-separated export: its header reads as one
    column. With a comma in a cell it would read as rows of the wrong width."""
    for row in ("txn_1;2026-12-01;ch_1;100.00;usd\n", 'txn_1;2026-12-01;ch_1;"1,00";eur\n'):
        stripe = ("balance_transaction_id;created_utc;charge_id;gross;currency\n" + row).replace(
            ";", separator
        )
        refused = Cli().fails(*_match(tmp_path, stripe, NETSUITE))
        assert (
            f"{tmp_path / 'stripe.csv'}: not comma-separated: its header is one column with "
            f"{named} in it"
        ) in refused.stderr


def test_a_non_utf8_export_is_refused_naming_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    """A Windows-1252 export (saved from Excel): the é is on line 252, far past the first 8 KiB
    a decoder reads at once."""
    header = "balance_transaction_id,created_utc,charge_id,gross,currency,description\n"
    rows = [f"txn_{i},2026-12-01,ch_{i},100.00,usd,Sub\n" for i in range(300)]
    rows[250] = "txn_250,2026-12-01,ch_250,100.00,usd,Caf\xe9\n"
    rows[270] = "txn_270,2026-12-01,ch_270,100.00,usd,Na\xefve\n"
    args = _match(tmp_path, "", NETSUITE)
    (tmp_path / "stripe.csv").write_bytes((header + "".join(rows)).encode("cp1252"))
    refused = Cli().fails(*args)
    assert refused.stderr.startswith(
        f"error: {tmp_path / 'stripe.csv'}: 2 rows not UTF-8 text (an encoding problem: save "
        "the export as UTF-8), nothing was matched:\n"
        "  row 252: not UTF-8 text: byte 0xe9 at character 41\n"
        "  row 272: not UTF-8 text: byte 0xef at character 40\n"
    ), refused.stderr


def test_an_export_with_one_row_ended_by_crlf_is_read(tmp_path: Path) -> None:
    """A Stripe export (LF) to which rows were added on Windows (CRLF): read as Python's csv
    reads it, a line break inside a quoted cell kept as written."""
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency,description\n"
        "txn_1,2026-12-01,ch_1,1800.00,usd,Sub\n"
        'txn_2,2026-12-01,ch_2,12500.00,usd,"two\r\nlines"\r\n'
        "txn_3,2026-12-01,ch_3,7.00,usd,Sub\r\n"
    )
    report = Cli().json(*_match(tmp_path, stripe, NETSUITE))
    assert report["counts"] == {"matched": 1, "proposed": 0, "blocked": 0, "unmatched": 2}
    # Its problems are still named by their lines.
    bad = stripe.replace("7.00", "7.0.0")
    refused = Cli().fails(*_match(tmp_path, bad, NETSUITE))
    assert "  row 5: amount '7.0.0' is not a number" in refused.stderr


def test_the_largest_amount_in_a_four_digit_currency_is_refused_without_a_traceback(
    tmp_path: Path,
) -> None:
    """15 digits before the point and 4 after (CLF, UYW) do not fit a BIGINT of minor units: at
    most 18 digits in all, so 14 before the point."""
    stripe = (
        "balance_transaction_id,created_utc,charge_id,gross,currency\n"
        "txn_1,2026-12-01,ch_1,999999999999999.9999,clf\n"
        "txn_2,2026-12-01,ch_2,-99999999999999.9999,uyw\n"
        'txn_3,2026-12-01,ch_3,"999,999,999,999,999.999",kwd\n'
    )
    netsuite = "Internal ID,Date,Stripe Charge ID,Amount,Currency\n1,2026-12-01,ch_2,1.00,UYW\n"
    refused = Cli().fails(*_match(tmp_path, stripe, netsuite))
    assert f"{tmp_path / 'stripe.csv'}: 1 problem, nothing was matched:" in refused.stderr
    assert (
        "row 2: amount '999999999999999.9999' has more than 14 digits before the point: CLF's "
        "minor units (4) would not fit 18 digits"
    ) in refused.stderr
