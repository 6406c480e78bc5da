"""``revline close --month``: the tie-out as Markdown, JSON and an XLSX workbook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from revline.core.runtime import Runtime
from tests.api.test_close import seed_close
from tests.cli.conftest import Cli


def test_markdown_shows_the_walk_the_items_and_the_holds(cli: Cli, runtime: Runtime) -> None:
    seed_close(runtime)
    out = cli.ok("close", "--month", "2026-12").stdout
    assert out.startswith("# Month-end close 2026-12")
    assert "does NOT tie" in out
    assert "| Stripe in-transit balance | $1,844.30 |" in out
    assert "| Variance | $12.40 |" in out
    assert "| payment_not_recorded | ch_orphan | 2026-12-30 | -$100.00 |" in out
    assert "| Acme Corp | RP-301 | $12,500.00 | " in out
    assert "| in_acme_7 | high_value | retrying | 1/3 |" in out
    assert "## Explanations on record (they do not unblock the sign-off)" in out
    assert "| 2027-01-05 10:00 EST | user:jonas | $12.40 | receipt keyed twice |" in out


def test_json_is_the_same_report(cli: Cli, runtime: Runtime) -> None:
    seed_close(runtime)
    report = cli.json("close", "--month", "2026-12")
    assert report["tieout"]["variance"] == 1_240
    assert report["held_recognition"][0]["customer"] == "Acme Corp"


def test_out_writes_a_workbook_openpyxl_reads(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    seed_close(runtime)
    cli.ok("close", "--month", "2026-12", "--out", str(tmp_path))
    book = load_workbook(tmp_path / "close-2026-12.xlsx")
    assert book.sheetnames == ["Summary", "Reconciling items", "Explanations", "Dunning holds"]
    walk = {row[0]: row[1] for row in book["Summary"].iter_rows(min_row=6, values_only=True)}
    assert walk["Stripe in-transit balance"] == 1844.30
    assert walk["Variance"] == 12.40
    items = list(book["Reconciling items"].iter_rows(min_row=2, values_only=True))
    assert [(kind, ref) for kind, ref, *_ in items] == [
        ("fees_not_booked", "po_2"),
        ("payment_not_recorded", "ch_orphan"),
    ]
    (explained,) = book["Explanations"].iter_rows(min_row=2, values_only=True)
    assert explained[1:] == ("user:jonas", 12.40, "receipt keyed twice")
    (held,) = book["Dunning holds"].iter_rows(min_row=2, values_only=True)
    assert (held[0], held[2]) == ("Acme Corp", 12500)
    assert held[3] == "USD"
    assert held[6:] == ("in_acme_7", "high_value", "retrying", "1/3")
    assert json.loads((tmp_path / "close-2026-12.json").read_text())["month"] == "2026-12"
    assert (tmp_path / "close-2026-12.md").read_text().startswith("# Month-end close 2026-12")


def test_bad_input_is_refused_with_what_is_wrong(cli: Cli, runtime: Runtime) -> None:
    assert "YYYY-MM" in cli.fails("close", "--month", "12/2026").stderr
    assert "no month-end close for 2026-11" in cli.fails("close", "--month", "2026-11").stderr
    seed_close(runtime)
    missing = cli.fails("close", "--month", "2026-12", "--explain", "a bank fee")
    assert "--variance" in missing.stderr
    assert "--as USER" in cli.fails("close", "--month", "2026-12", "--recheck").stderr


def test_only_an_fpa_analyst_asks_for_a_recheck_and_never_of_a_signed_month(
    cli: Cli, runtime: Runtime
) -> None:
    seed_close(runtime, signed_off=True)
    for name, role in (("omar", "billing_analyst"), ("jonas", "fpa_analyst")):
        cli.ok("tokens", "create", "--name", name, "--role", role)
    refused = cli.fails("close", "--month", "2026-12", "--recheck", "--as", "omar")
    assert "omar is billing_analyst: only an fpa_analyst" in refused.stderr
    signed = cli.fails("close", "--month", "2026-12", "--recheck", "--as", "jonas")
    assert "the 2026-12 close is already signed off" in signed.stderr


def test_out_naming_a_file_is_refused_naming_it(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    seed_close(runtime)
    taken = tmp_path / "close-2026-12.xlsx"
    taken.write_text("a workbook of last month")
    refused = cli.fails("close", "--month", "2026-12", "--out", str(taken))
    assert f"--out {taken} is a file, not a directory" in refused.stderr
    assert taken.read_text() == "a workbook of last month"
    under = cli.fails("close", "--month", "2026-12", "--out", str(taken / "reports"))
    assert f"cannot write the close report into {taken / 'reports'}" in under.stderr


def test_out_writes_again_over_the_reports_of_an_earlier_run(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    """Like ``reconcile match --out``: the directory holds the month's latest report."""
    seed_close(runtime)
    (tmp_path / "close-2026-12.md").write_text("an earlier run")
    cli.ok("close", "--month", "2026-12", "--out", str(tmp_path))
    assert (tmp_path / "close-2026-12.md").read_text().startswith("# Month-end close 2026-12")


@pytest.mark.parametrize("month", ["0000-12", "9999-12"])
def test_a_month_outside_the_calendar_is_refused_naming_it(cli: Cli, month: str) -> None:
    for args in ((), ("--recheck", "--as", "jonas")):
        refused = cli.fails("close", "--month", month, *args)
        assert f"month '{month}' is out of range" in refused.stderr
