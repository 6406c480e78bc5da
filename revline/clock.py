"""Time for every component: an injected Clock, and the company's working-day calendar.

Stored times are UTC. Business dates (payout day, working days, month-end) are in the company's
timezone and holiday calendar, which come from configuration.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from revline.errors import ConfigError


class Clock(Protocol):
    """Where every component asks the time; always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to: tests and the sandbox run weeks in seconds."""

    def __init__(self, start: datetime) -> None:
        self._now = to_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        when = to_utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"simulated time cannot go backwards ({when} < {self._now})")
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now


def to_utc(when: datetime) -> datetime:
    """Normalise an aware datetime to UTC; a naive one is refused, since its zone is a guess."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()} has no timezone")
    return when.astimezone(UTC)


class WorkingCalendar:
    """Working days in the company's timezone: weekdays that are not public holidays.

    ``non_working_weekdays`` lets a procedure exclude more days; the failed-payment cadence, for
    instance, pauses on Fridays (weekday 4) as well as weekends.
    """

    def __init__(
        self,
        timezone: str,
        country: str,
        subdivision: str | None = None,
        non_working_weekdays: frozenset[int] = frozenset({5, 6}),
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"unknown timezone {timezone!r}") from exc
        try:
            self._holidays = holidays_lib.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            raise ConfigError(f"no holiday calendar for country {country!r}") from exc
        # ``holidays`` fills a year in on its first lookup and marks it filled before it is:
        # another thread (the worker and the API share the calendar) asking meanwhile would be
        # told a holiday is a working day. One lookup at a time.
        self._reading = threading.Lock()
        self.country = country
        self.subdivision = subdivision
        self.non_working_weekdays = non_working_weekdays

    def with_non_working_weekdays(self, weekdays: frozenset[int]) -> WorkingCalendar:
        """The same calendar with a different set of weekdays that never count."""
        return WorkingCalendar(self.tz.key, self.country, self.subdivision, weekdays)

    def holiday_name(self, day: date) -> str | None:
        with self._reading:
            name = self._holidays.get(day)
        return str(name) if name else None

    def is_working_day(self, day: date) -> bool:
        if day.weekday() in self.non_working_weekdays:
            return False
        with self._reading:
            return day not in self._holidays

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (``day`` itself never counts; n may be 0 or less).

        With n == 0 the answer is ``day`` if it is a working day, else the next working day.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        current = day
        if n == 0:
            while not self.is_working_day(current):
                current += timedelta(days=1)
            return current
        counted = 0
        while counted < n:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def previous_working_day(self, day: date) -> date:
        """The last working day before ``day``."""
        current = day - timedelta(days=1)
        while not self.is_working_day(current):
            current -= timedelta(days=1)
        return current

    def nth_working_day_of_month(
        self, year: int, month: int, n: int, *, or_last: bool = False
    ) -> date:
        """The n-th (1-based) working day of a calendar month; ``or_last``: its last working day
        when it has fewer than n (else that is an error)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        current = date(year, month, 1)
        counted, last = 0, None
        while True:
            if self.is_working_day(current):
                counted, last = counted + 1, current
                if counted == n:
                    return current
            current += timedelta(days=1)
            if current.month != month:
                if or_last and last is not None:
                    return last
                raise ValueError(f"{year}-{month:02d} has fewer than {n} working days")

    def next_working_at(self, at: time, now: datetime) -> datetime:
        """The first working day's ``at`` (company time) after ``now``, as UTC: today's, when
        today is a working day and it is still ahead."""
        day = self.add_working_days(self.business_date(now), 0)
        while (moment := self.at_local(day, at)) <= now:
            day = self.add_working_days(day, 1)
        return moment

    def business_date(self, when: datetime) -> date:
        """The company-local calendar date of an instant."""
        return to_utc(when).astimezone(self.tz).date()

    def at_local(self, day: date, at: time) -> datetime:
        """A company-local wall-clock time on a business date, as UTC."""
        return datetime.combine(day, at, tzinfo=self.tz).astimezone(UTC)
