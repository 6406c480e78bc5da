"""Periodic work: daily procedures as inbox events, and jobs that run every so often.

A daily procedure ("each working day at 08:00, reconcile yesterday's payout") becomes an event in
the inbox with a deterministic id, ``schedule`` / ``<name>:<business date>``, which playbooks route
like any other. Several workers emitting the same one is harmless: the inbox keeps one. A worker
that was down catches up on the working days it missed, within ``catch_up_days``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from revline.clock import WorkingCalendar
from revline.core import inbox
from revline.db.engine import Database
from revline.db.models import Event

SCHEDULE_SOURCE = "schedule"


@dataclass(frozen=True)
class DailyAt:
    """An event every working day at a company-local time."""

    name: str
    at: time
    catch_up_days: int = 5
    working_days_only: bool = True

    def due_dates(self, calendar: WorkingCalendar, now: datetime, after: date | None) -> list[date]:
        """Days whose event is due and not yet emitted (``after``: the last emitted day, if any).

        With nothing emitted yet (a new install) only today counts: no invented history.
        """
        today = calendar.business_date(now)
        start = after + timedelta(days=1) if after else today
        days = []
        day = max(start, today - timedelta(days=self.catch_up_days))
        while day <= today:
            if (not self.working_days_only or calendar.is_working_day(day)) and calendar.at_local(
                day, self.at
            ) <= now:
                days.append(day)
            day += timedelta(days=1)
        return days

    def next_due(self, calendar: WorkingCalendar, now: datetime) -> datetime | None:
        """The first moment after ``now`` this schedule comes due (within a fortnight)."""
        today = calendar.business_date(now)
        for offset in range(15):
            day = today + timedelta(days=offset)
            if self.working_days_only and not calendar.is_working_day(day):
                continue
            due = calendar.at_local(day, self.at)
            if due > now:
                return due
        return None

    def event(self, calendar: WorkingCalendar, day: date) -> inbox.IncomingEvent:
        due = calendar.at_local(day, self.at)
        return inbox.IncomingEvent(
            source=SCHEDULE_SOURCE,
            external_id=f"{self.name}:{day.isoformat()}",
            type=f"schedule.{self.name}",
            occurred_at=due,
            payload={
                "schedule": self.name,
                "business_date": day.isoformat(),
                "due_at": due.isoformat(),
            },
        )


@dataclass
class Every:
    """A job run every ``interval`` in each worker (e.g. the Stripe events catch-up poll)."""

    name: str
    interval: timedelta
    run: Callable[[datetime], int]


@dataclass
class Scheduler:
    db: Database
    calendar: WorkingCalendar
    daily: list[DailyAt] = field(default_factory=list)
    every: list[Every] = field(default_factory=list)
    _emitted: dict[str, date] = field(default_factory=dict)
    _ran: dict[str, datetime] = field(default_factory=dict)

    def tick(self, now: datetime) -> int:
        """Emit due daily events and run due jobs; returns how much was new."""
        work = 0
        events: list[inbox.IncomingEvent] = []
        for schedule in self.daily:
            if schedule.name not in self._emitted:
                self._remember_last_emitted(schedule)
            days = schedule.due_dates(self.calendar, now, self._emitted.get(schedule.name))
            events.extend(schedule.event(self.calendar, day) for day in days)
        if events:
            with self.db.write() as session:
                work += sum(inbox.record(session, events, now))
            for schedule in self.daily:
                emitted = [e for e in events if e.payload["schedule"] == schedule.name]
                if emitted:
                    self._emitted[schedule.name] = date.fromisoformat(
                        str(emitted[-1].payload["business_date"])
                    )
        for job in self.every:
            last = self._ran.get(job.name)
            if last is None or now - last >= job.interval:
                self._ran[job.name] = now
                work += job.run(now)
        return work

    def _remember_last_emitted(self, schedule: DailyAt) -> None:
        """The inbox is the memory: the newest event this schedule emitted, across restarts."""
        with self.db.read() as session:
            last = session.execute(
                select(Event.external_id)
                .where(Event.source == SCHEDULE_SOURCE, Event.type == f"schedule.{schedule.name}")
                .order_by(Event.external_id.desc())
                .limit(1)
            ).scalar_one_or_none()
        if last is not None:
            self._emitted[schedule.name] = date.fromisoformat(last.rsplit(":", 1)[1])
