"""The matching engine: tiers of evidence, each match with its reason, bulk work on DuckDB.

Both sides live in two DuckDB tables, ``l`` (Stripe) and ``r`` (NetSuite), with the columns of
``Entry``. The tiers run in order over what the earlier ones left, and every record a tier
matches or proposes is claimed, so no record is offered twice:

1. exact keys: the Stripe charge id, else the Stripe invoice id, carried on the NetSuite record;
2. tolerance: same customer, same currency, amount within the drift, date within the window;
3. one-to-many: one payment equal to the sum of several same-customer records (proposed only);
4. scored: email and name similarity and invoice-number references (``scoring``); applied only
   with a unique exact piece of evidence and a clear margin, otherwise proposed.

A currency mismatch is never matched. A day's payout and a million-row export run the same SQL:
``Matcher.from_entries`` loads Python entries, ``files.load_csv`` loads exports.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

from revline.reconcile import scoring
from revline.reconcile.entries import Entry, Match, MatchReport, MatchRules, MatchStatus, Tier

COLUMNS = (
    "id VARCHAR NOT NULL, amount BIGINT NOT NULL, currency VARCHAR NOT NULL, day DATE NOT NULL, "
    "charge_id VARCHAR, invoice_id VARCHAR, customer VARCHAR, email VARCHAR, name VARCHAR, "
    "reference VARCHAR"
)

_EXACT = """
CREATE OR REPLACE TEMP TABLE charge_pairs AS
SELECT l.id AS lid, r.id AS rid, 'exact_charge_id' AS tier,
       l.currency = r.currency AS same_currency, l.amount - r.amount AS diff,
       l.currency AS l_currency, r.currency AS r_currency
FROM l JOIN r ON l.charge_id = r.charge_id;

CREATE OR REPLACE TEMP TABLE exact_pairs AS
SELECT * FROM charge_pairs
UNION ALL
SELECT l.id, r.id, 'exact_invoice_id', l.currency = r.currency, l.amount - r.amount,
       l.currency, r.currency
FROM l JOIN r ON l.invoice_id = r.invoice_id
WHERE l.id NOT IN (SELECT lid FROM charge_pairs);

CREATE OR REPLACE TEMP TABLE shared_rights AS
SELECT rid FROM exact_pairs GROUP BY rid HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE exact_exceptions AS
SELECT lid FROM exact_pairs GROUP BY lid
HAVING count(*) > 1 OR bool_or(NOT same_currency) OR bool_or(diff <> 0)
UNION
SELECT lid FROM exact_pairs WHERE rid IN (SELECT rid FROM shared_rights);

INSERT INTO outcome
SELECT lid, 'matched', [rid], tier,
       CASE tier WHEN 'exact_charge_id' THEN 'Stripe charge id carried on the NetSuite record'
                 ELSE 'Stripe invoice id carried on the NetSuite record' END,
       NULL
FROM exact_pairs
WHERE lid NOT IN (SELECT lid FROM exact_exceptions);

INSERT INTO outcome
SELECT lid,
       CASE WHEN bool_or(NOT same_currency) THEN 'blocked' ELSE 'proposed' END,
       list(rid ORDER BY rid),
       min(tier),
       CASE WHEN bool_or(NOT same_currency) THEN
                printf('currency mismatch: Stripe %s, NetSuite %s', upper(min(l_currency)),
                       upper(min(r_currency)))
            WHEN count(*) > 1 THEN
                printf('%d NetSuite records carry the same %s', count(*),
                       replace(replace(min(tier), 'exact_', ''), '_', ' '))
            WHEN bool_or(rid IN (SELECT rid FROM shared_rights)) THEN
                'the NetSuite record is claimed by several Stripe entries'
            ELSE printf('%s matches but the amount differs by %d minor units',
                        replace(replace(min(tier), 'exact_', ''), '_', ' '), max(diff)) END,
       NULL
FROM exact_pairs
WHERE lid IN (SELECT lid FROM exact_exceptions)
GROUP BY lid;
"""

_REST = """
CREATE OR REPLACE TEMP TABLE rest_l AS
SELECT * FROM l WHERE id NOT IN (SELECT lid FROM outcome);
CREATE OR REPLACE TEMP TABLE rest_r AS
SELECT * FROM r WHERE id NOT IN (SELECT unnest(rids) FROM outcome);
"""

# After the exact tier the rest is small: later tiers narrow it by their own outcomes only.
_NARROW = """
CREATE OR REPLACE TEMP TABLE rest_l AS
SELECT * FROM rest_l
WHERE id NOT IN (SELECT lid FROM outcome WHERE tier NOT IN ('exact_charge_id', 'exact_invoice_id'));
CREATE OR REPLACE TEMP TABLE rest_r AS
SELECT * FROM rest_r
WHERE id NOT IN (SELECT unnest(rids) FROM outcome
                 WHERE tier NOT IN ('exact_charge_id', 'exact_invoice_id'));
"""

_TOLERANCE = """
CREATE OR REPLACE TEMP TABLE tolerance_pairs AS
SELECT l.id AS lid, r.id AS rid, l.currency = r.currency AS same_currency,
       l.amount - r.amount AS diff, abs(date_diff('day', l.day, r.day)) AS days,
       l.currency AS l_currency, r.currency AS r_currency
FROM rest_l l JOIN rest_r r ON l.customer = r.customer
WHERE abs(l.amount - r.amount) <= $drift AND abs(date_diff('day', l.day, r.day)) <= $window;

INSERT INTO outcome
SELECT lid,
       CASE WHEN count(*) FILTER (WHERE same_currency) = 0 THEN 'blocked'
            WHEN count(*) FILTER (WHERE same_currency) = 1
                 AND max(n_r) FILTER (WHERE same_currency) = 1 THEN 'matched'
            ELSE 'proposed' END,
       CASE WHEN count(*) FILTER (WHERE same_currency) = 0 THEN list(rid ORDER BY rid)
            ELSE list(rid ORDER BY rid) FILTER (WHERE same_currency) END,
       'tolerance',
       CASE WHEN count(*) FILTER (WHERE same_currency) = 0 THEN
                printf('currency mismatch: Stripe %s, NetSuite %s', upper(min(l_currency)),
                       upper(min(r_currency)))
            WHEN count(*) FILTER (WHERE same_currency) > 1 THEN
                printf('%d records of the same customer within tolerance',
                       count(*) FILTER (WHERE same_currency))
            WHEN max(n_r) FILTER (WHERE same_currency) > 1 THEN
                'the record is within tolerance of several Stripe entries'
            ELSE printf('same customer, amount differs by %d minor units, dates %d days apart',
                        max(diff) FILTER (WHERE same_currency),
                        max(days) FILTER (WHERE same_currency)) END,
       NULL
FROM (SELECT *, count(*) FILTER (WHERE same_currency) OVER (PARTITION BY rid) AS n_r
      FROM tolerance_pairs)
GROUP BY lid;
"""

_ONE_TO_MANY = """
INSERT INTO outcome
SELECT l.id, 'proposed', list(r.id ORDER BY r.id), 'one_to_many',
       printf('one payment equals %d open records of the same customer; a person applies it',
              count(*)),
       NULL
FROM rest_l l JOIN rest_r r
  ON l.customer = r.customer AND l.currency = r.currency
 AND abs(date_diff('day', l.day, r.day)) <= $window
GROUP BY l.id, l.amount
HAVING count(*) >= 2 AND sum(r.amount) = l.amount;
"""

# An invoice number quoted in free text: letters, a dash, then digits (INV-2026-1201). Keys are
# computed first so both candidate joins are plain equi-joins (hash joins), never a cross product.
_CANDIDATES = """
WITH lk AS (
    SELECT *, upper(regexp_extract(coalesce(reference, ''), '[A-Za-z]{2,}-[0-9][0-9A-Za-z-]*'))
                  AS quoted
    FROM rest_l
), rk AS (
    SELECT *, upper(reference) AS number FROM rest_r
), near AS (
    SELECT lk.*, lk.amount + step AS target
    FROM lk CROSS JOIN range(-$drift, $drift + 1) offsets(step)
)
SELECT l.id, r.id, l.email, r.email, l.name, r.name,
       coalesce(l.quoted <> '' AND l.quoted = r.number, false) AS reference_hit,
       l.amount = r.amount
FROM near l JOIN rk r ON l.currency = r.currency AND r.amount = l.target
WHERE abs(date_diff('day', l.day, r.day)) <= $window
UNION
SELECT l.id, r.id, l.email, r.email, l.name, r.name, true, l.amount = r.amount
FROM lk l JOIN rk r ON l.currency = r.currency AND l.quoted = r.number
WHERE l.quoted <> ''
ORDER BY 1, 2
"""

_UNMATCHED = """
INSERT INTO outcome
SELECT id, 'unmatched', [], NULL,
       'no NetSuite record carries its ids, none of the customer is within tolerance, '
       || 'and no candidate scored', NULL
FROM rest_l;
"""


class Matcher:
    """One matching run over the ``l`` and ``r`` tables of a DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.con = connection

    @classmethod
    def from_entries(cls, left: Iterable[Entry], right: Iterable[Entry]) -> Matcher:
        """An in-memory run over Python entries (a day's payout: tens or hundreds of rows)."""
        con = duckdb.connect()
        matcher = cls(con)
        for table, entries in (("l", left), ("r", right)):
            con.execute(f"CREATE TABLE {table} ({COLUMNS})")
            rows = [_row(entry) for entry in entries]
            if rows:
                insert = f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
                con.executemany(insert, rows)
        return matcher

    def run(self, rules: MatchRules) -> None:
        """Fill ``outcome`` (one row per left entry) through every tier."""
        params = {"drift": rules.amount_drift, "window": rules.date_window_days}
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE outcome (lid VARCHAR, status VARCHAR, rids VARCHAR[], "
            "tier VARCHAR, reason VARCHAR, score DOUBLE)"
        )
        # Each tier works on what the tiers before it left (``rest_l``, ``rest_r``).
        for script in (_EXACT, _REST, _TOLERANCE, _NARROW, _ONE_TO_MANY, _NARROW):
            _script(con, script, params)
        pairs = con.execute(_CANDIDATES, params).fetchall()
        scored = scoring.decide(
            [scoring.Candidate(*pair) for pair in pairs],
            auto_margin=rules.auto_margin,
            min_score=rules.min_score,
        )
        self._insert_scored(scored)
        _script(con, _NARROW, params)
        con.execute(_UNMATCHED)

    def _insert_scored(self, scored: list[scoring.Scored]) -> None:
        """Scored outcomes back into DuckDB, through a CSV file: row-by-row inserts cost
        about a millisecond each, a CSV of the residue a few."""
        if not scored:
            return
        with tempfile.TemporaryDirectory(prefix="revline-scored-") as directory:
            path = Path(directory) / "scored.csv"
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["lid", "status", "rid", "reason", "score"])
                for s in scored:
                    writer.writerow([s.left, s.status.value, s.rights[0], s.reason, s.score])
            source = (
                f"read_csv({_literal(path)}, header = true, "
                "columns = {'lid': 'VARCHAR', 'status': 'VARCHAR', 'rid': 'VARCHAR', "
                "'reason': 'VARCHAR', 'score': 'DOUBLE'})"
            )
            insert = "INSERT INTO outcome SELECT lid, status, [rid], 'scored', reason, score FROM "
            self.con.execute(insert + source)

    def report(self) -> MatchReport:
        """The outcome as Python records (for a day's payout; exports use ``write``)."""
        rows = self.con.execute(
            "SELECT lid, status, rids, tier, reason, score FROM outcome ORDER BY lid"
        ).fetchall()
        matches = tuple(
            Match(
                left=lid,
                status=MatchStatus(status),
                rights=tuple(rids),
                tier=Tier(tier) if tier else None,
                reason=reason,
                score=score,
            )
            for lid, status, rids, tier, reason, score in rows
        )
        unmatched = self.con.execute(
            "SELECT id FROM r WHERE id NOT IN (SELECT unnest(rids) FROM outcome) ORDER BY id"
        ).fetchall()
        return MatchReport(matches, tuple(row[0] for row in unmatched))

    def counts(self) -> dict[str, int]:
        """How many left entries ended in each status."""
        rows = self.con.execute("SELECT status, count(*) FROM outcome GROUP BY status").fetchall()
        return {str(status): int(count) for status, count in rows}

    def write(self, directory: Path) -> dict[str, Path]:
        """``matched.csv``, ``ambiguous.csv`` (proposed and blocked), ``unmatched.csv`` (both
        sides) with reasons, written by DuckDB."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "matched": directory / "matched.csv",
            "ambiguous": directory / "ambiguous.csv",
            "unmatched": directory / "unmatched.csv",
        }
        select = (
            "SELECT o.lid AS stripe_id, array_to_string(o.rids, ' ') AS netsuite_ids, o.status, "
            "o.tier, o.reason, o.score, l.amount, l.currency FROM outcome o JOIN l ON l.id = o.lid"
        )
        self._copy(f"{select} WHERE o.status = 'matched' ORDER BY 1", paths["matched"])
        self._copy(
            f"{select} WHERE o.status IN ('proposed', 'blocked') ORDER BY 1", paths["ambiguous"]
        )
        self._copy(
            "SELECT 'stripe' AS side, o.lid AS id, o.reason, l.amount, l.currency "
            "FROM outcome o JOIN l ON l.id = o.lid WHERE o.status = 'unmatched' "
            "UNION ALL SELECT 'netsuite', id, 'no Stripe entry matched it', amount, currency "
            "FROM r WHERE id NOT IN (SELECT unnest(rids) FROM outcome) ORDER BY 1, 2",
            paths["unmatched"],
        )
        return paths

    def _copy(self, query: str, path: Path) -> None:
        self.con.execute(f"COPY ({query}) TO '{_quoted(path)}' (HEADER, DELIMITER ',')")


def match(left: Sequence[Entry], right: Sequence[Entry], rules: MatchRules) -> MatchReport:
    """Match a small set of entries in process (the same SQL as the bulk path)."""
    matcher = Matcher.from_entries(left, right)
    try:
        matcher.run(rules)
        return matcher.report()
    finally:
        matcher.con.close()


def _script(con: duckdb.DuckDBPyConnection, script: str, params: dict[str, int]) -> None:
    """Run each statement of a script with the parameters it names (DuckDB binds parameters
    to one statement at a time)."""
    for statement in filter(str.strip, script.split(";\n")):
        used = {name: value for name, value in params.items() if f"${name}" in statement}
        con.execute(statement, used or None)


def _row(entry: Entry) -> list[object]:
    return [
        entry.id,
        entry.amount,
        entry.currency.lower(),
        entry.day,
        entry.charge_id,
        entry.invoice_id,
        entry.customer,
        entry.email,
        entry.name,
        entry.reference,
    ]


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _literal(path: Path) -> str:
    return f"'{_quoted(path)}'"
