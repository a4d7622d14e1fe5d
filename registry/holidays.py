"""Italian public holidays: the daily register is due by the end of the next working day
(RULES.md P9), and Saturdays, Sundays and these days are not working days.

National holidays (L. 260/1949 and later): 1 January, 6 January, Easter Monday, 25 April, 1 May,
2 June, 15 August, 1 November, 8 December, 25 and 26 December. The patron saint's day of the
office's town is a holiday too: set it in ``STIPULA_LOCAL_HOLIDAYS`` as ``MM-DD`` (e.g. ``06-29``
for Rome).
"""

import datetime
import functools

from django.conf import settings

FIXED = {(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25), (12, 26)}


def easter_sunday(year: int) -> datetime.date:
    """Gregorian Easter (the anonymous algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return datetime.date(year, month, day + 1)


def _local_days() -> frozenset[tuple[int, int]]:
    days = set()
    for text in getattr(settings, "STIPULA_LOCAL_HOLIDAYS", []):
        month, day = text.strip().split("-")
        days.add((int(month), int(day)))
    return frozenset(days)


@functools.lru_cache(maxsize=64)
def holidays(year: int, local: frozenset = frozenset()) -> frozenset[datetime.date]:
    days = {datetime.date(year, month, day) for month, day in FIXED | set(local)}
    days.add(easter_sunday(year) + datetime.timedelta(days=1))  # Lunedì dell'Angelo
    return frozenset(days)


def is_working_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year, _local_days())


def next_working_day(day: datetime.date) -> datetime.date:
    """The first working day after ``day``."""
    following = day + datetime.timedelta(days=1)
    while not is_working_day(following):
        following += datetime.timedelta(days=1)
    return following
