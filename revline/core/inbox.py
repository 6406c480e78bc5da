"""The inbox: every verified event stored once, before it is acknowledged.

``(source, external_id)`` is unique and inserts are insert-or-ignore, so a redelivered event is
acknowledged and changes nothing. Processing state lives on the row: an event that failed to
process keeps its error and is retried with backoff; it is never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Dialect, and_, or_, select, update
from sqlalchemy.orm import Session

from revline.db.models import Event, EventStatus


@dataclass(frozen=True)
class IncomingEvent:
    """A verified event as it arrived: who sent it, its id there, its type and its body."""

    source: str
    external_id: str
    type: str
    occurred_at: datetime | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class SignedEvent:
    """A webhook delivery verified at the edge, kept as the JSON text the provider signed.

    The body is stored byte for byte rather than encoded again, and the document parsed to
    validate it is not kept: dozens of parsed documents alive while a group commit is under way
    made every young-generation collection walk them (up to ~70 µs of CPU a delivery, measured).
    """

    source: str
    external_id: str
    type: str
    occurred_at: datetime | None
    body: str


@dataclass(frozen=True)
class EventView:
    """What playbooks see of a stored event."""

    id: int
    source: str
    external_id: str
    type: str
    occurred_at: datetime | None
    received_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Event) -> EventView:
        return cls(
            row.id,
            row.source,
            row.external_id,
            row.type,
            row.occurred_at,
            row.received_at,
            row.payload,
        )


def record(
    session: Session, events: Sequence[IncomingEvent | SignedEvent], now: datetime
) -> list[bool]:
    """Insert-or-ignore a batch; for each event, whether it was new.

    A batch lets the ingest endpoint commit many concurrent deliveries with one durable write.
    A repeat within the batch counts as a duplicate of its first occurrence.
    """
    if not events:
        return []
    connection = session.connection()
    dialect = connection.dialect
    # One multi-row statement written out here rather than built by SQLAlchemy: at webhook rates
    # its per-row bookkeeping and JSON encoding cost more than the insert itself. The times go
    # through the columns' own bind processing, so they are stored exactly as the ORM stores them.
    stamp = _time_param(dialect)
    received_at = stamp(now)
    params: list[Any] = []
    for e in events:
        payload = e.body if isinstance(e, SignedEvent) else json.dumps(e.payload)
        params += (e.source, e.external_id, e.type, stamp(e.occurred_at), received_at, payload)
        params += (EventStatus.RECEIVED.value, 0)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    row = "(" + ", ".join([mark] * 8) + ")"
    # Only placeholders are joined into the text; every value is bound.
    statement = (
        "INSERT INTO events (source, external_id, type, occurred_at, received_at, payload,"  # noqa: S608
        " status, attempts) VALUES " + ", ".join([row] * len(events)) + " ON CONFLICT"
        " (source, external_id) DO NOTHING RETURNING source, external_id"
    )
    # Plain tuples: SQLAlchemy's Row compares through Python code, at a cost on every look-up.
    inserted = {tuple(row) for row in connection.exec_driver_sql(statement, tuple(params))}
    result: list[bool] = []
    for e in events:
        key = (e.source, e.external_id)
        result.append(key in inserted)
        inserted.discard(key)
    return result


def _time_param(dialect: Dialect) -> Callable[[datetime | None], Any]:
    process = Event.__table__.c.received_at.type.bind_processor(dialect)
    if process is None:
        return lambda value: value
    return process


def claim_due(session: Session, now: datetime, lease: timedelta, limit: int) -> list[EventView]:
    """Events waiting to be routed, leased to this worker for ``lease``.

    A worker that dies mid-way leaves the lease to run out; the next one routes the event again,
    and the decision table's uniqueness keeps that from deciding anything twice.
    """
    due = or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now)
    query = (
        select(Event)
        .where(
            or_(
                and_(Event.status == EventStatus.RECEIVED, due),
                and_(Event.status == EventStatus.FAILED, Event.next_attempt_at <= now),
            )
        )
        .order_by(Event.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query).scalars())
    for row in rows:
        row.next_attempt_at = now + lease
    return [EventView.of(row) for row in rows]


def mark_done(session: Session, event_id: int, status: EventStatus, now: datetime) -> None:
    session.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(status=status, processed_at=now, next_attempt_at=None, last_error=None)
    )


def mark_failed(
    session: Session, event_id: int, error: str, now: datetime, retry_at: datetime | None
) -> None:
    """Record why processing failed; ``retry_at`` None means attempts are exhausted."""
    session.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            status=EventStatus.FAILED,
            attempts=Event.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=retry_at,
        )
    )
