"""The matching engine: tiers of evidence, each match with its reason, bulk work on DuckDB.

Both sides live in two DuckDB tables, ``l`` (Stripe) and ``r`` (NetSuite), with the columns of
``Entry``. The tiers run in order over what the earlier ones left, and every record a tier
matches or proposes is claimed, so no record is offered twice:

1. exact keys: the Stripe charge id, else the Stripe invoice id, carried on the NetSuite record
   of money moving the same way (a refund pairs with a refund, never with the payment); a row
   whose Stripe reporting category is neither a payment nor a refund (a dispute, a dispute
   reversal, a failed refund, ...) settles no NetSuite record and is never paired; several
   entries and records sharing a charge id (partial refunds of one charge) pair one to one by
   amount when only one such pairing exists; a charge captured in part pairs net of its
   ``partial_capture_reversal`` rows (and the later tiers compare what it captured);
2. tolerance: same customer, same currency, amount within the drift, date within the window;
   a pair whose exact keys disagree (each side carries a charge id, invoice id or customer id,
   and they differ) is only proposed, here and in the scored tier;
3. one-to-many: one payment equal to the sum of exactly one combination of a customer's open
   records (proposed only);
4. scored: email and name similarity and invoice-number references (``scoring``); applied only
   with a unique exact piece of evidence and a clear margin, otherwise proposed.

A currency mismatch is never matched. A day's payout and a million-row export run the same SQL:
``Matcher.from_entries`` loads Python entries, ``files.load_csv`` loads exports.

Records are named by their ``rowid`` inside the engine (``lrow``, ``rrow``): integer keys join
and group several times faster than the text ids, which are looked up only to report. The
result, the ``claims`` view, is one row per claim (a left entry and one right record it matched
or was proposed with; an unmatched entry has no right record), so a million exact matches are a
million narrow rows, not lists. The exact tier is the only one that sees every record: it pairs
both tables in one join, counts each row's partners in NumPy over the pairs' row numbers, and
what it leaves (``rest_l``, ``rest_r``) is a few percent that the later tiers shrink as they
claim. A reason written for many rows is concatenated: ``printf`` costs about three times as
much per row, and stays only where a format needs it (a score to two places).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from revline.reconcile import scoring
from revline.reconcile.entries import Entry, Match, MatchReport, MatchRules, MatchStatus, Tier

# The reports ``Matcher.write`` leaves in a directory, by name.
REPORTS = ("matched", "ambiguous", "unmatched")

COLUMNS = (
    "id VARCHAR NOT NULL, amount BIGINT NOT NULL, currency VARCHAR NOT NULL, day DATE NOT NULL, "
    "charge_id VARCHAR, invoice_id VARCHAR, customer VARCHAR, email VARCHAR, name VARCHAR, "
    "reference VARCHAR, category VARCHAR"
)

# Everything but the plain exact matches: those are ``exact_matches``, three narrow columns for
# most of a million rows; ``claims`` reads both with their status, tier and reason.
_OUTCOME = """
CREATE OR REPLACE TEMP TABLE outcome (
    lrow BIGINT NOT NULL, rrow BIGINT, status VARCHAR NOT NULL, tier VARCHAR, reason VARCHAR,
    score DOUBLE
)
"""

# One join on the charge id pairs every record that has a partner; which records of each side
# have none, which entries have several partners and which records several entries are counted
# over the pairs' row numbers in NumPy (``Matcher._exact``), and only the records without a
# partner are read again, with only the columns the later tiers compare. Each pair carries what
# tells an exception from a plain match (the amount difference, whether the currencies differ);
# the exceptions, a few percent, are read again for their reasons. A key pairs money moving the
# same way only: a refund carries the charge id of the payment it returns (Stripe's itemized
# report does), and is the NetSuite refund's partner, never the payment's. The invoice id pairs
# only what the charge id left; a NetSuite record that carries the invoice id and another charge
# id is a conflict for a person.
#
# Which way a Stripe entry's money may pair (``direction``: true for money going back) comes
# from its reporting category when it has one: only a payment (``charge``, ``payment``) settles
# a NetSuite customer payment and only a ``refund`` a customer refund. A dispute, a dispute
# reversal, a failed refund carry the charge id too (and a reversal or a failed refund is money
# coming in), but none is the customer paying: NULL pairs with nothing, and such an entry is
# reported unmatched, naming its category. Without a category the sign decides, as before.
# ``conflict`` is the later tiers' contrary evidence: both sides carry a key and they differ.
_MACROS = """
CREATE OR REPLACE TEMP MACRO mismatch(stripe, netsuite) AS
    CASE WHEN stripe <> netsuite THEN
        printf('currency mismatch: Stripe %s, NetSuite %s', upper(stripe), upper(netsuite))
    END;

CREATE OR REPLACE TEMP MACRO direction(category, amount) AS
    CASE WHEN category IS NULL THEN amount < 0
         WHEN lower(category) IN ('charge', 'payment') AND amount >= 0 THEN false
         WHEN lower(category) = 'refund' AND amount < 0 THEN true END;

CREATE OR REPLACE TEMP MACRO conflict(l_charge, r_charge, l_invoice, r_invoice, l_customer,
                                      r_customer) AS
    CASE WHEN l_charge <> r_charge THEN printf('another Stripe charge id (%s)', r_charge)
         WHEN l_invoice <> r_invoice THEN printf('another Stripe invoice id (%s)', r_invoice)
         WHEN l_customer <> r_customer THEN printf('another Stripe customer id (%s)', r_customer)
    END
"""

_CHARGE_PAIRS = """
SELECT l.rowid AS lrow, r.rowid AS rrow, l.amount - r.amount AS diff,
       l.currency <> r.currency AS other_currency
FROM l JOIN r
  ON l.charge_id = r.charge_id AND direction(l.category, l.amount) = (r.amount < 0)
"""

# What the charge id left, read from the row numbers ``Matcher._exact`` found without a partner
# (``unpaired_l``, ``unpaired_r``).
_REST = """
CREATE OR REPLACE TEMP TABLE rest_l AS
SELECT l.rowid AS lrow, amount, currency, day, charge_id, invoice_id, customer, email, name,
       reference, category
FROM l SEMI JOIN unpaired_l u ON l.rowid = u.row;

-- A charge captured in part: Stripe's itemized report lists the charge as authorised and a
-- ``partial_capture_reversal`` row, carrying its charge id, for what was not captured; NetSuite
-- records what was. Each such charge with what it captured; when a NetSuite record carries its
-- charge id, or its invoice id, that pair is read net of the reversals.
CREATE OR REPLACE TEMP TABLE captures AS
SELECT c.rowid AS lrow, any_value(c.charge_id) AS charge_id, sum(v.amount) AS reversed,
       any_value(c.amount) + sum(v.amount) AS captured
FROM rest_l v JOIN l c ON c.charge_id = v.charge_id AND c.currency = v.currency
WHERE lower(v.category) = 'partial_capture_reversal' AND v.amount < 0
  AND direction(c.category, c.amount) = false
GROUP BY c.rowid;

INSERT INTO outcome
SELECT lrow, NULL, 'unmatched', NULL,
       CASE WHEN captured IS NOT NULL THEN
                printf('a partial capture reversal of charge %s, not a payment: with it the '
                       || 'charge captured %d minor units', rest_l.charge_id, captured)
            ELSE
       printf('Stripe reporting category %s%s: only a charge or payment settles a NetSuite '
              || 'customer payment, and only a refund a customer refund', category,
              CASE WHEN lower(category) NOT IN ('charge', 'payment', 'refund') THEN ''
                   WHEN amount < 0 THEN ' with a negative amount'
                   WHEN amount = 0 THEN ' with a zero amount'
                   ELSE ' with a positive amount' END) END,
       NULL
FROM rest_l LEFT JOIN (SELECT charge_id, min(captured) AS captured FROM captures GROUP BY 1) c
  ON lower(rest_l.category) = 'partial_capture_reversal' AND rest_l.charge_id = c.charge_id
WHERE direction(category, amount) IS NULL;

DELETE FROM rest_l WHERE direction(category, amount) IS NULL;

CREATE OR REPLACE TEMP TABLE rest_r AS
SELECT r.rowid AS rrow, id, amount, currency, day, charge_id, invoice_id, customer, email, name,
       reference
FROM r SEMI JOIN unpaired_r u ON r.rowid = u.row;

CREATE OR REPLACE TEMP TABLE invoice_pairs AS
SELECT l.lrow, r.rowid AS rrow, l.amount - r.amount AS diff,
       l.currency <> r.currency AS other_currency, r.charge_id IS NOT NULL AS other_charge
FROM rest_l l JOIN r ON l.invoice_id = r.invoice_id AND (l.amount < 0) = (r.amount < 0)
"""

# The exceptions among the exact pairs (``odd_pairs``, from ``Matcher._exact``), with the
# currencies' mismatch for their reasons. The currencies are read only for the pairs whose
# currencies differ, through a semi join on their row numbers: a join of the exceptions with a
# whole table would hash the table's million rows, not the exceptions' few.
_EXCEPTION_PAIRS = """
CREATE OR REPLACE TEMP TABLE exception_pairs AS
WITH mixed AS (SELECT lrow, rrow FROM odd_pairs WHERE other_currency),
     lc AS (SELECT rowid AS lrow, currency FROM l SEMI JOIN mixed m ON l.rowid = m.lrow),
     rc AS (SELECT rowid AS rrow, currency FROM r SEMI JOIN mixed m ON r.rowid = m.rrow)
SELECT p.lrow, p.rrow, p.by_charge, p.diff, mismatch(lc.currency, rc.currency) AS mismatch,
       p.other_charge, p.shared
FROM odd_pairs p LEFT JOIN lc ON p.other_currency AND lc.lrow = p.lrow
LEFT JOIN rc ON p.other_currency AND rc.rrow = p.rrow
"""

# Several Stripe entries and NetSuite records may share a charge id, money moving the same way:
# two partial refunds of one charge, each with its NetSuite customer refund. Every entry of such
# a group pairs with every record of it, so the group is named by its first record. They pair
# one to one by amount when that pairing is the only one: each entry and each record of the
# group has exactly one partner of the same amount and currency (and no record is also another
# entry's invoice-id partner). Only the exceptions are read, a few percent of the pairs. A charge
# with partial capture reversals (``captures``) is matched here too, when its one partner, a
# record no other entry claims, carries what it captured (and, found by the invoice id, no other
# charge id); otherwise a person sees why.
_CHARGE_PAIRINGS = """
-- The records several Stripe entries claim by charge id, with how many (every entry of such a
-- record is an exception).
CREATE OR REPLACE TEMP TABLE charge_records AS
SELECT rrow, count(*) AS entries FROM exception_pairs WHERE by_charge AND shared
GROUP BY rrow HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE charge_pairings AS
WITH pairs AS MATERIALIZED (
    -- In a group of several entries every record is claimed by several: only those are read.
    SELECT lrow, rrow, diff = 0 AND mismatch IS NULL AS equal
    FROM exception_pairs p SEMI JOIN charge_records c USING (rrow) WHERE by_charge
), entries AS (
    SELECT lrow, min(rrow) AS grp,
           count(*) FILTER (WHERE equal) = 1 AND lrow NOT IN (SELECT lrow FROM captures) AS paired
    FROM pairs GROUP BY lrow
), records AS (
    SELECT rrow, count(*) FILTER (WHERE equal) = 1
                 AND rrow NOT IN (SELECT rrow FROM invoice_pairs) AS paired
    FROM pairs GROUP BY rrow
), groups AS (
    SELECT e.grp
    FROM pairs p JOIN entries e ON p.lrow = e.lrow JOIN records r ON p.rrow = r.rrow
    GROUP BY e.grp HAVING count(*) > 1 AND bool_and(e.paired AND r.paired)
)
SELECT p.lrow, p.rrow, 'exact_charge_id' AS tier,
       'Stripe charge id carried on the NetSuite record; several Stripe entries and NetSuite '
       || 'records share it, paired one to one by equal amount' AS reason
FROM pairs p JOIN entries e ON p.lrow = e.lrow SEMI JOIN groups g ON e.grp = g.grp
WHERE p.equal
UNION ALL
-- A charge with partial capture reversals and one partner, which records what it captured.
SELECT p.lrow, any_value(p.rrow),
       CASE WHEN any_value(p.by_charge) THEN 'exact_charge_id' ELSE 'exact_invoice_id' END,
       printf('Stripe %s id carried on the NetSuite record, which records the %d minor '
              || 'units captured: the charge net of its partial capture reversal',
              CASE WHEN any_value(p.by_charge) THEN 'charge' ELSE 'invoice' END,
              any_value(c.captured))
FROM exception_pairs p JOIN captures c ON p.lrow = c.lrow
GROUP BY p.lrow
HAVING count(*) = 1
   AND bool_and(p.mismatch IS NULL AND p.diff = -c.reversed AND NOT p.shared
                AND NOT p.other_charge)
"""

_EXACT_OUTCOME = """
INSERT INTO outcome
SELECT lrow, rrow, 'matched', tier, reason, NULL FROM charge_pairings;

INSERT INTO outcome
WITH pairs AS MATERIALIZED (
    SELECT p.lrow, p.rrow, diff, mismatch, other_charge,
           CASE WHEN by_charge THEN 'exact_charge_id' ELSE 'exact_invoice_id' END AS tier,
           shared, n.entries AS charge_entries,
           k.captured, k.captured - k.reversed - p.diff AS recorded
    FROM exception_pairs p ANTI JOIN charge_pairings c ON p.lrow = c.lrow
    LEFT JOIN charge_records n ON p.rrow = n.rrow
    LEFT JOIN captures k ON p.lrow = k.lrow
), verdict AS (
    SELECT lrow,
           CASE WHEN count(mismatch) > 0 THEN 'blocked' ELSE 'proposed' END AS status,
           min(tier) AS tier,
           CASE WHEN count(mismatch) > 0 THEN min(mismatch)
                WHEN count(*) > 1 AND min(tier) = 'exact_charge_id'
                     AND max(charge_entries) > 1 THEN
                    max(charge_entries) || ' Stripe entries and ' || count(*)
                    || ' NetSuite records share the same charge id, and their amounts do not '
                    || 'pair them one to one'
                WHEN count(*) > 1 THEN
                    count(*) || ' NetSuite records carry the same '
                    || replace(replace(min(tier), 'exact_', ''), '_', ' ')
                WHEN bool_or(shared) THEN
                    'the NetSuite record is claimed by several Stripe entries'
                WHEN bool_or(other_charge) THEN
                    'the NetSuite record carries the invoice id but another Stripe charge id'
                WHEN count(captured) > 0 THEN
                    replace(replace(min(tier), 'exact_', ''), '_', ' ')
                    || ' matches, but the NetSuite record carries ' || max(recorded)
                    || ' minor units and the charge captured ' || max(captured)
                    || ', net of its partial capture reversal'
                ELSE replace(replace(min(tier), 'exact_', ''), '_', ' ')
                     || ' matches but the amount differs by ' || max(diff) || ' minor units'
           END AS reason
    FROM pairs GROUP BY lrow
)
SELECT pairs.lrow, pairs.rrow, verdict.status, verdict.tier, verdict.reason, NULL
FROM pairs JOIN verdict ON pairs.lrow = verdict.lrow;

DELETE FROM rest_l WHERE lrow IN (SELECT lrow FROM invoice_pairs);
DELETE FROM rest_r WHERE rrow IN (SELECT rrow FROM invoice_pairs);

-- What NetSuite records of a charge captured in part is what it captured: the later tiers
-- compare that, not what was authorised (reversals beyond the charge leave it as it is).
UPDATE rest_l SET amount = c.captured FROM captures c
WHERE rest_l.lrow = c.lrow AND c.captured > 0
"""

# What a tier claimed leaves the rest: no later tier offers it again.
_CLAIM = """
DELETE FROM rest_l WHERE lrow IN (SELECT lrow FROM outcome WHERE tier = $tier);
DELETE FROM rest_r WHERE rrow IN (SELECT rrow FROM outcome WHERE tier = $tier)
"""

# An entry whose only records within tolerance are in another currency is blocked, but not yet:
# a later tier may still find its record in its own currency (the same mailbox, a quoted
# number), and another entry may be the other-currency record's. Its blocked rows wait in
# ``blocked_found``, entry and records left to the later tiers; ``_UNMATCHED`` reports them with
# the records no entry was matched to by then.
_TOLERANCE = """
CREATE OR REPLACE TEMP TABLE tolerance_found AS
WITH pairs AS MATERIALIZED (
    SELECT l.lrow, r.rrow, l.currency = r.currency AS same_currency,
           l.amount - r.amount AS diff, abs(date_diff('day', l.day, r.day)) AS days,
           l.currency AS l_currency, r.currency AS r_currency,
           conflict(l.charge_id, r.charge_id, l.invoice_id, r.invoice_id, l.customer,
                    r.customer) AS conflict
    FROM rest_l l JOIN rest_r r ON l.customer = r.customer
    WHERE abs(l.amount - r.amount) <= $drift AND abs(date_diff('day', l.day, r.day)) <= $window
      AND (l.amount < 0) = (r.amount < 0)
), shared AS (
    -- A record within tolerance of several entries goes to a person, whatever their
    -- currencies: it is never matched to one while named in another's blocked row.
    SELECT rrow FROM pairs GROUP BY rrow HAVING count(*) > 1
), verdict AS (
    SELECT lrow, count(*) FILTER (WHERE same_currency) AS same,
           bool_or(s.rrow IS NOT NULL) FILTER (WHERE same_currency) AS several,
           min(conflict) FILTER (WHERE same_currency) AS conflict,
           max(diff) FILTER (WHERE same_currency) AS diff,
           max(days) FILTER (WHERE same_currency) AS days,
           min(l_currency) AS l_currency, min(r_currency) AS r_currency
    FROM pairs p LEFT JOIN shared s USING (rrow) GROUP BY lrow
), judged AS (
    SELECT lrow,
           CASE WHEN same = 0 THEN 'blocked'
                WHEN same = 1 AND NOT several AND conflict IS NULL THEN 'matched'
                ELSE 'proposed' END AS status,
           CASE WHEN same = 0 THEN
                    'currency mismatch: Stripe ' || upper(l_currency) || ', NetSuite '
                    || upper(r_currency)
                WHEN same > 1 THEN same || ' records of the same customer within tolerance'
                WHEN several THEN 'the record is within tolerance of several Stripe entries'
                WHEN conflict IS NOT NULL THEN
                    'same customer and within tolerance, but the NetSuite record carries '
                    || conflict || ': a person confirms'
                ELSE 'same customer, amount differs by ' || diff || ' minor units, dates '
                     || days || ' days apart' END AS reason
    FROM verdict
)
-- A blocked entry names the records in the other currency; otherwise only same-currency ones.
SELECT pairs.lrow, pairs.rrow, judged.status, judged.reason
FROM pairs JOIN judged ON pairs.lrow = judged.lrow
WHERE pairs.same_currency OR judged.status = 'blocked';

INSERT INTO outcome
SELECT lrow, rrow, status, 'tolerance', reason, NULL FROM tolerance_found
WHERE status <> 'blocked';

CREATE OR REPLACE TEMP TABLE blocked_found AS
SELECT lrow, rrow, reason FROM tolerance_found WHERE status = 'blocked'
"""

# One payment may settle some of a customer's open records, not always all of them. The
# candidates are gathered in DuckDB (same customer and currency, within the window, at most
# ``_MAX_SETTLED`` records, together at least the payment); which of them add up to it is found
# in Python over that small residue, and only a single combination is proposed.
_MAX_SETTLED = 12
_SETTLEMENT_CANDIDATES = """
SELECT l.lrow, l.amount, list(r.rrow ORDER BY r.rrow), list(r.amount ORDER BY r.rrow)
FROM rest_l l JOIN rest_r r
  ON l.customer = r.customer AND l.currency = r.currency
 AND abs(date_diff('day', l.day, r.day)) <= $window AND r.amount > 0
GROUP BY l.lrow, l.amount
HAVING count(*) BETWEEN 2 AND $max_settled AND sum(r.amount) >= l.amount
"""

_ONE_TO_MANY = """
INSERT INTO outcome
SELECT unnest($lrows::BIGINT[]), unnest($rrows::BIGINT[]), 'proposed', 'one_to_many',
       printf('one payment equals %d open records of the same customer; a person applies it',
              unnest($sizes::BIGINT[]))
       || CASE WHEN unnest($shared::BOOLEAN[])
               THEN '; some of these records also settle another payment' ELSE '' END,
       NULL
"""


def settled_records(amount: int, amounts: list[int]) -> tuple[int, ...] | None:
    """The positions of the only combination of two or more ``amounts`` (all positive) that
    adds up to ``amount``; None when there is none, or more than one (a person could not tell
    which). A depth-first search that drops any branch already over the amount."""
    found: list[tuple[int, ...]] = []

    def search(start: int, remaining: int, chosen: tuple[int, ...]) -> None:
        if len(found) > 1:
            return
        if remaining == 0 and len(chosen) >= 2:
            found.append(chosen)
            return
        for i in range(start, len(amounts)):
            if amounts[i] <= remaining:
                search(i + 1, remaining - amounts[i], (*chosen, i))

    search(0, amount, ())
    return found[0] if len(found) == 1 else None


# An invoice number quoted in free text: letters, a dash, then digits (INV-2026-1201). Keys are
# computed first so both candidate joins are plain equi-joins (hash joins), never a cross product:
# amounts within the drift are found through buckets ``drift + 1`` wide (two such amounts lie in
# the same or a neighbouring bucket), so the join costs the same whatever the drift. The bucket
# is integer division (exact to 18 digits, where a double is not past 2^53); it truncates toward
# zero, which keeps the property: only amounts of one sign pair, and two amounts either side of
# zero within the drift are both in bucket 0. A record found
# through a quoted number may be far off in amount or date: each candidate says whether it is
# near in both, and only a near one can be applied. Money moving one way never pairs with money
# moving the other; a candidate whose exact keys disagree with the entry's (``conflict``) is
# offered, never applied.
# A mailbox is the address in lower case without its ``+tag`` (the same inbox however it was
# typed): the local part up to its first ``+``, then the domain after the last ``@``, when an
# ``@`` follows the ``+``. The same mailbox on both sides is exact evidence, as a quoted invoice
# number is. Cut with string functions, not a regular expression: a third of the candidate
# blocking's time went to the expression.
_CANDIDATES = """
CREATE OR REPLACE TEMP MACRO untagged(address) AS
    CASE WHEN contains(address, '+') AND contains(substr(address, strpos(address, '+') + 1), '@')
         THEN split_part(address, '+', 1) || '@' || string_split(address, '@')[-1]
         ELSE address END;

-- Only an address is a mailbox: "n/a" typed on both sides is no evidence that they are one.
CREATE OR REPLACE TEMP MACRO mailbox(address) AS
    CASE WHEN contains(coalesce(address, ''), '@') THEN untagged(lower(trim(address))) ELSE '' END;

CREATE OR REPLACE TEMP TABLE candidates AS
WITH lk AS (
    SELECT lrow, amount, currency, day,
           upper(regexp_extract(coalesce(reference, ''), '[A-Za-z]{2,}-[0-9][0-9A-Za-z-]*'))
               AS quoted
    FROM rest_l
), rk AS (
    SELECT rrow, amount, currency, day, upper(reference) AS number,
           amount // ($drift + 1) AS bucket
    FROM rest_r
), near AS (
    SELECT lk.*, lk.amount // ($drift + 1) + step AS bucket
    FROM lk CROSS JOIN range(-least($drift, 1), least($drift, 1) + 1) offsets(step)
), found AS (
    -- Row numbers only: the two ways of finding a pair may find it twice, and telling the
    -- pairs apart by two integers costs a fraction of comparing their texts.
    SELECT l.lrow, r.rrow, coalesce(l.quoted <> '' AND l.quoted = r.number, false) AS quoted
    FROM near l JOIN rk r ON l.currency = r.currency AND r.bucket = l.bucket
    WHERE abs(l.amount - r.amount) <= $drift AND abs(date_diff('day', l.day, r.day)) <= $window
      AND (l.amount < 0) = (r.amount < 0)
    UNION ALL
    SELECT l.lrow, r.rrow, true
    FROM lk l JOIN rk r ON l.currency = r.currency AND l.quoted = r.number
    WHERE l.quoted <> '' AND (l.amount < 0) = (r.amount < 0)
), pairs AS (
    SELECT lrow, rrow, bool_or(quoted) AS reference_hit FROM found GROUP BY lrow, rrow
), keyed AS (
    -- Only the candidates' addresses and names are normalised, not the whole residue's.
    SELECT p.lrow, p.rrow, r.id AS rid, mailbox(l.email) AS l_mailbox,
           mailbox(r.email) AS r_mailbox, lower(coalesce(l.name, '')) AS l_name,
           lower(coalesce(r.name, '')) AS r_name, p.reference_hit,
           l.amount = r.amount AS same_amount, l.amount - r.amount AS diff,
           abs(date_diff('day', l.day, r.day)) AS days,
           conflict(l.charge_id, r.charge_id, l.invoice_id, r.invoice_id, l.customer,
                    r.customer) AS conflict
    FROM pairs p JOIN rest_l l ON l.lrow = p.lrow JOIN rest_r r ON r.rrow = p.rrow
)
SELECT *, abs(diff) <= $drift AND days <= $window AS near,
       l_mailbox <> '' AND l_mailbox = r_mailbox AS same_email
FROM keyed
"""

# Each entry's candidates ranked: those with exact evidence first (a record with the same mailbox
# or the quoted invoice number is never dropped for a likelier-looking one without), then the
# best score, then the NetSuite id; the best is applied
# only when it is the one candidate with exact evidence, scores ``min_score``, leads the next by
# ``auto_margin`` (at the scores' four places: 0.75 - 0.55 is 0.2, not 0.1999...), is near in
# amount and date, carries no key contrary to the entry's, and is no other entry's best
# candidate. Entries whose best candidate neither scores ``min_score`` nor carries exact evidence
# stay unmatched. ``scores`` is the NumPy columns ``Matcher._scored`` registers: each
# candidate's score from ``scoring.scores``.
_SCORED = """
INSERT INTO outcome
WITH ranked AS (
    SELECT c.*, s.score, c.same_email OR c.reference_hit AS evidence,
           row_number() OVER (
               PARTITION BY c.lrow ORDER BY (c.same_email OR c.reference_hit) DESC, s.score DESC,
               c.rid
           ) AS rank
    FROM candidates c JOIN scores s ON c.lrow = s.lrow AND c.rrow = s.rrow
), best AS MATERIALIZED (
    SELECT lrow,
           any_value(rrow) FILTER (WHERE rank = 1) AS rrow,
           any_value(score) FILTER (WHERE rank = 1) AS score,
           coalesce(any_value(score) FILTER (WHERE rank = 2), 0.0) AS runner_up,
           any_value(evidence) FILTER (WHERE rank = 1) AS evidence,
           any_value(near) FILTER (WHERE rank = 1) AS near,
           any_value(conflict) FILTER (WHERE rank = 1) AS conflict,
           any_value(same_email) FILTER (WHERE rank = 1) AS same_email,
           any_value(reference_hit) FILTER (WHERE rank = 1) AS reference_hit,
           any_value(same_amount) FILTER (WHERE rank = 1) AS same_amount,
           any_value(diff) FILTER (WHERE rank = 1) AS diff,
           any_value(days) FILTER (WHERE rank = 1) AS days,
           count(*) FILTER (WHERE evidence) AS with_evidence
    FROM ranked GROUP BY lrow
), offered AS (
    -- Only a best candidate that is reported (it scores enough, or carries evidence) is
    -- offered: one found on a name alone for another entry keeps nothing from this one.
    SELECT * FROM best WHERE score >= $min_score OR evidence
), judged AS (
    -- What was found is written only for each entry's best candidate, not for every one.
    SELECT *, evidence AND near AND conflict IS NULL AND with_evidence = 1
              AND score >= $min_score AND round(score - runner_up, 4) >= $auto_margin
              AND count(*) OVER (PARTITION BY rrow) = 1 AS auto,
           concat_ws(', ', CASE WHEN same_email THEN 'same email' END,
                     CASE WHEN reference_hit THEN 'invoice number quoted' END,
                     CASE WHEN same_amount THEN 'same amount'
                          WHEN NOT near THEN 'amount differs by ' || diff || ' minor units' END,
                     CASE WHEN days > $window THEN 'dates ' || days || ' days apart' END,
                     CASE WHEN conflict IS NOT NULL
                          THEN 'but the NetSuite record carries ' || conflict END) AS found
    FROM offered
)
SELECT lrow, rrow, CASE WHEN auto THEN 'matched' ELSE 'proposed' END, 'scored',
       printf('scored %.2f (%s), next candidate %.2f', score,
              CASE WHEN found = '' THEN 'similar email or name only' ELSE found END, runner_up)
       || CASE WHEN auto THEN '' ELSE '; a person confirms' END,
       score
FROM judged
"""

_UNMATCHED = """
-- Blocked by the tolerance tier and found by no later one: the records in the other currency
-- that no entry was matched to (one proposed for another entry is named here too).
INSERT INTO outcome
SELECT b.lrow, b.rrow, 'blocked', 'tolerance', b.reason, NULL
FROM blocked_found b SEMI JOIN rest_l l ON b.lrow = l.lrow
ANTI JOIN (SELECT rrow FROM outcome WHERE status = 'matched') m ON b.rrow = m.rrow;

DELETE FROM rest_l WHERE lrow IN (SELECT lrow FROM outcome WHERE status = 'blocked');

-- The later tiers compared a charge captured in part by what it captured: their reasons say so.
UPDATE outcome
SET reason = reason || '; the charge compared as captured, net of its partial capture reversal'
WHERE tier IN ('tolerance', 'one_to_many', 'scored')
  AND lrow IN (SELECT lrow FROM captures WHERE captured > 0);

INSERT INTO outcome
SELECT lrow, NULL, 'unmatched', NULL,
       CASE WHEN amount < 0 THEN 'a refund or other debit: no NetSuite record of one carries '
            ELSE 'no NetSuite record carries ' END
       || 'its ids, none of the customer is within tolerance, and no candidate scored', NULL
FROM rest_l
"""

# What callers read: one row per left entry, with the ids of the right records it claimed in id
# order, and the right records nothing claimed. Views: only what a caller asks for is computed.
_VIEWS = """
CREATE OR REPLACE TEMP VIEW claims AS
SELECT lrow, rrow, 'matched' AS status,
       CASE WHEN by_charge THEN 'exact_charge_id' ELSE 'exact_invoice_id' END AS tier,
       CASE WHEN by_charge THEN 'Stripe charge id carried on the NetSuite record'
            ELSE 'Stripe invoice id carried on the NetSuite record' END AS reason,
       NULL::DOUBLE AS score
FROM exact_matches
UNION ALL
SELECT * FROM outcome;

CREATE OR REPLACE TEMP VIEW outcome_by_left AS
SELECT l.id AS stripe_id, c.status, list(r.id ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL)
       AS rids, c.tier, c.reason, c.score, l.amount, l.currency
FROM claims c JOIN l ON l.rowid = c.lrow LEFT JOIN r ON r.rowid = c.rrow
GROUP BY c.lrow, l.id, l.amount, l.currency, c.status, c.tier, c.reason, c.score;

CREATE OR REPLACE TEMP VIEW unclaimed_right AS
SELECT r.* FROM r ANTI JOIN claims c ON r.rowid = c.rrow
"""


class Matcher:
    """One matching run over the ``l`` and ``r`` tables of a DuckDB connection (base tables:
    the engine names their records by ``rowid``)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.con = connection
        self._registered: dict[str, dict[str, npt.NDArray[Any]]] = {}

    @classmethod
    def from_entries(cls, left: Iterable[Entry], right: Iterable[Entry]) -> Matcher:
        """An in-memory run over Python entries (a day's payout: tens or hundreds of rows)."""
        con = duckdb.connect()
        matcher = cls(con)
        for table, entries in (("l", left), ("r", right)):
            con.execute(f"CREATE TABLE {table} ({COLUMNS})")
            rows = [_row(entry) for entry in entries]
            if rows:
                insert = f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
                con.executemany(insert, rows)
        return matcher

    def run(self, rules: MatchRules, after_tier: Callable[[str], None] | None = None) -> None:
        """Decide every left entry through every tier (read back through ``claims``,
        ``report``, ``counts`` or ``write``); ``after_tier`` is told each tier's name as it
        finishes (the benchmark times them)."""
        self._with_categories()
        params: dict[str, object] = {
            "drift": rules.amount_drift,
            "window": rules.date_window_days,
            "min_score": rules.min_score,
            "auto_margin": rules.auto_margin,
        }
        steps: list[tuple[str, Callable[[], None]]] = [
            ("exact", lambda: self._exact(params)),
            ("tolerance", lambda: self._tier(_TOLERANCE, Tier.TOLERANCE, params)),
            ("one_to_many", lambda: self._one_to_many(params)),
            ("scored", lambda: self._scored(params)),
            ("unmatched", lambda: _script(self.con, _UNMATCHED + ";\n" + _VIEWS, params)),
        ]
        for name, step in steps:
            step()
            if after_tier is not None:
                after_tier(name)

    def _with_categories(self) -> None:
        """A left table built without the ``category`` column (before it existed) gets it,
        empty: its entries pair by the sign of their amount, as they always did."""
        columns = self.con.execute("SELECT * FROM l LIMIT 0").description or []
        if "category" not in {column[0] for column in columns}:
            self.con.execute("ALTER TABLE l ADD COLUMN category VARCHAR")

    def _exact(self, params: dict[str, object]) -> None:
        """The exact tier. DuckDB pairs the records by key; NumPy counts each row's partners
        over the pairs' row numbers (``bincount``: one pass, no hash table), which is what tells
        a plain match (one partner each way, same amount and currency) from an exception and
        finds the records with no partner. The plain matches stay NumPy columns, registered as
        ``exact_matches``; only the exceptions and the records without a partner go on in
        SQL."""
        con = self.con
        _script(con, _OUTCOME + ";\n" + _MACROS, params)
        sizes = con.execute(
            "SELECT (SELECT coalesce(max(rowid) + 1, 0) FROM l), "
            "(SELECT coalesce(max(rowid) + 1, 0) FROM r)"
        ).fetchone()
        left_rows, right_rows = sizes or (0, 0)
        charge = con.execute(_CHARGE_PAIRS).fetchnumpy()
        self._register("unpaired_l", row=_without_partner(charge["lrow"], left_rows))
        self._register("unpaired_r", row=_without_partner(charge["rrow"], right_rows))
        _script(con, _REST, params)
        invoice = con.execute(
            "SELECT lrow, rrow, diff, other_currency, other_charge FROM invoice_pairs"
        ).fetchnumpy()
        captured = con.execute("SELECT lrow FROM captures").fetchnumpy()["lrow"]

        lrow = np.concatenate([charge["lrow"], invoice["lrow"]]).astype(np.int64)
        rrow = np.concatenate([charge["rrow"], invoice["rrow"]]).astype(np.int64)
        by_charge = np.arange(len(lrow)) < len(charge["lrow"])
        diff = np.concatenate([charge["diff"], invoice["diff"]])
        other_currency = np.concatenate([charge["other_currency"], invoice["other_currency"]])
        other_charge = np.concatenate(
            [np.zeros(len(charge["lrow"]), dtype=bool), invoice["other_charge"]]
        )
        # An entry is an exception when it has several partners, a partner with another amount
        # or currency, a partner carrying another charge id, a partner another entry also
        # claims, or is a charge captured in part (its amount is read net of the reversals).
        shared = np.bincount(rrow, minlength=right_rows)[rrow] > 1
        odd = (
            (np.bincount(lrow, minlength=left_rows)[lrow] > 1)
            | (diff != 0)
            | other_currency
            | other_charge
            | shared
        )
        exceptional = np.zeros(left_rows, dtype=bool)
        exceptional[lrow[odd]] = True
        exceptional[captured] = True
        exception = exceptional[lrow]
        plain = ~exception
        self._register(
            "exact_matches", lrow=lrow[plain], rrow=rrow[plain], by_charge=by_charge[plain]
        )
        self._register(
            "odd_pairs",
            lrow=lrow[exception],
            rrow=rrow[exception],
            by_charge=by_charge[exception],
            diff=diff[exception],
            other_currency=other_currency[exception],
            other_charge=other_charge[exception],
            shared=shared[exception],
        )
        _script(con, _EXCEPTION_PAIRS + ";\n" + _CHARGE_PAIRINGS + ";\n" + _EXACT_OUTCOME, params)

    def _register(self, name: str, **columns: npt.NDArray[Any]) -> None:
        """NumPy columns DuckDB reads in place under ``name`` for the rest of the run (kept
        here too, so they live as long as the matcher)."""
        self._registered[name] = columns
        self.con.register(name, columns)

    def _tier(self, script: str, tier: Tier, params: dict[str, object]) -> None:
        _script(self.con, script, params)
        _script(self.con, _CLAIM, {**params, "tier": tier.value})

    def _one_to_many(self, params: dict[str, object]) -> None:
        """Payments that equal exactly one combination of a customer's open records."""
        groups = self.con.execute(
            _SETTLEMENT_CANDIDATES, {"window": params["window"], "max_settled": _MAX_SETTLED}
        ).fetchall()
        settlements = {}
        for lrow, amount, rrows, amounts in groups:
            settled = settled_records(amount, amounts)
            if settled:
                settlements[lrow] = [rrows[position] for position in settled]
        # A record in two payments' settlements is proposed for both, each saying so.
        proposers = Counter(rrow for records in settlements.values() for rrow in records)
        proposals: dict[str, list[object]] = {"lrows": [], "rrows": [], "sizes": [], "shared": []}
        for lrow, records in settlements.items():
            shared = any(proposers[rrow] > 1 for rrow in records)
            for rrow in records:
                proposals["lrows"].append(lrow)
                proposals["rrows"].append(rrow)
                proposals["sizes"].append(len(records))
                proposals["shared"].append(shared)
        if proposals["lrows"]:
            _script(self.con, _ONE_TO_MANY, {**params, **proposals})
        _script(self.con, _CLAIM, {**params, "tier": Tier.ONE_TO_MANY.value})

    def _scored(self, params: dict[str, object]) -> None:
        """Scores the candidate pairs with rapidfuzz over NumPy columns, then ranks and decides
        in DuckDB: only the candidates of the residue ever leave it."""
        _script(self.con, _CANDIDATES, params)
        pairs = self.con.execute(
            "SELECT lrow, rrow, l_mailbox, r_mailbox, l_name, r_name, reference_hit, same_amount "
            "FROM candidates"
        ).fetchnumpy()
        if not len(pairs["lrow"]):
            return
        similarity = scoring.scores(
            pairs["l_mailbox"],
            pairs["r_mailbox"],
            pairs["l_name"],
            pairs["r_name"],
            pairs["reference_hit"],
            pairs["same_amount"],
        )
        self.con.register(
            "scores", {"lrow": pairs["lrow"], "rrow": pairs["rrow"], "score": similarity}
        )
        try:
            _script(self.con, _SCORED, params)
        finally:
            self.con.unregister("scores")
        _script(self.con, _CLAIM, {**params, "tier": Tier.SCORED.value})

    def report(self) -> MatchReport:
        """The outcome as Python records (for a day's payout; exports use ``write``)."""
        rows = self.con.execute("SELECT * FROM outcome_by_left ORDER BY stripe_id").fetchall()
        matches = tuple(
            Match(
                left=lid,
                status=MatchStatus(status),
                rights=tuple(rids or ()),
                tier=Tier(tier) if tier else None,
                reason=reason,
                score=score,
            )
            for lid, status, rids, tier, reason, score, _amount, _currency in rows
        )
        unmatched = self.con.execute("SELECT id FROM unclaimed_right ORDER BY id").fetchall()
        return MatchReport(matches, tuple(row[0] for row in unmatched))

    def counts(self) -> dict[str, int]:
        """How many left entries ended in each status."""
        # A plain exact match is one entry per row; only the rest may claim several records.
        rows = self.con.execute(
            "SELECT status, sum(entries) FROM ("
            "SELECT 'matched' AS status, count(*) AS entries FROM exact_matches "
            "UNION ALL SELECT status, count(DISTINCT lrow) FROM outcome GROUP BY status"
            ") GROUP BY status HAVING sum(entries) > 0"
        ).fetchall()
        return {str(status): int(count) for status, count in rows}

    def unclaimed(self) -> int:
        """How many right records no entry claimed."""
        row = self.con.execute("SELECT count(*) FROM unclaimed_right").fetchone()
        return int(row[0]) if row else 0

    def write(self, directory: Path) -> dict[str, Path]:
        """``matched.csv``, ``ambiguous.csv`` (proposed and blocked), ``unmatched.csv`` (both
        sides) with reasons, written by DuckDB.

        All three or none: each is written beside its final name and renamed once the three
        are complete, so a run that fails leaves no report half-written or out of step with
        the others. A text cell a spreadsheet would run as a formula is written as text
        (``cell``); amounts and scores stay numbers."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = report_paths(directory)
        select = (
            "SELECT cell(stripe_id) AS stripe_id, "
            "cell(array_to_string(rids, ' ')) AS netsuite_ids, status, tier, "
            "cell(reason) AS reason, score, amount, cell(currency) AS currency "
            "FROM outcome_by_left"
        )
        queries = {
            "matched": f"{select} WHERE status = 'matched' ORDER BY 1",
            "ambiguous": f"{select} WHERE status IN ('proposed', 'blocked') ORDER BY 1",
            "unmatched": (
                "SELECT 'stripe' AS side, cell(stripe_id) AS id, cell(reason) AS reason, amount, "
                "cell(currency) AS currency FROM outcome_by_left WHERE status = 'unmatched' "
                "UNION ALL SELECT 'netsuite', cell(id), 'no Stripe entry matched it', amount, "
                "cell(currency) FROM unclaimed_right ORDER BY 1, 2"
            ),
        }
        partial = {name: partial_path(path) for name, path in paths.items()}
        self.con.execute(_CELL)
        renamed: list[Path] = []
        try:
            for name, query in queries.items():
                self._copy(query, partial[name])
            for name, path in paths.items():
                os.replace(partial[name], path)
                renamed.append(path)
        except BaseException:
            # A rename that failed half-way: the reports already renamed go, and so do the
            # earlier run's reports not yet replaced, which would be out of step with nothing.
            # A failure before any rename leaves the earlier run's three as they were.
            if renamed:
                for path in paths.values():
                    if not path.is_dir():
                        path.unlink(missing_ok=True)
            raise
        finally:
            for path in partial.values():
                path.unlink(missing_ok=True)
        return paths

    def _copy(self, query: str, path: Path) -> None:
        self.con.execute(f"COPY ({query}) TO '{_quoted(path)}' (FORMAT csv, HEADER, DELIMITER ',')")


def report_paths(directory: Path) -> dict[str, Path]:
    """Where ``Matcher.write`` puts each report in ``directory``."""
    return {name: directory / f"{name}.csv" for name in REPORTS}


def partial_path(report: Path) -> Path:
    """Where ``Matcher.write`` writes a report before renaming it into place."""
    return report.with_name(f".{report.name}.partial")


# A cell a spreadsheet would take for a formula (OWASP's CSV injection: one beginning with =, +,
# -, @, a tab or a carriage return) is prefixed with a single quote, so it opens as text. Ids
# and reasons come from the exports: an id ``=HYPERLINK(...)`` must not run when a person opens
# the report.
_CELL = """
CREATE OR REPLACE TEMP MACRO cell(text) AS
    CASE WHEN left(text, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || text
         ELSE text END
"""


def match(left: Sequence[Entry], right: Sequence[Entry], rules: MatchRules) -> MatchReport:
    """Match a small set of entries in process (the same SQL as the bulk path)."""
    matcher = Matcher.from_entries(left, right)
    try:
        matcher.run(rules)
        return matcher.report()
    finally:
        matcher.con.close()


def _without_partner(rows: npt.NDArray[Any], size: int) -> npt.NDArray[np.int64]:
    """The row numbers below ``size`` that ``rows`` (one per pair) never names."""
    return np.flatnonzero(np.bincount(rows.astype(np.int64), minlength=size) == 0)


def _script(con: duckdb.DuckDBPyConnection, script: str, params: dict[str, object]) -> None:
    """Run each statement of a script with the parameters it names (DuckDB binds parameters
    to one statement at a time)."""
    for statement in filter(str.strip, script.split(";\n")):
        used = {name: value for name, value in params.items() if f"${name}" in statement}
        con.execute(statement, used or None)


def _row(entry: Entry) -> list[object]:
    """An entry as the tables hold it, as ``files`` loads an export: text trimmed, and blank
    text no value at all — an empty charge id is no key, not a key every blank record shares."""
    return [
        entry.id,
        entry.amount,
        entry.currency.strip().lower(),
        entry.day,
        *(
            _text(value)
            for value in (
                entry.charge_id,
                entry.invoice_id,
                entry.customer,
                entry.email,
                entry.name,
                entry.reference,
                entry.category,
            )
        ),
    ]


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
