"""When the next manual retry runs: working days in the company's calendar, paused on Fridays.

The cadence counts only days that are neither weekend, public holiday nor a pause weekday
(``retry_pause_weekdays``, Friday by default): "paused on Fridays and resumed Monday". A retry
is due ``retry_interval_working_days`` such days after the day of the failure (that day itself
never counts), at ``retry_time`` company time. A failure on a Wednesday therefore retries on the
following Tuesday: Thursday, Monday, Tuesday.
"""

from __future__ import annotations

from datetime import date, datetime

from revline.clock import WorkingCalendar
from revline.config import Policy

WEEKEND = frozenset({5, 6})


def retry_calendar(calendar: WorkingCalendar, policy: Policy) -> WorkingCalendar:
    """The company's calendar with the cadence's pause weekdays taken out as well."""
    return calendar.with_non_working_weekdays(WEEKEND | frozenset(policy.retry_pause_weekdays))


def next_retry_at(after: datetime, calendar: WorkingCalendar, policy: Policy) -> datetime:
    """The retry slot ``retry_interval_working_days`` cadence days after ``after``'s local date."""
    days = retry_calendar(calendar, policy)
    due = days.add_working_days(calendar.business_date(after), policy.retry_interval_working_days)
    return days.at_local(due, policy.retry_time)


def retry_after_promise(
    promised: date, now: datetime, calendar: WorkingCalendar, policy: Policy
) -> datetime:
    """The morning after a promised payment date: the first cadence day after it, at
    ``retry_time``. A date already past gives the first slot still ahead of ``now``."""
    days = retry_calendar(calendar, policy)
    slot = days.at_local(days.add_working_days(promised, 1), policy.retry_time)
    if slot > now:
        return slot
    today = calendar.business_date(now)
    first = days.at_local(days.add_working_days(today, 0), policy.retry_time)
    return (
        first if first > now else days.at_local(days.add_working_days(today, 1), policy.retry_time)
    )
