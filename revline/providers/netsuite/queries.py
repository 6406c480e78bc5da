"""The SuiteQL Revline runs, and how its rows become records.

Conventions that keep the queries honest against any account: dates come out through
``TO_CHAR(…, 'YYYY-MM-DD')`` (a bare date column follows the user's date-format preference);
statuses are the raw letter codes (``BUILTIN.DF`` would give translated display text); every
query orders by a unique column last, so paging never skips or repeats a row. SuiteQL returns
column names in lowercase and leaves out columns that are null.
"""

# SuiteQL over REST has no bind parameters: every value goes through the quoting helpers of
# revline.providers.netsuite.suiteql, which is what S608 cannot see.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from revline.providers.netsuite import amounts
from revline.providers.netsuite.records import (
    ACCOUNTS_PAYABLE_ROLE,
    Account,
    AccountingPeriod,
    Contact,
    CreditMemo,
    Customer,
    CustomerEmail,
    CustomerMessage,
    CustomerPayment,
    Invoice,
    InvoiceStatus,
    Person,
    RevenuePlan,
    RevenuePlanStatus,
)
from revline.providers.netsuite.suiteql import day, id_list, internal_id, like_contains, text

Row = Mapping[str, Any]

# -- reading values ---------------------------------------------------------------------------


def value(row: Row, key: str) -> str | None:
    """A column as text; None when NetSuite left it out (null) or it is empty."""
    raw = row.get(key)
    if raw is None or raw == "":
        return None
    return str(raw)


def required(row: Row, key: str) -> str:
    raw = value(row, key)
    if raw is None:
        raise ValueError(f"SuiteQL row has no {key!r}: {dict(row)!r}")
    return raw


def flag(row: Row, key: str) -> bool:
    """A NetSuite checkbox: ``'T'`` or ``'F'``."""
    return value(row, key) == "T"


def minor(row: Row, key: str, currency: str) -> int:
    raw = row.get(key)
    if raw is None or raw == "":
        return 0
    return amounts.to_minor(raw if isinstance(raw, Decimal) else str(raw), currency)


def iso_day(row: Row, key: str) -> date:
    return date.fromisoformat(required(row, key))


def chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    """Ids in groups small enough for an ``IN`` list."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# -- reference data ---------------------------------------------------------------------------

ACCOUNTS = (
    "SELECT a.id, a.acctnumber, a.fullname, a.accttype, a.currency, a.isinactive"
    " FROM account a ORDER BY a.id"
)
CURRENCIES = "SELECT cur.id, cur.symbol, cur.isbasecurrency FROM currency cur ORDER BY cur.id"


def periods_from(start: date) -> str:
    """The base accounting periods ending on or after ``start``, earliest first (quarters,
    years and adjustment periods take no transactions of their own)."""
    return (
        "SELECT p.id, p.periodname, TO_CHAR(p.startdate, 'YYYY-MM-DD') AS startdate,"
        " TO_CHAR(p.enddate, 'YYYY-MM-DD') AS enddate, p.closed, p.arlocked, p.alllocked"
        " FROM accountingperiod p WHERE p.isyear = 'F' AND p.isquarter = 'F'"
        f" AND p.isadjust = 'F' AND p.isinactive = 'F' AND p.enddate >= {day(start)}"
        " ORDER BY p.startdate, p.id"
    )


def accounting_period(row: Row) -> AccountingPeriod:
    return AccountingPeriod(
        id=required(row, "id"),
        name=required(row, "periodname"),
        start=iso_day(row, "startdate"),
        end=iso_day(row, "enddate"),
        closed=flag(row, "closed"),
        ar_locked=flag(row, "arlocked"),
        all_locked=flag(row, "alllocked"),
    )


def account(row: Row) -> Account:
    return Account(
        id=required(row, "id"),
        number=value(row, "acctnumber"),
        name=value(row, "fullname") or "",
        type=value(row, "accttype") or "",
        currency_id=value(row, "currency"),
        inactive=flag(row, "isinactive"),
    )


# -- customers ----------------------------------------------------------------------------------

_CUSTOMER = (
    "SELECT c.id, c.entityid, c.companyname, c.email, c.custentity_stripe_customer_id,"
    " cur.symbol AS currency, e.firstname AS salesrep_first, e.lastname AS salesrep_last,"
    " e.email AS salesrep_email"
    " FROM customer c"
    " LEFT JOIN currency cur ON cur.id = c.currency"
    " LEFT JOIN employee e ON e.id = c.salesrep"
)


def customers_by_id(customer_id: str) -> str:
    return f"{_CUSTOMER} WHERE c.id = {internal_id(customer_id)} ORDER BY c.id"


def customers_by_ids(customer_ids: list[str]) -> str:
    return f"{_CUSTOMER} WHERE c.id IN {id_list(customer_ids)} ORDER BY c.id"


def customers_by_stripe_id(stripe_customer_id: str) -> str:
    return (
        f"{_CUSTOMER} WHERE c.custentity_stripe_customer_id = {text(stripe_customer_id)}"
        " ORDER BY c.id"
    )


def customers_by_email(email: str) -> str:
    """Exact match, ignoring case (email addresses are not case-sensitive in practice)."""
    return f"{_CUSTOMER} WHERE LOWER(c.email) = {text(email.lower())} ORDER BY c.id"


def customer_candidates(email_contains: str | None, name_contains: str | None) -> str:
    """Customers whose email or name contains a fragment: the orphan-payment search."""
    conditions = []
    if email_contains:
        pattern = like_contains(email_contains.lower())
        conditions.append(f"LOWER(c.email) LIKE {pattern} ESCAPE '\\'")
    if name_contains:
        pattern = like_contains(name_contains.lower())
        conditions.append(f"LOWER(c.companyname) LIKE {pattern} ESCAPE '\\'")
        conditions.append(f"LOWER(c.entityid) LIKE {pattern} ESCAPE '\\'")
    if not conditions:
        raise ValueError("give an email or a name fragment to search for")
    return f"{_CUSTOMER} WHERE {' OR '.join(conditions)} ORDER BY c.id"


def contacts_of(customer_ids: list[str]) -> str:
    return (
        "SELECT ct.id, ct.company, ct.firstname, ct.lastname, ct.email,"
        " r.name AS role, ct.custentity_revline_ap_contact"
        " FROM contact ct LEFT JOIN contactrole r ON r.id = ct.contactrole"
        f" WHERE ct.company IN {id_list(customer_ids)} ORDER BY ct.company, ct.id"
    )


def _search_key(column: str) -> str:
    """An address on file as ``emails.search_key`` spells a variant, in SuiteQL: lower case,
    dots taken out, and its own ``+tag`` cut (``pat+billing@…`` is the mailbox ``pat@…`` a payer
    may have typed). INSTR, SUBSTR and CASE read the same in Oracle's SQL and SQLite's."""
    lowered = f"LOWER({column})"
    plus, at = f"INSTR({lowered}, '+')", f"INSTR({lowered}, '@')"
    untagged = (
        f"CASE WHEN {plus} > 0 AND {plus} < {at}"
        f" THEN SUBSTR({lowered}, 1, {plus} - 1) || SUBSTR({lowered}, {at})"
        f" ELSE {lowered} END"
    )
    return f"REPLACE({untagged}, '.', '')"


def customer_emails_among(keys: list[str]) -> str:
    """Customers whose own email, as a search key (``_search_key``), is one of ``keys``: an
    orphan payment's email searched for by its variants, dots and tags never mattering."""
    return (
        "SELECT c.id, c.entityid, c.companyname, c.email FROM customer c"
        f" WHERE {_search_key('c.email')} IN {_texts(keys)} ORDER BY c.id"
    )


def contact_emails_among(keys: list[str]) -> str:
    """Contacts whose email, as a search key (``_search_key``), is one of ``keys``."""
    return (
        "SELECT ct.id, ct.company, c.entityid, c.companyname, ct.email"
        " FROM contact ct JOIN customer c ON c.id = ct.company"
        f" WHERE {_search_key('ct.email')} IN {_texts(keys)} ORDER BY ct.id"
    )


def _texts(values: list[str]) -> str:
    """A parenthesised list of string literals for ``IN (...)``."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    return "(" + ", ".join(text(value) for value in values) + ")"


def contact(row: Row) -> Contact:
    role = value(row, "role")
    return Contact(
        id=required(row, "id"),
        first_name=value(row, "firstname") or "",
        last_name=value(row, "lastname") or "",
        email=value(row, "email"),
        role=role,
        accounts_payable=flag(row, "custentity_revline_ap_contact")
        or (role or "").strip().lower() == ACCOUNTS_PAYABLE_ROLE.lower(),
    )


def customer(row: Row, contacts: Iterable[Contact]) -> Customer:
    owner_name = " ".join(
        part for part in (value(row, "salesrep_first"), value(row, "salesrep_last")) if part
    )
    owner_email = value(row, "salesrep_email")
    owner = Person(owner_name, owner_email) if owner_name or owner_email else None
    return Customer(
        id=required(row, "id"),
        entity_id=required(row, "entityid"),
        company_name=value(row, "companyname"),
        email=value(row, "email"),
        stripe_customer_id=value(row, "custentity_stripe_customer_id"),
        currency=value(row, "currency"),
        relationship_owner=owner,
        contacts=tuple(contacts),
    )


def customer_email(row: Row, source: str, customer_key: str) -> CustomerEmail:
    return CustomerEmail(
        customer_id=required(row, customer_key),
        customer_name=value(row, "companyname") or required(row, "entityid"),
        email=required(row, "email"),
        source="customer" if source == "customer" else "contact",
    )


# -- invoices -----------------------------------------------------------------------------------

_INVOICE = (
    "SELECT t.id, t.tranid, t.entity, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate,"
    " t.foreigntotal, t.foreignamountunpaid, cur.symbol AS currency, t.status, t.voided, t.memo,"
    " t.custbody_stripe_invoice_id, t.custbody_stripe_charge_id,"
    " t.custbody_stripe_subscription_id"
    " FROM transaction t JOIN currency cur ON cur.id = t.currency"
    " WHERE t.type = 'CustInvc'"
)


def invoices_by_id(invoice_id: str) -> str:
    return f"{_INVOICE} AND t.id = {internal_id(invoice_id)} ORDER BY t.id"


def invoices_by_ids(invoice_ids: list[str]) -> str:
    return f"{_INVOICE} AND t.id IN {id_list(invoice_ids)} ORDER BY t.id"


def invoices_by_number(number: str) -> str:
    return f"{_INVOICE} AND t.tranid = {text(number)} ORDER BY t.id"


def invoices_by_stripe_invoice(stripe_invoice_id: str) -> str:
    return f"{_INVOICE} AND t.custbody_stripe_invoice_id = {text(stripe_invoice_id)} ORDER BY t.id"


def open_invoices(customer_id: str) -> str:
    return (
        f"{_INVOICE} AND t.entity = {internal_id(customer_id)} AND t.status = 'A'"
        " AND t.voided = 'F' ORDER BY t.trandate, t.id"
    )


def customer_invoices_since(customer_ids: list[str], since: date) -> str:
    return (
        f"{_INVOICE} AND t.entity IN {id_list(customer_ids)} AND t.trandate >= {day(since)}"
        " ORDER BY t.trandate, t.id"
    )


def invoice(row: Row) -> Invoice:
    currency = required(row, "currency")
    return Invoice(
        id=required(row, "id"),
        number=required(row, "tranid"),
        customer_id=required(row, "entity"),
        amount=minor(row, "foreigntotal", currency),
        amount_remaining=minor(row, "foreignamountunpaid", currency),
        currency=currency,
        status=InvoiceStatus.of(value(row, "status"), flag(row, "voided")),
        date=iso_day(row, "trandate"),
        stripe_invoice_id=value(row, "custbody_stripe_invoice_id"),
        stripe_charge_id=value(row, "custbody_stripe_charge_id"),
        stripe_subscription_id=value(row, "custbody_stripe_subscription_id"),
        memo=value(row, "memo"),
    )


# -- customer payments --------------------------------------------------------------------------

_PAYMENT = (
    "SELECT t.id, t.tranid, t.entity, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate,"
    " t.foreigntotal, cur.symbol AS currency, t.status, t.custbody_stripe_charge_id"
    " FROM transaction t JOIN currency cur ON cur.id = t.currency"
    # A voided payment records nothing: its charge is free to be recorded again.
    " WHERE t.type = 'CustPymt' AND t.voided = 'F'"
)
NOT_DEPOSITED = "B"


def payments_by_id(payment_id: str) -> str:
    return f"{_PAYMENT} AND t.id = {internal_id(payment_id)} ORDER BY t.id"


def payments_by_charge(stripe_charge_id: str) -> str:
    return f"{_PAYMENT} AND t.custbody_stripe_charge_id = {text(stripe_charge_id)} ORDER BY t.id"


def voided_payments_by_charge(stripe_charge_id: str) -> str:
    """The customer payments once recorded for a Stripe charge and since voided: their ids."""
    return (
        "SELECT t.id FROM transaction t WHERE t.type = 'CustPymt' AND t.voided = 'T'"
        f" AND t.custbody_stripe_charge_id = {text(stripe_charge_id)} ORDER BY t.id"
    )


def payments_by_idempotency_key(key: str) -> str:
    return f"{_PAYMENT} AND t.custbody_revline_idempotency_key = {text(key)} ORDER BY t.id"


def payments_applied_to(invoice_ids: list[str]) -> str:
    """Customer payments applied to any of these invoices, deposited or not."""
    return (
        f"{_PAYMENT} AND t.id IN (SELECT l.nextdoc FROM previoustransactionlink l"
        f" WHERE l.linktype = 'Payment' AND l.previousdoc IN {id_list(invoice_ids)})"
        " ORDER BY t.id"
    )


def undeposited_payments() -> str:
    return f"{_PAYMENT} AND t.status = '{NOT_DEPOSITED}' ORDER BY t.id"


def payments_dated(start: date, end: date) -> str:
    """Customer payments dated in ``[start, end]``, deposited or not."""
    return (
        f"{_PAYMENT} AND t.trandate >= {day(start)} AND t.trandate <= {day(end)}"
        " ORDER BY t.trandate, t.id"
    )


def payment_applications(payment_ids: list[str]) -> str:
    return (
        "SELECT l.nextdoc, l.previousdoc FROM previoustransactionlink l"
        f" WHERE l.linktype = 'Payment' AND l.nextdoc IN {id_list(payment_ids)}"
        " ORDER BY l.nextdoc, l.previousdoc"
    )


def customer_payment(row: Row, applied: Iterable[str]) -> CustomerPayment:
    currency = required(row, "currency")
    return CustomerPayment(
        id=required(row, "id"),
        number=value(row, "tranid"),
        customer_id=required(row, "entity"),
        amount=minor(row, "foreigntotal", currency),
        currency=currency,
        undeposited=value(row, "status") == NOT_DEPOSITED,
        date=iso_day(row, "trandate"),
        applied_invoices=tuple(applied),
        stripe_charge_id=value(row, "custbody_stripe_charge_id"),
    )


# -- deposits -----------------------------------------------------------------------------------


def deposits_by_payout(payout_id: str) -> str:
    return (
        "SELECT t.id FROM transaction t WHERE t.type = 'Deposit'"
        f" AND t.custbody_stripe_payout_id = {text(payout_id)} ORDER BY t.id"
    )


# -- credit memos -------------------------------------------------------------------------------


def credit_memos(customer_id: str) -> str:
    return (
        "SELECT t.id, t.tranid, t.entity, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate,"
        " t.foreigntotal, cur.symbol AS currency, t.createdfrom, t.memo"
        " FROM transaction t JOIN currency cur ON cur.id = t.currency"
        f" WHERE t.type = 'CustCred' AND t.entity = {internal_id(customer_id)}"
        " ORDER BY t.trandate, t.id"
    )


def credit_memo(row: Row) -> CreditMemo:
    currency = required(row, "currency")
    return CreditMemo(
        id=required(row, "id"),
        number=value(row, "tranid"),
        customer_id=required(row, "entity"),
        # A credit memo's total is negative in SuiteQL; Revline speaks of the credit's size.
        amount=abs(minor(row, "foreigntotal", currency)),
        currency=currency,
        date=iso_day(row, "trandate"),
        invoice_id=value(row, "createdfrom"),
        memo=value(row, "memo"),
    )


# -- the customer timeline ---------------------------------------------------------------------


def messages_of(customer_id: str) -> str:
    return (
        "SELECT m.id, m.entity, TO_CHAR(m.messagedate, 'YYYY-MM-DD HH24:MI:SS') AS messagedate,"
        " m.authoremail, m.recipientemail, m.cc, m.subject, m.message"
        f" FROM message m WHERE m.entity = {internal_id(customer_id)}"
        " ORDER BY m.messagedate, m.id"
    )


def customer_message(row: Row) -> CustomerMessage:
    # The integration user's timezone preference must be GMT for this to be UTC (see docs).
    sent_at = datetime.strptime(required(row, "messagedate"), "%Y-%m-%d %H:%M:%S")
    cc = value(row, "cc")
    return CustomerMessage(
        id=required(row, "id"),
        customer_id=required(row, "entity"),
        sent_at=sent_at.replace(tzinfo=UTC),
        author=value(row, "authoremail"),
        recipient=value(row, "recipientemail"),
        cc=tuple(part.strip() for part in cc.split(",") if part.strip()) if cc else (),
        subject=value(row, "subject") or "",
        summary=value(row, "message"),
    )


# -- revenue recognition ------------------------------------------------------------------------


def revenue_plans_of(customer_id: str) -> str:
    return (
        "SELECT rp.id, rp.recordnumber, re.entity, re.sourcetransaction, rp.amount,"
        " cur.symbol AS currency, rp.status, rp.is_hold_rev_rec,"
        " rp.custrecord_revline_hold_reason"
        " FROM revenueplan rp JOIN revenueelement re ON re.id = rp.createdfrom"
        " JOIN currency cur ON cur.id = re.currency"
        f" WHERE re.entity = {internal_id(customer_id)} ORDER BY rp.id"
    )


def held_revenue_plans() -> str:
    """Every revenue plan with "Hold Revenue Recognition" set, whatever the customer."""
    return (
        "SELECT rp.id, rp.recordnumber, re.entity, re.sourcetransaction, rp.amount,"
        " cur.symbol AS currency, rp.status, rp.is_hold_rev_rec,"
        " rp.custrecord_revline_hold_reason"
        " FROM revenueplan rp JOIN revenueelement re ON re.id = rp.createdfrom"
        " JOIN currency cur ON cur.id = re.currency"
        " WHERE rp.is_hold_rev_rec = 'T' ORDER BY re.entity, rp.id"
    )


def revenue_plan_status(raw: str | None) -> RevenuePlanStatus:
    """``On Hold``, ``ON_HOLD`` and ``onHold`` all mean the same plan status."""
    normalised = "".join(ch for ch in (raw or "") if ch.isalnum()).lower()
    for status in RevenuePlanStatus:
        if status.value.replace("_", "") == normalised:
            return status
    raise ValueError(f"unknown revenue plan status {raw!r}")


def revenue_plan(row: Row) -> RevenuePlan:
    currency = required(row, "currency")
    return RevenuePlan(
        id=required(row, "id"),
        number=value(row, "recordnumber"),
        customer_id=required(row, "entity"),
        invoice_id=value(row, "sourcetransaction"),
        amount=minor(row, "amount", currency),
        currency=currency,
        on_hold=flag(row, "is_hold_rev_rec"),
        hold_reason=value(row, "custrecord_revline_hold_reason"),
        status=revenue_plan_status(value(row, "status")),
    )


# -- balances -----------------------------------------------------------------------------------


def undeposited_funds_balance(as_of: date | None) -> str:
    """The Undeposited Funds balance from the general ledger (base currency), by the currency
    of the transactions that make it up."""
    dated = f" AND t.trandate <= {day(as_of)}" if as_of else ""
    return (
        "SELECT cur.symbol AS currency, SUM(tal.amount) AS balance"
        " FROM transactionaccountingline tal"
        " JOIN account a ON a.id = tal.account"
        " JOIN transaction t ON t.id = tal.transaction"
        " JOIN currency cur ON cur.id = t.currency"
        f" WHERE a.accttype = 'UnDepFunds' AND tal.posting = 'T'{dated}"
        " GROUP BY cur.symbol ORDER BY cur.symbol"
    )


def invoiced_between(customer_id: str, start: date, end: date) -> str:
    """Non-voided invoice totals of one customer dated in ``[start, end)``, per currency."""
    return (
        "SELECT cur.symbol AS currency, SUM(t.foreigntotal) AS total, COUNT(*) AS invoices"
        " FROM transaction t JOIN currency cur ON cur.id = t.currency"
        f" WHERE t.type = 'CustInvc' AND t.voided = 'F' AND t.entity = {internal_id(customer_id)}"
        f" AND t.trandate >= {day(start)} AND t.trandate < {day(end)}"
        " GROUP BY cur.symbol ORDER BY cur.symbol"
    )
