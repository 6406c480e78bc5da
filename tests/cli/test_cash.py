"""``revline cash payouts``: the same read as ``GET /api/cash/payouts``, as tables or JSON."""

from __future__ import annotations

from revline.core.runtime import Runtime
from tests.api.test_cash import seed_morning
from tests.cli.conftest import Cli


def test_a_day_as_json_and_as_tables(cli: Cli, runtime: Runtime) -> None:
    morning = seed_morning(runtime)
    day = cli.json("cash", "payouts", "--date", "2026-12-04")
    assert day["case_id"] == morning.today
    assert [(p["payout"], p["status"]) for p in day["payouts"]] == [
        ("po_1", "already_deposited"),
        ("po_2", "orphans_pending"),
    ]
    assert day["payouts"][1]["transactions"][1]["orphan_case"]["case_id"] == morning.orphan

    shown = cli.ok("cash", "payouts", "--date", "2026-12-04").stdout
    assert "payouts of 2026-12-04" in shown
    assert "$1,747.50" in shown and "$10,744.72" in shown  # the payouts, for people
    assert "6700-8" in shown  # po_1's fee line
    assert f"{morning.orphan} (awaiting_cardholder)" in shown
    assert "returned payouts paid out again" in shown
    assert "po_0" in shown and "none: carried in this deposit" in shown


def test_an_unknown_or_malformed_date_is_an_error_not_a_traceback(
    cli: Cli, runtime: Runtime
) -> None:
    seed_morning(runtime)
    missing = cli.fails("cash", "payouts", "--date", "2026-12-03")
    assert "no payout reconciliation for 2026-12-03" in missing.stderr
    malformed = cli.fails("cash", "payouts", "--date", "04/12/2026")
    assert "--date must be a date as YYYY-MM-DD" in malformed.stderr
    week = cli.fails("cash", "payouts", "--date", "2026-W49-5")
    assert "--date must be a date as YYYY-MM-DD, not '2026-W49-5'" in week.stderr


def test_a_rerun_needs_a_reconciler_and_a_morning_that_ran(cli: Cli, runtime: Runtime) -> None:
    seed_morning(runtime)
    cli.ok("tokens", "create", "--role", "viewer", "--name", "vic")
    cli.ok("tokens", "create", "--role", "billing_analyst", "--name", "omar")
    refused = cli.fails("cash", "rerun", "--date", "2026-12-04", "--as", "vic")
    assert "vic is viewer: a rerun needs one of" in refused.stderr
    missing = cli.fails("cash", "rerun", "--date", "2026-12-03", "--as", "omar")
    assert "no payout reconciliation for 2026-12-03 to run again" in missing.stderr


def test_a_rerun_in_a_process_without_the_providers_says_what_to_configure(
    cli: Cli, runtime: Runtime
) -> None:
    """The morning reads Stripe and NetSuite again: without their settings the analyst is told
    which, not shown a traceback."""
    seed_morning(runtime)
    cli.ok("tokens", "create", "--role", "billing_analyst", "--name", "omar")
    # Exit 2, as for any setting missing or wrong.
    refused = cli.fails("cash", "rerun", "--date", "2026-12-04", "--as", "omar", code=2)
    assert refused.stderr.startswith("error: stripe is not configured in this process: set ")
    assert "stripe_api_key" in refused.stderr
