"""Matching at scale: 1,000,000 Stripe balance transactions against 1,000,000 NetSuite records.

Prints one JSON document: the matching engine's time over every tier (wall and CPU, in all and per
tier), peak memory, and a bare DuckDB exact-key join on the same tables in the same run, on the
same connection and settings, two ways: ``count(*)`` of ``l JOIN r ON charge_id``, the floor a
matcher can approach (it builds and probes the same hash table and writes nothing), and the
same join keeping its pairs (``lrow``, ``rrow`` into a temporary table), the least a matcher
that reports its matches does.

The two joins and the matcher run in turn ``--repeat`` times after one untimed run of each join
warms the connection, so all see the same machine; each ratio is median over median. Another
process on a two-core machine slows all of them; the load average before and after is recorded
with the result. ``ratio_floor_all_cores_busy`` is the matcher's CPU time spread evenly over
``--threads`` cores, over the bare join's wall time: the least ratio any reordering or
concurrency of the same statements could reach, since none of them lowers the CPU they use.

The data is generated inside DuckDB from ``--seed`` with realistic noise: NetSuite records
missing the Stripe ids, amounts that drifted by a few cents, dates a day or two apart, duplicate
records for one charge, currency mismatches, typos in emails, and Stripe payments NetSuite never
heard of. The same seed gives the same data. Ids have Stripe's own length (``--ids stripe``, 27-28
characters) unless ``--ids short`` asks for the prefix and row number the bench used before.

    .venv/bin/python bench/reconcile_match.py [--rows 1000000] [--threads 2] [--seed 7] [--repeat 3]
        [--ids stripe|short]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from typing import Any

import duckdb
from _support import machine

from revline.reconcile import MatchRules
from revline.reconcile.engine import Matcher

# How the generated records are named. Stripe's ids are a prefix and 24 characters (14 for a
# customer), as in reference/stripe/fixtures3.json: 27-28 characters, longer than the 12 DuckDB
# keeps inline, so every comparison of two ids reads them from the string heap, as it does on a
# real export. ``short`` is the prefix and the row number (at most 10 characters, kept inline),
# the bench's only format before 2026-12-06's sixth session: kept so its figures can be compared.
ID_FORMATS = {
    "stripe": "prefix || substr(md5(prefix || i) || md5(i || prefix), 1, width)",
    "short": "prefix || i",
}

# Noise rates, in parts per thousand of the NetSuite records (h = a per-row hash in 0..999).
GENERATE = """
CREATE TEMP MACRO stripe_id(prefix, i, width) AS {id_format};

CREATE TABLE l AS
SELECT stripe_id('txn_', i, 24) AS id,
       1000 + CAST(hash(i, $seed) % 500000 AS BIGINT) AS amount,
       CASE WHEN hash(i, $seed, 1) % 1000 < 2 THEN 'eur' ELSE 'usd' END AS currency,
       DATE '2026-01-01' + CAST(hash(i, $seed, 2) % 28 AS INTEGER) AS day,
       stripe_id('ch_', i, 24) AS charge_id,
       CASE WHEN hash(i, $seed, 3) % 1000 < 700 THEN stripe_id('in_', i, 24) END AS invoice_id,
       stripe_id('cus_', i % 200000, 14) AS customer,
       'user' || (i % 200000) || '@example.com' AS email,
       'Customer ' || (i % 200000) AS name,
       CASE WHEN hash(i, $seed, 4) % 1000 < 100 THEN 'INV-' || i END AS reference
FROM range($rows) t(i);

-- DuckDB keeps the insertion order, so an entry's rowid is the i it was generated from.
CREATE TABLE r AS
SELECT 'ns_' || i AS id,
       l.amount + CASE WHEN h % 1000 BETWEEN 100 AND 109 THEN 1 + h % 3 ELSE 0 END AS amount,
       CASE WHEN h % 1000 BETWEEN 110 AND 111 THEN 'eur' ELSE l.currency END AS currency,
       l.day + CAST(h % 3 AS INTEGER) AS day,
       CASE WHEN h % 1000 < 50 THEN NULL
            WHEN h % 1000 BETWEEN 120 AND 124 THEN stripe_id('ch_', i - 1, 24)
            ELSE l.charge_id END AS charge_id,
       CASE WHEN h % 1000 < 80 THEN NULL ELSE l.invoice_id END AS invoice_id,
       CASE WHEN h % 1000 < 20 THEN NULL ELSE l.customer END AS customer,
       CASE WHEN h % 1000 BETWEEN 130 AND 139 THEN replace(l.email, 'user', 'usre')
            ELSE l.email END AS email,
       l.name,
       'INV-' || i AS reference
FROM (SELECT *, rowid AS i, CAST(hash(rowid, $seed, 9) % 1000000 AS BIGINT) AS h FROM l) l
WHERE h % 1000 NOT BETWEEN 990 AND 994;

DROP MACRO stripe_id;
"""


BARE_JOIN = "SELECT count(*) FROM l JOIN r ON l.charge_id = r.charge_id"
KEPT_JOIN = (
    "CREATE OR REPLACE TEMP TABLE bare_pairs AS "
    "SELECT l.rowid AS lrow, r.rowid AS rrow FROM l JOIN r ON l.charge_id = r.charge_id"
)


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _bare_join(con: duckdb.DuckDBPyConnection) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (every thread of this process) and the row count."""
    wall, cpu = time.perf_counter(), time.process_time()
    row = con.execute(BARE_JOIN).fetchone()
    return time.perf_counter() - wall, time.process_time() - cpu, int(row[0]) if row else 0


def _kept_join(con: duckdb.DuckDBPyConnection) -> float:
    """Wall seconds of the join that keeps its pairs."""
    wall = time.perf_counter()
    con.execute(KEPT_JOIN)
    return time.perf_counter() - wall


def _match(matcher: Matcher) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Wall seconds, CPU seconds, and each tier's wall and CPU seconds."""
    tiers: dict[str, float] = {}
    tiers_cpu: dict[str, float] = {}
    mark = [time.perf_counter(), time.process_time()]

    def after_tier(name: str) -> None:
        now, now_cpu = time.perf_counter(), time.process_time()
        tiers[name] = round(now - mark[0], 3)
        tiers_cpu[name] = round(now_cpu - mark[1], 3)
        mark[:] = [now, now_cpu]

    wall, cpu = time.perf_counter(), time.process_time()
    matcher.run(MatchRules(amount_drift=5, date_window_days=3), after_tier=after_tier)
    return time.perf_counter() - wall, time.process_time() - cpu, tiers, tiers_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ids", choices=sorted(ID_FORMATS), default="stripe")
    args = parser.parse_args()
    about = machine()

    con = duckdb.connect(config={"threads": args.threads, "memory_limit": args.memory_limit})
    started = time.perf_counter()
    script = GENERATE.format(id_format=ID_FORMATS[args.ids])
    for statement in filter(str.strip, script.split(";\n")):
        used = {"rows": args.rows, "seed": args.seed}
        con.execute(statement, {k: v for k, v in used.items() if f"${k}" in statement})
    generated = time.perf_counter() - started
    rss_after_generation = _peak_rss_mb()

    matcher = Matcher(con)
    _bare_join(con)
    _kept_join(con)
    bare: list[tuple[float, float, int]] = []
    kept: list[float] = []
    runs: list[tuple[float, float, dict[str, float], dict[str, float]]] = []
    for _ in range(args.repeat):
        bare.append(_bare_join(con))
        kept.append(_kept_join(con))
        runs.append(_match(matcher))
    con.execute("DROP TABLE bare_pairs")
    match_seconds = statistics.median(run[0] for run in runs)
    match_cpu_seconds = statistics.median(run[1] for run in runs)
    bare_seconds = statistics.median(join[0] for join in bare)
    kept_seconds = statistics.median(kept)
    median_run = sorted(runs, key=lambda run: run[0])[len(runs) // 2]

    document: dict[str, Any] = {
        "machine": about,
        "rows": {"stripe": args.rows, "netsuite": _count(con, "r")},
        "threads": args.threads,
        "memory_limit": args.memory_limit,
        "seed": args.seed,
        "ids": args.ids,
        "repeat": args.repeat,
        "generate_seconds": round(generated, 3),
        "match_seconds": round(match_seconds, 3),
        "match_seconds_each": [round(run[0], 3) for run in runs],
        "match_cpu_seconds": round(match_cpu_seconds, 3),
        "match_tier_seconds": median_run[2],
        "match_tier_cpu_seconds": median_run[3],
        "bare_exact_join_seconds": round(bare_seconds, 3),
        "bare_exact_join_seconds_each": [round(join[0], 3) for join in bare],
        "bare_exact_join_cpu_seconds": round(statistics.median(join[1] for join in bare), 3),
        "bare_exact_join_rows": bare[0][2],
        "ratio_to_bare_join": round(match_seconds / bare_seconds, 2),
        "ratio_floor_all_cores_busy": round(match_cpu_seconds / args.threads / bare_seconds, 2),
        "bare_join_keeping_pairs_seconds": round(kept_seconds, 3),
        "bare_join_keeping_pairs_seconds_each": [round(seconds, 3) for seconds in kept],
        "ratio_to_join_keeping_pairs": round(match_seconds / kept_seconds, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_mb_after_generation": rss_after_generation,
        "outcomes": matcher.counts(),
        "load_average_at_end": list(os.getloadavg()),
        "duckdb": duckdb.__version__,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
