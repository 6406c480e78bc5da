"""The retry cadence over real calendars: three working days, paused on Fridays."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.playbooks.billing.cadence import next_retry_at, retry_after_promise

US = WorkingCalendar("America/New_York", "US")
UK = WorkingCalendar("Europe/London", "GB", "ENG")
POLICY = Policy()


def _local(calendar: WorkingCalendar, day: date, at: time = time(14, 0)) -> datetime:
    return datetime.combine(day, at, tzinfo=calendar.tz)


@pytest.mark.parametrize(
    ("failed_on", "retry_on", "why"),
    [
        (date(2026, 3, 2), date(2026, 3, 5), "Monday: Tue, Wed, Thu"),
        (date(2026, 3, 3), date(2026, 3, 9), "Tuesday: Wed, Thu, (Fri paused) Mon"),
        (date(2026, 3, 4), date(2026, 3, 10), "Wednesday: the following Tuesday (the issue)"),
        (date(2026, 3, 5), date(2026, 3, 11), "Thursday: Mon, Tue, Wed"),
        (date(2026, 3, 6), date(2026, 3, 11), "Friday: Mon, Tue, Wed"),
        (date(2026, 3, 7), date(2026, 3, 11), "Saturday: Mon, Tue, Wed"),
        (date(2026, 3, 8), date(2026, 3, 11), "Sunday: Mon, Tue, Wed"),
        (date(2026, 11, 24), date(2026, 12, 1), "Thanksgiving and a month boundary"),
        (date(2025, 12, 23), date(2025, 12, 30), "Christmas on a Thursday"),
        (date(2025, 12, 29), date(2026, 1, 5), "New Year's Day and a year boundary"),
        (date(2026, 1, 28), date(2026, 2, 3), "month boundary, no holiday"),
    ],
)
def test_us_cadence(failed_on: date, retry_on: date, why: str) -> None:
    due = next_retry_at(_local(US, failed_on), US, POLICY)
    local = due.astimezone(ZoneInfo("America/New_York"))
    assert (local.date(), local.time()) == (retry_on, time(9, 0)), why


@pytest.mark.parametrize(
    ("failed_on", "retry_on", "why"),
    [
        (date(2026, 4, 2), date(2026, 4, 9), "Good Friday and Easter Monday"),
        (date(2026, 4, 30), date(2026, 5, 7), "Early May bank holiday, month boundary"),
        (date(2026, 5, 21), date(2026, 5, 28), "Spring bank holiday"),
        (date(2026, 12, 23), date(2026, 12, 30), "Boxing Day substitute on Monday 28th"),
    ],
)
def test_uk_cadence(failed_on: date, retry_on: date, why: str) -> None:
    due = next_retry_at(_local(UK, failed_on), UK, POLICY)
    local = due.astimezone(ZoneInfo("Europe/London"))
    assert (local.date(), local.time()) == (retry_on, time(9, 0)), why


def test_the_failure_day_is_the_company_local_date() -> None:
    # 23:30 on Wednesday in New York is already Thursday in UTC; the cadence counts Wednesday.
    late = datetime(2026, 3, 4, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    assert next_retry_at(late, US, POLICY).astimezone(US.tz).date() == date(2026, 3, 10)


def test_policy_changes_interval_time_and_pause() -> None:
    policy = Policy(retry_interval_working_days=2, retry_time=time(7, 30), retry_pause_weekdays=[])
    due = next_retry_at(_local(US, date(2026, 3, 4)), US, policy).astimezone(US.tz)
    assert (due.date(), due.time()) == (date(2026, 3, 6), time(7, 30))  # Friday now counts


@pytest.mark.parametrize(
    ("promised", "retry_on"),
    [
        (date(2026, 3, 9), date(2026, 3, 10)),  # Monday → Tuesday morning
        (date(2026, 3, 12), date(2026, 3, 16)),  # Thursday → Friday paused → Monday
        (date(2026, 11, 25), date(2026, 11, 30)),  # day before Thanksgiving → Monday
    ],
)
def test_a_promise_moves_the_retry_to_the_morning_after(promised: date, retry_on: date) -> None:
    now = _local(US, date(2026, 3, 2))
    due = retry_after_promise(promised, now, US, POLICY).astimezone(US.tz)
    assert (due.date(), due.time()) == (retry_on, time(9, 0))


def test_a_promise_already_past_gives_the_next_slot_ahead() -> None:
    now = _local(US, date(2026, 3, 10), time(10, 0))  # Tuesday, after the 09:00 slot
    due = retry_after_promise(date(2026, 3, 2), now, US, POLICY).astimezone(US.tz)
    assert due.date() == date(2026, 3, 11) and due > now
