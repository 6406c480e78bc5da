"""Month end in NetSuite while the cash playbooks run: the controller locks or closes November.

Late entries for a closed month are posted on the first day NetSuite takes them, as an
accountant posts them, and every view shows the day NetSuite booked.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from revline.playbooks.cash.payout_day import payouts_of
from revline.sandbox.runner import Run
from revline.sandbox.world import World
from tests.sandbox.test_cash_scenarios import CASH, _actions, _example, _meanwhile


def _orphan_paid(on: str, payout: dict[str, str]) -> list[dict[str, object]]:
    """Dana pays from the address on file; the payout carrying it as given."""
    orphan, carrying = json.loads((CASH / "orphan_match_applied.json").read_text())["happenings"]
    return [
        {**orphan, "at": f"{on}T12:00:00-05:00", "email": "dana.reyes@acme.example"},
        {**carrying, **payout},
    ]


def test_an_orphan_matched_after_its_month_is_closed_is_recorded_in_the_open_month(
    tmp_path: Path,
) -> None:
    """Dana paid on the last day of November; the controller closed November in NetSuite the
    next afternoon, before the match was applied. The payment is recorded on 1 December, the
    first day NetSuite takes, with the day Dana paid in its memo, and the payout follows."""
    happenings = _orphan_paid("2026-11-30", {"at": "2026-12-01T06:00:00-05:00"})
    scenario = _example(
        "orphan_match_applied", start="2026-11-30T07:00:00-05:00", happenings=happenings
    )
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books
        _meanwhile(
            world, 1, 17, "the controller closes November", lambda: books.close_period("2026-11")
        )
        played = Run(world).play()
        (recorded,) = [p for p in books.customer_payments() if p.stripe_charge_id]
        memo = books.row('SELECT memo FROM "transaction" WHERE id = ?', (int(recorded.id),))

    (apply,) = _actions(played, "netsuite.customer_payment.create")
    assert apply["status"] == "applied" and apply["at"] > "2026-12-01T17"
    assert apply["params"]["date"] == "2026-11-30"
    assert recorded.date == date(2026, 12, 1)
    assert memo is not None and memo["memo"].endswith(
        "paid 2026-11-30; Nov 2026 is closed, recorded on 2026-12-01"
    )
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert deposit["status"] == "applied"
    assert played["ledger"]["verified"] is True


def test_after_an_ar_lock_the_deposit_is_never_dated_before_the_payment_it_takes(
    tmp_path: Path,
) -> None:
    """Dana paid on Friday 27 November and the payout reached the bank on Monday the 30th.
    Early on 1 December the controller locks A/R for November; the morning finds the orphan
    and the AR specialist applies the match. The payment can only be dated 1 December, so the
    deposit is too: November's Undeposited Funds never goes below nothing."""
    happenings = _orphan_paid(
        "2026-11-27", {"at": "2026-11-28T06:00:00-05:00", "arrival": "2026-11-30"}
    )
    scenario = _example(
        "orphan_match_applied", start="2026-11-27T07:00:00-05:00", happenings=happenings
    )
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books
        _meanwhile(
            world,
            1,
            7,
            "the controller locks A/R for November",
            lambda: books.close_period("2026-11", "ar"),
        )
        played = Run(world).play()
        (recorded,) = [p for p in books.customer_payments() if p.stripe_charge_id]
        (deposit,) = books.deposits()
        uf_at_november_end = books.row(
            "SELECT coalesce(SUM(tal.amount), 0) AS balance FROM transactionaccountingline tal"
            ' JOIN "transaction" t ON t.id = tal."transaction"'
            " JOIN account a ON a.id = tal.account"
            " WHERE a.accttype = 'UnDepFunds' AND t.trandate <= '2026-11-30'"
        )

    assert (recorded.date, deposit.date) == (date(2026, 12, 1), date(2026, 12, 1))
    assert uf_at_november_end is not None and uf_at_november_end["balance"] == 0
    assert played["ledger"]["verified"] is True


def test_the_days_view_shows_the_date_netsuite_booked_the_deposit(tmp_path: Path) -> None:
    """A payout reached the bank on 30 November and November closed before the 1 December
    run: NetSuite has the deposit on 1 December, and so does the day's view."""
    first, second, payout = json.loads((CASH / "clean_payout.json").read_text())["happenings"]
    happenings = [
        {**first, "at": "2026-11-27T10:00:00-05:00"},
        {**second, "at": "2026-11-27T11:00:00-05:00"},
        {**payout, "at": "2026-11-28T06:00:00-05:00", "arrival": "2026-11-30"},
    ]
    scenario = _example("clean_payout", start="2026-11-27T07:00:00-05:00", happenings=happenings)
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books
        _meanwhile(
            world, 1, 7, "the controller closes November", lambda: books.close_period("2026-11")
        )
        Run(world).play()
        (booked,) = books.deposits()
        with world.runtime.db.read() as session:
            (entry,) = payouts_of(session, date(2026, 12, 1)).payouts

    assert booked.date == date(2026, 12, 1)
    assert entry.deposit is not None and entry.deposit.date == date(2026, 12, 1)
