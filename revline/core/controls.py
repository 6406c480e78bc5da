"""Controls: the emergency stop and each playbook's mode (off, shadow, canary:N, live)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revline.config import Settings
from revline.core.ledger import Ledger
from revline.db.models import Action, ActionStatus, Control
from revline.errors import Conflict, InvalidRequest

STOP = "emergency_stop"
MODE_PREFIX = "mode:"


@dataclass(frozen=True)
class Mode:
    """``off`` (ignores events), ``shadow`` (decides and records, never executes),
    ``canary`` (live for a stable ``percent`` of customers), ``live``."""

    name: str
    percent: int = 100

    def __str__(self) -> str:
        return f"canary:{self.percent}" if self.name == "canary" else self.name

    def is_live_for(self, playbook: str, customer: str | None) -> bool:
        if self.name == "live":
            return True
        if self.name != "canary":
            return False
        return canary_bucket(playbook, customer) < self.percent


def canary_bucket(playbook: str, customer: str | None) -> int:
    """A stable 0-99 bucket per playbook and customer, so a canary keeps the same customers."""
    digest = hashlib.sha256(f"{playbook}:{customer or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def parse_mode(text: str) -> Mode:
    value = text.strip().lower()
    if value in ("off", "shadow", "live"):
        return Mode(value)
    if value.startswith("canary:"):
        raw = value.removeprefix("canary:").rstrip("%")
        if raw.isdigit() and 0 < int(raw) < 100:
            return Mode("canary", int(raw))
    raise InvalidRequest(
        f"invalid playbook mode {text!r}: use off, shadow, canary:N (1-99) or live"
    )


@dataclass(frozen=True)
class StopState:
    stopped: bool
    reason: str | None = None
    by: str | None = None
    at: str | None = None


def stop_state(session: Session) -> StopState:
    row = session.get(Control, STOP)
    if row is None or not row.value.get("stopped"):
        return StopState(False)
    return StopState(True, row.value.get("reason"), row.updated_by, row.updated_at.isoformat())


def mode_of(session: Session, settings: Settings, playbook: str) -> Mode:
    row = session.get(Control, MODE_PREFIX + playbook)
    if row is not None:
        return parse_mode(str(row.value["mode"]))
    return parse_mode(settings.playbook_modes.get(playbook, settings.default_playbook_mode))


def all_modes(session: Session, settings: Settings, playbooks: list[str]) -> dict[str, str]:
    return {name: str(mode_of(session, settings, name)) for name in playbooks}


def put(session: Session, name: str, value: dict[str, Any], actor: str, now: datetime) -> None:
    row = session.get(Control, name)
    if row is None:
        session.add(Control(name=name, value=value, updated_at=now, updated_by=actor))
    else:
        row.value = value
        row.updated_at = now
        row.updated_by = actor


def modes_stored(session: Session) -> dict[str, str]:
    rows = session.execute(select(Control).where(Control.name.startswith(MODE_PREFIX))).scalars()
    return {row.name.removeprefix(MODE_PREFIX): str(row.value["mode"]) for row in rows}


def stop(session: Session, ledger: Ledger, *, actor: str, reason: str, now: datetime) -> StopState:
    """The emergency stop: from now on the executor applies nothing; due actions become held."""
    if not reason.strip():
        raise InvalidRequest("an emergency stop needs a reason")
    if stop_state(session).stopped:
        raise Conflict("the emergency stop is already on")
    put(session, STOP, {"stopped": True, "reason": reason}, actor, now)
    ledger.append(
        session,
        at=now,
        actor=actor,
        kind="control.stop",
        prior_state="running",
        post_state="stopped",
        detail={"reason": reason},
    )
    return stop_state(session)


def resume(session: Session, ledger: Ledger, *, actor: str, now: datetime) -> int:
    """Lift the stop and put every held action back where it was; returns how many."""
    if not stop_state(session).stopped:
        raise Conflict("the emergency stop is not on")
    # The held actions are locked before the ledger's row, in id order, as every writer locks
    # actions before appending (``actions.lock_for_decision``): a decision cancelling one of
    # them would otherwise wait for this while this waits for its ledger lock.
    held = (
        session.execute(
            select(Action)
            .where(Action.status == ActionStatus.HELD)
            .order_by(Action.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    put(session, STOP, {"stopped": False}, actor, now)
    ledger.append(
        session,
        at=now,
        actor=actor,
        kind="control.resume",
        prior_state="stopped",
        post_state="running",
    )
    count = 0
    for action in held:
        action.status = ActionStatus.APPROVED if action.approved_by else ActionStatus.PROPOSED
        action.lease_token = None
        action.lease_until = None
        action.updated_at = now
        ledger.append(
            session,
            at=now,
            actor=actor,
            kind="action.requeued",
            case_id=action.case_id,
            action_id=action.id,
            prior_state=ActionStatus.HELD,
            post_state=action.status,
            detail={"kind": action.kind, "subject": action.subject},
        )
        count += 1
    return count


def set_mode(
    session: Session,
    ledger: Ledger,
    *,
    playbook: str,
    mode: str,
    actor: str,
    now: datetime,
    settings: Settings,
) -> Mode:
    parsed = parse_mode(mode)
    prior = mode_of(session, settings, playbook)
    put(session, MODE_PREFIX + playbook, {"mode": str(parsed)}, actor, now)
    ledger.append(
        session,
        at=now,
        actor=actor,
        kind="control.mode",
        prior_state=str(prior),
        post_state=str(parsed),
        detail={"playbook": playbook},
    )
    return parsed
