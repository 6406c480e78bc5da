"""Acme pays $420.00 in the customer portal and the AR specialist keys the payment into NetSuite
by hand, without its Stripe charge id: what sandbox tests of a payment NetSuite knows only by
its customer and amount play, as ``Later`` steps of a ``World``."""

from __future__ import annotations

from collections.abc import Callable

from revline.sandbox.world import World

AMOUNT = 42_000
INVOICE_NUMBER = "INV-2026-1360"


def paid_in_the_portal(world: World) -> Callable[[], None]:
    def paid() -> None:
        acme = world.customers["acme"]["stripe"]
        world.stripe.state.orphan_payment(
            "billing@acme.example", AMOUNT, via="portal", customer_id=acme
        )

    return paid


def keyed_by_hand(world: World, amount: int = AMOUNT) -> Callable[[], None]:
    """An invoice for the payment, and the payment keyed against it for ``amount``."""

    def keyed() -> None:
        books = world.netsuite.books
        invoice = books.add_invoice(
            world.customers["acme"]["netsuite"], AMOUNT, number=INVOICE_NUMBER
        )
        books.record_customer_payment(invoice, amount=amount)

    return keyed


def keyed_again(world: World, amount: int) -> Callable[[], None]:
    """The payment keyed by hand voided, and keyed again for ``amount``: another NetSuite
    payment."""

    def again() -> None:
        books = world.netsuite.books
        (keyed,) = [p for p in books.customer_payments() if p.stripe_charge_id is None]
        books.void_customer_payment(keyed.id)
        (invoice,) = [i for i in books.invoices() if i.number == INVOICE_NUMBER]
        books.record_customer_payment(invoice.id, amount=amount)

    return again
