"""The tables. Every status is a ``StrEnum``; every time is UTC; every amount is minor units."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from revline.db.types import UTCDateTime

# Plain JSON on both engines (not jsonb): documents are stored and read whole, never queried inside.
JSONDict = JSON()
# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONDict, datetime: UTCDateTime()}


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class ActionStatus(StrEnum):
    PROPOSED = "proposed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    EXECUTING = "executing"
    APPLIED = "applied"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SHADOWED = "shadowed"
    HELD = "held"


# Statuses from which an action may still take effect: what emergency stop, cancellation by a
# contradicting event and "pending approvals" views all mean by "pending".
PENDING_ACTION_STATUSES = (
    ActionStatus.PROPOSED,
    ActionStatus.AWAITING_APPROVAL,
    ActionStatus.APPROVED,
    ActionStatus.HELD,
)
# Statuses the executor picks up when due.
RUNNABLE_ACTION_STATUSES = (ActionStatus.PROPOSED, ActionStatus.APPROVED)


class AttemptOutcome(StrEnum):
    CONFIRMED = "confirmed"
    RETRYABLE_ERROR = "retryable_error"
    ERROR = "error"
    ABANDONED = "abandoned"  # the worker died mid-call; the lease ran out and another took over


class Event(Base):
    """The inbox: every signed event exactly once, stored before it is acknowledged."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_events_source_external_id"),
        Index("ix_events_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class Case(Base):
    """A unit of business work: one failed invoice, one orphan payment, one month's close."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("kind", "subject", name="uq_cases_kind_subject"),
        Index("ix_cases_next_action_at", "next_action_at"),
        Index("ix_cases_correlation_id", "correlation_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    playbook: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    customer: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(64))
    state_version: Mapped[int] = mapped_column(Integer, default=1)
    correlation_id: Mapped[str] = mapped_column(String(64))
    next_action_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queue: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Decision(Base):
    """One playbook decision: which trigger, what it saw, what it chose, and why."""

    __tablename__ = "decisions"
    __table_args__ = (
        # One decision per event and playbook: a redelivered or re-processed event decides nothing
        # twice.
        UniqueConstraint("event_id", "playbook", name="uq_decisions_event_playbook"),
        Index("ix_decisions_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    playbook: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    trigger: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    prior_state: Mapped[str | None] = mapped_column(String(64))
    post_state: Mapped[str] = mapped_column(String(64))
    explanation: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Action(Base):
    """The outbox: one row per intended side effect, keyed for idempotency."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_actions_idempotency_key"),
        Index("ix_actions_status_not_before", "status", "not_before"),
        Index("ix_actions_case", "case_id"),
        Index("ix_actions_effect", "kind", "subject", "playbook"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"))
    playbook: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(255))
    customer: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    params: Mapped[dict[str, Any]]
    params_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    not_before: Mapped[datetime]
    irreversible: Mapped[bool] = mapped_column(Boolean, default=False)
    required_role: Mapped[str | None] = mapped_column(String(32))
    gate_reason: Mapped[str | None] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]


class WithdrawnEffect(Base):
    """An effect a playbook withdrew for good (a returned payout's deposit): an action of this
    kind on this subject is never carried out, whenever it was proposed or claimed."""

    __tablename__ = "withdrawn_effects"
    __table_args__ = (
        UniqueConstraint("subject", "kind", "playbook", name="uq_withdrawn_effects_effect"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    playbook: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_by: Mapped[str] = mapped_column(String(128))
    withdrawn_at: Mapped[datetime]


class Attempt(Base):
    """One row per provider call an action made."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_action", "action_id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    action_id: Mapped[str] = mapped_column(ForeignKey("actions.id"))
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(128))
    lease_token: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    error: Mapped[str | None] = mapped_column(Text)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDict)


class LedgerRow(Base):
    """Append-only, hash-chained audit rows; triggers refuse UPDATE and DELETE."""

    __tablename__ = "ledger"
    __table_args__ = (
        Index("ix_ledger_correlation_id", "correlation_id"),
        Index("ix_ledger_case_id", "case_id"),
    )

    seq: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(40))
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    action_id: Mapped[str | None] = mapped_column(String(40))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    prior_state: Mapped[str | None] = mapped_column(String(64))
    post_state: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Control(Base):
    """Named switches: the emergency stop and each playbook's mode."""

    __tablename__ = "controls"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """Bearer tokens, stored as SHA-256 digests: the token itself is shown once and never kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
