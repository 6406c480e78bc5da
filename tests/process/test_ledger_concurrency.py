"""Concurrent writers extend one linear ledger chain.

Each thread has its own connection, so on PostgreSQL each is its own server session, exactly as
separate processes would be: what serialises them is ``pg_advisory_xact_lock`` (SQLite: the
``BEGIN IMMEDIATE`` write lock), held from a transaction's first append to its commit.
"""

from __future__ import annotations

import threading
import time
from itertools import groupby

from sqlalchemy import select

from revline.clock import SystemClock
from revline.core.ledger import Ledger, verify
from revline.db.engine import Database
from revline.db.models import LedgerRow

THREADS = 8
TRANSACTIONS = 25


def rows_in(thread: int, transaction: int) -> int:
    return (thread + transaction) % 4 + 1


def test_concurrent_appenders_keep_one_linear_chain(db: Database) -> None:
    ledger = Ledger(db)
    clock = SystemClock()
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    spans: dict[int, tuple[float, float]] = {}

    def append(thread: int) -> None:
        try:
            start.wait()
            began = time.monotonic()
            for transaction in range(TRANSACTIONS):
                with db.write() as session:
                    for row in range(rows_in(thread, transaction)):
                        ledger.append(
                            session,
                            at=clock.now(),
                            actor=f"thread-{thread}",
                            kind="test.append",
                            detail={"thread": thread, "transaction": transaction, "row": row},
                        )
            spans[thread] = (began, time.monotonic())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    expected = sum(rows_in(t, x) for t in range(THREADS) for x in range(TRANSACTIONS))
    with db.read() as session:
        verified = verify(session)
        assert (verified.ok, verified.rows) == (True, expected)
        details = [
            row.detail
            for row in session.execute(select(LedgerRow).order_by(LedgerRow.seq)).scalars()
        ]

    runs = [
        (key, [d["row"] for d in group])
        for key, group in groupby(details, key=lambda d: (d["thread"], d["transaction"]))
    ]
    # Each transaction's rows are consecutive and in order: no writer slipped in between them.
    assert len(runs) == THREADS * TRANSACTIONS
    assert all(rows == list(range(rows_in(*key))) for key, rows in runs)
    # All writers were at it at once (none finished before the last began), or this test would
    # prove nothing.
    assert max(b for b, _ in spans.values()) < min(e for _, e in spans.values())
