"""Swedish dates and working days for due dates and timers.

Deadlines in Swedish public administration count working days: weekends and public
holidays are skipped, and midsummer, Christmas and New Year's Eve count as holidays
(lag (1930:173) om beräkning av lagstadgad tid). The `holidays` library keeps the
calendar up to date; we take its public and de facto Swedish categories.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from . import clock

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@lru_cache(maxsize=64)
def _holidays_in(year: int) -> holidays.HolidayBase:
    return holidays.Sweden(years=year, include_sundays=False,
                           categories=("public", "de_facto"), language="sv")


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a Swedish public or de facto holiday."""
    return day.weekday() < 5 and day not in _holidays_in(day.year)


def to_datetime(value: str | date | datetime) -> datetime:
    """Read an ISO date or date-time (or a date/datetime); a bare date means 00:00 in Stockholm."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0, 0), STOCKHOLM)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(0, 0), STOCKHOLM)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        raise TypeError(f"expected an ISO date or date-time, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    return moment


def add_working_days(start: str | date | datetime, days: int) -> datetime:
    """`start` plus `days` working days, keeping the Stockholm time of day.

    Starting on a weekend or holiday counts from the next working day, as a letter that
    arrives on a Saturday is handled from Monday.
    """
    if not isinstance(days, int) or isinstance(days, bool):
        raise TypeError("the number of working days must be a whole number")
    local = to_datetime(start).astimezone(STOCKHOLM)
    day = local.date()
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    while remaining:
        day += timedelta(days=step)
        if is_working_day(day):
            remaining -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), STOCKHOLM)


def working_days_between(start: str | date | datetime, end: str | date | datetime) -> int:
    """How many working days after `start` up to and including `end` (negative if before)."""
    a = to_datetime(start).astimezone(STOCKHOLM).date()
    b = to_datetime(end).astimezone(STOCKHOLM).date()
    sign = 1
    if b < a:
        a, b, sign = b, a, -1
    count = 0
    day = a
    while day < b:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return sign * count


def add_months(start: str | date | datetime, months: int) -> datetime:
    """Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    local = to_datetime(start).astimezone(STOCKHOLM)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - timedelta(days=1)).day
    return local.replace(year=year, month=month, day=min(local.day, last_day))


def today() -> date:
    """Today's date in Stockholm, by the engine clock."""
    return clock.now().astimezone(STOCKHOLM).date()


def iso_utc(moment: datetime) -> str:
    """The ISO 8601 form we store: UTC with an explicit offset."""
    return moment.astimezone(timezone.utc).isoformat()


def format_swedish(moment: datetime | date | None, with_time: bool = True) -> str:
    """Dates as Swedish people write them: 2026-11-26 14:05 (ISO 8601, Stockholm time)."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        local = moment.astimezone(STOCKHOLM) if moment.tzinfo else moment
        return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    return moment.isoformat()
