"""The month-end walk with books entered by hand: a payout deposited by month end whose deposit
moved a customer payment out of Undeposited Funds that NetSuite dates after month end."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from revline.playbooks.cash.tieout import ItemKind, tie_out
from tests.playbooks.cash.test_close import books, payout, txn
from tests.support.netsuite import customer_payment

ACME = txn("ch_acme", "charge", 1_250_000, 36_280)
BLUEFIN = txn("ch_bluefin", "charge", 180_000, 5_250)
# Bluefin's payment was recorded on 28 December; Acme's, missed by the connector, on 4 January.
ACME_PAID = customer_payment("ch_acme", 1_250_000, on=date(2027, 1, 4))
BLUEFIN_PAID = customer_payment("ch_bluefin", 180_000, on=date(2026, 12, 28))


def test_a_payment_recorded_after_month_end_on_a_payout_deposited_by_then_is_itemised() -> None:
    deposited = replace(
        payout("po_dec31", [ACME, BLUEFIN], date(2026, 12, 31), date(2026, 12, 31)),
        deposited_payments=(ACME_PAID, BLUEFIN_PAID),
    )
    # At month end the deposit of 31 December took both payments out of Undeposited Funds, but
    # only Bluefin's had come in: NetSuite shows -$12,500.00.
    result = tie_out(books([], [deposited], [ACME_PAID, BLUEFIN_PAID], -1_250_000), 500)

    assert result.stripe_in_transit == 0
    (item,) = result.items
    assert (item.kind, item.reference, item.amount) == (
        ItemKind.PAYMENT_NOT_RECORDED,
        "ch_acme",
        -1_250_000,
    )
    assert item.description == (
        "payment p_ch_acme on payout po_dec31: recorded in NetSuite on 2027-01-04, after month "
        "end, while its payout's deposit of 2026-12-31 already moved it out of Undeposited Funds"
    )
    assert result.expected_undeposited_funds == -1_250_000
    assert (result.variance, result.ties) == (0, True)


def test_a_payment_recorded_by_month_end_on_a_deposited_payout_is_no_item() -> None:
    on_time = replace(ACME_PAID, date=date(2026, 12, 31))
    deposited = replace(
        payout("po_dec31", [ACME, BLUEFIN], date(2026, 12, 31), date(2026, 12, 31)),
        deposited_payments=(on_time, BLUEFIN_PAID),
    )
    result = tie_out(books([], [deposited], [on_time, BLUEFIN_PAID], 0), 500)
    assert result.items == []
    assert result.variance == 0


def test_a_payment_recorded_after_month_end_on_a_payout_deposited_after_it_is_itemised_once() -> (
    None
):
    """Deposited in January: the payout is not deposited at month end, and the payment is not
    recorded then; the deposit's payments are not read again."""
    late = replace(
        payout("po_dec31", [ACME], date(2026, 12, 31), date(2027, 1, 4)),
        deposited_payments=(ACME_PAID,),
    )
    result = tie_out(books([], [late], [ACME_PAID], 0), 500)
    assert sorted((i.kind, i.amount) for i in result.items) == sorted(
        [
            (ItemKind.PAYOUT_NOT_DEPOSITED, 1_250_000 - 36_280),
            (ItemKind.PAYMENT_NOT_RECORDED, -1_250_000),
            (ItemKind.FEES_NOT_BOOKED, 36_280),
        ]
    )
    assert result.variance == 0
