"""``revline reconcile match`` over a Stripe export and a NetSuite saved search."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from revline.cli import app

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
