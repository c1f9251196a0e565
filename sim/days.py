"""A catalogue of varied, deterministic days for the simulated site (and a CLI to write them).

Each ``DaySpec`` documents one kind of day: the sky (clear, broken cumulus, overcast, scattered),
the season (sun height and day length), the house (base load, appliance spikes, evening bump),
the battery's SOC at midnight, when the car is plugged in and what it needs, and a day-ahead
price curve in 15-min slots (cheap at night and, in summer, around noon; expensive at dinner).
Days are local days in Europe/Amsterdam, so the two DST days have 23 h and 25 h.

    python -m sim.days                  # write every day to sim/traces/<name>.csv
    python -m sim.days --list           # describe the days
    python -m sim.days --day clear_june --every 10 --out /tmp
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytz

from sim.site_model import (
    BatteryParams,
    Trace,
    clear_sky_w,
    cloud_factors,
    house_load,
    write_trace_csv,
)

TZ = "Europe/Amsterdam"
SLOT_S = 900


@dataclass(frozen=True)
class DaySpec:
    name: str
    about: str
    date: str  # local date YYYY-MM-DD
    pv_peak_w: float
    sunrise_h: float
    sunset_h: float
    sun_mean_s: float = 0.0  # mean sunny spell (0 with clouds = overcast)
    cloud_mean_s: float = 0.0  # mean cloud passage (0 = clear)
    depth: Tuple[float, float] = (0.0, 0.0)  # fraction of light a cloud removes
    house_base_w: float = 300.0
    events: int = 6  # appliance runs during the day
    evening_w: float = 400.0
    soc0: float = 50.0
    ess_min_soc: float = 10.0
    car_arrive_h: float = 0.0
    car_depart_h: float = 24.0
    car_need_kwh: float = 50.0  # a big, nearly empty car: the sun rarely fills it
    car_max_a: float = 16.0
    car_phases: int = 3
    seed: int = 1


DAYS: Tuple[DaySpec, ...] = (
    DaySpec(
        "clear_june",
        "long clear summer day, car home 8–18",
        "2026-06-22",
        9000,
        5.5,
        22.0,
        soc0=60,
        car_arrive_h=8,
        car_depart_h=18,
        seed=1,
    ),
    DaySpec(
        "broken_cloud",
        "summer cumulus: minutes of sun, deep short shadows",
        "2026-06-16",
        9000,
        5.5,
        22.0,
        240,
        90,
        (0.5, 0.8),
        soc0=55,
        car_arrive_h=7.5,
        car_depart_h=19,
        seed=2,
    ),
    DaySpec(
        "overcast",
        "grey May day, 20–40 % light, slowly wandering",
        "2026-05-12",
        9000,
        6.0,
        21.5,
        0,
        600,
        (0.6, 0.8),
        soc0=40,
        car_arrive_h=8,
        car_depart_h=18,
        seed=3,
    ),
    DaySpec(
        "winter_clear",
        "December: low sun, short day",
        "2026-12-15",
        3500,
        8.8,
        16.5,
        soc0=30,
        house_base_w=450,
        evening_w=600,
        car_arrive_h=8,
        car_depart_h=18,
        seed=4,
    ),
    DaySpec(
        "winter_overcast",
        "January overcast: almost nothing to harvest",
        "2026-01-20",
        3500,
        8.8,
        16.8,
        0,
        900,
        (0.7, 0.9),
        soc0=25,
        house_base_w=450,
        evening_w=600,
        car_arrive_h=8,
        car_depart_h=18,
        seed=5,
    ),
    DaySpec(
        "spring_scattered",
        "April: long sunny spells, short clouds",
        "2026-04-14",
        7500,
        6.8,
        20.3,
        900,
        120,
        (0.4, 0.7),
        soc0=50,
        car_arrive_h=8,
        car_depart_h=18,
        seed=6,
    ),
    DaySpec(
        "evening_plugin",
        "clear July day, car only arrives at 17:00",
        "2026-07-02",
        9000,
        5.6,
        22.0,
        soc0=70,
        car_arrive_h=17,
        car_depart_h=24,
        seed=7,
    ),
    DaySpec(
        "busy_house",
        "August, broken cloud and heavy appliance use",
        "2026-08-08",
        8000,
        6.3,
        21.3,
        400,
        120,
        (0.4, 0.8),
        house_base_w=500,
        events=16,
        soc0=50,
        car_arrive_h=9,
        car_depart_h=20,
        seed=8,
    ),
    DaySpec(
        "battery_full",
        "battery nearly full at dawn: export starts early",
        "2026-06-25",
        9000,
        5.5,
        22.0,
        1200,
        150,
        (0.3, 0.6),
        soc0=96,
        car_arrive_h=7,
        car_depart_h=20,
        seed=9,
    ),
    DaySpec(
        "battery_low",
        "battery near ESS minimum in the morning (Low SOC)",
        "2026-03-10",
        6000,
        7.2,
        18.5,
        600,
        120,
        (0.3, 0.6),
        soc0=12,
        car_arrive_h=8,
        car_depart_h=18,
        seed=10,
    ),
    DaySpec(
        "dst_spring",
        "last Sunday of March: 23-hour day, broken cloud",
        "2026-03-29",
        6500,
        7.4,
        20.0,
        300,
        120,
        (0.4, 0.7),
        soc0=45,
        car_arrive_h=8,
        car_depart_h=19,
        seed=11,
    ),
    DaySpec(
        "dst_autumn",
        "last Sunday of October: 25-hour day, scattered",
        "2026-10-25",
        5000,
        7.3,
        17.4,
        700,
        150,
        (0.4, 0.7),
        soc0=45,
        car_arrive_h=8,
        car_depart_h=18,
        seed=12,
    ),
    DaySpec(
        "one_phase_car",
        "broken cloud, a single-phase 16 A car",
        "2026-07-10",
        8000,
        5.8,
        21.8,
        300,
        100,
        (0.5, 0.8),
        soc0=60,
        car_arrive_h=8,
        car_depart_h=18,
        car_phases=1,
        seed=13,
    ),
)


def day_bounds(date: str, tz_name: str = TZ) -> Tuple[float, float]:
    """Unix seconds of local midnight and the next local midnight (23/24/25 h apart)."""
    tz = pytz.timezone(tz_name)
    d = dt.date.fromisoformat(date)
    nxt = d + dt.timedelta(days=1)
    a = tz.localize(dt.datetime(d.year, d.month, d.day)).timestamp()
    b = tz.localize(dt.datetime(nxt.year, nxt.month, nxt.day)).timestamp()
    return a, b


def utc_offset_h(date: str, tz_name: str = TZ) -> float:
    """The zone's offset from UTC at local noon of ``date``, in hours (2 in summer time)."""
    d = dt.date.fromisoformat(date)
    noon = pytz.timezone(tz_name).localize(dt.datetime(d.year, d.month, d.day, 12))
    off = noon.utcoffset()
    return off.total_seconds() / 3600.0 if off is not None else 0.0


def on_date(spec: DaySpec, date: str) -> DaySpec:
    """The same day on another date, the sun kept at its solar time: across a DST change it
    rises an hour earlier or later on the clock, while the house keeps to the clock. (A
    forecast learned on such days must not key the sun by the clock.)"""
    shift = utc_offset_h(date) - utc_offset_h(spec.date)
    return replace(
        spec, date=date, sunrise_h=spec.sunrise_h + shift, sunset_h=spec.sunset_h + shift
    )


def local_hours(start_ts: float, n: int, tz_name: str = TZ) -> List[float]:
    """Wall-clock hour (0..24) of each second, DST-correct."""
    tz = pytz.timezone(tz_name)
    offsets = [
        dt.datetime.fromtimestamp(start_ts + h * 3600, tz).utcoffset() or dt.timedelta(0)
        for h in range(n // 3600 + 2)
    ]
    base = offsets[0].total_seconds()
    return [(i + offsets[i // 3600].total_seconds() - base) / 3600.0 for i in range(n)]


def price_at_hour(hour: float, solar_dip: float) -> float:
    """A day-ahead-like shape in €/kWh incl. taxes: night trough, dinner peak, solar dip."""
    price = 0.24
    if 17.0 <= hour < 21.0:
        price += 0.10
    elif 7.0 <= hour < 9.0:
        price += 0.05
    elif hour < 5.0 or hour >= 23.0:
        price -= 0.05
    if 10.0 <= hour < 16.0:
        price -= solar_dip
    return price


def price_slots(
    start_ts: float, hours: float, seed: int, solar_dip: float = 0.06, tz_name: str = TZ
) -> List[Tuple[float, float, float]]:
    """(start, end, €/kWh) per 15 min for ``hours`` from ``start_ts`` (a slot boundary)."""
    rng = random.Random(seed * 7919)
    n = int(hours * 3600 // SLOT_S)
    hrs = local_hours(start_ts, n * SLOT_S + 1, tz_name)
    out = []
    for k in range(n):
        t = start_ts + k * SLOT_S
        h = hrs[k * SLOT_S] % 24.0
        out.append(
            (t, t + SLOT_S, round(price_at_hour(h, solar_dip) + rng.uniform(-0.03, 0.03), 4))
        )
    return out


def solar_dip(spec: DaySpec) -> float:
    return 0.08 * min(1.0, spec.pv_peak_w / 9000.0) * (1.0 if spec.cloud_mean_s == 0 else 0.6)


def build(spec: DaySpec) -> Trace:
    start, end = day_bounds(spec.date)
    n = int(end - start)
    rng = random.Random(spec.seed)
    hours = local_hours(start, n)
    clouds = cloud_factors(n, rng, spec.sun_mean_s, spec.cloud_mean_s, spec.depth)
    # the sun follows solar time: during summer time it rises an hour later on the clock
    pv = [
        clear_sky_w(hours[i], spec.pv_peak_w, spec.sunrise_h, spec.sunset_h) * clouds[i]
        for i in range(n)
    ]
    load = house_load(n, rng, spec.house_base_w, spec.events, spec.evening_w, hours)
    slots = price_slots(start, n / 3600.0, spec.seed, solar_dip(spec))
    price = [slots[min(i // SLOT_S, len(slots) - 1)][2] for i in range(n)]
    return Trace(start, pv, load, price)


def battery_for(spec: DaySpec) -> BatteryParams:
    return BatteryParams(soc0=spec.soc0, ess_min_soc=spec.ess_min_soc)


def by_name(name: str) -> DaySpec:
    for d in DAYS:
        if d.name == name:
            return d
    raise KeyError(f"no day {name!r}; known: {', '.join(d.name for d in DAYS)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.days", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "traces"))
    ap.add_argument("--day", action="append", help="only this day (repeatable)")
    ap.add_argument("--every", type=int, default=1, help="write every Nth second")
    ap.add_argument("--list", action="store_true", help="describe the days and exit")
    args = ap.parse_args(argv)
    days = [by_name(n) for n in args.day] if args.day else list(DAYS)
    if args.list:
        for d in days:
            print(f"{d.name:18} {d.date}  {d.about}")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for d in days:
        path = out / f"{d.name}.csv"
        write_trace_csv(build(d), path, args.every)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
