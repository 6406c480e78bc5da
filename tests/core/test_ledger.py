"""The ledger is append-only in the database itself, and any tampering is found by replay."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from revline.clock import SimulatedClock
from revline.core.ledger import GENESIS_HASH, Ledger, verify
from revline.db.engine import Database
from revline.db.models import LedgerRow


def _append(db: Database, clock: SimulatedClock, n: int) -> None:
    ledger = Ledger(db)
    for i in range(n):
        with db.write() as session:
            ledger.append(
                session,
                at=clock.now(),
                actor="test",
                kind="note",
                case_id=f"cas_{i}",
                correlation_id="corr",
                detail={"i": i, "text": "café ☕", "nested": [1]},
            )


def _disable_triggers(db: Database) -> None:
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only"))
        else:
            conn.execute(text("DROP TRIGGER ledger_append_only_update"))
            conn.execute(text("DROP TRIGGER ledger_append_only_delete"))


def test_chain_links_every_row(db: Database, clock: SimulatedClock) -> None:
    _append(db, clock, 5)
    with db.read() as session:
        rows = session.query(LedgerRow).order_by(LedgerRow.seq).all()
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
        assert verify(session).ok
        assert verify(session).rows == 5


def test_many_rows_in_one_transaction_chain_in_order(db: Database, clock: SimulatedClock) -> None:
    ledger = Ledger(db)
    with db.write() as session:
        for i in range(10):
            ledger.append(session, at=clock.now(), actor="test", kind="note", detail={"i": i})
    with db.read() as session:
        assert verify(session).rows == 10


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_database_refuses_update_and_delete(
    db: Database, clock: SimulatedClock, statement: str
) -> None:
    _append(db, clock, 2)
    change = (
        update(LedgerRow).where(LedgerRow.seq == 1).values(actor="mallory")
        if statement == "update"
        else delete(LedgerRow).where(LedgerRow.seq == 1)
    )
    with pytest.raises(DatabaseError, match="append-only"), db.write() as session:
        session.execute(change)
    with db.read() as session:
        assert verify(session).ok


def test_truncate_is_refused_on_postgres(db: Database, clock: SimulatedClock) -> None:
    if not db.is_postgres:
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    _append(db, clock, 1)
    with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE ledger"))


def test_verify_names_the_first_tampered_row(db: Database, clock: SimulatedClock) -> None:
    _append(db, clock, 6)
    _disable_triggers(db)
    with db.write() as session:
        session.execute(update(LedgerRow).where(LedgerRow.seq == 4).values(detail={"i": 99}))
    with db.read() as session:
        result = verify(session)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert result.reason is not None and "hash" in result.reason


def test_verify_finds_a_removed_row(db: Database, clock: SimulatedClock) -> None:
    _append(db, clock, 5)
    _disable_triggers(db)
    with db.write() as session:
        session.execute(delete(LedgerRow).where(LedgerRow.seq == 3))
    with db.read() as session:
        result = verify(session)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert result.reason is not None and "missing" in result.reason
