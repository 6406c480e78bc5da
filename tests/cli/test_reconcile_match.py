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
    assert json.loads(result.stdout)["counts"] == {"matched": 2, "blocked": 1, "unmatched": 1}
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
    assert report["counts"] == {"matched": 2, "unmatched": 2}
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
            "currency, day, charge_id, invoice_id, customer, email, name, reference)",
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
