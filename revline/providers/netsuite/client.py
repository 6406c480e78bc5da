"""``NetSuiteAdapter``: what Revline can read from and do in one NetSuite account.

Reads go through SuiteQL (paged, stably ordered) and REST records; writes go through REST
records, ``!transform`` and Revline's RESTlet (void, revenue recognition hold and release,
timeline entries), because REST has no void and does not expose revenue plans. Every write
carries the action's idempotency key, in the ``X-Revline-Idempotency-Key`` header and in the
record itself (``custbody_revline_idempotency_key``) or the RESTlet's body, and every write
first looks for the effect of an earlier attempt, so a retry after a lost answer never books
anything twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx

from revline.clock import Clock
from revline.config import NetSuite, Settings
from revline.money import Money
from revline.providers.base import ProviderError
from revline.providers.netsuite import amounts, deposits, errors, queries, wire
from revline.providers.netsuite.deposits import DepositRequest
from revline.providers.netsuite.records import (
    Account,
    AccountingPeriod,
    Contact,
    CreditMemo,
    Customer,
    CustomerEmail,
    CustomerMessage,
    CustomerPayment,
    Deposit,
    DepositLine,
    DepositSublist,
    Invoice,
    InvoiceStatus,
    RevenuePlan,
    TrailingMrr,
)
from revline.providers.netsuite.suiteql import internal_id, is_internal_id
from revline.providers.netsuite.transport import RetryPolicy, Transport


@dataclass(frozen=True)
class TimelineEntry:
    """A message to log on the customer's timeline (the email itself went out separately)."""

    customer_id: str
    sent_at: datetime
    author: str  # the sender's email: the NetSuite user it belongs to becomes the author
    recipient: str
    subject: str
    summary: str
    cc: tuple[str, ...] = ()
    invoice_id: str | None = None


@dataclass(frozen=True)
class RecognitionChange:
    """What a hold or release did to a customer's revenue plans."""

    customer_id: str
    reason: str
    changed: tuple[str, ...]  # plans put on hold / released now
    unchanged: tuple[str, ...]  # already held, or held for another reason and left alone
    plans: tuple[RevenuePlan, ...]  # the plans as NetSuite has them afterwards
    replayed: bool


@dataclass(frozen=True)
class VoidedInvoice:
    """An invoice as NetSuite holds it after the void, and the payments taken off it."""

    invoice: Invoice
    unapplied_payments: tuple[str, ...]
    replayed: bool


class NetSuiteAdapter:
    """One NetSuite account, over SuiteTalk REST, SuiteQL and Revline's RESTlet."""

    def __init__(
        self,
        settings: NetSuite,
        *,
        clock: Clock,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        bank_account: str | None = None,
        bank_accounts: Mapping[str, str] | None = None,
    ) -> None:
        """``bank_account`` is the account number deposits go to when an action names none;
        without it the account's only Bank account is used. ``bank_accounts`` names, by currency
        code, the account of each other currency Stripe settles in."""
        self.transport = Transport(settings, clock=clock, http=http, retry=retry, sleep=sleep)
        self.clock = clock
        self.bank_account = bank_account
        self.bank_accounts = {
            code.upper(): number for code, number in (bank_accounts or {}).items()
        }
        self._reference_lock = threading.Lock()
        self._accounts: dict[str, Account] | None = None
        self._currencies: dict[str, str] | None = None
        self._base_currency: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> NetSuiteAdapter:
        return cls(
            settings.netsuite,
            clock=clock,
            bank_account=settings.netsuite.deposit_bank_account,
            bank_accounts=settings.netsuite.deposit_bank_accounts,
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> NetSuiteAdapter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- records, SuiteQL, transforms --------------------------------------------------------

    def get_record(self, record_type: str, record_id: str, *, expand: bool = False) -> Any:
        """A REST record as NetSuite sends it; ``expand`` includes sublist lines."""
        query = "expandSubResources=true" if expand else ""
        path = f"record/v1/{record_type}/{internal_id(record_id)}"
        return wire.loads(self.transport.rest("GET", path, query=query).content)

    def create_record(
        self, record_type: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> str:
        """Create a record; returns its internal id (from the ``Location`` of the 204)."""
        response = self.transport.rest(
            "POST", f"record/v1/{record_type}", body=body, idempotency_key=idempotency_key
        )
        return _created_id(response)

    def update_record(
        self,
        record_type: str,
        record_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
    ) -> None:
        """PATCH the given fields of a record; the others stay as they are."""
        path = f"record/v1/{record_type}/{internal_id(record_id)}"
        self.transport.rest("PATCH", path, body=body, idempotency_key=idempotency_key)

    def transform(
        self,
        source_type: str,
        source_id: str,
        target_type: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
    ) -> str:
        """Create a record from another (invoice → customerPayment); returns the new id."""
        path = f"record/v1/{source_type}/{internal_id(source_id)}/!transform/{target_type}"
        response = self.transport.rest("POST", path, body=body, idempotency_key=idempotency_key)
        return _created_id(response)

    def suiteql(self, query: str) -> list[dict[str, Any]]:
        """Every row of a SuiteQL query (which must ``ORDER BY`` a unique column last)."""
        return self.transport.suiteql(query)

    # -- reference data ------------------------------------------------------------------------

    def accounts(self, *, refresh: bool = False) -> list[Account]:
        """The chart of accounts (cached; ``refresh`` reads it again)."""
        with self._reference_lock:
            if self._accounts is None or refresh:
                rows = self.suiteql(queries.ACCOUNTS)
                self._accounts = {row["id"]: queries.account(row) for row in rows}
            return list(self._accounts.values())

    def account_by_number(self, number: str) -> Account:
        """The GL account with this number (``6700-8``); refused when there is none."""
        for refresh in (False, True):
            for account in self.accounts(refresh=refresh):
                if account.number == number:
                    return account
        raise errors.refused(f"NetSuite has no GL account numbered {number!r}", "no_account")

    def _account_number(self, account_id: str | None) -> str | None:
        if account_id is None:
            return None
        for refresh in (False, True):
            for account in self.accounts(refresh=refresh):
                if account.id == account_id:
                    return account.number
        return None

    def deposit_bank_account(self, number: str | None = None, currency: str = "") -> Account:
        """The bank account deposits go to: the one named, the one named for the deposit's
        currency, the adapter's default, or the only Bank account there is."""
        for_currency = None if number else self.bank_accounts.get(currency.upper())
        wanted = number or for_currency or self.bank_account
        if wanted:
            account = self.account_by_number(wanted)
            if account.type != "Bank":
                raise errors.refused(f"GL account {wanted} is not a bank account", "no_account")
            if account.inactive:
                raise errors.refused(f"bank account {wanted} is inactive in NetSuite", "no_account")
        else:
            banks = [a for a in self.accounts() if a.type == "Bank" and not a.inactive]
            if len(banks) != 1:
                raise errors.refused(
                    f"NetSuite has {len(banks)} active bank accounts; name the one deposits go to",
                    "no_account",
                )
            account = banks[0]
        held = self.account_currency(account)
        wanted_currency = currency.upper()
        if not held or not currency or held == wanted_currency:
            return account
        # A payout reaches a bank account in its own currency (Stripe pays euros only into a
        # euro account; without one it converts them and pays out dollars): a deposit in another
        # currency than the account's would book money that never reached that account, even
        # where NetSuite would convert it into a base-currency account at the day's rate.
        if for_currency:
            wrong = f"bank account {wanted}, named for {wanted_currency} deposits, holds {held}"
        else:
            wrong = f"bank account {account.number} holds {held}, not {wanted_currency}"
        raise errors.refused(
            f"{wrong}: name a {wanted_currency} account in deposit_bank_accounts", "no_account"
        )

    def account_currency(self, account: Account) -> str | None:
        """The ISO code of the funds an account holds (None when NetSuite gives none)."""
        return self.currency_code(account.currency_id) if account.currency_id else None

    def open_day(self, on: date, *, receivable: bool) -> tuple[date, AccountingPeriod | None]:
        """The day to date a transaction meant for ``on``: ``on`` itself when its period takes
        it, else the first day of the first period after it that does (a late entry is posted
        in the current period, as an accountant posts it, never into a closed month). Returns
        the day and, when it moved, the closed or locked period it was meant for."""
        periods = [queries.accounting_period(row) for row in self.suiteql(queries.periods_from(on))]
        meant = next((p for p in periods if p.start <= on <= p.end), None)
        if meant is None or meant.takes(receivable=receivable):
            return on, None
        later = next((p for p in periods if p.start > on and p.takes(receivable=receivable)), None)
        if later is None:
            raise errors.refused(
                f"NetSuite's period {meant.name} is closed or locked and no later period is "
                "open: open one, then retry",
                "period_closed",
            )
        return later.start, meant

    def _read_currencies(self, *, unless_known: str | None = None) -> dict[str, str]:
        with self._reference_lock:
            if self._currencies is None or (
                unless_known is not None and unless_known not in self._currencies
            ):
                rows = self.suiteql(queries.CURRENCIES)
                self._currencies = {row["id"]: row["symbol"] for row in rows}
                bases = [row["symbol"] for row in rows if queries.flag(row, "isbasecurrency")]
                self._base_currency = bases[0] if len(bases) == 1 else None
            return self._currencies

    def currency_code(self, currency_id: str) -> str:
        """The ISO code (``USD``) of a currency's internal id."""
        try:
            return self._read_currencies(unless_known=currency_id)[currency_id]
        except KeyError as exc:
            raise errors.refused(f"NetSuite has no currency {currency_id}") from exc

    def base_currency(self) -> str | None:
        """The ISO code of the account's base currency (None when NetSuite names none, or
        several: one per subsidiary in OneWorld)."""
        self._read_currencies()
        return self._base_currency

    # -- customers -------------------------------------------------------------------------------

    def _customers(self, query: str) -> list[Customer]:
        rows = self.suiteql(query)
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        contacts: dict[str, list[Contact]] = {customer_id: [] for customer_id in ids}
        for chunk in queries.chunks(ids):
            for row in self.suiteql(queries.contacts_of(chunk)):
                contacts[row["company"]].append(queries.contact(row))
        return [queries.customer(row, contacts[row["id"]]) for row in rows]

    def customer(self, customer_id: str) -> Customer | None:
        """A customer with its contacts, by internal id."""
        found = self._customers(queries.customers_by_id(customer_id))
        return found[0] if found else None

    def customers(self, customer_ids: Iterable[str]) -> list[Customer]:
        """Customers with their contacts, by internal id, in id order (any number of ids)."""
        found: list[Customer] = []
        for chunk in queries.chunks(sorted(set(customer_ids))):
            found += self._customers(queries.customers_by_ids(chunk))
        return found

    def customer_by_stripe_id(self, stripe_customer_id: str) -> Customer | None:
        """The customer whose ``custentity_stripe_customer_id`` is this Stripe customer."""
        found = self._customers(queries.customers_by_stripe_id(stripe_customer_id))
        if len(found) > 1:
            ids = ", ".join(customer.id for customer in found)
            raise errors.refused(
                f"several NetSuite customers ({ids}) carry Stripe customer {stripe_customer_id}",
                "ambiguous_customer",
            )
        return found[0] if found else None

    def customers_by_email(self, email: str) -> list[Customer]:
        """Customers whose email is exactly this address (case aside)."""
        return self._customers(queries.customers_by_email(email))

    def search_customers(
        self, *, email_contains: str | None = None, name_contains: str | None = None
    ) -> list[Customer]:
        """Customers whose email or name contains a fragment (case aside): candidates for an
        orphan payment."""
        return self._customers(queries.customer_candidates(email_contains, name_contains))

    def customer_emails(self, keys: Iterable[str]) -> list[CustomerEmail]:
        """The email addresses on file, customers' and their contacts', whose address, lower
        case with its dots taken out, is one of ``keys``: an orphan payment's email searched
        for by its variants rather than every address on file read."""
        chunks = list(queries.chunks(sorted(set(keys))))
        return self._emails(
            [queries.customer_emails_among(chunk) for chunk in chunks],
            [queries.contact_emails_among(chunk) for chunk in chunks],
        )

    def _emails(self, own: list[str], of_contacts: list[str]) -> list[CustomerEmail]:
        return [
            queries.customer_email(row, "customer", "id")
            for query in own
            for row in self.suiteql(query)
        ] + [
            queries.customer_email(row, "contact", "company")
            for query in of_contacts
            for row in self.suiteql(query)
        ]

    def resolve_customer(self, reference: str) -> Customer:
        """A customer by internal id, Stripe customer id (``cus_…``) or exact email."""
        if is_internal_id(reference):
            found = self.customer(reference)
        elif "@" in reference:
            matches = self.customers_by_email(reference)
            if len(matches) > 1:
                raise errors.refused(
                    f"several NetSuite customers have the email {reference}", "ambiguous_customer"
                )
            found = matches[0] if matches else None
        else:
            found = self.customer_by_stripe_id(reference)
        if found is None:
            raise errors.refused(f"no NetSuite customer matches {reference!r}", "no_customer")
        return found

    # -- invoices --------------------------------------------------------------------------------

    def invoice(self, invoice_id: str) -> Invoice | None:
        rows = self.suiteql(queries.invoices_by_id(invoice_id))
        return queries.invoice(rows[0]) if rows else None

    def invoices(self, invoice_ids: Iterable[str]) -> list[Invoice]:
        """Invoices by internal id, in id order (any number of ids)."""
        return [
            queries.invoice(row)
            for chunk in queries.chunks(sorted(set(invoice_ids)))
            for row in self.suiteql(queries.invoices_by_ids(chunk))
        ]

    def invoice_by_number(self, number: str) -> Invoice | None:
        """The invoice with this document number (``tranid``)."""
        rows = self.suiteql(queries.invoices_by_number(number))
        if len(rows) > 1:
            raise errors.refused(f"several NetSuite invoices are numbered {number}")
        return queries.invoice(rows[0]) if rows else None

    def invoices_by_stripe_invoice(self, stripe_invoice_id: str) -> list[Invoice]:
        """Invoices raised for one Stripe invoice; more than one is a duplicate."""
        return [
            queries.invoice(row)
            for row in self.suiteql(queries.invoices_by_stripe_invoice(stripe_invoice_id))
        ]

    def open_invoices(self, customer_id: str) -> list[Invoice]:
        """A customer's open invoices, oldest first."""
        return [queries.invoice(row) for row in self.suiteql(queries.open_invoices(customer_id))]

    def resolve_invoice(self, reference: str) -> Invoice:
        """An invoice by internal id, or else by document number. A reference that is both one
        invoice's internal id and another's document number (an account numbering its invoices
        without a prefix) is refused: voiding the wrong one cannot be undone."""
        by_id = self.invoice(reference) if is_internal_id(reference) else None
        by_number = self.invoice_by_number(reference)
        if by_id is not None and by_number is not None and by_id.id != by_number.id:
            raise errors.refused(
                f"{reference!r} is both the internal id of invoice {by_id.number} and the "
                f"document number of the invoice with internal id {by_number.id}: name the "
                "invoice by its internal id",
                "ambiguous_invoice",
            )
        found = by_id or by_number
        if found is None:
            raise errors.refused(f"no NetSuite invoice matches {reference!r}", "no_invoice")
        return found

    # -- customer payments -----------------------------------------------------------------------

    def _payments(self, query: str) -> list[CustomerPayment]:
        rows = self.suiteql(query)
        if not rows:
            return []
        applied: dict[str, list[str]] = {row["id"]: [] for row in rows}
        for chunk in queries.chunks(list(applied)):
            for link in self.suiteql(queries.payment_applications(chunk)):
                applied[link["nextdoc"]].append(link["previousdoc"])
        return [queries.customer_payment(row, applied[row["id"]]) for row in rows]

    def customer_payment(self, payment_id: str) -> CustomerPayment | None:
        found = self._payments(queries.payments_by_id(payment_id))
        return found[0] if found else None

    def customer_payments_by_charge(self, stripe_charge_id: str) -> list[CustomerPayment]:
        """Customer payments recorded for one Stripe charge (``custbody_stripe_charge_id``)."""
        return self._payments(queries.payments_by_charge(stripe_charge_id))

    def voided_payments_by_charge(self, stripe_charge_id: str) -> list[str]:
        """The ids of customer payments recorded for a Stripe charge and since voided."""
        rows = self.suiteql(queries.voided_payments_by_charge(stripe_charge_id))
        return [queries.required(row, "id") for row in rows]

    def customer_payments_applied_to(self, invoice_ids: Iterable[str]) -> list[CustomerPayment]:
        """Customer payments applied to any of these invoices, deposited or not."""
        found: dict[str, CustomerPayment] = {}
        for chunk in queries.chunks(sorted(set(invoice_ids))):
            found.update((p.id, p) for p in self._payments(queries.payments_applied_to(chunk)))
        return sorted(found.values(), key=lambda payment: int(payment.id))

    def undeposited_payments(self) -> list[CustomerPayment]:
        """Customer payments still in Undeposited Funds, waiting for their payout's deposit."""
        return self._payments(queries.undeposited_payments())

    def customer_payments_dated(self, start: date, end: date) -> list[CustomerPayment]:
        """Customer payments dated from ``start`` to ``end`` inclusive (a period's receipts)."""
        return self._payments(queries.payments_dated(start, end))

    def record_payment(
        self,
        invoice_id: str,
        *,
        stripe_charge_id: str,
        idempotency_key: str,
        amount: int | None = None,
        currency: str | None = None,
        on: date | None = None,
    ) -> tuple[CustomerPayment, bool]:
        """Record a Stripe charge as a customer payment on an invoice, into Undeposited Funds.

        Returns the payment and whether it already existed (an earlier attempt, or the same
        charge recorded before): a charge is one payment, never two. ``currency``, the
        amount's, must be the invoice's: NetSuite would read the amount in the invoice's.
        """
        earlier = self._payments(queries.payments_by_idempotency_key(idempotency_key))
        earlier = earlier or self.customer_payments_by_charge(stripe_charge_id)
        invoice = self.resolve_invoice(invoice_id)
        if currency is not None and currency.upper() != invoice.currency:
            raise errors.refused(
                f"charge {stripe_charge_id} is in {currency.upper()}; invoice {invoice.number} "
                f"is in {invoice.currency}",
                "currency_mismatch",
            )
        if earlier:
            payment = earlier[0]
            if amount is not None and payment.amount != amount:
                raise errors.refused(
                    f"charge {stripe_charge_id} is already payment {payment.id} of "
                    f"{payment.amount}, not {amount}",
                    "conflict",
                )
            return payment, True
        body: dict[str, Any] = {
            "undepFunds": True,
            "custbody_stripe_charge_id": stripe_charge_id,
            "custbody_revline_idempotency_key": idempotency_key,
        }
        if amount is not None:
            body["payment"] = amounts.to_major(amount, invoice.currency)
        if on is not None:
            day, closed = self.open_day(on, receivable=True)
            body["tranDate"] = day.isoformat()
            if closed is not None:
                body["memo"] = (
                    f"Stripe charge {stripe_charge_id} paid {on.isoformat()}; {closed.name} is "
                    f"closed, recorded on {day.isoformat()}"
                )
        new_id = self.transform(
            "invoice", invoice.id, "customerPayment", body, idempotency_key=idempotency_key
        )
        created = self.customer_payment(new_id)
        if created is None:
            raise errors.unavailable(f"customer payment {new_id} was created but cannot be read")
        return created, False

    # -- deposits ----------------------------------------------------------------------------------

    def deposit(self, deposit_id: str) -> Deposit:
        """A bank deposit with its lines, from the REST record."""
        record = self.get_record("deposit", deposit_id, expand=True)
        currency = self.currency_code(str(record["currency"]["id"]))
        lines: list[DepositLine] = []
        sublists: tuple[tuple[DepositSublist, str, str, int], ...] = (
            ("payment", "payment", "paymentAmount", 1),
            ("other", "other", "amount", 1),
            ("cashback", "cashBack", "amount", -1),
        )
        for sublist, key, amount_key, sign in sublists:
            for item in (record.get(key) or {}).get("items", []):
                account = item.get("account") or {}
                doc = item.get("doc") or {}
                lines.append(
                    DepositLine(
                        sublist=sublist,
                        amount=sign * amounts.to_minor(item[amount_key], currency),
                        account_number=self._account_number(account.get("id")),
                        payment_id=doc.get("id"),
                        memo=item.get("memo") or None,
                    )
                )
        return Deposit(
            id=str(record["id"]),
            number=record.get("tranId"),
            bank_account_number=self._account_number(record["account"]["id"]),
            date=date.fromisoformat(record["tranDate"]),
            total=amounts.to_minor(record["total"], currency),
            currency=currency,
            memo=record.get("memo") or None,
            stripe_payout_id=record.get("custbody_stripe_payout_id"),
            idempotency_key=record.get("custbody_revline_idempotency_key"),
            lines=tuple(lines),
        )

    def deposits_for_payout(self, payout_id: str) -> list[Deposit]:
        """Deposits booked for one Stripe payout (``custbody_stripe_payout_id``)."""
        return [
            self.deposit(row["id"]) for row in self.suiteql(queries.deposits_by_payout(payout_id))
        ]

    def create_deposit(
        self, request: DepositRequest, *, idempotency_key: str
    ) -> tuple[Deposit, bool]:
        """Book a payout's deposit once; returns it and whether it already existed.

        A payout is deposited once, whatever the key: an existing deposit for the payout is
        returned as it is (and refused if its total differs from the payout's).
        """
        existing = self.deposits_for_payout(request.payout)
        if existing:
            deposit = existing[0]
            if deposit.total != request.amount or deposit.currency != request.currency:
                raise errors.refused(
                    f"payout {request.payout} is already deposit {deposit.id} of "
                    f"{deposit.total} {deposit.currency}, not {request.amount} {request.currency}",
                    "conflict",
                )
            return deposit, True
        # The chart as it is now: an account made inactive since the last read is refused
        # here, with its reason, not by NetSuite as an unknown reference.
        self.accounts(refresh=True)
        bank = self.deposit_bank_account(request.bank_account, request.currency)
        account_ids = {
            str(line.account): self._line_account(str(line.account)).id
            for line in request.lines
            if line.account
        }
        payments = {
            str(line.reference): self._deposit_payment(request, str(line.reference), line.amount)
            for line in request.lines
            if line.type == "payment"
        }
        record = deposits.body(
            request,
            bank_account_id=bank.id,
            account_ids=account_ids,
            payments=payments,
            idempotency_key=idempotency_key,
        )
        if request.date is not None:
            self._date_deposit(record, request.date, [p.date for p in payments.values()])
        new_id = self.create_record("deposit", record, idempotency_key=idempotency_key)
        deposit = self.deposit(new_id)
        if deposit.total != request.amount or deposit.currency != request.currency:
            raise ProviderError(
                f"NetSuite booked deposit {new_id} for payout {request.payout} at "
                f"{deposit.total} {deposit.currency}, not {request.amount} {request.currency}: "
                "check it by hand",
                retryable=False,
                provider=errors.PROVIDER,
                provider_code="deposit_total_mismatch",
            )
        return deposit, False

    def _date_deposit(self, record: dict[str, Any], arrived: date, paid: list[date]) -> None:
        """Date a deposit the day its payout arrived, or, when one of its payments is dated
        later (recorded after its month was locked to receivables), that payment's day: a
        deposit never takes money out of Undeposited Funds before it was there. Then into the
        first open period, if that day's is closed."""
        wanted = max([arrived, *paid])
        day, closed = self.open_day(wanted, receivable=False)
        if day == arrived:
            return
        record["tranDate"] = day.isoformat()
        why = f"{closed.name} is closed" if closed else "its payments are dated then"
        record["memo"] += f", arrived {arrived.isoformat()}; {why}, recorded on {day.isoformat()}"

    def _line_account(self, number: str) -> Account:
        """A deposit line's GL account (fees, refunds, adjustments), which must take postings."""
        account = self.account_by_number(number)
        if account.inactive:
            raise errors.refused(f"GL account {number} is inactive in NetSuite", "no_account")
        return account

    def _deposit_payment(
        self, request: DepositRequest, reference: str, amount: int
    ) -> CustomerPayment:
        if is_internal_id(reference):
            candidates = [p for p in [self.customer_payment(reference)] if p is not None]
        else:
            candidates = self.customer_payments_by_charge(reference)
        waiting = [payment for payment in candidates if payment.undeposited]
        if len(waiting) != 1:
            raise errors.refused(
                f"payout {request.payout}: {len(waiting)} customer payments in Undeposited Funds "
                f"match {reference}",
                "no_payment",
            )
        payment = waiting[0]
        if payment.currency != request.currency or payment.amount != amount:
            raise errors.refused(
                f"payout {request.payout}: payment {payment.id} is {payment.amount} "
                f"{payment.currency}, the payout line says {amount} {request.currency}",
                "payment_mismatch",
            )
        return payment

    # -- credit memos and the timeline -------------------------------------------------------------

    def credit_memos(self, customer_id: str) -> list[CreditMemo]:
        return [queries.credit_memo(row) for row in self.suiteql(queries.credit_memos(customer_id))]

    def messages(self, customer_id: str) -> list[CustomerMessage]:
        """The customer timeline's messages, oldest first."""
        return [
            queries.customer_message(row) for row in self.suiteql(queries.messages_of(customer_id))
        ]

    def log_message(self, entry: TimelineEntry, *, idempotency_key: str) -> tuple[str, bool]:
        """Put an entry on the customer's timeline; returns its id and whether it was there
        already."""
        payload: dict[str, Any] = {
            "customer": internal_id(entry.customer_id),
            "sent_at": entry.sent_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": entry.author,
            "recipient": entry.recipient,
            "cc": list(entry.cc),
            "subject": entry.subject,
            "message": entry.summary,
        }
        if entry.invoice_id:
            payload["invoice"] = internal_id(entry.invoice_id)
        answer = self.transport.restlet("log_message", payload, idempotency_key)
        return str(answer["result"]["id"]), bool(answer.get("replayed"))

    # -- revenue recognition -----------------------------------------------------------------------

    def revenue_plans(self, customer_id: str) -> list[RevenuePlan]:
        """The revenue plans of a customer's revenue arrangements."""
        return [
            queries.revenue_plan(row) for row in self.suiteql(queries.revenue_plans_of(customer_id))
        ]

    def held_revenue_plans(self) -> list[RevenuePlan]:
        """Every revenue plan on hold, across customers: NetSuite is the record of the holds."""
        return [queries.revenue_plan(row) for row in self.suiteql(queries.held_revenue_plans())]

    def hold_revenue(
        self, customer_id: str, reason: str, *, idempotency_key: str
    ) -> RecognitionChange:
        """Hold recognition on every unfinished plan of a customer, with a reason."""
        return self._recognition("revenue_hold", customer_id, reason, idempotency_key)

    def release_revenue(
        self, customer_id: str, reason: str, *, idempotency_key: str
    ) -> RecognitionChange:
        """Release the holds placed for ``reason``; holds for other reasons stay."""
        return self._recognition("revenue_release", customer_id, reason, idempotency_key)

    def _recognition(
        self, action: str, customer_id: str, reason: str, idempotency_key: str
    ) -> RecognitionChange:
        payload = {"customer": internal_id(customer_id), "reason": reason}
        answer = self.transport.restlet(action, payload, idempotency_key)
        result = answer["result"]
        return RecognitionChange(
            customer_id=customer_id,
            reason=reason,
            changed=tuple(str(plan) for plan in result.get("changed", [])),
            unchanged=tuple(str(plan) for plan in result.get("unchanged", [])),
            plans=tuple(self.revenue_plans(customer_id)),
            replayed=bool(answer.get("replayed")),
        )

    # -- voiding -----------------------------------------------------------------------------------

    def void_invoice(
        self, invoice_id: str, *, idempotency_key: str, unapply_payments: bool = False
    ) -> VoidedInvoice:
        """Void an invoice (never a credit memo). With ``unapply_payments`` the customer payments
        applied to it are taken off first and stay on the customer as unapplied credit (a paid
        duplicate invoice); otherwise NetSuite refuses to void a paid invoice."""
        payload: dict[str, Any] = {"type": "invoice", "id": internal_id(invoice_id)}
        if unapply_payments:
            payload["unapply_payments"] = True
        answer = self.transport.restlet("void", payload, idempotency_key)
        invoice = self.invoice(invoice_id)
        if invoice is None or invoice.status is not InvoiceStatus.VOIDED:
            raise errors.unavailable(f"NetSuite did not report invoice {invoice_id} as voided")
        result = answer["result"]
        return VoidedInvoice(
            invoice=invoice,
            unapplied_payments=tuple(str(p) for p in result.get("unapplied_payments", [])),
            replayed=bool(answer.get("replayed")) or bool(result.get("already_voided")),
        )

    def exit_revenue(self, invoice_id: str, reason: str, *, idempotency_key: str) -> list[str]:
        """Take an invoice out of the recognition schedule (its revenue plans removed); the
        plans removed, none if it was out already. Refused once revenue was recognised."""
        answer = self.transport.restlet(
            "revenue_exit", {"invoice": internal_id(invoice_id), "reason": reason}, idempotency_key
        )
        return [str(plan) for plan in answer["result"].get("removed_plans", [])]

    def refund_customer(
        self,
        payment_id: str,
        amount: Money,
        account_number: str,
        *,
        memo: str,
        idempotency_key: str,
    ) -> tuple[str, bool]:
        """A customer refund record against an unapplied customer payment, paid from
        ``account_number`` (the account the Stripe refund is deposited against); its id and
        whether it was there already. NetSuite reads the amount in the payment's currency, so
        a refund in another is refused before anything is sent."""
        payment = self.customer_payment(payment_id)
        if payment is None:
            raise errors.refused(f"no NetSuite customer payment {payment_id}", "no_payment")
        if payment.currency.upper() != amount.currency.upper():
            raise errors.refused(
                f"customer payment {payment_id} is in {payment.currency.upper()}, the refund in "
                f"{amount.currency.upper()}: nothing refunded",
                "currency_mismatch",
            )
        answer = self.transport.restlet(
            "customer_refund",
            {
                "payment": internal_id(payment_id),
                "amount": str(amounts.to_major(amount.amount, amount.currency)),
                "account": account_number,
                "memo": memo,
            },
            idempotency_key,
        )
        return str(answer["result"]["id"]), bool(answer.get("replayed"))

    def customer_invoices(self, customer_ids: list[str], since: date) -> list[Invoice]:
        """The customers' invoices dated on or after ``since``, voided ones included."""
        return [
            queries.invoice(row)
            for chunk in queries.chunks(customer_ids)
            for row in self.suiteql(queries.customer_invoices_since(chunk, since))
        ]

    # -- balances ----------------------------------------------------------------------------------

    def undeposited_funds_balance(self, currency: str, as_of: date | None = None) -> Money:
        """The Undeposited Funds balance of the transactions in ``currency`` (the company's,
        NetSuite's base), optionally as of a date. Payments in other currencies are left out:
        NetSuite holds them converted at its rates, which nothing here can tie to Stripe's."""
        held = self.undeposited_funds_by_currency(currency, as_of)
        return held.get(currency.upper(), Money(0, currency))

    def undeposited_funds_by_currency(
        self, base: str, as_of: date | None = None
    ) -> dict[str, Money]:
        """The Undeposited Funds balance by the currency of the transactions making it up, each
        as NetSuite books it: in ``base`` (its base currency; another currency's converted)."""
        rows = self.suiteql(queries.undeposited_funds_balance(as_of))
        return {
            str(row["currency"]).upper(): Money(queries.minor(row, "balance", base), base)
            for row in rows
        }

    def trailing_mrr(self, customer_id: str, as_of: date) -> TrailingMrr:
        """Monthly recurring revenue: the customer's invoices in the three full calendar months
        before ``as_of``'s month, divided by three and rounded half-even to a minor unit."""
        window_end = as_of.replace(day=1)
        start_month = window_end.month - 3
        start_year = window_end.year + (start_month - 1) // 12
        window_start = date(start_year, (start_month - 1) % 12 + 1, 1)
        rows = self.suiteql(queries.invoiced_between(customer_id, window_start, window_end))
        if len(rows) > 1:
            codes = ", ".join(queries.required(row, "currency") for row in rows)
            raise errors.refused(
                f"customer {customer_id} was invoiced in several currencies ({codes})",
                "mixed_currencies",
            )
        if rows:
            currency = queries.required(rows[0], "currency")
            total = queries.minor(rows[0], "total", currency)
            count = int(queries.required(rows[0], "invoices"))
        else:
            customer = self.customer(customer_id)
            if customer is None:
                raise errors.refused(f"no NetSuite customer {customer_id}", "no_customer")
            currency = customer.currency or "USD"
            total, count = 0, 0
        average = (Decimal(total) / 3).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        return TrailingMrr(
            customer_id=customer_id,
            as_of=as_of,
            window_start=window_start,
            window_end=window_end,
            total=total,
            amount=int(average),
            currency=currency,
            invoices=count,
        )


def _created_id(response: httpx.Response) -> str:
    """The id at the end of the ``Location`` header of a 204 Created."""
    location = str(response.headers.get("Location", ""))
    new_id = location.rstrip("/").rsplit("/", 1)[-1]
    if not is_internal_id(new_id):
        raise errors.unavailable(
            f"NetSuite created a record but sent no usable Location: {location!r}"
        )
    return new_id
