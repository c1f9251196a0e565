"""Local wall-clock arithmetic for the controller: HH:MM, weekday bits and the next HH:MM.

Time windows, deadlines and midnight are local times in the configured time zone; the sun and
the meters are not. Kept apart so that settings, SCHEDULED and AUTO can use it without
importing each other.
"""

from __future__ import annotations

import datetime as dt

import pytz


def minutes(hhmm: str) -> int:
    """Minutes after midnight of ``"HH:MM"``."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def hhmm(minute: int) -> str:
    """``"HH:MM"`` of minutes after midnight (24:00 for the end of a day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def day_bit(day: dt.date) -> int:
    """Sun=1, Mon=2, … Sat=64 (``weekday()`` is Mon=0 … Sun=6)."""
    return 1 << ((day.weekday() + 1) % 7)


def local(now: float, tz_name: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, pytz.timezone(tz_name))


def deadline_at(now: float, hhmm_text: str, tz_name: str) -> float:
    """The next local HH:MM after ``now`` (a time skipped by DST moves to just after the gap)."""
    tz = pytz.timezone(tz_name)
    today = local(now, tz_name).date()
    minute = minutes(hhmm_text)
    for add in (0, 1, 2):
        day = today + dt.timedelta(days=add)
        naive = dt.datetime(day.year, day.month, day.day) + dt.timedelta(minutes=minute)
        try:
            aware = tz.localize(naive, is_dst=None)
        except pytz.exceptions.AmbiguousTimeError:
            aware = tz.localize(naive, is_dst=True)  # the first of the two
        except pytz.exceptions.NonExistentTimeError:
            aware = tz.normalize(tz.localize(naive, is_dst=False))
        ts = aware.timestamp()
        if ts > now:
            return ts
    raise ValueError(f"no deadline found for {hhmm_text}")  # unreachable for a valid HH:MM
