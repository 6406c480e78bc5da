"""Working days on real calendars: US and UK public holidays, month boundaries, the Friday pause."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest

from revline.clock import SimulatedClock, WorkingCalendar
from revline.errors import ConfigError

US = WorkingCalendar("America/New_York", "US")
# England and Wales: without a subdivision the package lists only UK-wide holidays.
UK = WorkingCalendar("Europe/London", "GB", "ENG")
US_FRIDAY_PAUSE = US.with_non_working_weekdays(frozenset({4, 5, 6}))


@pytest.mark.parametrize(
    ("calendar", "day", "working", "why"),
    [
        (US, date(2026, 11, 26), False, "Thanksgiving"),
        (US, date(2026, 11, 27), True, "the day after Thanksgiving is not a federal holiday"),
        (US, date(2026, 12, 25), False, "Christmas"),
        (US, date(2027, 1, 1), False, "New Year's Day"),
        (US, date(2026, 12, 5), False, "Saturday"),
        (US, date(2026, 12, 7), True, "an ordinary Monday"),
        (UK, date(2026, 12, 28), False, "Boxing Day falls on a Saturday: substitute Monday"),
        (UK, date(2026, 8, 31), False, "Summer bank holiday (England)"),
        (UK, date(2026, 11, 26), True, "Thanksgiving is not a UK holiday"),
        (US_FRIDAY_PAUSE, date(2026, 12, 4), False, "the retry cadence pauses on Fridays"),
    ],
)
def test_is_working_day(calendar: WorkingCalendar, day: date, working: bool, why: str) -> None:
    assert calendar.is_working_day(day) is working, why


@pytest.mark.parametrize(
    ("calendar", "start", "n", "expected"),
    [
        (US, date(2026, 12, 1), 3, date(2026, 12, 4)),  # Tue + 3 = Fri
        (US, date(2026, 12, 3), 3, date(2026, 12, 8)),  # Thu + 3 skips the weekend
        (US, date(2026, 11, 24), 3, date(2026, 11, 30)),  # skips Thanksgiving and the weekend
        (US, date(2026, 12, 23), 3, date(2026, 12, 29)),  # skips Christmas (Fri) and the weekend
        (US, date(2026, 12, 30), 1, date(2026, 12, 31)),
        (US, date(2026, 12, 31), 1, date(2027, 1, 4)),  # New Year (Fri), then Monday
        (UK, date(2026, 12, 24), 1, date(2026, 12, 29)),  # Christmas Fri, Boxing substitute Mon
        (US, date(2026, 12, 5), 0, date(2026, 12, 7)),  # n=0 on a Saturday: next working day
        (US, date(2026, 12, 7), 0, date(2026, 12, 7)),
        # With the Friday pause, a Wednesday failure's third working day is the next Tuesday.
        (US_FRIDAY_PAUSE, date(2026, 12, 2), 3, date(2026, 12, 8)),
        (US_FRIDAY_PAUSE, date(2026, 11, 25), 3, date(2026, 12, 2)),  # Thanksgiving and Friday
    ],
)
def test_add_working_days(calendar: WorkingCalendar, start: date, n: int, expected: date) -> None:
    assert calendar.add_working_days(start, n) == expected


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        (US, date(2026, 12, 8), date(2026, 12, 7)),
        (US, date(2026, 12, 7), date(2026, 12, 4)),  # Monday: the Friday before
        (US, date(2026, 9, 8), date(2026, 9, 4)),  # the Tuesday after Labor Day
        (US, date(2027, 1, 4), date(2026, 12, 31)),  # New Year's Day (Fri), then the weekend
    ],
)
def test_previous_working_day(calendar: WorkingCalendar, day: date, expected: date) -> None:
    assert calendar.previous_working_day(day) == expected


@pytest.mark.parametrize(
    ("calendar", "year", "month", "n", "expected"),
    [
        (US, 2027, 1, 2, date(2027, 1, 5)),  # Jan 1 is a holiday; Mon 4th is the first
        (US, 2026, 12, 2, date(2026, 12, 2)),
        (US, 2026, 11, 1, date(2026, 11, 2)),  # Nov 1 2026 is a Sunday
        (UK, 2026, 6, 2, date(2026, 6, 2)),
        (US, 2026, 9, 1, date(2026, 9, 1)),  # Labor Day is the 7th
    ],
)
def test_nth_working_day_of_month(
    calendar: WorkingCalendar, year: int, month: int, n: int, expected: date
) -> None:
    assert calendar.nth_working_day_of_month(year, month, n) == expected


def test_nth_working_day_past_the_month_is_an_error() -> None:
    with pytest.raises(ValueError, match="fewer than 30 working days"):
        US.nth_working_day_of_month(2026, 12, 30)
    # Asked for, the month's last working day instead: Thursday 31 December 2026.
    assert US.nth_working_day_of_month(2026, 12, 30, or_last=True) == date(2026, 12, 31)


def test_business_date_is_in_the_company_timezone() -> None:
    # 03:00 UTC on Dec 2 is still Dec 1 in New York, already Dec 2 in London.
    instant = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert US.business_date(instant) == date(2026, 12, 1)
    assert UK.business_date(instant) == date(2026, 12, 2)
    assert US.at_local(date(2026, 12, 8), time(9, 0)) == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    # Daylight saving: 09:00 New York is 13:00 UTC in July.
    assert US.at_local(date(2026, 7, 7), time(9, 0)) == datetime(2026, 7, 7, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected", "why"),
    [
        (
            datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
            "today's, still ahead",
        ),
        (
            datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
            datetime(2026, 12, 8, 14, 0, tzinfo=UTC),
            "today's, just past",
        ),
        (
            datetime(2026, 12, 5, 12, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
            "a Saturday: Monday's",
        ),
        (
            datetime(2026, 12, 24, 20, 0, tzinfo=UTC),
            datetime(2026, 12, 28, 14, 0, tzinfo=UTC),
            "over Christmas and a weekend",
        ),
        # 03:00 UTC on Tuesday is still Monday evening in New York: Tuesday's 09:00.
        (
            datetime(2026, 12, 8, 3, 0, tzinfo=UTC),
            datetime(2026, 12, 8, 14, 0, tzinfo=UTC),
            "company time",
        ),
    ],
)
def test_the_next_working_days_time(now: datetime, expected: datetime, why: str) -> None:
    assert US.next_working_at(time(9, 0), now) == expected, why


def _asked_at_once(calendar: WorkingCalendar, day: date, threads: int = 8) -> list[bool]:
    """Whether ``day`` is a working day, as ``threads`` threads asking at once are told."""
    barrier = threading.Barrier(threads)
    told: list[bool] = []

    def ask() -> None:
        barrier.wait()
        told.append(calendar.is_working_day(day))

    asking = [threading.Thread(target=ask) for _ in range(threads)]
    for thread in asking:
        thread.start()
    for thread in asking:
        thread.join()
    return told


def test_a_calendar_shared_by_threads_never_misses_a_holiday() -> None:
    """``holidays`` fills a year in on its first lookup: eight threads asking at once about a
    year not yet read all hear that Christmas Eve 2027 (Christmas observed) is a holiday. The
    threads switch as often as the interpreter allows, which made it a working day for one of
    them in most rounds."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        rounds = [
            _asked_at_once(WorkingCalendar("America/New_York", "US"), date(2027, 12, 24))
            for _ in range(100)
        ]
    finally:
        sys.setswitchinterval(interval)
    assert [told for told in rounds if any(told)] == []


def test_unknown_timezone_or_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        WorkingCalendar("Mars/Olympus", "US")
    with pytest.raises(ConfigError, match="XX"):
        WorkingCalendar("UTC", "XX")


def test_simulated_clock_moves_only_forward() -> None:
    clock = SimulatedClock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert clock.advance(timedelta(days=1)) == datetime(2026, 12, 2, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(datetime(2026, 11, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2026, 12, 5))
