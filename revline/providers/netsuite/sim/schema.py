"""The simulator's tables: the SuiteQL tables Revline reads, with NetSuite's column names.

Amounts are ``NUMERIC`` in major units, as NetSuite shows them; SuiteQL's ``SUM`` over them is
exact (see ``suiteql.py``). Dates are ISO text (``YYYY-MM-DD``), times ``YYYY-MM-DD HH:MM:SS``
in UTC. Checkboxes are ``'T'``/``'F'``. Columns prefixed ``sim_`` are the simulator's own
bookkeeping, not NetSuite's.
"""

from __future__ import annotations

DDL = """
CREATE TABLE currency (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, symbol TEXT NOT NULL UNIQUE,
    currencyprecision INTEGER NOT NULL, isbasecurrency TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE account (
    id INTEGER PRIMARY KEY, acctnumber TEXT UNIQUE, fullname TEXT NOT NULL,
    accttype TEXT NOT NULL, isinactive TEXT NOT NULL DEFAULT 'F',
    currency INTEGER NOT NULL REFERENCES currency(id)  -- the funds' currency (a bank account's)
);
CREATE TABLE accountingperiod (
    id INTEGER PRIMARY KEY, periodname TEXT NOT NULL, startdate TEXT NOT NULL,
    enddate TEXT NOT NULL, isyear TEXT NOT NULL DEFAULT 'F', isquarter TEXT NOT NULL DEFAULT 'F',
    isadjust TEXT NOT NULL DEFAULT 'F', isinactive TEXT NOT NULL DEFAULT 'F',
    closed TEXT NOT NULL DEFAULT 'F', arlocked TEXT NOT NULL DEFAULT 'F',
    aplocked TEXT NOT NULL DEFAULT 'F', alllocked TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE employee (
    id INTEGER PRIMARY KEY, entityid TEXT NOT NULL, firstname TEXT, lastname TEXT, email TEXT
);
CREATE TABLE contactrole (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE customer (
    id INTEGER PRIMARY KEY, entityid TEXT NOT NULL, companyname TEXT, email TEXT,
    salesrep INTEGER REFERENCES employee(id), currency INTEGER NOT NULL REFERENCES currency(id),
    isinactive TEXT NOT NULL DEFAULT 'F', custentity_stripe_customer_id TEXT,
    custentity_revline_pipeline_excluded TEXT NOT NULL DEFAULT 'F',
    custentity_revline_pipeline_reason TEXT,
    datecreated TEXT NOT NULL
);
CREATE TABLE contact (
    id INTEGER PRIMARY KEY, entityid TEXT NOT NULL, firstname TEXT, lastname TEXT, email TEXT,
    company INTEGER REFERENCES customer(id), contactrole INTEGER REFERENCES contactrole(id),
    custentity_revline_ap_contact TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE "transaction" (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, tranid TEXT, entity INTEGER,
    trandate TEXT NOT NULL, currency INTEGER NOT NULL REFERENCES currency(id),
    foreigntotal NUMERIC NOT NULL, foreignamountunpaid NUMERIC, status TEXT,
    voided TEXT NOT NULL DEFAULT 'F', posting TEXT NOT NULL DEFAULT 'T', memo TEXT,
    account INTEGER REFERENCES account(id), createdfrom INTEGER,
    postingperiod INTEGER REFERENCES accountingperiod(id),
    custbody_stripe_invoice_id TEXT, custbody_stripe_charge_id TEXT,
    custbody_stripe_subscription_id TEXT, custbody_stripe_payout_id TEXT,
    custbody_revline_idempotency_key TEXT, createddate TEXT NOT NULL
);
CREATE TABLE transactionline (
    id INTEGER PRIMARY KEY, "transaction" INTEGER NOT NULL, linesequencenumber INTEGER NOT NULL,
    mainline TEXT NOT NULL, entity INTEGER, expenseaccount INTEGER, foreignamount NUMERIC,
    memo TEXT, sim_sublist TEXT, sim_doc INTEGER
);
CREATE TABLE transactionaccountingline (
    id INTEGER PRIMARY KEY, "transaction" INTEGER NOT NULL, transactionline INTEGER,
    account INTEGER NOT NULL REFERENCES account(id), amount NUMERIC NOT NULL,
    debit NUMERIC, credit NUMERIC, posting TEXT NOT NULL DEFAULT 'T',
    accountingbook INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE previoustransactionlink (
    previousdoc INTEGER NOT NULL, nextdoc INTEGER NOT NULL, linktype TEXT NOT NULL,
    foreignamount NUMERIC NOT NULL
);
CREATE TABLE revenueelement (
    id INTEGER PRIMARY KEY, recordnumber TEXT, entity INTEGER NOT NULL,
    sourcetransaction INTEGER, currency INTEGER NOT NULL, amount NUMERIC NOT NULL
);
CREATE TABLE revenueplan (
    id INTEGER PRIMARY KEY, recordnumber TEXT, createdfrom INTEGER NOT NULL,
    amount NUMERIC NOT NULL, recognizedamount NUMERIC NOT NULL DEFAULT 0, status TEXT NOT NULL,
    is_hold_rev_rec TEXT NOT NULL DEFAULT 'F', custrecord_revline_hold_reason TEXT
);
CREATE TABLE message (
    id INTEGER PRIMARY KEY, entity INTEGER, author INTEGER, authoremail TEXT,
    recipientemail TEXT, cc TEXT, subject TEXT, message TEXT, messagedate TEXT NOT NULL,
    "transaction" INTEGER, incoming TEXT NOT NULL DEFAULT 'F'
);
CREATE TABLE customrecord_revline_idempotency (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, custrecord_revline_action TEXT NOT NULL,
    custrecord_revline_request_hash TEXT NOT NULL, custrecord_revline_result TEXT NOT NULL,
    created TEXT NOT NULL
);
"""

CURRENCIES = (
    (1, "US Dollar", "USD", 2, "T"),
    (2, "Euro", "EUR", 2, "F"),
    (3, "British Pound", "GBP", 2, "F"),
    (4, "Canadian Dollar", "CAD", 2, "F"),
    (5, "Japanese Yen", "JPY", 0, "F"),
    # Whole krónur in NetSuite, as in ISO 4217; Stripe and Revline count them in hundredths.
    (6, "Icelandic Krona", "ISK", 0, "F"),
    (7, "Hungarian Forint", "HUF", 2, "F"),
)

# The chart of accounts a Stripe-billing company starts with; the sandbox can add more.
ACCOUNTS = (
    (1, "1000", "Operating Bank", "Bank"),
    (2, "1100", "Accounts Receivable", "AcctRec"),
    (3, "1190", "Undeposited Funds", "UnDepFunds"),
    (4, "4000", "Subscription Revenue", "Income"),
    (5, "4090", "Refunds and Chargebacks", "Income"),
    (6, "6700-8", "Stripe Processing Fees", "Expense"),
    (7, "6710", "Stripe Adjustments", "Expense"),
)

# The monthly base periods the simulated account has, all open until a test closes one.
PERIOD_YEARS = range(2020, 2036)

CONTACT_ROLES = (
    (-10, "Primary Contact"),
    (-20, "Alternate Contact"),
    (-30, "Decision Maker"),
    (101, "Accounts Payable"),
)
