"""A second family of simulated days, drawn from a seed: the bench's test of AUTO on days it was
not written for (bench/family.py). sim/days.py stays the 13 hand-written days.

Every draw comes from ``random.Random(seed)``, so a seed is one day, the same on every machine
and Python version (``random`` guarantees its sequence for a seed). ``spec_for(seed)`` says what
the day is; ``build(spec)`` makes its trace (1 s, local midnight to midnight, Europe/Amsterdam).

**The sky.** A day is one of five kinds: clear, broken, mixed, overcast or winter (winter: a date
from November to February, its sky clear, mixed or overcast). The kind sets the weights of a
Markov chain over cloud *regimes*; each regime lasts an exponential time (mean 40 min, at least
10 min), then the next one is drawn from the kind's weights. A regime alternates sun and cloud:

=========  ===========================  ==============================  =====================
regime     mean sunny spell (s)         mean cloud passage (s)          light a cloud removes
=========  ===========================  ==============================  =====================
clear      the whole regime             none                            none
haze       120–900                      60–600                          10–35 %
fast       30–120                       30–120                          45–85 %
slow       240–900                      120–900                         45–85 %
grey       none (always cloud)          60–900 (the grey level wanders) 55–85 %
=========  ===========================  ==============================  =====================

Each regime draws its own means in those ranges (log-uniform, so 30 s to 15 min are all common),
each spell or passage an exponential time around them; every change of light ramps linearly over
10–60 s (a cloud's edge).

**The sun.** Any date of 2026 (latitude 52° N): sunrise, sunset and the noon height come from the
sun's declination; a 4–12 kWp array peaks at 0.8 × kWp × the noon height's share of June's, on a
sin^1.3 bell. Solar noon is 12:40 in standard time (13:40 in summer time).

**The house.** A base load (150–400 W) with a fridge cycling 80 W, lights in the evening, and
appliance blocks, each on one phase (the heat pump on three): kettle (2–2.2 kW, 2–4 min,
2–5 a day), a cycling oven (heat-up, then 2.5–3 kW on 40–90 s, off 60–120 s, for 40–70 min),
washer (2 kW heating 12–20 min, then a 200 W drum with 500 W spin), dryer (2.2 kW in 5-minute
bursts for 60–100 min), cooktop (1.2–3.6 kW, the level changing every 1–5 min, 20–45 min) and a
heat pump (1–2.5 kW for 30–90 min; 6–10 runs a day in winter, 0–1 in summer for hot water).

**The car.** Plugged in from 6:00–17:00 for 2–14 h (not past midnight), needing 8–60 kWh,
16 A, three phases. **The battery** (for the ESS sites): 5–15 kWh, at most 0.5 C, 95 % each way,
at 15–90 % SOC at midnight, ESS minimum 10–20 %.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from sim import days as days13
from sim.site_model import BatteryParams, Phase3, Trace, clear_sky_w

KINDS = ("clear", "broken", "mixed", "overcast", "winter")
REGIME_WEIGHTS = {  # per kind: clear, haze, fast, slow, grey
    "clear": (0.8, 0.2, 0.0, 0.0, 0.0),
    "broken": (0.2, 0.0, 0.45, 0.35, 0.0),
    "mixed": (0.25, 0.15, 0.2, 0.2, 0.2),
    "overcast": (0.0, 0.05, 0.0, 0.15, 0.8),
}
REGIMES = ("clear", "haze", "fast", "slow", "grey")
# regime: (sunny spell mean range s, cloud passage mean range s, depth range); 0 = none
REGIME_SHAPES = {
    "clear": ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
    "haze": ((120.0, 900.0), (60.0, 600.0), (0.10, 0.35)),
    "fast": ((30.0, 120.0), (30.0, 120.0), (0.45, 0.85)),
    "slow": ((240.0, 900.0), (120.0, 900.0), (0.45, 0.85)),
    "grey": ((0.0, 0.0), (60.0, 900.0), (0.55, 0.85)),
}
REGIME_MEAN_S = 2400.0
REGIME_MIN_S = 600
LATITUDE = math.radians(52.0)
SOLAR_NOON_STD_H = 12.67  # 12:40 in standard time (CET) at 5° E
TUNING_SEEDS: Tuple[int, ...] = tuple(range(1, 41))
HELD_OUT_SEEDS: Tuple[int, ...] = tuple(range(9001, 9013))  # never tuned on


@dataclass(frozen=True)
class FamilyDay:
    seed: int
    kind: str
    date: str
    kwp: float
    pv_peak_w: float
    sunrise_h: float  # local clock hours
    sunset_h: float
    arrive_h: float
    depart_h: float
    need_kwh: float
    battery: BatteryParams

    @property
    def about(self) -> str:
        return (
            f"{self.kind} {self.date} {self.kwp:.1f} kWp, car {self.arrive_h:.1f}–"
            f"{self.depart_h:.1f} h needs {self.need_kwh:.0f} kWh"
        )


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _sun(date: dt.date) -> Tuple[float, float, float]:
    """(sunrise, sunset in standard-time hours, sine of the noon height) at ``LATITUDE``."""
    doy = date.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365.0)
    cos_w = max(-1.0, min(1.0, -math.tan(LATITUDE) * math.tan(decl)))
    half_h = math.degrees(math.acos(cos_w)) / 15.0
    noon_sin = math.sin(LATITUDE) * math.sin(decl) + math.cos(LATITUDE) * math.cos(decl)
    return SOLAR_NOON_STD_H - half_h, SOLAR_NOON_STD_H + half_h, noon_sin


def spec_for(seed: int) -> FamilyDay:
    """The day of ``seed`` (deterministic)."""
    rng = random.Random(seed)
    kind = KINDS[rng.randrange(len(KINDS))]
    winter_days = [*range(305, 366), *range(1, 60)]
    doy = rng.choice(winter_days) if kind == "winter" else rng.randint(1, 365)
    date = dt.date(2026, 1, 1) + dt.timedelta(days=doy - 1)
    rise, set_, noon_sin = _sun(date)
    shift = days13.utc_offset_h(date.isoformat()) - 1.0  # summer time: the clock is an hour on
    june_sin = math.sin(LATITUDE) * math.sin(math.radians(23.44)) + math.cos(LATITUDE) * math.cos(
        math.radians(23.44)
    )
    kwp = round(rng.uniform(4.0, 12.0), 1)
    peak = 0.8 * kwp * 1000.0 * max(0.0, noon_sin) / june_sin
    arrive = round(rng.uniform(6.0, 17.0), 2)
    depart = min(23.99, arrive + rng.uniform(2.0, 14.0))
    need = round(rng.uniform(8.0, 60.0), 1)
    cap = rng.uniform(5000.0, 15000.0)
    battery = BatteryParams(
        capacity_wh=round(cap),
        max_charge_w=round(min(5000.0, 0.5 * cap)),
        max_discharge_w=round(min(5000.0, 0.5 * cap)),
        soc0=round(rng.uniform(15.0, 90.0), 1),
        ess_min_soc=float(rng.choice((10, 15, 20))),
    )
    return FamilyDay(
        seed,
        kind,
        date.isoformat(),
        kwp,
        peak,
        rise + shift,
        set_ + shift,
        arrive,
        round(depart, 2),
        need,
        battery,
    )


def sky(n: int, rng: random.Random, kind: str) -> List[float]:
    """Light transmission 0..1 per second: the Markov chain of regimes (module docstring)."""
    weights = REGIME_WEIGHTS["mixed" if kind == "winter" else kind]
    if kind == "winter":  # a winter day is mostly one of clear, mixed or overcast
        weights = REGIME_WEIGHTS[rng.choice(("clear", "mixed", "overcast"))]
    out: List[float] = []
    level = 1.0
    while len(out) < n:
        regime = rng.choices(REGIMES, weights)[0]
        length = max(REGIME_MIN_S, int(rng.expovariate(1.0 / REGIME_MEAN_S)))
        sun_r, cloud_r, depth_r = REGIME_SHAPES[regime]
        sun_mean = _log_uniform(rng, *sun_r) if sun_r[1] > 0 else 0.0
        cloud_mean = _log_uniform(rng, *cloud_r) if cloud_r[1] > 0 else 0.0
        cloudy = sun_mean <= 0 and cloud_mean > 0
        end = min(n, len(out) + length)
        while len(out) < end:
            if cloud_mean <= 0:
                target, span = rng.uniform(0.95, 1.0), end - len(out)
            elif cloudy:
                target = 1.0 - rng.uniform(*depth_r)
                span = max(10, int(rng.expovariate(1.0 / cloud_mean)))
            else:
                target = rng.uniform(0.9, 1.0)
                span = max(10, int(rng.expovariate(1.0 / sun_mean)))
            edge = rng.randint(10, 60)
            start = level
            for k in range(min(span, end - len(out))):
                out.append(start + (target - start) * min(1.0, k / edge))
            level = out[-1]  # a spell shorter than its edge leaves the ramp where it got to
            if sun_mean > 0:
                cloudy = not cloudy
    return out[:n]


def _block(
    load: List[List[float]], start: int, pattern: Sequence[Tuple[int, float]], phases: Sequence[int]
) -> None:
    """Add ``pattern`` (seconds, W) from ``start``, the power split over ``phases``."""
    t = start
    n = len(load)
    for dur, w in pattern:
        share = w / len(phases)
        for i in range(max(0, t), min(n, t + dur)):
            row = load[i]
            for p in phases:
                row[p] += share
        t += dur


def _cycling(
    rng: random.Random, total_s: int, on_w: float, on_s: Tuple[int, int], off_s: Tuple[int, int]
) -> List[Tuple[int, float]]:
    out: List[Tuple[int, float]] = []
    done = 0
    while done < total_s:
        a, b = rng.randint(*on_s), rng.randint(*off_s)
        out += [(a, on_w), (b, 0.0)]
        done += a + b
    return out


def house(n: int, rng: random.Random, hours: Sequence[float], doy: int) -> List[Phase3]:
    """The house without the car, per phase (module docstring)."""
    load = [[0.0, 0.0, 0.0] for _ in range(n)]
    at = lambda h: int(h * 3600)  # noqa: E731 - local hour → second (close enough across DST)
    one = lambda: (rng.randrange(3),)  # noqa: E731 - an appliance on one phase
    for _ in range(rng.randint(2, 5)):  # kettle
        _block(
            load,
            at(rng.uniform(6.5, 22.5)),
            [(rng.randint(120, 240), rng.uniform(2000, 2200))],
            one(),
        )
    if rng.random() < 0.7:  # cycling oven
        w = rng.uniform(2500, 3000)
        pattern = [(480, w), *_cycling(rng, rng.randint(2400, 4200), w, (40, 90), (60, 120))]
        _block(
            load, at(rng.choice((rng.uniform(11.5, 13.0), rng.uniform(16.5, 19.0)))), pattern, one()
        )
    for _ in range(rng.randint(0, 2)):  # washer
        ph = one()
        t0 = at(rng.uniform(8.0, 20.0))
        drum = _cycling(rng, 2400, 200.0, (10, 30), (5, 15))
        _block(load, t0, [(rng.randint(720, 1200), 2000.0), *drum, (600, 500.0)], ph)
    if rng.random() < 0.5:  # dryer
        _block(
            load,
            at(rng.uniform(10.0, 21.0)),
            _cycling(rng, rng.randint(3600, 6000), 2200.0, (240, 300), (50, 70)),
            one(),
        )
    for _ in range(rng.randint(0, 2)):  # cooktop
        steps = []
        left = rng.randint(1200, 2700)
        while left > 0:
            d = min(left, rng.randint(60, 300))
            steps.append((d, rng.choice((1200.0, 1800.0, 2400.0, 3600.0))))
            left -= d
        _block(
            load, at(rng.choice((rng.uniform(11.5, 13.0), rng.uniform(17.0, 19.5)))), steps, one()
        )
    cold = 0.5 + 0.5 * math.cos(2 * math.pi * (doy - 15) / 365.0)  # 1 in mid-January, 0 in July
    runs = (
        rng.randint(6, 10)
        if cold > 0.8
        else (rng.randint(2, 5) if cold > 0.35 else rng.randint(0, 1))
    )
    three = rng.random() < 0.5
    for _ in range(runs):  # heat pump
        phases = (0, 1, 2) if three else one()
        _block(
            load,
            at(rng.uniform(0.0, 23.0)),
            [(rng.randint(1800, 5400), rng.uniform(1000, 2500))],
            phases,
        )
    base = rng.uniform(150.0, 400.0)
    evening = rng.uniform(150.0, 400.0)
    out: List[Phase3] = []
    wobble = 0.0
    for i in range(n):
        if i % 60 == 0:
            wobble = rng.uniform(-0.1, 0.1) * base
        h = hours[i]
        fridge = 80.0 if (i // 60) % 40 < 15 else 0.0
        lights = evening if 18.0 <= h < 23.0 else (0.5 * evening if 6.5 <= h < 8.0 else 0.0)
        b = (base + wobble + lights) / 3.0
        row = load[i]
        out.append((b + fridge + row[0], b + row[1], b + row[2]))
    return out


def build(spec: FamilyDay) -> Trace:
    """The day's trace at 1 s: PV, house per phase and a day-ahead price."""
    start, end = days13.day_bounds(spec.date)
    n = int(end - start)
    rng = random.Random(spec.seed * 7_777 + 1)
    hours = days13.local_hours(start, n)
    light = sky(n, rng, spec.kind)
    pv = [
        clear_sky_w(hours[i], spec.pv_peak_w, spec.sunrise_h, spec.sunset_h) * light[i]
        for i in range(n)
    ]
    doy = dt.date.fromisoformat(spec.date).timetuple().tm_yday
    load = house(n, rng, hours, doy)
    slots = days13.price_slots(start, n / 3600.0, spec.seed, 0.06 if spec.kind == "clear" else 0.03)
    price = [slots[min(i // days13.SLOT_S, len(slots) - 1)][2] for i in range(n)]
    return Trace(start, pv, load, price)
