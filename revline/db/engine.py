"""Engines and sessions.

SQLite runs in WAL mode with ``synchronous=FULL`` so a committed inbox row survives a power cut
before the webhook is acknowledged, and write transactions start with ``BEGIN IMMEDIATE`` so two
writers never both read a snapshot they cannot commit on. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

_WRITE_OPTION = "revline_write"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """One engine and its two kinds of session: reads, and writes that commit at the boundary."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closing it ends the transaction and discards any writes.

        Objects read stay usable afterwards (detached, with what was loaded).
        """
        with self._reads() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        with self._writes() as session, session.begin():
            yield session

    def lock_ledger(self, session: Session) -> None:
        """Serialise ledger appends across processes for the rest of this transaction.

        SQLite write transactions are already exclusive (BEGIN IMMEDIATE); PostgreSQL takes a
        transaction-scoped advisory lock so every writer extends the same chain head.
        """
        if self.is_postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(7420151)"))

    def lock_effects(self, session: Session, effects: Iterable[str]) -> set[str]:
        """The ``effects`` this transaction may claim, each locked for the rest of it: on
        PostgreSQL those whose transaction-scoped advisory lock it takes without waiting (one
        another transaction holds is being claimed there now); on SQLite all of them, as write
        transactions are already exclusive. A collision of two effects' hashes only defers one
        to a later claim."""
        wanted = sorted(set(effects))
        if not self.is_postgres or not wanted:
            return set(wanted)
        rows = session.execute(
            text(
                "SELECT effect FROM unnest(CAST(:effects AS text[])) AS effect "
                "WHERE pg_try_advisory_xact_lock(7420152, hashtext(effect))"
            ),
            {"effects": wanted},
        )
        return {str(row[0]) for row in rows}

    def dispose(self) -> None:
        self.engine.dispose()
