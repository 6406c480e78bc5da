"""Playing a scenario: the simulated clock jumps from one due moment to the next.

At each moment the world enacts what is due (happenings, Stripe's Smart Retries, payouts
arriving), then settles: simulators deliver their webhooks to Revline's API over HTTP, the worker
routes, decides and executes, and — when the scenario says ``approve: all`` — a second person
approves what waits for approval; repeated until nothing moves. Then the clock moves on to the
next moment something is due, in the world or in Revline (a case timer, an action's
``not_before``, an event's retry, a daily procedure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select

from revline.core import actions as outbox
from revline.core.ledger import verify
from revline.db.models import Action, ActionStatus, Case, Event, EventStatus, LedgerRow
from revline.errors import NotFound, RevlineError
from revline.providers.stripe.sim.state import SimulationError
from revline.sandbox.scenario import InvalidScenario
from revline.sandbox.world import APPROVER, World

MAX_SETTLE_ROUNDS = 200
# Beyond this a run is looping (a playbook re-arming a timer for "now"): stop and say so.
MAX_MOMENTS = 100_000


class RunawayScenario(RuntimeError):
    """The run did not settle: something keeps producing work at the same moment."""


@dataclass
class Progress:
    """What the caller sees as the run goes (the demo's progress bar)."""

    on_moment: Callable[[datetime, str], None] | None = None


@dataclass
class Run:
    world: World
    progress: Progress = field(default_factory=Progress)
    log_lines: list[str] = field(default_factory=list)

    def play(self) -> dict[str, Any]:
        """Run the scenario from ``start`` to ``until``; returns the report (SCENARIOS.md)."""
        world = self.world
        scenario = world.scenario
        agenda: list[tuple[datetime, int, str, Callable[[], Any]]] = []
        for index, happening in enumerate(scenario.happenings):
            agenda.append((happening.at, index, happening.type, partial(self._enact, index)))
        sequence = len(agenda)
        moments = 0
        self._settle()
        while True:
            for later in world.later:
                sequence += 1
                agenda.append((later.at, sequence, later.what, later.run))
            world.later.clear()
            agenda.sort(key=lambda item: (item[0], item[1]))
            candidates = [self._next_due_in_revline()]
            if agenda:
                candidates.append(agenda[0][0])
            upcoming = min((c for c in candidates if c is not None), default=None)
            if upcoming is None or upcoming > scenario.until:
                break
            moments += 1
            if moments > MAX_MOMENTS:
                raise RunawayScenario(f"more than {MAX_MOMENTS} moments before {upcoming}")
            if upcoming > world.clock.now():
                world.clock.set(upcoming)
            while agenda and agenda[0][0] <= world.clock.now():
                at, _, what, run = agenda.pop(0)
                line = run()
                self.log_lines.append(f"{at.isoformat()} {line if isinstance(line, str) else what}")
            self._settle()
            if self.progress.on_moment:
                self.progress.on_moment(
                    world.clock.now(), self.log_lines[-1] if self.log_lines else ""
                )
        if world.clock.now() < scenario.until:
            world.clock.set(scenario.until)
            self._settle()
        return report(world)

    def _enact(self, index: int) -> str:
        """Scenario happening ``index`` made true; one the simulated company cannot enact (a
        manual payout beyond the balance, a rerun of a morning that never ran) is an invalid
        scenario, named by its place in ``happenings``."""
        happening = self.world.scenario.happenings[index]
        try:
            return self.world.enact(happening)
        except (InvalidScenario, SimulationError, NotFound) as exc:
            why = exc.message if isinstance(exc, RevlineError) else str(exc)
            raise InvalidScenario(
                f"invalid scenario: happenings.{index} ({happening.type}): {why}"
            ) from exc

    def _settle(self) -> None:
        world = self.world
        for _ in range(MAX_SETTLE_ROUNDS):
            moved = world.stripe.flush_webhooks() + world.ramp.flush_webhooks()
            moved += world.worker.drain()
            if world.scenario.approve == "all":
                moved += self._approve_waiting()
            if moved == 0:
                return
        raise RunawayScenario(f"still busy after {MAX_SETTLE_ROUNDS} rounds at {world.clock.now()}")

    def _approve_waiting(self) -> int:
        """``approve: all``: a second person approves every gated action as it is proposed,
        holding the role the action asks for (an FP&A analyst signs off a close)."""
        runtime = self.world.runtime
        with runtime.db.write() as session:
            waiting = session.execute(
                select(Action.id, Action.required_role).where(
                    Action.status == ActionStatus.AWAITING_APPROVAL
                )
            ).all()
            for action_id, role in waiting:
                outbox.approve(
                    session,
                    runtime.ledger,
                    action_id=action_id,
                    approver=f"user:{APPROVER}",
                    approver_role=role or "admin",
                    policy=runtime.settings.policy,
                    now=runtime.clock.now(),
                    note="approve: all (scenario)",
                )
        return len(waiting)

    def _next_due_in_revline(self) -> datetime | None:
        """The next moment Revline itself has something to do, after now."""
        runtime = self.world.runtime
        now = runtime.clock.now()
        with runtime.db.read() as session:
            due = [
                session.execute(
                    select(func.min(Case.next_action_at)).where(
                        Case.closed_at.is_(None), Case.next_action_at > now
                    )
                ).scalar(),
                session.execute(
                    select(func.min(Action.not_before)).where(
                        Action.status.in_((ActionStatus.PROPOSED, ActionStatus.APPROVED)),
                        Action.not_before > now,
                    )
                ).scalar(),
                session.execute(
                    select(func.min(Event.next_attempt_at)).where(
                        Event.status == EventStatus.FAILED, Event.next_attempt_at > now
                    )
                ).scalar(),
            ]
        for schedule in runtime.daily:
            due.append(schedule.next_due(runtime.calendar, now))
        # Periodic jobs (the Stripe catch-up poll) are not moments of their own: they run when
        # the worker ticks at a moment that is due anyway and their interval has passed.
        return min((d for d in due if d is not None), default=None)


def report(world: World) -> dict[str, Any]:
    """The run as SCENARIOS.md's ``--json`` output, times in the company's timezone."""
    runtime = world.runtime
    tz = runtime.calendar.tz

    def local(when: datetime | None) -> str | None:
        return when.astimezone(tz).isoformat() if when else None

    with runtime.db.read() as session:
        # Ties in time broken by what each is, not by its random id: two runs of one scenario
        # list the same things in the same order.
        actions = (
            session.execute(
                select(Action).order_by(
                    Action.created_at, Action.kind, Action.subject, Action.idempotency_key
                )
            )
            .scalars()
            .all()
        )
        cases = (
            session.execute(select(Case).order_by(Case.opened_at, Case.kind, Case.subject))
            .scalars()
            .all()
        )
        checked = verify(session)
        rows = session.execute(select(func.count()).select_from(LedgerRow)).scalar_one()
        events = dict(
            session.execute(select(Event.status, func.count()).group_by(Event.status))
            .tuples()
            .all()
        )
    emails = []
    for message in world.mail.messages:
        recipient = message.to[0] if message.to else ""
        address = recipient.rsplit("<", 1)[-1].rstrip(">")
        emails.append(
            {
                "at": local(parsedate_to_datetime(message.date)) if message.date else None,
                "from": message.sender,
                "to": list(message.to),
                "cc": list(message.cc),
                "subject": message.subject,
                "body": message.body,
                "customer": world.customer_of_email(address),
            }
        )
    return {
        "scenario": world.scenario.name or "scenario",
        "started_at": local(world.scenario.start),
        "ended_at": local(world.clock.now()),
        "actions": [
            {
                "at": local(a.applied_at if a.status == ActionStatus.APPLIED else a.created_at),
                "kind": a.kind,
                "case": a.case_id,
                "subject": a.subject,
                "customer": world.scenario_id_of(a.customer),
                "status": a.status,
                "params": a.params,
                "result": a.result,
                "error": a.last_error,
            }
            for a in actions
        ],
        "emails": emails,
        "cases": [
            {
                "id": c.id,
                "kind": c.kind,
                "subject": c.subject,
                "customer": world.scenario_id_of(c.customer),
                "state": c.state,
                "queue": c.queue,
                "opened_at": local(c.opened_at),
                "closed_at": local(c.closed_at),
            }
            for c in cases
        ],
        "events": {str(status): count for status, count in events.items()},
        "ledger": {
            "rows": rows,
            "verified": checked.ok,
            **({"first_bad_seq": checked.first_bad_seq} if not checked.ok else {}),
        },
    }
