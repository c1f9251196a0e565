"""A PV surplus forecast for SCHEDULED planning: "like the last few days at this time of day".

No cloud service is needed (a GX may be offline): the runner records what the site's surplus
(PV minus the house, the car not counted) was in each 15-minute slot of local time, and the
forecast for a future slot is the mean of the same slot over the last ``days`` recorded days.
Local time keys keep it right across DST changes. Pure: time and values come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Tuple

import pytz

from control.model import ForecastSlot

SLOT_S = 900
KEEP_DAYS = 7


class PvForecaster:
    def __init__(self, timezone: str, days: int = 3) -> None:
        self.tz = pytz.timezone(timezone)
        self.days = days
        # local date (ISO) -> slot index (0..95) -> (sum of surplus W, samples)
        self.table: Dict[str, Dict[int, Tuple[float, int]]] = {}

    def _key(self, t: float) -> Tuple[str, int]:
        local = dt.datetime.fromtimestamp(t, self.tz)
        return local.date().isoformat(), (local.hour * 3600 + local.minute * 60) // SLOT_S

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

    def forecast(self, now: float, horizon_s: float = 36 * 3600) -> Tuple[ForecastSlot, ...]:
        """Slots from the current one to ``now + horizon_s`` with a known expected surplus."""
        start = now - now % SLOT_S
        out: List[ForecastSlot] = []
        t = start
        while t < now + horizon_s:
            w = self.expected_w(t)
            if w is not None and w > 0:
                out.append(ForecastSlot(t, t + SLOT_S, w))
            t += SLOT_S
        return tuple(out)

    def to_json(self) -> Dict[str, Any]:
        return {d: {str(k): list(v) for k, v in slots.items()} for d, slots in self.table.items()}

    def load_json(self, data: Any) -> None:
        """Restore from ``to_json``; anything malformed is dropped, not trusted."""
        table: Dict[str, Dict[int, Tuple[float, int]]] = {}
        if isinstance(data, dict):
            for d, slots in data.items():
                if not isinstance(slots, dict):
                    continue
                for k, v in slots.items():
                    if (
                        isinstance(v, list)
                        and len(v) == 2
                        and str(k).isdigit()
                        and all(isinstance(x, (int, float)) for x in v)
                    ):
                        table.setdefault(str(d), {})[int(k)] = (float(v[0]), int(v[1]))
        self.table = table


def site_surplus_w(
    pv_w: Optional[float], consumption_w: Tuple[Optional[float], ...], ev_w: Optional[float]
) -> Optional[float]:
    """PV minus the house (consumption without the car, which Venus counts inside it)."""
    if pv_w is None or any(c is None for c in consumption_w):
        return None
    house = sum(c for c in consumption_w if c is not None) - (ev_w or 0.0)
    return pv_w - max(0.0, house)
