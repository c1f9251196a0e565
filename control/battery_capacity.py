"""The home battery's capacity, learned from how its SOC moves against the energy its meter
counts. AUTO's battery check (control/auto.py ``battery_fills_anyway``) needs the headroom in
kWh, few users know their usable capacity, and ``system/0`` publishes SOC and power but no
capacity. Pure: time and readings come in as arguments.

A measurement runs from one SOC step to a later one at least ``SPAN`` points away, counting
``Dc/Battery/Power`` over the time between. Starting and ending on a step (the moment the
reading changes) keeps a BMS's 1 % resolution out of the result. A gap in the readings, a run
longer than ``MAX_RUN_S`` (losses pile up while the SOC wanders) or a full battery (energy
flows at 100 % without the SOC moving) starts over. The median of the last ``KEEP``
measurements is the estimate; charging reads a little high and discharging a little low by the
battery's own losses, which the median averages.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

SPAN = 20.0  # % SOC a measurement must cover
MAX_GAP_S = 90.0  # a longer gap between readings breaks the count
MAX_RUN_S = 12 * 3600.0  # a measurement must finish within this
FULL_SOC = 99.5  # at or above: full, the count starts over
KEEP = 5
PLAUSIBLE_KWH = (0.2, 1000.0)


class CapacityLearner:
    """Feed it every reading (``record``); ``kwh`` is the estimate, None until one is made."""

    def __init__(self) -> None:
        self.estimates: List[float] = []  # kWh, oldest first
        # (t, soc, power W) of the previous reading
        self._last: Optional[Tuple[float, float, float]] = None
        # energy counted since the run started (+ = into the battery)
        self._wh = 0.0
        # (t, soc) at the step the run started on
        self._start: Optional[Tuple[float, float]] = None

    @property
    def kwh(self) -> Optional[float]:
        if not self.estimates:
            return None
        ordered = sorted(self.estimates)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0

    def record(self, t: float, soc: Optional[float], power_w: Optional[float]) -> None:
        """One reading of ``Dc/Battery/Soc`` (%) and ``Dc/Battery/Power`` (W, + charging);
        None = unknown, which breaks the count."""
        last = self._last
        if soc is None or power_w is None:
            self._last, self._start = None, None
            return
        self._last = (t, soc, power_w)
        if last is None or not 0.0 < t - last[0] <= MAX_GAP_S:
            self._start = None
            return
        self._wh += (last[2] + power_w) / 2.0 * (t - last[0]) / 3600.0
        if soc >= FULL_SOC:
            self._start = None
            return
        if soc == last[1]:
            return  # not a step: a run starts and ends only where the reading changes
        if self._start is None or t - self._start[0] > MAX_RUN_S:
            self._start, self._wh = (t, soc), 0.0
            return
        moved = soc - self._start[1]
        if abs(moved) < SPAN:
            return
        if moved * self._wh > 0:  # energy and SOC moved the same way
            kwh = self._wh / moved * 100.0 / 1000.0
            if PLAUSIBLE_KWH[0] <= kwh <= PLAUSIBLE_KWH[1]:
                self.estimates = [*self.estimates, kwh][-KEEP:]
        self._start, self._wh = (t, soc), 0.0

    def to_json(self) -> Dict[str, Any]:
        return {"estimates_kwh": list(self.estimates)}

    def load_json(self, data: Any) -> None:
        """Restore from ``to_json``; anything malformed is dropped, not trusted."""
        raw = data.get("estimates_kwh") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            return
        self.estimates = [
            float(x)
            for x in raw
            if isinstance(x, (int, float))
            and not isinstance(x, bool)
            and PLAUSIBLE_KWH[0] <= x <= PLAUSIBLE_KWH[1]
        ][-KEEP:]
