"""Which Stripe charge a customer payment keyed by hand (no charge id) records, in the month-end
tie-out: the charge whose Stripe invoice its NetSuite invoice carries. The pairing alone, with
readers serving the few records it asks for (the sandbox's NetSuite keys a payment against one
invoice only; tests/sandbox/test_late_recorded_payments.py plays the one-invoice case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from revline.playbooks.cash.tieout import _by_charge
from revline.providers.netsuite.records import CustomerPayment, Invoice, InvoiceStatus
from revline.providers.stripe.records import BalanceTransaction, Charge
from tests.support.stripe_records import balance_transaction, succeeded_charge

AT = datetime(2026, 12, 20, 15, tzinfo=UTC)


class _Stripe:
    """Stripe's charges by id, each paying a Stripe invoice."""

    def __init__(self, **invoice_and_amount: tuple[str, int]) -> None:
        self.charges = {
            charge_id: succeeded_charge(charge_id, amount, AT, invoice=invoice)
            for charge_id, (invoice, amount) in invoice_and_amount.items()
        }

    def get_charge(self, charge_id: str) -> Charge:
        return self.charges[charge_id]


@dataclass(frozen=True)
class _NetSuite:
    by_id: dict[str, Invoice]

    def invoices(self, ids: set[str]) -> list[Invoice]:
        return [self.by_id[i] for i in sorted(ids) if i in self.by_id]


def _paid(charge: str, amount: int) -> BalanceTransaction:
    return balance_transaction(f"txn_{charge}", "charge", amount, AT, source=charge)


def _invoice(internal: str, stripe_invoice: str, amount: int) -> Invoice:
    return Invoice(
        id=internal,
        number=f"INV-{internal}",
        customer_id="7",
        amount=amount,
        amount_remaining=0,
        currency="USD",
        status=InvoiceStatus.PAID_IN_FULL,
        date=date(2026, 12, 1),
        stripe_invoice_id=stripe_invoice,
        stripe_charge_id=None,
        stripe_subscription_id=None,
        memo=None,
    )


def _ids(recorded: dict[str, tuple[CustomerPayment, ...]]) -> dict[str, list[str]]:
    return {charge: [p.id for p in payments] for charge, payments in recorded.items()}


def _keyed(payment_id: str, amount: int, day: int, *invoices: str) -> CustomerPayment:
    return CustomerPayment(
        id=payment_id,
        number=f"PYMT-{payment_id}",
        customer_id="7",
        amount=amount,
        currency="USD",
        undeposited=True,
        date=date(2026, 12, day),
        applied_invoices=invoices,
        stripe_charge_id=None,
    )


def test_a_remittance_keyed_against_two_invoices_records_the_charge_of_each() -> None:
    """Acme pays Stripe invoices in_a (1,000.00) and in_b (2,000.00) by card; the AR specialist
    keys one payment of 3,000.00 against both NetSuite invoices. Both charges are recorded."""
    remittance = _keyed("501", 300_000, 21, "11", "12")
    recorded = _by_charge(
        [remittance],
        [_paid("ch_a", 100_000), _paid("ch_b", 200_000)],
        stripe=_Stripe(ch_a=("in_a", 100_000), ch_b=("in_b", 200_000)),
        netsuite=_NetSuite(
            {"11": _invoice("11", "in_a", 100_000), "12": _invoice("12", "in_b", 200_000)}
        ),
    )
    assert _ids(recorded) == {"ch_a": ["501"], "ch_b": ["501"]}


def test_two_charges_of_one_invoice_each_take_the_payment_keyed_for_their_amount() -> None:
    """Stripe invoice in_x is paid in two parts, 5,000.00 (ch_9) then 7,500.00 (ch_1); each is
    keyed by hand against the NetSuite invoice. Each charge is recorded by its own payment,
    whichever charge id sorts first."""
    first, second = _keyed("501", 500_000, 10, "11"), _keyed("502", 750_000, 20, "11")
    recorded = _by_charge(
        [first, second],
        [_paid("ch_9", 500_000), _paid("ch_1", 750_000)],
        stripe=_Stripe(ch_9=("in_x", 500_000), ch_1=("in_x", 750_000)),
        netsuite=_NetSuite({"11": _invoice("11", "in_x", 1_250_000)}),
    )
    assert _ids(recorded) == {"ch_9": ["501"], "ch_1": ["502"]}


def test_a_payment_keyed_with_the_charge_id_is_the_charges_whatever_was_keyed_by_hand() -> None:
    with_id = CustomerPayment(
        id="500",
        number="PYMT-500",
        customer_id="7",
        amount=500_000,
        currency="USD",
        undeposited=True,
        date=date(2026, 12, 11),
        applied_invoices=("11",),
        stripe_charge_id="ch_9",
    )
    recorded = _by_charge(
        [with_id, _keyed("501", 500_000, 10, "11")],
        [_paid("ch_9", 500_000)],
        stripe=_Stripe(),  # nothing to ask: every charge carries its payment
        netsuite=_NetSuite({"11": _invoice("11", "in_x", 500_000)}),
    )
    assert _ids(recorded) == {"ch_9": ["500"]}


def test_a_charge_keyed_by_hand_in_parts_takes_every_part() -> None:
    """Acme's 12,500.00 charge is keyed by hand in two parts against its invoice, 5,000.00
    and 7,500.00: both record it (the tie-out counts what was keyed by month end)."""
    first, rest = _keyed("501", 500_000, 30, "11"), _keyed("502", 750_000, 31, "11")
    recorded = _by_charge(
        [rest, first],
        [_paid("ch_acme", 1_250_000)],
        stripe=_Stripe(ch_acme=("in_acme", 1_250_000)),
        netsuite=_NetSuite({"11": _invoice("11", "in_acme", 1_250_000)}),
    )
    assert _ids(recorded) == {"ch_acme": ["501", "502"]}


def test_a_charge_of_its_own_amount_is_paired_before_one_keyed_in_parts() -> None:
    """One invoice, two charges: ch_1 of 12,500.00 keyed in parts (5,000.00 and 7,500.00) and
    ch_2 of 5,000.00 keyed whole. ch_2 takes the payment of its amount even though ch_1 sorts
    first; ch_1 takes the parts left."""
    payments = [
        _keyed("501", 500_000, 10, "11"),
        _keyed("502", 750_000, 11, "11"),
        _keyed("503", 500_000, 12, "11"),
    ]
    recorded = _by_charge(
        payments,
        [_paid("ch_1", 1_250_000), _paid("ch_2", 500_000)],
        stripe=_Stripe(ch_1=("in_x", 1_250_000), ch_2=("in_x", 500_000)),
        netsuite=_NetSuite({"11": _invoice("11", "in_x", 1_750_000)}),
    )
    assert _ids(recorded) == {"ch_2": ["501"], "ch_1": ["502", "503"]}
