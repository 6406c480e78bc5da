"""The router: turns events and timers into playbook decisions, one transaction each.

For every stored event it asks each playbook that is not off whether the event concerns one of
its cases, gathers facts outside any transaction, lets the playbook decide, then commits in one
transaction: the case transition (``state_version`` checked), cancellations, the actions with
their gates, the decision record and its ledger rows. A lost race decides again from fresh state.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revline.clock import Clock
from revline.config import Settings
from revline.core import actions as outbox
from revline.core import cases, controls, gates, inbox
from revline.core.cases import CaseView, new_id
from revline.core.executor import backoff_delay
from revline.core.inbox import EventView
from revline.core.jsonable import canonical_bytes, digest
from revline.core.ledger import Ledger
from revline.core.metrics import CONTRADICTIONS, DECISIONS, EVENTS_ROUTED, TIMER_FAILURES
from revline.core.outcomes import OUTCOME_PREFIX, OUTCOME_SOURCE
from revline.core.playbook import (
    KEEP,
    CaseRef,
    Decision,
    Enrichment,
    Playbook,
    PlaybookRegistry,
    Trigger,
)
from revline.db.engine import Database
from revline.db.models import Case, Event, EventStatus
from revline.db.models import Decision as DecisionRow
from revline.errors import NotFound, RevlineError

log = logging.getLogger(__name__)

MAX_RACES = 8


class _RaceLost(Exception):
    """Someone changed the case between our read and our write: decide again."""


class RaceNotSettled(RevlineError):
    code = "race_not_settled"
    retryable = True


class Router:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: Settings,
        playbooks: PlaybookRegistry,
        ledger: Ledger,
        enrichment: Enrichment,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.playbooks = playbooks
        self.ledger = ledger
        self.enrichment = enrichment
        self._rng = random.Random()
        self._timer_failures: dict[str, int] = {}

    # -- events ---------------------------------------------------------------------------

    def route_pending(self, limit: int = 100) -> int:
        """Route a batch of stored events that wait for it; returns how many were taken."""
        lease = timedelta(seconds=self.settings.executor.lease_seconds)
        with self.db.write() as session:
            events = inbox.claim_due(session, self.clock.now(), lease, limit)
        for event in events:
            self.route_event(event)
        return len(events)

    def route_event(self, event: EventView) -> None:
        try:
            if event.source == OUTCOME_SOURCE and event.type.startswith(OUTCOME_PREFIX):
                routed = self._route_outcome(event)
            else:
                interested = self._interested(event)
                for playbook, ref in interested:
                    if ref.wakes:
                        self._wake(playbook, ref)
                    else:
                        self._decide(playbook, Trigger("event", self.clock.now(), event), ref=ref)
                routed = bool(interested)
            status = EventStatus.PROCESSED if routed else EventStatus.IGNORED
            with self.db.write() as session:
                inbox.mark_done(session, event.id, status, self.clock.now())
            EVENTS_ROUTED.labels(status).inc()
        except Exception as exc:
            # Recorded on the event and retried with backoff: never dropped.
            log.exception("routing event %s (%s) failed", event.id, event.type)
            self._record_failure(event, exc)

    def _record_failure(self, event: EventView, exc: Exception) -> None:
        now = self.clock.now()
        with self.db.write() as session:
            attempts = session.execute(
                select(Event.attempts).where(Event.id == event.id)
            ).scalar_one()
            config = self.settings.executor
            retry_at = None
            if attempts + 1 < config.event_max_attempts:
                delay = backoff_delay(
                    attempts + 1,
                    config.backoff_base_seconds,
                    config.backoff_cap_seconds,
                    self._rng,
                )
                retry_at = now + timedelta(seconds=delay)
            inbox.mark_failed(session, event.id, f"{type(exc).__name__}: {exc}", now, retry_at)
        EVENTS_ROUTED.labels(EventStatus.FAILED).inc()

    def _route_outcome(self, event: EventView) -> bool:
        """An action of a case was applied or failed: its playbook decides what comes next,
        if it asked to hear about outcomes (``Playbook.follows_outcomes``)."""
        playbook = self.playbooks.get(str(event.payload["playbook"]))
        if playbook is None or not playbook.follows_outcomes:
            return False
        with self.db.read() as session:
            if controls.mode_of(session, self.settings, playbook.name).name == "off":
                return False
        trigger = Trigger("action", self.clock.now(), event)
        self._decide(playbook, trigger, case_id=str(event.payload["case_id"]))
        return True

    def _wake(self, playbook: Playbook, ref: CaseRef) -> None:
        """Bring forward the timers of the customer's open cases in ``ref.wakes``."""
        now = self.clock.now()
        with self.db.write() as session:
            session.execute(
                update(Case)
                .where(
                    Case.playbook == playbook.name,
                    Case.customer == ref.customer,
                    Case.state.in_(ref.wakes),
                    Case.closed_at.is_(None),
                )
                .values(next_action_at=now)
            )

    def _interested(self, event: EventView) -> list[tuple[Playbook, CaseRef]]:
        with self.db.read() as session:
            live = [
                p
                for p in self.playbooks.all()
                if controls.mode_of(session, self.settings, p.name).name != "off"
            ]
        found = []
        for playbook in live:
            ref = playbook.case_for(event)
            if ref is not None:
                found.append((playbook, ref))
        return found

    # -- timers ---------------------------------------------------------------------------

    def fire_due_timers(self, limit: int = 100) -> int:
        """Decide on every open case whose timer has come due."""
        now = self.clock.now()
        with self.db.read() as session:
            modes = {
                p.name: controls.mode_of(session, self.settings, p.name)
                for p in self.playbooks.all()
            }
            due = session.execute(
                select(Case.id, Case.playbook)
                .where(Case.next_action_at <= now, Case.closed_at.is_(None))
                .where(Case.playbook.in_([name for name, m in modes.items() if m.name != "off"]))
                .order_by(Case.next_action_at)
                .limit(limit)
            ).all()
        fired = 0
        for case_id, playbook_name in due:
            playbook = self.playbooks.get(playbook_name)
            if playbook is None:
                continue
            try:
                self._decide(playbook, Trigger("timer", now), case_id=case_id)
            except Exception as exc:
                # Usually a provider that would not answer while the facts were gathered. The
                # case keeps its state; its timer moves out with backoff and the decision is
                # taken again then, so one case cannot stall the others' timers.
                log.exception("timer of case %s (%s) failed", case_id, playbook_name)
                self._postpone(case_id, exc)
            else:
                self._timer_failures.pop(case_id, None)
            fired += 1
        return fired

    def _postpone(self, case_id: str, exc: Exception) -> None:
        """Move a failed timer out with backoff. Only a timer still due moves: a decision that
        set a new one meanwhile wins. Failures are counted by this worker only, so a restart
        starts the backoff again from its base."""
        failures = self._timer_failures.get(case_id, 0) + 1
        self._timer_failures[case_id] = failures
        config = self.settings.executor
        now = self.clock.now()
        delay = backoff_delay(
            failures, config.backoff_base_seconds, config.backoff_cap_seconds, self._rng
        )
        with self.db.write() as session:
            session.execute(
                update(Case)
                .where(Case.id == case_id, Case.next_action_at <= now)
                .values(next_action_at=now + timedelta(seconds=delay))
            )
        TIMER_FAILURES.labels(type(exc).__name__).inc()

    def decide_now(self, case_id: str, actor: str, detail: dict[str, Any]) -> None:
        """A person's input on a case (a promised payment date, say) triggers a decision."""
        with self.db.read() as session:
            case = cases.get(session, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        playbook = self.playbooks.get(case.playbook)
        if playbook is None:
            raise RevlineError(f"case {case_id} belongs to unregistered playbook {case.playbook}")
        self._decide(
            playbook,
            Trigger("manual", self.clock.now(), detail={"actor": actor, **detail}),
            case_id=case_id,
        )

    # -- deciding -------------------------------------------------------------------------

    def _decide(
        self,
        playbook: Playbook,
        trigger: Trigger,
        *,
        ref: CaseRef | None = None,
        case_id: str | None = None,
    ) -> None:
        event_id = trigger.event.id if trigger.event else None
        for _ in range(MAX_RACES):
            now = self.clock.now()
            trigger = replace(trigger, at=now)
            with self.db.read() as session:
                if event_id is not None and self._already_decided(session, event_id, playbook):
                    return
                seen = self._load(session, playbook, ref, case_id, now)
            if seen is None:
                return
            if trigger.kind == "timer" and (
                seen.next_action_at is None or seen.next_action_at > now
            ):
                return  # another worker already acted on this timer
            facts = playbook.enrich(seen, trigger, self.enrichment)
            decision = playbook.decide(seen, facts, self.settings.policy, now)
            try:
                with self.db.write() as session:
                    self._commit(session, playbook, seen, decision, trigger, now)
                return
            except _RaceLost:
                continue
        raise RaceNotSettled(f"case for {ref or case_id} kept changing under {playbook.name}")

    def _already_decided(self, session: Session, event_id: int, playbook: Playbook) -> bool:
        return (
            session.execute(
                select(DecisionRow.id).where(
                    DecisionRow.event_id == event_id, DecisionRow.playbook == playbook.name
                )
            ).first()
            is not None
        )

    def _load(
        self,
        session: Session,
        playbook: Playbook,
        ref: CaseRef | None,
        case_id: str | None,
        now: datetime,
    ) -> CaseView | None:
        if case_id is not None:
            return cases.get(session, case_id)
        assert ref is not None
        row = session.execute(
            select(Case).where(Case.kind == playbook.case_kind.name, Case.subject == ref.subject)
        ).scalar_one_or_none()
        if row is not None:
            return CaseView.of(row, cases.actions_of(session, row.id))
        if not ref.opens:
            return None
        # Not yet stored: the decision's transaction opens it (version 0 marks it provisional).
        new = new_id("cas")
        return CaseView(
            id=new,
            kind=playbook.case_kind.name,
            playbook=playbook.name,
            subject=ref.subject,
            customer=ref.customer,
            state=playbook.case_kind.initial,
            state_version=0,
            correlation_id=ref.correlation_id or new,
            next_action_at=None,
            data={},
            flags={},
            queue=None,
            opened_at=now,
            closed_at=None,
        )

    def _commit(
        self,
        session: Session,
        playbook: Playbook,
        seen: CaseView,
        decision: Decision,
        trigger: Trigger,
        now: datetime,
    ) -> None:
        kind = playbook.case_kind
        event_id = trigger.event.id if trigger.event else None
        actor = f"playbook:{playbook.name}"
        if self.db.is_postgres:
            # SQLite's writers are serialised whole; PostgreSQL's take locks as they go.
            outbox.lock_for_decision(
                session,
                case_id=seen.id if decision.cancel_pending else None,
                playbook=playbook.name,
                effects=[(spec.kind, spec.subject) for spec in decision.actions]
                + [(withdrawal.kind, withdrawal.subject) for withdrawal in decision.withdraw],
            )
        if seen.state_version == 0:
            try:
                with session.begin_nested():
                    session.add(
                        Case(
                            id=seen.id,
                            kind=kind.name,
                            playbook=playbook.name,
                            subject=seen.subject,
                            customer=seen.customer,
                            state=seen.state,
                            state_version=1,
                            correlation_id=seen.correlation_id,
                            data={},
                            flags={},
                            opened_at=now,
                            updated_at=now,
                        )
                    )
            except IntegrityError as exc:
                raise _RaceLost from exc
            self.ledger.append(
                session,
                at=now,
                actor=actor,
                kind="case.opened",
                case_id=seen.id,
                event_id=event_id,
                correlation_id=seen.correlation_id,
                post_state=seen.state,
                detail={"kind": kind.name, "subject": seen.subject, "customer": seen.customer},
            )
            seen = replace(seen, state_version=1)

        post_state = decision.state or seen.state
        if decision.next_action_at is KEEP:
            next_action_at = None if trigger.kind == "timer" else seen.next_action_at
        else:
            next_action_at = decision.next_action_at
        flags = seen.flags if decision.flags is KEEP else decision.flags
        queue = seen.queue if decision.queue is KEEP else decision.queue
        moved = cases.transition(
            session,
            kind=kind,
            seen=seen,
            state=post_state,
            next_action_at=next_action_at,
            data={**seen.data, **decision.data},
            flags=flags,
            queue=queue,
            now=now,
        )
        if not moved:
            raise _RaceLost

        mode = controls.mode_of(session, self.settings, playbook.name)
        live = mode.is_live_for(playbook.name, seen.customer)
        keys = [
            outbox.idempotency_key(playbook.name, spec.kind, spec.subject, spec.attempt)
            for spec in decision.actions
        ]
        self.ledger.append(
            session,
            at=now,
            actor=actor,
            kind="decision",
            case_id=seen.id,
            event_id=event_id,
            correlation_id=seen.correlation_id,
            prior_state=seen.state,
            post_state=post_state,
            detail={
                "explanation": decision.explanation,
                "trigger": trigger.kind,
                "event": trigger.event.external_id if trigger.event else None,
                "mode": str(mode),
                "actions": keys,
                "cancel_pending": decision.cancel_pending,
                # What the decision found, as it found it (the case keeps only the latest): a
                # payout day's matches with their tiers and reasons, an orphan's evidence.
                "data": _found(decision, seen, trigger, post_state),
                "withdraw": [
                    {"kind": w.kind, "subject": w.subject, "reason": w.reason}
                    for w in decision.withdraw
                ],
                "next_action_at": next_action_at,
            },
        )
        cancelled: list[str] = []
        if decision.cancel_pending:
            cancelled = outbox.cancel_pending(
                session,
                self.ledger,
                case=seen,
                actor=actor,
                reason=decision.cancel_pending,
                now=now,
                event_id=event_id,
            )
        if cancelled or decision.contradiction:
            CONTRADICTIONS.labels(playbook.name).inc()
        withdrawn = [
            action_id
            for withdrawal in decision.withdraw
            for action_id in outbox.withdraw(
                session,
                self.ledger,
                playbook=playbook.name,
                withdrawal=withdrawal,
                actor=actor,
                now=now,
                event_id=event_id,
            )
        ]
        proposed = []
        for spec in decision.actions:
            gate = gates.evaluate(
                spec,
                case_flags=flags,
                policy=self.settings.policy,
                currency=self.settings.company.currency,
                now=now,
                proposed_by_person=False,
            )
            result = outbox.propose(
                session,
                self.ledger,
                case=seen,
                playbook=playbook.name,
                spec=spec,
                gate=gate,
                live=live,
                proposed_by=actor,
                now=now,
                event_id=event_id,
            )
            proposed.append(result.action.id)
        session.add(
            DecisionRow(
                case_id=seen.id,
                playbook=playbook.name,
                event_id=event_id,
                trigger=trigger.kind,
                at=now,
                prior_state=seen.state,
                post_state=post_state,
                explanation=decision.explanation,
                mode=str(mode),
                detail={
                    "actions": proposed,
                    "cancelled": cancelled,
                    "withdrawn": withdrawn,
                    **dict(trigger.detail),
                },
            )
        )
        DECISIONS.labels(playbook.name, str(mode)).inc()


# A value of a decision's data larger than this, changed by an action's outcome, is recorded by
# its digest (see ``_found``).
_DIGESTED_ABOVE_BYTES = 2048


def _found(
    decision: Decision, seen: CaseView, trigger: Trigger, post_state: str
) -> dict[str, Any] | None:
    """What the ledger keeps of a decision's data. All of it when the schedule, a timer or a
    person brought the decision, or it moved the case. For an action's outcome that leaves the
    case where it was, only what it changed (``recognition_held_since``…), and a large value by
    its digest: a payout day decides again on each payment it recorded, and its matches every
    time would grow the ledger with the square of the payments."""
    if trigger.kind != "action" or post_state != seen.state:
        return dict(decision.data)
    changed: dict[str, Any] = {}
    for key, value in decision.data.items():
        encoded = canonical_bytes(value)
        if canonical_bytes(seen.data.get(key)) == encoded:
            continue
        changed[key] = (
            value
            if len(encoded) <= _DIGESTED_ABOVE_BYTES
            else {"sha256": digest(value), "bytes": len(encoded)}
        )
    return changed or None
