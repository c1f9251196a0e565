"""The most net solar any controller could get on a day: a perfect-foresight maximum (pure).

Net solar = EV energy − the grid import it causes, counting the battery energy the car leaves
missing at the end of the day as import (bench/control.py, ``caused_by_ev``). The per-second
optimum there takes only surplus of at least 6 A and never draws on the battery, so it is not the
maximum of this measure: the battery can top up a car held at 6 A through a thin evening sun,
or carry a 1-phase car at full power until a sunnier hour refills it.

This module finds that maximum by dynamic programming over the battery's charge, backwards over
1-minute steps of the car's plugged-in window, with the same site rules as sim/site_model.py:

* the car draws 0 or 6…max A on 1 or 3 phases (1 A steps), chosen afresh every minute;
* below ``battery_priority_soc`` the battery keeps what it can absorb (the car gets only
  surplus beyond its charge power and never discharges it); above, anything goes;
* the value of a battery charge at departure is what the rest of the day then imports, plus
  the charge missing at midnight against the day without a car.

Surplus is averaged per minute, so the result is close to but not exactly a bound for a
1-second controller; the car's need caps it afterwards (the DP itself does not track it).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from bench.ev import VOLTS
from sim import site_model
from sim.site_model import BatteryParams, Trace

STEP_S = 60
GRID_WH = 25.0  # battery charge resolution of the value table (interpolation error < 0.03 kWh)


def battery_step(soc_wh: float, net_w: float, b: BatteryParams) -> Tuple[float, float]:
    """One step of the site's battery (sim/site_model.py) in Wh: (new charge Wh, import W)."""
    batt_w, soc = site_model.battery_step(soc_wh / b.capacity_wh * 100.0, net_w, b, STEP_S)
    return soc / 100.0 * b.capacity_wh, max(0.0, batt_w - net_w)


def _value_at(table: Sequence[float], soc_wh: float) -> float:
    x = soc_wh / GRID_WH
    i = min(int(x), len(table) - 2)
    f = min(1.0, x - i)
    return table[i] * (1.0 - f) + table[i + 1] * f


def minute_surplus(trace: Trace) -> List[float]:
    """PV − house (W), averaged per step."""
    out = []
    for m in range(len(trace) // STEP_S):
        lo, hi = m * STEP_S, (m + 1) * STEP_S
        total = sum(trace.pv_w[i] - sum(trace.load_w[i]) for i in range(lo, hi))
        out.append(total / STEP_S)
    return out


def car_levels(max_a: float, car_phases: int) -> List[float]:
    """0 and every whole-ampere power from 6 A on the phase counts the car can use (W)."""
    phases = (1, 3) if car_phases == 3 else (1,)
    powers = {a * VOLTS * ph for ph in phases for a in range(6, int(max_a) + 1)}
    return [0.0, *sorted(powers)]


def max_net_kwh(
    surplus_w: Sequence[float],
    plugged: Sequence[bool],
    b: BatteryParams,
    priority_soc: float,
    levels_w: Sequence[float],
) -> float:
    """The maximum of EV energy − import caused − battery debt (kWh), before the need cap."""
    n = len(surplus_w)
    if not any(plugged):
        return 0.0
    first = plugged.index(True)
    last = n - 1 - list(plugged)[::-1].index(True)
    soc, arrive_wh, import_nocar = b.soc0 / 100.0 * b.capacity_wh, 0.0, 0.0
    for m in range(n):  # the day without a car: the charge at arrival and at midnight
        if m == first:
            arrive_wh = soc
        soc, imp = battery_step(soc, surplus_w[m], b)
        if m >= first:
            import_nocar += imp * STEP_S / 3600.0
    end_nocar = soc
    cells = int(b.capacity_wh / GRID_WH) + 1
    value = []
    for k in range(cells):  # after departure: the rest of the day without the car
        soc, imported = k * GRID_WH, 0.0
        for m in range(last + 1, n):
            soc, imp = battery_step(soc, surplus_w[m], b)
            imported += imp * STEP_S / 3600.0
        value.append(-imported - max(0.0, end_nocar - soc) / b.efficiency)
    priority_wh = priority_soc / 100.0 * b.capacity_wh
    for m in range(last, first - 1, -1):
        here, s_w = [], surplus_w[m]
        choices = levels_w if plugged[m] else (0.0,)
        for k in range(cells):
            soc = k * GRID_WH
            ceiling = None if soc >= priority_wh else max(0.0, s_w - b.max_charge_w)
            best = float("-inf")
            for p in choices:
                if ceiling is not None and p > ceiling:
                    break
                nxt, imp = battery_step(soc, s_w - p, b)
                gain = (p - imp) * STEP_S / 3600.0
                best = max(best, gain + _value_at(value, nxt))
            here.append(best)
        value = here
    return (_value_at(value, arrive_wh) + import_nocar) / 1000.0
