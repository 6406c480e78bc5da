"""Ledger append throughput; prints one JSON document.

Rows appended per second through ``Ledger.append``, one writer, in two shapes: one row per
transaction (an executor recording one action: lock the chain head, read it, insert, commit) and
100 rows per transaction (a bulk import). SQLite (WAL, ``synchronous=FULL``) and, when
REVLINE_BENCH_POSTGRES_URL or REVLINE_TEST_POSTGRES_URL is set, PostgreSQL. The chain must
verify afterwards, or the run is reported as failed.

Usage: .venv/bin/python bench/ledger_appends.py [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from _support import engines, machine, scratch_database

from revline.clock import SystemClock
from revline.core.ledger import Ledger, verify
from revline.db.engine import Database

SHAPES = (1, 100)


def run(engine: str, rows: int, per_transaction: int) -> dict[str, Any]:
    with scratch_database(engine) as url:
        db = Database(url)
        ledger = Ledger(db)
        clock = SystemClock()
        detail = {"kind": "bench.noop", "subject": "subject", "attempt": 1, "result": {"id": "x"}}
        began = time.perf_counter()
        cpu_began = time.process_time()
        for start in range(0, rows, per_transaction):
            with db.write() as session:
                for n in range(start, min(rows, start + per_transaction)):
                    ledger.append(
                        session,
                        at=clock.now(),
                        actor="worker:bench",
                        kind="action.applied",
                        action_id=f"act_{n}",
                        prior_state="executing",
                        post_state="applied",
                        detail=detail,
                    )
        seconds = time.perf_counter() - began
        cpu_seconds = time.process_time() - cpu_began
        with db.read() as session:
            verification = verify(session)
        db.dispose()
    return {
        "engine": engine,
        "rows_per_transaction": per_transaction,
        "rows": rows,
        "seconds": round(seconds, 3),
        "appends_per_second": round(rows / seconds, 1),
        "transactions_per_second": round(rows / per_transaction / seconds, 1),
        # The client's CPU (SQLite's work included, PostgreSQL's not): the machine may be shared.
        "client_cpu_ms_per_append": round(cpu_seconds / rows * 1000, 3),
        "ledger_ok": verification.ok and verification.rows == rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows per run (x10 in bulk)")
    args = parser.parse_args(argv)
    about = machine()
    runs = [
        # Bulk runs append ten times as many rows, so they last long enough to time.
        run(engine, args.rows * (10 if shape > 1 else 1), shape)
        for engine in engines()
        for shape in SHAPES
    ]
    print(json.dumps({"bench": "ledger_appends", "machine": about, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
