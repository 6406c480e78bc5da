"""Daily procedures become inbox events once per working day, across workers and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from revline.clock import SimulatedClock
from revline.core.runtime import Runtime
from revline.core.scheduler import DailyAt, Every, Scheduler
from revline.db.models import Event

RECONCILE = DailyAt("payout_reconciliation", time(8, 0))


def _emitted(runtime: Runtime) -> list[str]:
    with runtime.db.read() as session:
        return list(
            session.execute(
                select(Event.external_id).where(Event.source == "schedule").order_by(Event.id)
            ).scalars()
        )


def test_one_event_per_working_day_at_the_local_time(runtime: Runtime) -> None:
    clock: SimulatedClock = runtime.clock  # type: ignore[assignment]
    clock.set(datetime(2026, 12, 23, 12, 0, tzinfo=UTC))  # Wed 07:00 in New York
    scheduler = Scheduler(runtime.db, runtime.calendar, [RECONCILE])
    assert scheduler.tick(clock.now()) == 0  # not 08:00 yet
    clock.set(datetime(2026, 12, 23, 13, 0, tzinfo=UTC))
    assert scheduler.tick(clock.now()) == 1
    assert scheduler.tick(clock.now()) == 0
    # Christmas (Friday) and the weekend are skipped.
    for hours in range(24 * 5 + 1):
        clock.set(datetime(2026, 12, 23, 13, 0, tzinfo=UTC) + timedelta(hours=hours))
        scheduler.tick(clock.now())
    assert _emitted(runtime) == [
        "payout_reconciliation:2026-12-23",
        "payout_reconciliation:2026-12-24",
        "payout_reconciliation:2026-12-28",
    ]
    with runtime.db.read() as session:
        event = session.execute(select(Event).where(Event.source == "schedule")).scalars().first()
    assert event is not None and event.type == "schedule.payout_reconciliation"
    assert event.occurred_at == datetime(2026, 12, 23, 13, 0, tzinfo=UTC)
    assert event.payload["business_date"] == "2026-12-23"


def test_two_workers_emit_one_event(runtime: Runtime) -> None:
    clock: SimulatedClock = runtime.clock  # type: ignore[assignment]
    clock.set(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))
    first = Scheduler(runtime.db, runtime.calendar, [RECONCILE])
    second = Scheduler(runtime.db, runtime.calendar, [RECONCILE])
    assert first.tick(clock.now()) + second.tick(clock.now()) == 1
    assert _emitted(runtime) == ["payout_reconciliation:2026-12-01"]


def test_a_restarted_worker_catches_up_on_missed_days(runtime: Runtime) -> None:
    clock: SimulatedClock = runtime.clock  # type: ignore[assignment]
    clock.set(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))
    Scheduler(runtime.db, runtime.calendar, [RECONCILE]).tick(clock.now())
    clock.set(datetime(2026, 12, 4, 14, 0, tzinfo=UTC))  # down Wed and Thu
    Scheduler(runtime.db, runtime.calendar, [RECONCILE]).tick(clock.now())
    assert _emitted(runtime) == [f"payout_reconciliation:2026-12-0{d}" for d in (1, 2, 3, 4)]


def test_a_new_install_invents_no_history(runtime: Runtime) -> None:
    Scheduler(runtime.db, runtime.calendar, [RECONCILE]).tick(runtime.clock.now())
    assert _emitted(runtime) == ["payout_reconciliation:2026-12-01"]


def test_every_runs_on_its_interval() -> None:
    runs: list[datetime] = []
    job = Every("poll", timedelta(minutes=5), lambda now: runs.append(now) or 0)
    scheduler = Scheduler(db=None, calendar=None, every=[job])  # type: ignore[arg-type]
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for minute in range(0, 16):
        scheduler.tick(start + timedelta(minutes=minute))
    assert runs == [start + timedelta(minutes=m) for m in (0, 5, 10, 15)]


def test_a_playbooks_daily_procedure_reaches_it_as_an_event(
    db: object, clock: SimulatedClock, settings: object
) -> None:
    from revline.config import Policy, Settings
    from revline.core.cases import CaseKind, CaseView
    from revline.core.inbox import EventView
    from revline.core.playbook import CaseRef, Decision, Facts, Playbook, PlaybookRegistry
    from revline.core.runtime import Worker
    from revline.db.engine import Database
    from revline.db.models import Case

    class MorningCheck(Playbook):
        name = "morning_check"
        case_kind = CaseKind("morning", "checked", {"checked": frozenset()})

        def schedules(self, policy: Policy) -> list[DailyAt]:
            return [DailyAt("morning_check", policy.payout_reconciliation_time)]

        def case_for(self, event: EventView) -> CaseRef | None:
            if event.type != "schedule.morning_check":
                return None
            return CaseRef(f"morning:{event.payload['business_date']}")

        def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
            return Decision("checked the morning")

    assert isinstance(db, Database) and isinstance(settings, Settings)
    runtime = Runtime(
        settings=settings, db=db, clock=clock, playbooks=PlaybookRegistry([MorningCheck()])
    )
    assert [s.name for s in runtime.daily] == ["morning_check"]
    clock.set(datetime(2026, 12, 2, 13, 30, tzinfo=UTC))  # 08:30 in New York
    Worker(runtime).drain()
    with runtime.db.read() as session:
        subjects = session.execute(select(Case.subject)).scalars().all()
    assert subjects == ["morning:2026-12-02"]
