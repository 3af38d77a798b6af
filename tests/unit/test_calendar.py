"""Working days skip weekends and Swedish public holidays, including the de facto ones."""

from __future__ import annotations

from datetime import date, datetime, timezone

from iphs_flow.engine.calendar import (
    STOCKHOLM,
    add_months,
    add_working_days,
    format_swedish,
    is_working_day,
    working_days_between,
)


def test_public_and_de_facto_holidays_are_not_working_days() -> None:
    for day in ["2026-01-01", "2026-01-06", "2026-04-03", "2026-04-06", "2026-05-01", "2026-05-14",
                "2026-06-06", "2026-06-19", "2026-12-24", "2026-12-25", "2026-12-31"]:
        assert not is_working_day(date.fromisoformat(day)), day


def test_ordinary_weekdays_are_working_days() -> None:
    assert is_working_day(date(2026, 3, 12))
    assert not is_working_day(date(2026, 3, 14))  # Saturday
    assert is_working_day(date(2026, 6, 8))  # Whit Monday is no longer a holiday in Sweden


def test_ten_working_days_over_christmas() -> None:
    # From Monday 21 December 2026: 22, 23, 28, 29, 30 December, then 4, 5, 7, 8 and 11
    # January 2027 (Christmas Eve, New Year's Eve and Epiphany are not working days).
    due = add_working_days("2026-12-21", 10)
    assert due.date() == date(2027, 1, 11)


def test_working_days_keep_the_stockholm_time_of_day() -> None:
    start = datetime(2026, 3, 12, 8, 0, tzinfo=timezone.utc)  # 09:00 in Stockholm
    due = add_working_days(start, 5)
    assert due.astimezone(STOCKHOLM).hour == 9
    assert due.date() == date(2026, 3, 19)


def test_counting_working_days_between_two_dates() -> None:
    assert working_days_between("2026-03-12", "2026-03-19") == 5
    assert working_days_between("2026-03-19", "2026-03-12") == -5


def test_months_clamp_to_the_last_day() -> None:
    assert add_months("2026-01-31", 1).date() == date(2026, 2, 28)


def test_dates_are_written_the_swedish_way() -> None:
    assert format_swedish(datetime(2026, 3, 12, 8, 5, tzinfo=timezone.utc)) == "2026-03-12 09:05"
    assert format_swedish(date(2026, 3, 12)) == "2026-03-12"
