"""Matching at scale: 1,000,000 Stripe balance transactions against 1,000,000 NetSuite records.

Prints one JSON document: the matching engine's time over every tier, peak memory, and a bare
DuckDB exact-key join on the same tables in the same run (the floor a matcher can approach).

The data is generated inside DuckDB from ``--seed`` with realistic noise: NetSuite records
missing the Stripe ids, amounts that drifted by a few cents, dates a day or two apart, duplicate
records for one charge, currency mismatches, typos in emails, and Stripe payments NetSuite never
heard of. The same seed gives the same data.

    .venv/bin/python bench/reconcile_match.py [--rows 1000000] [--threads 2] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import duckdb

from revline.reconcile import MatchRules
from revline.reconcile.engine import Matcher

# Noise rates, in parts per thousand of the NetSuite records (h = a per-row hash in 0..999).
GENERATE = """
CREATE TABLE l AS
SELECT 'txn_' || i AS id,
       1000 + CAST(hash(i, $seed) % 500000 AS BIGINT) AS amount,
       CASE WHEN hash(i, $seed, 1) % 1000 < 2 THEN 'eur' ELSE 'usd' END AS currency,
       DATE '2026-01-01' + CAST(hash(i, $seed, 2) % 28 AS INTEGER) AS day,
       'ch_' || i AS charge_id,
       CASE WHEN hash(i, $seed, 3) % 1000 < 700 THEN 'in_' || i END AS invoice_id,
       'cus_' || (i % 200000) AS customer,
       'user' || (i % 200000) || '@example.com' AS email,
       'Customer ' || (i % 200000) AS name,
       CASE WHEN hash(i, $seed, 4) % 1000 < 100 THEN 'INV-' || i END AS reference
FROM range($rows) t(i);

CREATE TABLE r AS
SELECT 'ns_' || i AS id,
       l.amount + CASE WHEN h % 1000 BETWEEN 100 AND 109 THEN 1 + h % 3 ELSE 0 END AS amount,
       CASE WHEN h % 1000 BETWEEN 110 AND 111 THEN 'eur' ELSE l.currency END AS currency,
       l.day + CAST(h % 3 AS INTEGER) AS day,
       CASE WHEN h % 1000 < 50 THEN NULL
            WHEN h % 1000 BETWEEN 120 AND 124 THEN 'ch_' || (i - 1)
            ELSE l.charge_id END AS charge_id,
       CASE WHEN h % 1000 < 80 THEN NULL ELSE l.invoice_id END AS invoice_id,
       CASE WHEN h % 1000 < 20 THEN NULL ELSE l.customer END AS customer,
       CASE WHEN h % 1000 BETWEEN 130 AND 139 THEN replace(l.email, 'user', 'usre')
            ELSE l.email END AS email,
       l.name,
       'INV-' || i AS reference
FROM (SELECT *, CAST(hash(CAST(substr(id, 5) AS BIGINT), $seed, 9) % 1000000 AS BIGINT) AS h,
             CAST(substr(id, 5) AS BIGINT) AS i FROM l) l
WHERE h % 1000 NOT BETWEEN 990 AND 994;
"""


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-limit", default="2GB")
    args = parser.parse_args()

    con = duckdb.connect(config={"threads": args.threads, "memory_limit": args.memory_limit})
    started = time.perf_counter()
    for statement in filter(str.strip, GENERATE.split(";\n")):
        used = {"rows": args.rows, "seed": args.seed}
        con.execute(statement, {k: v for k, v in used.items() if f"${k}" in statement})
    generated = time.perf_counter() - started
    rss_after_generation = _peak_rss_mb()

    started = time.perf_counter()
    bare = con.execute("SELECT count(*) FROM l JOIN r ON l.charge_id = r.charge_id").fetchone()
    bare_seconds = time.perf_counter() - started

    matcher = Matcher(con)
    started = time.perf_counter()
    matcher.run(MatchRules(amount_drift=5, date_window_days=3))
    match_seconds = time.perf_counter() - started
    counts = matcher.counts()

    json.dump(
        {
            "rows": {"stripe": args.rows, "netsuite": _count(con, "r")},
            "threads": args.threads,
            "memory_limit": args.memory_limit,
            "seed": args.seed,
            "generate_seconds": round(generated, 3),
            "match_seconds": round(match_seconds, 3),
            "bare_exact_join_seconds": round(bare_seconds, 3),
            "bare_exact_join_rows": bare[0] if bare else 0,
            "ratio_to_bare_join": round(match_seconds / bare_seconds, 2),
            "peak_rss_mb": _peak_rss_mb(),
            "peak_rss_mb_after_generation": rss_after_generation,
            "outcomes": counts,
            "duckdb": duckdb.__version__,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
