"""Working days for the daily register's deadline (RULES.md P9): Saturdays, Sundays, the Italian
national holidays (Easter Monday included) and the town's patron saint's day are not."""

import datetime

import pytest

from registry.holidays import easter_sunday, holidays, is_working_day, next_working_day

D = datetime.date


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2024, D(2024, 3, 31)), (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)), (2027, D(2027, 3, 28)),
     (2038, D(2038, 4, 25)), (2285, D(2285, 3, 22))],
)  # fmt: skip
def test_easter_sunday(year, easter):
    assert easter_sunday(year) == easter
    assert easter.weekday() == 6


def test_easter_monday_2027_is_not_a_working_day():
    assert D(2027, 3, 29) in holidays(2027)
    assert not is_working_day(D(2027, 3, 29))
    # Friday 26 March 2027: the next working day is Tuesday 30, after the weekend and Pasquetta.
    assert next_working_day(D(2027, 3, 26)) == D(2027, 3, 30)
    assert next_working_day(D(2027, 3, 27)) == D(2027, 3, 30)
    assert next_working_day(D(2027, 3, 29)) == D(2027, 3, 30)


def test_liberation_day_25_april():
    # 2025: a Friday, so Thursday's register is due on Monday 28 (Easter Monday was the 21st).
    assert not is_working_day(D(2025, 4, 25))
    assert next_working_day(D(2025, 4, 24)) == D(2025, 4, 28)
    assert next_working_day(D(2025, 4, 18)) == D(2025, 4, 22)  # Easter Monday 21 April
    # 2038: Easter Sunday falls on 25 April, Easter Monday on the 26th.
    assert next_working_day(D(2038, 4, 23)) == D(2038, 4, 27)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 2026: Christmas on Friday, Santo Stefano on Saturday.
        (D(2026, 12, 24), D(2026, 12, 28)),
        # 2027: Christmas on Saturday, Santo Stefano on Sunday: no day off in lieu in Italy.
        (D(2027, 12, 24), D(2027, 12, 27)),
        # 2022: Christmas on Sunday, Santo Stefano on Monday.
        (D(2022, 12, 23), D(2022, 12, 27)),
        # New year's eve 2026 (Thursday): 1 January is a Friday, then the weekend.
        (D(2026, 12, 31), D(2027, 1, 4)),
        # Epiphany 2027 is a Wednesday.
        (D(2027, 1, 5), D(2027, 1, 7)),
        # 2 June 2026 (Tuesday), 15 August 2025 (Friday), 1 November 2027 (Monday), 8 December
        # 2026 (Tuesday), 1 May 2026 (Friday).
        (D(2026, 6, 1), D(2026, 6, 3)),
        (D(2025, 8, 14), D(2025, 8, 18)),
        (D(2027, 10, 29), D(2027, 11, 2)),
        (D(2026, 12, 7), D(2026, 12, 9)),
        (D(2026, 4, 30), D(2026, 5, 4)),
        # An ordinary Wednesday.
        (D(2026, 11, 25), D(2026, 11, 26)),
    ],
)
def test_next_working_day(day, expected):
    assert next_working_day(day) == expected


def test_the_patron_saints_day_is_a_holiday_when_configured(settings):
    # Rome's Santi Pietro e Paolo, 29 June: a Monday in 2026.
    assert next_working_day(D(2026, 6, 26)) == D(2026, 6, 29)
    settings.STIPULA_LOCAL_HOLIDAYS = ["06-29"]
    assert next_working_day(D(2026, 6, 26)) == D(2026, 6, 30)
    assert not is_working_day(D(2026, 6, 29))
