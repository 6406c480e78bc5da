"""The simulated account's books: an in-memory SQLite database behind one lock.

``NetSuiteBooks`` is both what the HTTP app reads and writes and the Python API the sandbox
seeds and inspects the account with. Amounts cross this API as integer minor units; inside they
are NetSuite's decimal major units. Every posting is double-entry (its accounting lines sum to
zero, or it is refused), so balances such as Undeposited Funds come out of the general ledger
the way NetSuite computes them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from revline.clock import Clock
from revline.money import Money, to_minor_units
from revline.providers.netsuite.records import (
    CustomerMessage,
    CustomerPayment,
    Deposit,
    DepositLine,
    Invoice,
    InvoiceStatus,
    RevenuePlan,
    RevenuePlanStatus,
)
from revline.providers.netsuite.sim import schema
from revline.providers.netsuite.sim.suiteql import register_functions

# Where each kind of record's internal ids start, so ids of different kinds rarely collide.
_FIRST_ID = {
    "employee": 100,
    "customer": 1000,
    "contact": 2000,
    "transaction": 5000,
    "transactionline": 1,
    "transactionaccountingline": 1,
    "revenueelement": 200,
    "revenueplan": 300,
    "message": 9000,
    "account": 100,
    "customrecord_revline_idempotency": 1,
}
# Transactions an A/R lock stops (Lock A/R on the period); a closed or all-locked period
# stops every transaction.
_RECEIVABLES = frozenset({"CustInvc", "CustPymt", "CustCred", "CustRfnd"})
_LOCKS = {"closed": "closed", "ar": "arlocked", "all": "alllocked"}
_NUMBER_PREFIX = {
    "CustInvc": "INV-",
    "CustPymt": "PYMT-",
    "Deposit": "DEP-",
    "CustCred": "CM-",
    "CustRfnd": "RFND-",
    "Journal": "JE-",
}
UNDEPOSITED_FUNDS = "UnDepFunds"
RECEIVABLES = "AcctRec"


class BooksError(Exception):
    """An operation NetSuite would refuse; ``code`` is the error code it answers with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def decimal_of(value: object) -> Decimal:
    """A stored amount as an exact decimal (SQLite hands back int or float)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        # repr gives the shortest text that round-trips: the decimal that was stored.
        return Decimal(repr(value))
    return Decimal(str(value))


class NetSuiteBooks:
    """The records of one simulated NetSuite account."""

    def __init__(self, clock: Clock, timezone: str = "UTC") -> None:
        self.clock = clock
        # The account's time zone (Setup > Company > Company Information): NetSuite dates a
        # transaction entered without a date by the account's day, not UTC's.
        self.timezone = ZoneInfo(timezone)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        register_functions(self.db)
        self.db.executescript(schema.DDL)
        self.db.executemany("INSERT INTO currency VALUES (?, ?, ?, ?, ?)", schema.CURRENCIES)
        # Every account has a currency in a multi-currency NetSuite: the base one unless set.
        self.db.executemany(
            "INSERT INTO account (id, acctnumber, fullname, accttype, currency)"
            " VALUES (?, ?, ?, ?, (SELECT id FROM currency WHERE isbasecurrency = 'T'))",
            schema.ACCOUNTS,
        )
        self.db.executemany("INSERT INTO contactrole VALUES (?, ?)", schema.CONTACT_ROLES)
        self.db.executemany(
            "INSERT INTO accountingperiod (periodname, startdate, enddate) VALUES (?, ?, ?)",
            [
                (
                    date(year, month, 1).strftime("%b %Y"),
                    date(year, month, 1).isoformat(),
                    (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).isoformat(),
                )
                for year in schema.PERIOD_YEARS
                for month in range(1, 13)
            ],
        )

    # -- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic change: everything or nothing, under the lock."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.db.execute(sql, params))

    def row(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def _next_id(self, table: str) -> int:
        quoted = f'"{table}"'
        (current,) = self.db.execute(f"SELECT MAX(id) FROM {quoted}").fetchone()  # noqa: S608
        return int(current) + 1 if current is not None else _FIRST_ID[table]

    def today(self) -> date:
        return self.clock.now().astimezone(self.timezone).date()

    def now_text(self) -> str:
        return self.clock.now().strftime("%Y-%m-%d %H:%M:%S")

    def currency(self, code_or_id: str | int) -> sqlite3.Row:
        key = str(code_or_id)
        found = self.row(
            "SELECT * FROM currency WHERE symbol = ? OR CAST(id AS TEXT) = ?", (key.upper(), key)
        )
        if found is None:
            raise BooksError("INVALID_KEY_OR_REF", f"Invalid currency reference key {key}.")
        return found

    def major(self, amount: int, currency: str | int) -> str:
        """Revline's minor units (Stripe's) as the decimal text stored in an amount column, at
        the currency's NetSuite precision: 50000 ISK is ``500``, as NetSuite shows 500 kr."""
        return str(self.kept(Money(amount, self.currency(currency)["symbol"]).decimal, currency))

    def kept(self, value: Decimal, currency: str | int) -> Decimal:
        """An amount as NetSuite keeps it, at the currency's precision; one with more decimals
        (250.5 ISK) is refused, on every path an amount comes in by."""
        found = self.currency(currency)
        step = Decimal(1).scaleb(-int(found["currencyprecision"]))
        if value != value.quantize(step):
            raise BooksError(
                "INVALID_FLD_VALUE",
                f"{value} {found['symbol']} has more decimals than NetSuite keeps",
            )
        return value.quantize(step)

    def minor(self, value: object, currency: str | int) -> int:
        """A stored amount in Revline's minor units (Stripe's)."""
        return to_minor_units(decimal_of(value), self.currency(currency)["symbol"])

    def account_id(self, accttype: str) -> int:
        found = self.row("SELECT id FROM account WHERE accttype = ? ORDER BY id", (accttype,))
        if found is None:
            raise BooksError("INVALID_KEY_OR_REF", f"No {accttype} account.")
        return int(found["id"])

    def post(self, db: sqlite3.Connection, transaction: int, lines: list[tuple[int, str]]) -> None:
        """General-ledger impact of a transaction: (account id, signed amount) pairs; debits
        positive. They must balance."""
        if sum((decimal_of(amount) for _, amount in lines), Decimal(0)) != 0:
            raise BooksError("UNEXPECTED_ERROR", f"unbalanced posting {lines}", 500)
        for account, amount in lines:
            value = decimal_of(amount)
            db.execute(
                "INSERT INTO transactionaccountingline"
                ' (id, "transaction", account, amount, debit, credit) VALUES (?, ?, ?, ?, ?, ?)',
                (
                    self._next_id("transactionaccountingline"),
                    transaction,
                    account,
                    str(value),
                    str(value) if value > 0 else None,
                    str(-value) if value < 0 else None,
                ),
            )

    def _insert_transaction(self, db: sqlite3.Connection, **columns: object) -> int:
        transaction_id = self._next_id("transaction")
        kind = str(columns["type"])
        columns["postingperiod"] = self._posting_period(kind, str(columns["trandate"]))
        if not columns.get("tranid"):
            columns["tranid"] = f"{_NUMBER_PREFIX[kind]}{transaction_id}"
        columns.setdefault("createddate", self.now_text())
        names = ", ".join(["id", *columns])
        marks = ", ".join("?" * (len(columns) + 1))
        db.execute(
            f'INSERT INTO "transaction" ({names}) VALUES ({marks})',  # noqa: S608
            (transaction_id, *columns.values()),
        )
        return transaction_id

    def _posting_period(self, kind: str, trandate: str) -> int:
        """The base period a transaction dated ``trandate`` posts to; refused when that period
        is closed or locked to it (the account's preference here is NetSuite's "Disallow":
        a transaction is dated inside its posting period)."""
        period = self.row(
            "SELECT * FROM accountingperiod WHERE isyear = 'F' AND isquarter = 'F'"
            " AND isadjust = 'F' AND ? BETWEEN startdate AND enddate",
            (trandate,),
        )
        if period is None:
            raise BooksError("USER_ERROR", f"There is no accounting period for {trandate}.")
        locked = (
            period["closed"] == "T"
            or period["alllocked"] == "T"
            or (period["arlocked"] == "T" and kind in _RECEIVABLES)
        )
        if locked:
            raise BooksError(
                "USER_ERROR",
                f"The accounting period {period['periodname']} is closed or locked; "
                "enter a date in an open period.",
            )
        return int(period["id"])

    def close_period(self, month: str, how: str = "closed") -> None:
        """Close ``month`` (``YYYY-MM``) as Manage Accounting Periods does, or only lock it:
        ``how`` is ``closed``, ``ar`` (Lock A/R) or ``all`` (Lock All)."""
        with self.write() as db:
            changed = db.execute(
                f"UPDATE accountingperiod SET {_LOCKS[how]} = 'T'"  # noqa: S608 (fixed map)
                " WHERE isyear = 'F' AND isquarter = 'F' AND substr(startdate, 1, 7) = ?",
                (month,),
            ).rowcount
        if changed != 1:
            raise BooksError("INVALID_KEY_OR_REF", f"No accounting period {month}.")

    def transaction(self, transaction_id: str | int, kind: str | None = None) -> sqlite3.Row:
        found = self.row('SELECT * FROM "transaction" WHERE id = ?', (int(transaction_id),))
        if found is None or (kind is not None and found["type"] != kind):
            raise BooksError(
                "NONEXISTENT_ID",
                f"The record instance {transaction_id} does not exist.",
                404,
            )
        return found

    # -- seeding: the sandbox's API ------------------------------------------------------------

    def add_account(
        self, number: str, name: str, accttype: str, currency: str | None = None
    ) -> str:
        """Add a GL account (``accttype`` as SuiteQL has it: Bank, Expense, Income, …); a bank
        account in ``currency`` (default the base currency)."""
        currency_id = int((self.currency(currency) if currency else self.base_currency())["id"])
        with self.write() as db:
            account_id = self._next_id("account")
            db.execute(
                "INSERT INTO account (id, acctnumber, fullname, accttype, currency)"
                " VALUES (?, ?, ?, ?, ?)",
                (account_id, number, name, accttype, currency_id),
            )
        return str(account_id)

    def inactivate_account(self, number: str) -> None:
        """Mark a GL account inactive (Lists → Accounts → Inactive): kept, but never posted to."""
        with self.write() as db:
            if (
                db.execute(
                    "UPDATE account SET isinactive = 'T' WHERE acctnumber = ?", (number,)
                ).rowcount
                != 1
            ):
                raise BooksError("INVALID_KEY_OR_REF", f"Invalid account reference {number}.")

    def base_currency(self) -> sqlite3.Row:
        found = self.row("SELECT * FROM currency WHERE isbasecurrency = 'T'")
        if found is None:
            raise BooksError("INVALID_KEY_OR_REF", "No base currency.")
        return found

    def add_employee(self, name: str, email: str) -> str:
        """An employee (a NetSuite user); returns the existing one with the same email."""
        with self.write() as db:
            found = db.execute(
                "SELECT id FROM employee WHERE LOWER(email) = ?", (email.lower(),)
            ).fetchone()
            if found:
                return str(found["id"])
            first, _, last = name.rpartition(" ")
            employee_id = self._next_id("employee")
            db.execute(
                "INSERT INTO employee VALUES (?, ?, ?, ?, ?)",
                (employee_id, name, first or last, last if first else "", email),
            )
        return str(employee_id)

    def add_customer(
        self,
        name: str,
        email: str | None = None,
        *,
        stripe_customer_id: str | None = None,
        currency: str = "USD",
        relationship_owner: tuple[str, str] | None = None,
        ap_contact: tuple[str, str] | None = None,
    ) -> str:
        """A customer; ``relationship_owner`` and ``ap_contact`` are (name, email).

        The owner becomes the customer's sales rep (an employee); the accounts payable contact
        is a contact with the Accounts Payable role, under the customer's Contacts.
        """
        salesrep = self.add_employee(*relationship_owner) if relationship_owner else None
        with self.write() as db:
            customer_id = self._next_id("customer")
            db.execute(
                "INSERT INTO customer (id, entityid, companyname, email, salesrep, currency,"
                " custentity_stripe_customer_id, datecreated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer_id,
                    name,
                    name,
                    email,
                    salesrep,
                    self.currency(currency)["id"],
                    stripe_customer_id,
                    self.now_text(),
                ),
            )
        if ap_contact:
            contact_name, contact_email = ap_contact
            first, _, last = contact_name.rpartition(" ")
            self.add_contact(str(customer_id), first or last, last if first else "", contact_email)
        return str(customer_id)

    def add_contact(
        self,
        customer_id: str,
        first_name: str,
        last_name: str,
        email: str | None,
        *,
        role: str | None = "Accounts Payable",
        accounts_payable: bool = False,
    ) -> str:
        """A contact under a customer, with a contact role and the Revline AP flag."""
        with self.write() as db:
            role_id = None
            if role:
                found = db.execute("SELECT id FROM contactrole WHERE name = ?", (role,)).fetchone()
                if found is None:
                    raise BooksError("INVALID_KEY_OR_REF", f"No contact role {role!r}.")
                role_id = found["id"]
            contact_id = self._next_id("contact")
            db.execute(
                "INSERT INTO contact VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    contact_id,
                    f"{first_name} {last_name}".strip(),
                    first_name,
                    last_name,
                    email,
                    int(customer_id),
                    role_id,
                    "T" if accounts_payable else "F",
                ),
            )
        return str(contact_id)

    def add_invoice(
        self,
        customer_id: str,
        amount: int,
        *,
        number: str | None = None,
        on: date | None = None,
        currency: str | None = None,
        stripe_invoice_id: str | None = None,
        stripe_charge_id: str | None = None,
        stripe_subscription_id: str | None = None,
        memo: str | None = None,
        revenue_plan: bool = True,
    ) -> str:
        """An open invoice (debit receivables, credit revenue) with, by default, a revenue
        element and plan, as revenue recognition would create."""
        customer = self.row("SELECT * FROM customer WHERE id = ?", (int(customer_id),))
        if customer is None:
            raise BooksError("INVALID_KEY_OR_REF", f"Invalid entity reference key {customer_id}.")
        currency_id = int(self.currency(currency or customer["currency"])["id"])
        total = self.major(amount, currency_id)
        day = on or self.today()
        with self.write() as db:
            invoice_id = self._insert_transaction(
                db,
                type="CustInvc",
                tranid=number,
                entity=int(customer_id),
                trandate=day.isoformat(),
                currency=currency_id,
                foreigntotal=total,
                foreignamountunpaid=total,
                status="A",
                memo=memo,
                account=self.account_id(RECEIVABLES),
                custbody_stripe_invoice_id=stripe_invoice_id,
                custbody_stripe_charge_id=stripe_charge_id,
                custbody_stripe_subscription_id=stripe_subscription_id,
            )
            db.execute(
                'INSERT INTO transactionline (id, "transaction", linesequencenumber, mainline,'
                " entity, foreignamount, memo, sim_sublist) VALUES (?, ?, 1, 'F', ?, ?, ?, 'item')",
                (
                    self._next_id("transactionline"),
                    invoice_id,
                    int(customer_id),
                    total,
                    memo or "Subscription",
                ),
            )
            self.post(
                db,
                invoice_id,
                [(self.account_id(RECEIVABLES), total), (self.account_id("Income"), f"-{total}")],
            )
            if revenue_plan:
                element_id = self._next_id("revenueelement")
                db.execute(
                    "INSERT INTO revenueelement VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        element_id,
                        f"RE-{element_id}",
                        int(customer_id),
                        invoice_id,
                        currency_id,
                        total,
                    ),
                )
                plan_id = self._next_id("revenueplan")
                started = day <= self.today()
                db.execute(
                    "INSERT INTO revenueplan (id, recordnumber, createdfrom, amount, status)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (plan_id, f"RP-{plan_id}", element_id, total, _plan_status(started)),
                )
        return str(invoice_id)

    def add_invoice_history(
        self,
        customer_id: str,
        monthly_amount: int,
        *,
        as_of: date,
        months: int = 3,
        stripe_subscription_id: str | None = None,
    ) -> list[str]:
        """One invoice on the first of each of the ``months`` full months before ``as_of``'s
        month: the history a trailing three-month MRR reads."""
        invoices = []
        for back in range(months, 0, -1):
            index = as_of.year * 12 + as_of.month - 1 - back
            first = date(index // 12, index % 12 + 1, 1)
            invoice_id = self.add_invoice(
                customer_id,
                monthly_amount,
                on=first,
                stripe_subscription_id=stripe_subscription_id,
                revenue_plan=False,
            )
            self.settle_invoice(invoice_id)
            invoices.append(invoice_id)
        return invoices

    def settle_invoice(self, invoice_id: str) -> None:
        """Mark a historical invoice paid in full without a payment record (history only)."""
        with self.write() as db:
            db.execute(
                "UPDATE \"transaction\" SET foreignamountunpaid = 0, status = 'B' WHERE id = ?",
                (int(invoice_id),),
            )

    def record_customer_payment(
        self,
        invoice_id: str,
        *,
        amount: int | None = None,
        stripe_charge_id: str | None = None,
        on: date | None = None,
    ) -> str:
        """A customer payment applied to an invoice, sitting in Undeposited Funds."""
        invoice = self.transaction(invoice_id, "CustInvc")
        value = None if amount is None else self.major(amount, invoice["currency"])
        return self.transform_to_payment(
            invoice_id,
            amount=value,
            on=on,
            fields={"custbody_stripe_charge_id": stripe_charge_id},
        )

    def add_journal_entry(
        self,
        lines: list[tuple[str, int]],
        *,
        on: date | None = None,
        memo: str | None = None,
        currency: str = "USD",
    ) -> str:
        """A journal entry keyed by hand: (account number, signed minor units) lines, debits
        positive, which must balance."""
        with self.lock:
            postings = []
            for number, amount in lines:
                found = self.row("SELECT id FROM account WHERE acctnumber = ?", (number,))
                if found is None:
                    raise BooksError("INVALID_KEY_OR_REF", f"Invalid account reference {number}.")
                postings.append((int(found["id"]), self.major(amount, currency)))
            total = sum((abs(decimal_of(value)) for _, value in postings), Decimal(0)) / 2
            with self.write() as db:
                entry_id = self._insert_transaction(
                    db,
                    type="Journal",
                    trandate=(on or self.today()).isoformat(),
                    currency=self.currency(currency)["id"],
                    foreigntotal=str(total),
                    memo=memo,
                )
                self.post(db, entry_id, postings)
        return str(entry_id)

    def add_credit_memo(
        self, invoice_id: str, amount: int, *, on: date | None = None, memo: str | None = None
    ) -> str:
        """A credit memo applied to an invoice (total negative, as SuiteQL shows it)."""
        invoice = self.transaction(invoice_id, "CustInvc")
        value = decimal_of(self.major(amount, invoice["currency"]))
        unpaid = decimal_of(invoice["foreignamountunpaid"])
        if value <= 0 or value > unpaid:
            raise BooksError("USER_ERROR", f"credit of {value} exceeds the {unpaid} unpaid")
        with self.write() as db:
            memo_id = self._insert_transaction(
                db,
                type="CustCred",
                entity=invoice["entity"],
                trandate=(on or self.today()).isoformat(),
                currency=invoice["currency"],
                foreigntotal=str(-value),
                status="B",
                memo=memo,
                createdfrom=invoice["id"],
            )
            self._apply_to_invoice(db, invoice, memo_id, value, "Payment")
            self.post(
                db,
                memo_id,
                [
                    (self.account_id("Income"), str(value)),
                    (self.account_id(RECEIVABLES), str(-value)),
                ],
            )
        return str(memo_id)

    # -- operations the HTTP app performs ------------------------------------------------------

    def _apply_to_invoice(
        self,
        db: sqlite3.Connection,
        invoice: sqlite3.Row,
        document: int,
        value: Decimal,
        linktype: str,
    ) -> None:
        unpaid = decimal_of(invoice["foreignamountunpaid"]) - value
        db.execute(
            'UPDATE "transaction" SET foreignamountunpaid = ?, status = ? WHERE id = ?',
            (str(unpaid), "B" if unpaid == 0 else "A", invoice["id"]),
        )
        db.execute(
            "INSERT INTO previoustransactionlink VALUES (?, ?, ?, ?)",
            (invoice["id"], document, linktype, str(value)),
        )

    def transform_to_payment(
        self,
        invoice_id: str,
        *,
        amount: str | Decimal | None = None,
        undeposited: bool = True,
        bank_account: int | None = None,
        on: date | None = None,
        memo: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """invoice ``!transform`` customerPayment: the payment applied to the invoice, into
        Undeposited Funds (or straight to ``bank_account``)."""
        with self.lock:
            invoice = self.transaction(invoice_id, "CustInvc")
            if invoice["voided"] == "T":
                raise BooksError("USER_ERROR", f"Invoice {invoice_id} is voided.")
            unpaid = decimal_of(invoice["foreignamountunpaid"])
            value = unpaid if amount is None else self.kept(decimal_of(amount), invoice["currency"])
            if value <= 0 or value > unpaid:
                raise BooksError(
                    "USER_ERROR",
                    f"Payment of {value} is not between 0 and the {unpaid} unpaid.",
                )
            if undeposited:
                debit_account = self.account_id(UNDEPOSITED_FUNDS)
            elif bank_account is not None:
                debit_account = bank_account
            else:
                raise BooksError("USER_ERROR", "Name the account when undepFunds is false.")
            with self.write() as db:
                payment_id = self._insert_transaction(
                    db,
                    type="CustPymt",
                    entity=invoice["entity"],
                    trandate=(on or self.today()).isoformat(),
                    currency=invoice["currency"],
                    foreigntotal=str(value),
                    status="B" if undeposited else "C",
                    memo=memo,
                    account=debit_account,
                    **(fields or {}),
                )
                self._apply_to_invoice(db, invoice, payment_id, value, "Payment")
                self.post(
                    db,
                    payment_id,
                    [(debit_account, str(value)), (self.account_id(RECEIVABLES), str(-value))],
                )
        return str(payment_id)

    def create_deposit(
        self,
        *,
        bank_account: int,
        payments: list[tuple[int, Decimal | None]],
        other: list[tuple[int, Decimal, str | None]],
        cashback: list[tuple[int, Decimal, str | None]],
        on: date | None = None,
        memo: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """A bank deposit: customer payments out of Undeposited Funds (whole payments only),
        other deposit lines, and cash-back lines; total = payments + other - cash back."""
        with self.lock:
            bank = self.row("SELECT * FROM account WHERE id = ?", (bank_account,))
            # An inactive account is not offered on transactions: NetSuite refuses it as unknown.
            if bank is None or bank["accttype"] != "Bank" or bank["isinactive"] == "T":
                raise BooksError("INVALID_KEY_OR_REF", f"Invalid account reference {bank_account}.")
            currencies = set()
            payment_rows = []
            for payment_id, stated in payments:
                payment = self.transaction(payment_id, "CustPymt")
                if payment["status"] != "B":
                    raise BooksError(
                        "USER_ERROR", f"Payment {payment_id} is not in Undeposited Funds."
                    )
                value = decimal_of(payment["foreigntotal"])
                if stated is not None and stated != value:
                    raise BooksError(
                        "USER_ERROR",
                        f"Payment {payment_id} is {value}; a deposit takes the whole payment.",
                    )
                currencies.add(payment["currency"])
                payment_rows.append((payment, value))
            if len({row["id"] for row, _ in payment_rows}) != len(payment_rows):
                raise BooksError("USER_ERROR", "A payment is on the deposit twice.")
            for account, _, _ in [*other, *cashback]:
                found = self.row("SELECT isinactive FROM account WHERE id = ?", (account,))
                if found is None or found["isinactive"] == "T":
                    raise BooksError("INVALID_KEY_OR_REF", f"Invalid account reference {account}.")
            if len(currencies) > 1:
                raise BooksError("USER_ERROR", "Payments in several currencies on one deposit.")
            # A deposit is in its bank account's currency. Payments in another currency go only
            # into a base-currency account (NetSuite converts them; the simulator keeps the
            # payments' currency and models no rate).
            base = int(self.base_currency()["id"])
            account_currency = int(bank["currency"])
            if account_currency != base and currencies - {account_currency}:
                raise BooksError(
                    "USER_ERROR",
                    f"Account {bank['acctnumber']} takes "
                    f"{self.currency(account_currency)['symbol']} payments only.",
                )
            currency = currencies.pop() if currencies else account_currency
            other = [(account, self.kept(value, currency), note) for account, value, note in other]
            cashback = [
                (account, self.kept(value, currency), note) for account, value, note in cashback
            ]
            payments_total = sum((value for _, value in payment_rows), Decimal(0))
            other_total = sum((value for _, value, _ in other), Decimal(0))
            cashback_total = sum((value for _, value, _ in cashback), Decimal(0))
            total = payments_total + other_total - cashback_total
            with self.write() as db:
                deposit_id = self._insert_transaction(
                    db,
                    type="Deposit",
                    trandate=(on or self.today()).isoformat(),
                    currency=currency,
                    foreigntotal=str(total),
                    memo=memo,
                    account=bank_account,
                    **(fields or {}),
                )
                lines: list[tuple[str, int | None, int | None, Decimal, str | None]] = [
                    ("payment", None, int(row["id"]), value, None) for row, value in payment_rows
                ]
                lines += [("other", account, None, value, note) for account, value, note in other]
                lines += [
                    ("cashback", account, None, value, note) for account, value, note in cashback
                ]
                for sequence, (sublist, line_account, doc, value, note) in enumerate(lines, 1):
                    db.execute(
                        'INSERT INTO transactionline (id, "transaction", linesequencenumber,'
                        " mainline, expenseaccount, foreignamount, memo, sim_sublist, sim_doc)"
                        " VALUES (?, ?, ?, 'F', ?, ?, ?, ?, ?)",
                        (
                            self._next_id("transactionline"),
                            deposit_id,
                            sequence,
                            line_account,
                            str(value),
                            note,
                            sublist,
                            doc,
                        ),
                    )
                for row, _ in payment_rows:
                    db.execute("UPDATE \"transaction\" SET status = 'C' WHERE id = ?", (row["id"],))
                postings = [(bank_account, str(total))]
                if payments_total:
                    postings.append((self.account_id(UNDEPOSITED_FUNDS), str(-payments_total)))
                postings += [(account, str(-value)) for account, value, _ in other]
                postings += [(account, str(value)) for account, value, _ in cashback]
                self.post(db, deposit_id, postings)
        return str(deposit_id)

    def void_invoice(
        self, invoice_id: str, *, unapply_payments: bool = False
    ) -> tuple[bool, list[str]]:
        """Void an invoice directly (amounts to zero, memo VOID); (whether it already was, the
        customer payments taken off it).

        An invoice with a payment or credit applied cannot be voided: those come off first. With
        ``unapply_payments`` the script takes customer payments off the invoice itself (each stays
        on the customer as an unapplied payment, a credit to refund); a credit memo never is.
        """
        with self.lock:
            invoice = self.transaction(invoice_id, "CustInvc")
            if invoice["voided"] == "T":
                return True, []
            links = self.rows(
                "SELECT l.nextdoc, t.type FROM previoustransactionlink l"
                ' JOIN "transaction" t ON t.id = l.nextdoc WHERE l.previousdoc = ?'
                " ORDER BY l.nextdoc",
                (int(invoice_id),),
            )
            payments = [str(link["nextdoc"]) for link in links if link["type"] == "CustPymt"]
            credited = len(payments) < len(links)
            if credited or (
                not unapply_payments
                and decimal_of(invoice["foreignamountunpaid"])
                != decimal_of(invoice["foreigntotal"])
            ):
                raise BooksError(
                    "REVLINE_INVOICE_HAS_PAYMENTS",
                    f"Invoice {invoice_id} has payments or credits applied; it cannot be voided.",
                )
            with self.write() as db:
                db.execute(
                    "DELETE FROM previoustransactionlink WHERE previousdoc = ?",
                    (int(invoice_id),),
                )
                _void(db, int(invoice_id))
        return False, payments

    def void_customer_payment(self, payment_id: str) -> None:
        """Void a customer payment still in Undeposited Funds, as a person does in NetSuite's
        UI (keyed against the wrong invoice, say): its amounts go to zero and each invoice it
        paid is open again for what it paid."""
        with self.lock:
            payment = self.transaction(payment_id, "CustPymt")
            if payment["voided"] == "T":
                return
            if payment["status"] != "B":
                raise BooksError(
                    "USER_ERROR", f"Payment {payment_id} is deposited; it cannot be voided."
                )
            paid = self.rows(
                "SELECT previousdoc, foreignamount FROM previoustransactionlink"
                " WHERE nextdoc = ? AND linktype = 'Payment'",
                (int(payment_id),),
            )
            reopened = [
                (
                    str(
                        decimal_of(self.transaction(link["previousdoc"])["foreignamountunpaid"])
                        + decimal_of(link["foreignamount"])
                    ),
                    link["previousdoc"],
                )
                for link in paid
            ]
            with self.write() as db:
                db.executemany(
                    "UPDATE \"transaction\" SET foreignamountunpaid = ?, status = 'A' WHERE id = ?",
                    reopened,
                )
                db.execute(
                    "DELETE FROM previoustransactionlink WHERE nextdoc = ?", (int(payment_id),)
                )
                _void(db, int(payment_id))

    def exit_revenue(self, invoice_id: str) -> list[str]:
        """Take an invoice out of revenue recognition: its revenue elements and plans go; the
        plans removed (none if already out). Refused once any revenue has been recognised —
        reversing recognised revenue is an accountant's journal, not a script's."""
        with self.lock:
            self.transaction(invoice_id, "CustInvc")
            plans = self.rows(
                "SELECT rp.id, rp.recognizedamount, re.id AS element FROM revenueplan rp"
                " JOIN revenueelement re ON re.id = rp.createdfrom"
                " WHERE re.sourcetransaction = ? ORDER BY rp.id",
                (int(invoice_id),),
            )
            if any(decimal_of(plan["recognizedamount"]) != 0 for plan in plans):
                raise BooksError(
                    "REVLINE_REVENUE_RECOGNISED",
                    f"Revenue of invoice {invoice_id} has been recognised; reverse it by journal.",
                )
            with self.write() as db:
                db.execute(
                    "DELETE FROM revenueplan WHERE createdfrom IN"
                    " (SELECT id FROM revenueelement WHERE sourcetransaction = ?)",
                    (int(invoice_id),),
                )
                db.execute(
                    "DELETE FROM revenueelement WHERE sourcetransaction = ?", (int(invoice_id),)
                )
        return [str(plan["id"]) for plan in plans]

    def payment_unapplied(self, payment_id: str) -> int:
        """What of a customer payment is applied to nothing and not yet refunded, minor units."""
        payment = self.transaction(payment_id, "CustPymt")
        used = self.row(
            "SELECT SUM(foreignamount) AS used FROM previoustransactionlink"
            " WHERE nextdoc = ? OR (previousdoc = ? AND linktype = 'Refund')",
            (int(payment_id), int(payment_id)),
        )
        unapplied = decimal_of(payment["foreigntotal"]) - decimal_of(used["used"] if used else None)
        return self.minor(unapplied, payment["currency"])

    def refund_customer(
        self, payment_id: str, amount: int, account_number: str, *, memo: str | None = None
    ) -> str:
        """A customer refund of (part of) an unapplied payment, paid from ``account_number``:
        debit receivables (the customer's credit is used up), credit that account."""
        with self.lock:
            payment = self.transaction(payment_id, "CustPymt")
            unapplied = self.payment_unapplied(payment_id)
            if amount <= 0 or amount > unapplied:
                raise BooksError(
                    "USER_ERROR",
                    f"Refund of {amount} is not between 0 and the {unapplied} unapplied on"
                    f" payment {payment_id}.",
                )
            account = self.row("SELECT id FROM account WHERE acctnumber = ?", (account_number,))
            if account is None:
                raise BooksError("INVALID_KEY_OR_REF", f"No account {account_number}.")
            value = self.major(amount, payment["currency"])
            with self.write() as db:
                refund_id = self._insert_transaction(
                    db,
                    type="CustRfnd",
                    entity=payment["entity"],
                    trandate=self.today().isoformat(),
                    currency=payment["currency"],
                    foreigntotal=value,
                    status="A",
                    memo=memo,
                    account=int(account["id"]),
                )
                db.execute(
                    "INSERT INTO previoustransactionlink VALUES (?, ?, 'Refund', ?)",
                    (int(payment_id), refund_id, value),
                )
                self.post(
                    db,
                    refund_id,
                    [(self.account_id(RECEIVABLES), value), (int(account["id"]), f"-{value}")],
                )
        return str(refund_id)

    def _plans_of(self, customer_id: str) -> list[sqlite3.Row]:
        return self.rows(
            "SELECT rp.*, re.sourcetransaction FROM revenueplan rp"
            " JOIN revenueelement re ON re.id = rp.createdfrom WHERE re.entity = ? ORDER BY rp.id",
            (int(customer_id),),
        )

    def hold_revenue(self, customer_id: str, reason: str) -> tuple[list[str], list[str]]:
        """Hold every unfinished plan of a customer; (newly held, already held)."""
        self._require_customer(customer_id)
        held, unchanged = [], []
        with self.write() as db:
            for plan in self._plans_of(customer_id):
                if plan["status"] == "COMPLETED":
                    continue
                if plan["is_hold_rev_rec"] == "T":
                    unchanged.append(str(plan["id"]))
                    continue
                db.execute(
                    "UPDATE revenueplan SET is_hold_rev_rec = 'T', status = 'ON_HOLD',"
                    " custrecord_revline_hold_reason = ? WHERE id = ?",
                    (reason, plan["id"]),
                )
                held.append(str(plan["id"]))
        return held, unchanged

    def release_revenue(self, customer_id: str, reason: str) -> tuple[list[str], list[str]]:
        """Release the holds placed for ``reason``; (released, still held for other reasons)."""
        self._require_customer(customer_id)
        released, unchanged = [], []
        with self.write() as db:
            for plan in self._plans_of(customer_id):
                if plan["is_hold_rev_rec"] != "T":
                    continue
                if plan["custrecord_revline_hold_reason"] != reason:
                    unchanged.append(str(plan["id"]))
                    continue
                source = self.transaction(plan["sourcetransaction"])
                started = date.fromisoformat(source["trandate"]) <= self.today()
                db.execute(
                    "UPDATE revenueplan SET is_hold_rev_rec = 'F', status = ?,"
                    " custrecord_revline_hold_reason = NULL WHERE id = ?",
                    (_plan_status(started), plan["id"]),
                )
                released.append(str(plan["id"]))
        return released, unchanged

    def log_message(
        self,
        customer_id: str,
        *,
        sent_at: datetime,
        author: str,
        recipient: str,
        subject: str,
        message: str,
        cc: Sequence[str] = (),
        invoice_id: str | None = None,
    ) -> str:
        """An entry on the customer's timeline; the author is the employee with that email."""
        self._require_customer(customer_id)
        if invoice_id is not None:
            self.transaction(invoice_id, "CustInvc")
        employee = self.row("SELECT id FROM employee WHERE LOWER(email) = ?", (author.lower(),))
        with self.write() as db:
            message_id = self._next_id("message")
            db.execute(
                "INSERT INTO message (id, entity, author, authoremail, recipientemail, cc,"
                ' subject, message, messagedate, "transaction")'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    int(customer_id),
                    employee["id"] if employee else None,
                    author,
                    recipient,
                    ", ".join(cc) or None,
                    subject,
                    message,
                    sent_at.strftime("%Y-%m-%d %H:%M:%S"),
                    int(invoice_id) if invoice_id else None,
                ),
            )
        return str(message_id)

    def _require_customer(self, customer_id: str) -> None:
        if self.row("SELECT id FROM customer WHERE id = ?", (int(customer_id),)) is None:
            raise BooksError("REVLINE_NOT_FOUND", f"No customer {customer_id}.")

    # -- reading: what the sandbox and tests assert on ----------------------------------------

    def invoice(self, invoice_id: str) -> Invoice:
        row = self.transaction(invoice_id, "CustInvc")
        currency = str(self.currency(row["currency"])["symbol"])
        return Invoice(
            id=str(row["id"]),
            number=row["tranid"],
            customer_id=str(row["entity"]),
            amount=self.minor(row["foreigntotal"], currency),
            amount_remaining=self.minor(row["foreignamountunpaid"], currency),
            currency=currency,
            status=InvoiceStatus.of(row["status"], row["voided"] == "T"),
            date=date.fromisoformat(row["trandate"]),
            stripe_invoice_id=row["custbody_stripe_invoice_id"],
            stripe_charge_id=row["custbody_stripe_charge_id"],
            stripe_subscription_id=row["custbody_stripe_subscription_id"],
            memo=row["memo"],
        )

    def invoices(self, customer_id: str | None = None) -> list[Invoice]:
        rows = self.rows(
            "SELECT id FROM \"transaction\" WHERE type = 'CustInvc' AND (? IS NULL OR entity = ?)"
            " ORDER BY id",
            (customer_id, int(customer_id) if customer_id else None),
        )
        return [self.invoice(str(row["id"])) for row in rows]

    def customer_payments(self) -> list[CustomerPayment]:
        payments = []
        for row in self.rows("SELECT * FROM \"transaction\" WHERE type = 'CustPymt' ORDER BY id"):
            currency = str(self.currency(row["currency"])["symbol"])
            applied = self.rows(
                "SELECT previousdoc FROM previoustransactionlink WHERE nextdoc = ?"
                " ORDER BY previousdoc",
                (row["id"],),
            )
            payments.append(
                CustomerPayment(
                    id=str(row["id"]),
                    number=row["tranid"],
                    customer_id=str(row["entity"]),
                    amount=self.minor(row["foreigntotal"], currency),
                    currency=currency,
                    undeposited=row["status"] == "B",
                    date=date.fromisoformat(row["trandate"]),
                    applied_invoices=tuple(str(link["previousdoc"]) for link in applied),
                    stripe_charge_id=row["custbody_stripe_charge_id"],
                )
            )
        return payments

    def deposit(self, deposit_id: str) -> Deposit:
        row = self.transaction(deposit_id, "Deposit")
        currency = str(self.currency(row["currency"])["symbol"])
        lines = []
        for line in self.rows(
            "SELECT l.*, a.acctnumber FROM transactionline l"
            " LEFT JOIN account a ON a.id = l.expenseaccount"
            ' WHERE l."transaction" = ? ORDER BY l.linesequencenumber',
            (row["id"],),
        ):
            sign = -1 if line["sim_sublist"] == "cashback" else 1
            lines.append(
                DepositLine(
                    sublist=line["sim_sublist"],
                    amount=sign * self.minor(line["foreignamount"], currency),
                    account_number=line["acctnumber"],
                    payment_id=str(line["sim_doc"]) if line["sim_doc"] else None,
                    memo=line["memo"],
                )
            )
        bank = self.row("SELECT acctnumber FROM account WHERE id = ?", (row["account"],))
        return Deposit(
            id=str(row["id"]),
            number=row["tranid"],
            bank_account_number=bank["acctnumber"] if bank else None,
            date=date.fromisoformat(row["trandate"]),
            total=self.minor(row["foreigntotal"], currency),
            currency=currency,
            memo=row["memo"],
            stripe_payout_id=row["custbody_stripe_payout_id"],
            idempotency_key=row["custbody_revline_idempotency_key"],
            lines=tuple(lines),
        )

    def deposits(self) -> list[Deposit]:
        rows = self.rows("SELECT id FROM \"transaction\" WHERE type = 'Deposit' ORDER BY id")
        return [self.deposit(str(row["id"])) for row in rows]

    def messages(self, customer_id: str | None = None) -> list[CustomerMessage]:
        rows = self.rows(
            "SELECT * FROM message WHERE (? IS NULL OR entity = ?) ORDER BY messagedate, id",
            (customer_id, int(customer_id) if customer_id else None),
        )
        return [
            CustomerMessage(
                id=str(row["id"]),
                customer_id=str(row["entity"]),
                sent_at=datetime.fromisoformat(row["messagedate"] + "+00:00"),
                author=row["authoremail"],
                recipient=row["recipientemail"],
                cc=tuple(part.strip() for part in (row["cc"] or "").split(",") if part.strip()),
                subject=row["subject"] or "",
                summary=row["message"],
            )
            for row in rows
        ]

    def revenue_plans(self, customer_id: str | None = None) -> list[RevenuePlan]:
        rows = self.rows(
            "SELECT rp.*, re.entity, re.sourcetransaction, cur.symbol FROM revenueplan rp"
            " JOIN revenueelement re ON re.id = rp.createdfrom"
            " JOIN currency cur ON cur.id = re.currency"
            " WHERE (? IS NULL OR re.entity = ?) ORDER BY rp.id",
            (customer_id, int(customer_id) if customer_id else None),
        )
        return [
            RevenuePlan(
                id=str(row["id"]),
                number=row["recordnumber"],
                customer_id=str(row["entity"]),
                invoice_id=str(row["sourcetransaction"]) if row["sourcetransaction"] else None,
                amount=self.minor(row["amount"], row["symbol"]),
                currency=row["symbol"],
                on_hold=row["is_hold_rev_rec"] == "T",
                hold_reason=row["custrecord_revline_hold_reason"],
                status=RevenuePlanStatus(str(row["status"]).lower()),
            )
            for row in rows
        ]

    def balance(self, accttype: str, currency: str = "USD") -> int:
        """A general-ledger balance by account type (``UnDepFunds``, ``Bank``…), minor units."""
        found = self.row(
            "SELECT SUM(tal.amount) AS balance FROM transactionaccountingline tal"
            " JOIN account a ON a.id = tal.account WHERE a.accttype = ? AND tal.posting = 'T'",
            (accttype,),
        )
        return self.minor(found["balance"] if found else None, currency)

    def undeposited_funds_balance(self, currency: str = "USD") -> int:
        return self.balance(UNDEPOSITED_FUNDS, currency)


def _void(db: sqlite3.Connection, transaction_id: int) -> None:
    """A direct void: the transaction's amounts and postings go to zero, marked VOID (what is
    still unpaid on an invoice too; a payment has no such amount)."""
    db.execute(
        "UPDATE \"transaction\" SET voided = 'T', status = 'V', memo = 'VOID', foreigntotal = 0,"
        " foreignamountunpaid = CASE WHEN foreignamountunpaid IS NULL THEN NULL ELSE 0 END"
        " WHERE id = ?",
        (transaction_id,),
    )
    db.execute(
        "UPDATE transactionaccountingline SET amount = 0, debit = NULL, credit = NULL"
        ' WHERE "transaction" = ?',
        (transaction_id,),
    )
    db.execute(
        'UPDATE transactionline SET foreignamount = 0 WHERE "transaction" = ?', (transaction_id,)
    )


def _plan_status(started: bool) -> str:
    return "IN_PROGRESS" if started else "NOT_STARTED"
