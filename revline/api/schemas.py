"""Request and response bodies, so ``/openapi.json`` documents every endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from revline.db.models import ActionStatus, EventStatus

T = TypeVar("T")


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="true when the event was already in the inbox")


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


# -- events ----------------------------------------------------------------------------------


class EventSummary(_Row):
    id: int
    source: str
    external_id: str
    type: str
    occurred_at: datetime | None
    received_at: datetime
    status: EventStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    processed_at: datetime | None


class EventOut(EventSummary):
    payload: dict[str, Any]


# -- cases, decisions, actions, ledger --------------------------------------------------------


class CaseOut(_Row):
    id: str
    kind: str
    playbook: str
    subject: str
    customer: str | None
    state: str
    state_version: int
    correlation_id: str
    next_action_at: datetime | None
    data: dict[str, Any]
    flags: dict[str, Any]
    queue: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class DecisionOut(_Row):
    id: int
    case_id: str
    playbook: str
    event_id: int | None
    trigger: str
    at: datetime
    prior_state: str | None
    post_state: str
    explanation: str
    mode: str
    detail: dict[str, Any]


class AttemptOut(_Row):
    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None
    response: dict[str, Any] | None


class ActionOut(_Row):
    id: str
    case_id: str | None
    playbook: str
    kind: str
    subject: str
    customer: str | None
    idempotency_key: str
    params: dict[str, Any]
    status: ActionStatus
    not_before: datetime
    irreversible: bool
    required_role: str | None
    gate_reason: str | None
    proposed_by: str
    approved_by: str | None
    approved_at: datetime | None
    attempts: int = Field(description="how many provider calls were made")
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    applied_at: datetime | None


class ActionWithAttempts(ActionOut):
    attempt_log: list[AttemptOut] = Field(description="one row per provider call, in order")


class LedgerOut(_Row):
    seq: int
    at: datetime
    actor: str
    kind: str
    case_id: str | None
    event_id: int | None
    action_id: str | None
    correlation_id: str | None
    prior_state: str | None
    post_state: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class LedgerPage(BaseModel):
    items: list[LedgerOut]
    next_after_seq: int | None = Field(description="pass as after_seq for the next page")


class LedgerVerification(BaseModel):
    ok: bool
    rows: int
    first_bad_seq: int | None
    reason: str | None
    head: str | None  # SEQ:HASH of the last row, the anchor of a later check


# -- the case timeline -----------------------------------------------------------------------


class EventEntry(BaseModel):
    entry: Literal["event"] = "event"
    at: datetime
    event: EventOut


class DecisionEntry(BaseModel):
    entry: Literal["decision"] = "decision"
    at: datetime
    decision: DecisionOut


class ActionEntry(BaseModel):
    entry: Literal["action"] = "action"
    at: datetime
    action: ActionWithAttempts


class LedgerEntry(BaseModel):
    entry: Literal["ledger"] = "ledger"
    at: datetime
    ledger: LedgerOut


TimelineEntry = Annotated[
    EventEntry | DecisionEntry | ActionEntry | LedgerEntry, Field(discriminator="entry")
]


class CaseDetail(BaseModel):
    case: CaseOut
    timeline: list[TimelineEntry] = Field(
        description="triggering events, decisions, actions with attempts and ledger rows, by time"
    )


# -- approvals and proposals -----------------------------------------------------------------


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a rejection needs a reason")
        return value.strip()


class ProposeRequest(BaseModel):
    """An action a person or an assistant proposes; a second person must approve it."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
        max_length=128,
        description="action kind, e.g. stripe.refund.create",
    )
    subject: str = Field(min_length=1, max_length=255)
    params: dict[str, Any] = Field(default_factory=dict)
    attempt: int | Annotated[str, Field(min_length=1, max_length=64)] = Field(
        default=1, description="distinguishes deliberate repeats of the same effect"
    )

    @field_validator("params")
    @classmethod
    def _no_floats(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _has_float(value):
            raise ValueError("amounts are integers in minor units: floats are refused")
        return value


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


class ProposalOut(BaseModel):
    action: ActionOut
    created: bool = Field(description="false when the same proposal was already in the outbox")


# -- controls and health ---------------------------------------------------------------------


class StopOut(BaseModel):
    stopped: bool
    reason: str | None
    by: str | None
    at: str | None


class ControlsOut(BaseModel):
    stop: StopOut
    modes: dict[str, str] = Field(description="registered playbook → off|shadow|canary:N|live")
    requeued: int | None = Field(
        default=None, description="held actions put back in the queue by a resume"
    )


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["stop"]
    reason: str = Field(min_length=1, max_length=2000)


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["resume"]


class ModeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["mode"]
    playbook: str = Field(min_length=1, max_length=64)
    mode: str = Field(description="off, shadow, canary:N (1-99) or live")


ControlRequest = Annotated[StopRequest | ResumeRequest | ModeRequest, Field(discriminator="action")]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"
    stopped: bool = Field(description="whether the emergency stop is on")
    ingest: Literal["running"] = "running"
