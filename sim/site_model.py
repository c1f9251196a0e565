"""Pure physics of a Victron site: PV, house load, an ESS battery and a per-phase grid meter.

No I/O except the CSV helpers, no clock: time is the trace's second index. Deterministic from a
seed. The balance line is the one the GX measures:

    grid_k = EV_k + house_k + battery_k − PV_k        (battery + = charging; per phase k)

The battery behaves like Victron ESS with feed-in allowed: it absorbs the surplus up to its
charge power until full, the rest is exported; it covers a deficit up to its discharge power
until the ESS minimum SOC, the rest is imported. A Multiplus on three phases and a three-phase
PV inverter spread their power evenly over L1–L3; the house and the car do not.

A trace is per second: ``t_s, pv_w, load_w[, price_eur_kwh]`` (load per phase optional as
``load_l1_w, load_l2_w, load_l3_w``). ``read_trace_csv`` replays a recorded or generated day.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

Phase3 = Tuple[float, float, float]


@dataclass
class Trace:
    """One day, one sample per second from local midnight (``start_ts``, unix seconds)."""

    start_ts: float
    pv_w: List[float]
    load_w: List[Phase3]  # house load per phase, without the car
    price: List[float]  # €/kWh per second (usually constant per 15 min)

    def __len__(self) -> int:
        return len(self.pv_w)


# ---- PV ------------------------------------------------------------------------------------
def clear_sky_w(hour: float, peak_w: float, sunrise_h: float, sunset_h: float) -> float:
    """A smooth bell between sunrise and sunset (sin^1.3 gives realistic shoulders)."""
    if hour <= sunrise_h or hour >= sunset_h:
        return 0.0
    x = (hour - sunrise_h) / (sunset_h - sunrise_h)
    return peak_w * math.sin(math.pi * x) ** 1.3


def cloud_factors(
    n: int, rng: random.Random, sun_mean_s: float, cloud_mean_s: float, depth: Tuple[float, float]
) -> List[float]:
    """Transmission 0..1 per second: sunny spells and cloud passages, edges ramping 15–40 s.

    ``depth`` is the (min, max) fraction of light a cloud removes. With ``cloud_mean_s`` 0 the sky
    is clear; with ``sun_mean_s`` 0 it is overcast at a slowly wandering ``depth``.
    """
    if cloud_mean_s <= 0:
        return [1.0] * n
    out = [1.0] * n
    level, t = 1.0, 0
    cloudy = sun_mean_s <= 0
    while t < n:
        mean = cloud_mean_s if cloudy else sun_mean_s
        length = max(20, int(rng.expovariate(1.0 / mean))) if mean > 0 else n
        target = 1.0 - rng.uniform(*depth) if cloudy else 1.0
        ramp = rng.randint(15, 40)
        for i in range(t, min(n, t + length)):
            k = min(1.0, (i - t) / ramp)
            out[i] = level + (target - level) * k
        level = target
        t += length
        if sun_mean_s > 0:
            cloudy = not cloudy
    return out


# ---- house ---------------------------------------------------------------------------------
APPLIANCES = (  # name, power W, duration s, phase index
    ("kettle", 2000.0, 180, 0),
    ("oven", 2500.0, 2400, 1),
    ("washing machine", 2000.0, 1200, 2),
    ("dishwasher", 1800.0, 1500, 0),
    ("heat pump", 1500.0, 3600, 2),
    ("microwave", 1100.0, 240, 1),
)


def house_load(
    n: int,
    rng: random.Random,
    base_w: float,
    events: int,
    evening_w: float,
    hour_of: Sequence[float],
) -> List[Phase3]:
    """Base load split over the phases, an evening bump, and ``events`` appliance spikes."""
    extra = [[0.0, 0.0, 0.0] for _ in range(n)]
    for _ in range(events):
        _name, power, dur, phase = rng.choice(APPLIANCES)
        start = rng.randrange(max(1, n - dur))
        for i in range(start, min(n, start + dur)):
            extra[i][phase] += power
    out: List[Phase3] = []
    wobble = 0.0
    for i in range(n):
        if i % 30 == 0:
            wobble = rng.uniform(-0.08, 0.08) * base_w
        h = hour_of[i]
        bump = evening_w if 17.5 <= h < 22.0 else (0.4 * evening_w if 6.5 <= h < 8.5 else 0.0)
        b = (base_w + wobble + bump) / 3.0
        e = extra[i]
        out.append((b + e[0], b + e[1], b + e[2]))
    return out


# ---- battery and grid ----------------------------------------------------------------------
@dataclass(frozen=True)
class BatteryParams:
    capacity_wh: float = 10000.0
    max_charge_w: float = 5000.0
    max_discharge_w: float = 5000.0
    efficiency: float = 0.95  # one way
    ess_min_soc: float = 10.0
    soc0: float = 50.0


@dataclass(frozen=True)
class SiteReading:
    """What the GX would publish for one second (Venus sign conventions)."""

    grid_w: Phase3
    pv_w: float
    consumption_w: Phase3  # house + car
    battery_w: float  # + charging
    soc: float
    import_w: float
    export_w: float


def battery_step(soc: float, net_w: float, b: BatteryParams, dt: float) -> Tuple[float, float]:
    """ESS for ``dt`` seconds with ``net_w`` (PV − loads, + = surplus): it absorbs surplus until
    full and covers deficits down to its minimum SOC. Returns (battery W, + = charging; new SOC %).
    """
    cap = b.capacity_wh
    if net_w >= 0:
        room_w = max(0.0, (100.0 - soc) / 100.0 * cap * 3600.0 / dt / b.efficiency)
        batt = min(net_w, b.max_charge_w, room_w)
        return batt, soc + batt * b.efficiency * dt / 3600.0 / cap * 100.0
    avail_w = max(0.0, (soc - b.ess_min_soc) / 100.0 * cap * 3600.0 / dt * b.efficiency)
    batt = -min(-net_w, b.max_discharge_w, avail_w)
    return batt, soc + batt / b.efficiency * dt / 3600.0 / cap * 100.0


class SiteModel:
    """Steps the battery through a trace given the car's per-phase power each second."""

    def __init__(self, trace: Trace, battery: Optional[BatteryParams] = None) -> None:
        self.trace = trace
        self.bat = battery or BatteryParams()
        self.soc = self.bat.soc0

    def step(self, i: int, ev_w: Phase3, dt: float = 1.0) -> SiteReading:
        pv = self.trace.pv_w[i]
        house = self.trace.load_w[i]
        ev_total = ev_w[0] + ev_w[1] + ev_w[2]
        net = pv - (house[0] + house[1] + house[2]) - ev_total  # + = surplus
        batt, self.soc = battery_step(self.soc, net, self.bat, dt)
        third_pv, third_b = pv / 3.0, batt / 3.0
        grid = (
            ev_w[0] + house[0] + third_b - third_pv,
            ev_w[1] + house[1] + third_b - third_pv,
            ev_w[2] + house[2] + third_b - third_pv,
        )
        total = grid[0] + grid[1] + grid[2]
        cons = (house[0] + ev_w[0], house[1] + ev_w[1], house[2] + ev_w[2])
        return SiteReading(grid, pv, cons, batt, self.soc, max(0.0, total), max(0.0, -total))


# ---- CSV -----------------------------------------------------------------------------------
HEADER = ("t_s", "pv_w", "load_w", "price_eur_kwh", "load_l1_w", "load_l2_w", "load_l3_w")


def write_trace_csv(trace: Trace, path: Path, every_s: int = 1) -> None:
    """Write ``t_s,pv_w,load_w,price_eur_kwh`` plus the per-phase split (a header line first)."""
    with open(path, "w", newline="") as fh:
        fh.write(f"# start_ts={trace.start_ts:.0f}\n")
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(0, len(trace), every_s):
            ld = trace.load_w[i]
            head = (i, f"{trace.pv_w[i]:.0f}", f"{sum(ld):.0f}", f"{trace.price[i]:.4f}")
            w.writerow((*head, *(f"{x:.0f}" for x in ld)))


def read_trace_csv(path: Path, start_ts: float = 0.0, default_price: float = 0.25) -> Trace:
    """Replay ``t_s,pv_w,load_w[,price_eur_kwh[,load_l1_w,load_l2_w,load_l3_w]]``.

    Rows may be sparse (e.g. every 10 s): values hold until the next row. Without a per-phase
    split the load is spread evenly. A ``# start_ts=`` comment sets the day's start.
    """
    rows: List[List[str]] = []
    with open(path, newline="") as fh:
        for line in fh:
            if line.startswith("# start_ts="):
                start_ts = float(line.split("=", 1)[1])
            elif line.strip() and not line.startswith("#"):
                rows.append(next(csv.reader([line])))
    if rows and not rows[0][0].replace(".", "").isdigit():
        rows = rows[1:]
    pv: List[float] = []
    load: List[Phase3] = []
    price: List[float] = []
    step = int(float(rows[-1][0]) - float(rows[-2][0])) if len(rows) > 1 else 1
    for r, nxt in zip(rows, [*rows[1:], None]):
        t0 = int(float(r[0]))
        t1 = int(float(nxt[0])) if nxt else t0 + step  # the last row lasts one sample step
        p = float(r[3]) if len(r) > 3 and r[3] else default_price
        if len(r) >= 7:
            ld = (float(r[4]), float(r[5]), float(r[6]))
        else:
            third = float(r[2]) / 3.0
            ld = (third, third, third)
        for _ in range(t0, t1):
            pv.append(float(r[1]))
            load.append(ld)
            price.append(p)
    return Trace(start_ts, pv, load, price)
