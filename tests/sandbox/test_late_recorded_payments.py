"""A payment the connector missed, on a payout that reached the bank on 31 December, and the
December tie-out (docs/playbooks/cash.md: steps 3 and 4 of the daily payout reconciliation, and
the month-end tie-out). Played through the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from revline.playbooks.cash import close_report
from revline.playbooks.cash.tieout import ItemKind, TieOut
from revline.sandbox.runner import Run
from revline.sandbox.scenario import Scenario
from revline.sandbox.world import Later, World

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")


def _december(payment_at: str, payout_at: str) -> Scenario:
    """Bluefin pays on 28 December; Acme pays at ``payment_at`` and the connector misses it;
    Stripe pays both out at ``payout_at``. Played to the day after the close, everything
    approved (the FP&A analyst signs the close off once it ties)."""
    scenario = json.loads((CASH / "payment_missing_in_netsuite.json").read_text())
    bluefin, acme, _ = scenario["happenings"]
    bluefin.update(at="2026-12-28T10:00:00-05:00", invoice="in_bluefin_dec")
    acme.update(at=payment_at, invoice="in_acme_dec")
    scenario.update(
        start="2026-12-28T07:00:00-05:00",
        until="2027-01-06T12:00:00-05:00",
        approve="all",
        happenings=[bluefin, acme, {"at": payout_at, "type": "payout"}],
    )
    return Scenario.model_validate(scenario)


def _close(world: World) -> close_report.CloseReport:
    with world.runtime.db.read() as session:
        return close_report.load(
            session, "2026-12", world.runtime.settings.policy.max_manual_retries
        )


def _acme_payment_date(world: World) -> date:
    (acme,) = [p for p in world.netsuite.books.customer_payments() if p.amount == 1_250_000]
    return acme.date


def _not_recorded(tieout: TieOut) -> list[tuple[str, int, str]]:
    return [
        (item.reference, item.amount, item.description)
        for item in tieout.items
        if item.kind is ItemKind.PAYMENT_NOT_RECORDED
    ]


def test_a_payment_recorded_for_a_payout_deposited_on_31_december_is_dated_31_december(
    tmp_path: Path,
) -> None:
    """The 4 January morning records Acme's payment and deposits the payout dated 31 December,
    the day the bank received it: the payment is dated that day too, so at month end it entered
    and left Undeposited Funds, and December ties with nothing to itemise."""
    scenario = _december("2026-12-29T10:00:00-05:00", "2026-12-30T06:00:00-05:00")
    with World(scenario, tmp_path) as world:
        report = Run(world).play()
        recorded_on = _acme_payment_date(world)
        close = _close(world)

    (record,) = [a for a in report["actions"] if a["kind"] == "netsuite.customer_payment.create"]
    assert record["status"] == "applied"
    assert record["at"].startswith("2027-01-04")
    (deposit,) = [a for a in report["actions"] if a["kind"] == "netsuite.deposit.create"]
    assert deposit["params"]["date"] == "2026-12-31"
    assert recorded_on == date(2026, 12, 31)
    assert _not_recorded(close.tieout) == []
    assert close.tieout.variance == 0
    assert close.state == "signed_off"


def test_a_payment_keyed_by_hand_after_month_end_dates_its_payouts_deposit_that_day(
    tmp_path: Path,
) -> None:
    """Books entered by hand: the AR specialist keys Acme's missed payment on 4 January, dated
    that day and without the Stripe charge id, before the morning run deposits the payout that
    reached the bank on 31 December. A deposit never takes a payment out of Undeposited Funds
    before it is there, so it is dated 4 January too. At month end the payout is not deposited
    and Acme's payment not recorded (the walk finds it by its invoice and says when it was);
    December ties."""
    scenario = _december("2026-12-29T10:00:00-05:00", "2026-12-30T06:00:00-05:00")
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books

        def key_by_hand() -> str:
            (invoice,) = [i for i in books.invoices() if i.stripe_invoice_id == "in_acme_dec"]
            return books.transform_to_payment(invoice.id)  # no charge id, dated today

        world.later.append(
            Later(datetime(2027, 1, 4, 7, tzinfo=NEW_YORK), "Acme keyed by hand", key_by_hand)
        )
        report = Run(world).play()
        recorded_on = _acme_payment_date(world)
        (booked,) = books.deposits()
        close = _close(world)

    assert recorded_on == date(2027, 1, 4)
    assert [a for a in report["actions"] if a["kind"] == "netsuite.customer_payment.create"] == []
    (deposit,) = [a for a in report["actions"] if a["kind"] == "netsuite.deposit.create"]
    assert deposit["params"]["date"] == "2026-12-31"
    assert booked.date == date(2027, 1, 4)
    assert booked.memo.endswith(
        "arrived 2026-12-31; its payments are dated then, recorded on 2027-01-04"
    )
    tieout = close.tieout
    (not_deposited,) = [i for i in tieout.items if i.kind is ItemKind.PAYOUT_NOT_DEPOSITED]
    assert not_deposited.on == date(2026, 12, 31)
    ((_, amount, description),) = _not_recorded(tieout)
    assert amount == -1_250_000
    assert description == (
        "Stripe payment of 2026-12-29: recorded in NetSuite on 2027-01-04, after month end"
    )
    assert tieout.variance == 0
    assert close.state == "signed_off"


def test_a_payment_recorded_in_january_for_a_payout_in_transit_says_when(
    tmp_path: Path,
) -> None:
    """The payout of 31 December reaches the bank in January; Acme's payment is recorded the
    morning after, dated the arrival day. At month end it is a payment not yet recorded, and
    the item says when it was recorded rather than that no payment carries the charge."""
    scenario = _december("2026-12-30T10:00:00-05:00", "2026-12-31T06:00:00-05:00")
    with World(scenario, tmp_path) as world:
        Run(world).play()
        recorded_on = _acme_payment_date(world)
        close = _close(world)

    assert recorded_on > date(2026, 12, 31)
    ((_, amount, description),) = _not_recorded(close.tieout)
    assert amount == -1_250_000
    assert description == (
        f"Stripe payment of 2026-12-30: recorded in NetSuite on {recorded_on.isoformat()}, "
        "after month end"
    )
    assert close.tieout.variance == 0


def test_a_payment_voided_in_december_is_not_recorded_at_month_end(tmp_path: Path) -> None:
    """The AR specialist keys Acme's payment with its charge id on 30 December, then voids it
    that afternoon (keyed against the wrong invoice, say). A voided payment records nothing: at
    month end Acme's payment is not recorded and December ties; the January morning after the
    payout arrives records it again, once."""
    scenario = _december("2026-12-30T10:00:00-05:00", "2026-12-31T06:00:00-05:00")
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books
        keyed: list[str] = []

        def key() -> None:
            (invoice,) = [i for i in books.invoices() if i.stripe_invoice_id == "in_acme_dec"]
            charge = next(
                c for c in world.stripe.state.newest_first("charge") if c["amount"] == 1_250_000
            )
            keyed.append(books.record_customer_payment(invoice.id, stripe_charge_id=charge["id"]))

        world.later.append(Later(datetime(2026, 12, 30, 11, tzinfo=NEW_YORK), "Acme keyed", key))
        world.later.append(
            Later(
                datetime(2026, 12, 30, 15, tzinfo=NEW_YORK),
                "Acme voided",
                lambda: books.void_customer_payment(keyed[0]),
            )
        )
        report = Run(world).play()
        (recorded,) = [
            p for p in books.customer_payments() if p.amount == 1_250_000 and p.id != keyed[0]
        ]
        close = _close(world)

    (record,) = [a for a in report["actions"] if a["kind"] == "netsuite.customer_payment.create"]
    assert record["status"] == "applied"
    assert recorded.date > date(2026, 12, 31)
    ((_, amount, description),) = _not_recorded(close.tieout)
    assert amount == -1_250_000
    assert description == (
        f"Stripe payment of 2026-12-30: recorded in NetSuite on {recorded.date.isoformat()}, "
        "after month end"
    )
    assert close.tieout.variance == 0
    assert close.state == "signed_off"


def test_a_charge_keyed_in_part_by_month_end_itemises_the_rest(tmp_path: Path) -> None:
    """The connector misses Acme's $12,500.00 card payment of 29 December. On the 30th the AR
    specialist keys $5,000.00 of it by hand against the invoice, the other $7,500.00 on 4
    January, before the morning run. At month end Undeposited Funds hold Bluefin's $1,800.00
    and $5,000.00 of Acme's: the walk itemises the $7,500.00 not yet recorded, and says when it
    was; December ties."""
    scenario = _december("2026-12-29T10:00:00-05:00", "2026-12-31T06:00:00-05:00")
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books

        def key(amount: int) -> Callable[[], str]:
            def keyed() -> str:
                (invoice,) = [i for i in books.invoices() if i.stripe_invoice_id == "in_acme_dec"]
                return books.record_customer_payment(invoice.id, amount=amount)

            return keyed

        world.later.append(
            Later(datetime(2026, 12, 30, 11, tzinfo=NEW_YORK), "Acme in part", key(500_000))
        )
        world.later.append(
            Later(datetime(2027, 1, 4, 7, tzinfo=NEW_YORK), "the rest of Acme", key(750_000))
        )
        Run(world).play()
        close = _close(world)

    tieout = close.tieout
    assert tieout.undeposited_funds == 180_000 + 500_000
    ((_, amount, description),) = _not_recorded(tieout)
    assert amount == -750_000
    assert description == (
        "Stripe payment of 2026-12-29: $5,000.00 of it recorded in NetSuite by month end, "
        "the rest on 2027-01-04"
    )
    assert tieout.variance == 0
    assert close.state == "signed_off"
