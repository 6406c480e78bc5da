"""NetSuite as tests look at it: a customer payment as the adapter returns it, for playbook unit
tests, and a general-ledger balance read from the sandbox's simulated books."""

from __future__ import annotations

from datetime import date

from revline.providers.netsuite.records import CustomerPayment
from revline.sandbox.world import World


def customer_payment(
    charge: str, amount: int, on: date = date(2026, 12, 30), *, number: str | None = None
) -> CustomerPayment:
    """A USD customer payment of customer 7 recording a Stripe charge, still in Undeposited
    Funds."""
    return CustomerPayment(
        id=f"p_{charge}",
        number=number,
        customer_id="7",
        amount=amount,
        currency="USD",
        undeposited=True,
        date=on,
        applied_invoices=(),
        stripe_charge_id=charge,
    )


def gl_balance(world: World, account_number: str) -> int:
    """A general-ledger account's balance in the simulated NetSuite, minor units (debit +)."""
    books = world.netsuite.books
    row = books.row(
        "SELECT SUM(tal.amount) AS balance FROM transactionaccountingline tal"
        " JOIN account a ON a.id = tal.account WHERE a.acctnumber = ? AND tal.posting = 'T'",
        (account_number,),
    )
    return books.minor(row["balance"] if row else None, "USD")
