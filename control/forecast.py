"""A PV surplus forecast, "like the last few days at this time of day", for SCHEDULED planning
and AUTO's check that the battery still fills.

No cloud service is needed (a GX may be offline): the runner records what the site's surplus
(PV minus the house, the car not counted) was in each 15-minute slot of the day, and the
forecast for a future slot is the mean of the same slot over the last ``days`` recorded days.

Slots and days are in the zone's standard time (local time without summer time): the sun keeps
to it, so the three days after a DST change are forecast with the sun where it is, not an hour
off. (The house keeps to the clock, so its evening peak moves an hour in those days; by then
there is little sun left to forecast.) Pure: time and values come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Tuple

import pytz

from control.model import ForecastSlot

SLOT_S = 900
KEEP_DAYS = 7
CLOCK = "standard"  # the to_json marker of standard-time keys; older files keyed by the clock
TODAY_BASIS_WH = 500.0  # today's correction needs at least this much expected sun so far
TODAY_RATIO = (0.2, 2.0)  # and is clamped to this range


class PvForecaster:
    def __init__(self, timezone: str, days: int = 3) -> None:
        self.tz = pytz.timezone(timezone)
        self.days = days
        # standard-time date (ISO) -> slot index (0..95) -> (sum of surplus W, samples)
        self.table: Dict[str, Dict[int, Tuple[float, int]]] = {}
        self._cached: Optional[Tuple[int, Tuple[ForecastSlot, ...]]] = None

    def _key(self, t: float) -> Tuple[str, int]:
        """(date, slot) of t in standard time."""
        local = dt.datetime.fromtimestamp(t, self.tz)
        std = local.replace(tzinfo=None) - (local.dst() or dt.timedelta(0))
        return std.date().isoformat(), (std.hour * 3600 + std.minute * 60) // SLOT_S

    def _clock_key_to_standard(self, day: str, slot: int) -> Optional[Tuple[str, int]]:
        """Where a slot saved by the clock (before standard-time keys) belongs now."""
        try:
            d = dt.date.fromisoformat(day)
        except ValueError:
            return None
        naive = dt.datetime(d.year, d.month, d.day) + dt.timedelta(seconds=slot * SLOT_S)
        return self._key(self.tz.localize(naive, is_dst=False).timestamp())

    def record(self, t: float, surplus_w: Optional[float]) -> None:
        """Add one sample (None = unknown, ignored)."""
        if surplus_w is None:
            return
        day, slot = self._key(t)
        total, n = self.table.setdefault(day, {}).get(slot, (0.0, 0))
        self.table[day][slot] = (total + max(0.0, surplus_w), n + 1)
        if len(self.table) > KEEP_DAYS:
            for old in sorted(self.table)[: len(self.table) - KEEP_DAYS]:
                del self.table[old]

    def expected_w(self, t: float) -> Optional[float]:
        """Mean surplus at t's time of day over the last recorded days before t's date."""
        day, slot = self._key(t)
        values: List[float] = []
        for d in sorted(self.table, reverse=True):
            entry = self.table[d].get(slot)
            if d < day and entry is not None and entry[1]:
                values.append(entry[0] / entry[1])
            if len(values) == self.days:
                break
        return sum(values) / len(values) if values else None

    def today_ratio(self, now: float) -> Optional[float]:
        """How today's sun so far compares with what the last days had by this time (the
        finished slots of today only); None until there is enough of it to say."""
        day, current = self._key(now)
        seen = self.table.get(day, {})
        got_wh = expected_wh = 0.0
        for slot, (total, n) in seen.items():
            if slot >= current or not n:
                continue
            w = self.expected_w(now - (current - slot) * SLOT_S)
            if w is None:
                continue
            got_wh += total / n * SLOT_S / 3600.0
            expected_wh += w * SLOT_S / 3600.0
        if expected_wh < TODAY_BASIS_WH:
            return None
        lo, hi = TODAY_RATIO
        return min(hi, max(lo, got_wh / expected_wh))

    def forecast(self, now: float, horizon_s: float = 36 * 3600) -> Tuple[ForecastSlot, ...]:
        """Slots from the current one to ``now + horizon_s`` with a known expected surplus,
        0 W included (a learned night); a time of day never recorded has no slot, so on the
        first day after installation today has none at all. Today's are scaled by
        ``today_ratio`` (a dull morning after sunny days lowers them)."""
        start = now - now % SLOT_S
        today, _slot = self._key(now)
        ratio = self.today_ratio(now) or 1.0
        out: List[ForecastSlot] = []
        t = start
        while t < now + horizon_s:
            w = self.expected_w(t)
            if w is not None:  # a learned 0 W (night) is a fact; no slot means not known
                scale = ratio if self._key(t)[0] == today else 1.0
                out.append(ForecastSlot(t, t + SLOT_S, w * scale))
            t += SLOT_S
        return tuple(out)

    def quarter_hour_forecast(self, now: float) -> Tuple[ForecastSlot, ...]:
        """``forecast(now)``, worked out once per quarter hour: it changes no faster, a GX has
        little CPU to spare, and AUTO's battery check keeps its running totals while the same
        forecast object comes back."""
        slot = int(now // SLOT_S)
        if self._cached is None or self._cached[0] != slot:
            self._cached = (slot, self.forecast(now))
        return self._cached[1]

    def to_json(self) -> Dict[str, Any]:
        days = {d: {str(k): list(v) for k, v in slots.items()} for d, slots in self.table.items()}
        return {"clock": CLOCK, "days": days}

    def load_json(self, data: Any) -> None:
        """Restore from ``to_json``; anything malformed is dropped, not trusted. A file from
        before standard-time keys (dates at the top, slots by the clock) is moved over, so an
        update loses none of the learned days."""
        table: Dict[str, Dict[int, Tuple[float, int]]] = {}
        if not isinstance(data, dict):
            data = {}
        by_clock = data.get("clock") != CLOCK
        days = data if by_clock else data.get("days")
        for d, slots in days.items() if isinstance(days, dict) else ():
            if not isinstance(slots, dict):
                continue
            for k, v in slots.items():
                if not (
                    isinstance(v, list)
                    and len(v) == 2
                    and str(k).isdigit()
                    and all(isinstance(x, (int, float)) for x in v)
                ):
                    continue
                key = self._clock_key_to_standard(str(d), int(k)) if by_clock else (str(d), int(k))
                if key is None:
                    continue
                total, n = table.setdefault(key[0], {}).get(key[1], (0.0, 0))
                table[key[0]][key[1]] = (total + float(v[0]), n + int(v[1]))
        self.table = table


def site_surplus_w(
    pv_w: Optional[float], consumption_w: Tuple[Optional[float], ...], ev_w: Optional[float]
) -> Optional[float]:
    """PV minus the house (consumption without the car, which Venus counts inside it)."""
    if pv_w is None or any(c is None for c in consumption_w):
        return None
    house = sum(c for c in consumption_w if c is not None) - (ev_w or 0.0)
    return pv_w - max(0.0, house)
