"""Judge the controller: replay whole simulated days against the real core and reference rules.

    python -m bench.control            # the generated family (bench/family.py), then the 13 days
    python -m bench.control --family only
    python -m bench.control --day clear_june

AUTO, per day and in total, for: the core (phase switching available), the core on fixed phases,
(b) the seed rule, (c) an evcc-style rule, and (a) the perfect-foresight optimum.

Definitions (the same for every controller; nothing here knows which one it measures):

* **solar available to the car** each second = PV − house − the battery's priority share, where
  the battery's share is what it would absorb (up to its charge power) while its SOC is below
  ``auto.battery_priority_soc``. Solar the battery stores for the evening is not the car's.
* **EV solar** = Σ min(car power, solar available to the car).
* **grid import caused by the EV** = grid import of the day − grid import of the same day
  without the car, plus the battery energy the car left missing at midnight (to be bought back).
* **net solar** = EV energy − grid import caused by the EV: what the sun gave the car over
  the day, directly or through the battery it refilled (evcc also counts battery energy as
  solar). The per-second **EV solar** above does not credit a battery that carries the car
  through a cloud and is refilled later; the net figure does, and charges battery debt.
* **missed surplus** = export while the car was plugged in and not full, as far as the car could
  have taken it (up to its max power; while paused only when the export covered 6 A on 1 phase).
* **cost** = change in (import cost − export revenue at 0.07 €/kWh) caused by the car, with the
  battery debt valued at the day's mean price.
* **core-keep** = the core with ``auto.afternoon_battery_soc: 95`` (after the PV peak the car
  shares the battery's charge only above 95 %), to show that setting's trade-off.
* **core-fcst** = the core with ``auto.battery_capacity_kwh`` set and a PV forecast: the
  battery check (``auto.battery_check``, on by default) shares the battery's charge only while
  the forecast sun left today still fills the battery. The forecast is the day's own PV − house per quarter hour (a good weather service), times
  ``--forecast-error``; on a GX it is learned from the last days and corrected by today's sun.
* **core-learn** = the defaults three days after installation: the same check with the learned
  forecast (control/forecast.py) and the learned battery capacity (control/battery_capacity.py),
  taught three earlier days of other weather (the same kind of day with other clouds, a clear
  day, an overcast day) and fed the day itself as it happens. The plain **core** row is the
  first day, when the check has neither and stays out of the way.
* **optimum (a)** = Σ min(car max power, solar available) over seconds where that is at least
  the 6 A minimum on one phase, capped at what the car needs, phases free and instant, no delays.
  It is an upper bound on EV solar for any controller that never buys power for the car; a
  controller that accepts grid import at 6 A may pass it by the solar share of that import.
  ``bound`` (totals line) drops the 6 A condition: the bound for any controller at all.
  Its import column is what taking all that solar costs: battery charge the car took on a day
  the battery then does not fill is bought back in the evening.
* **max net** = the most net solar any controller could get with perfect foresight under the
  same battery-priority rule (bench/net_optimum.py: 1-minute steps, 6 A…max on 1 or 3 phases,
  the battery may top up the car above its priority SOC). The net table's ratios are to it.

SCHEDULED: nights from 18:00 to 07:00 (two of them across the DST changes) with a deadline of
N kWh by 07:00; cost = Σ car energy × slot price, against the cheapest possible: the cheapest
quarter hours filled at the car's real power (fractional last one) for the same energy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from bench import net_optimum
from bench.ev import VOLTS, EvModel
from bench.rules import CoreController, EvccRule, LearningCore, SeedRule
from control.model import ForecastSlot, Mode, Prices, PriceSlot
from control.settings import CoreSettings
from sim import days as daylib
from sim.site_model import SiteModel, SiteReading, Trace

FEED_IN_EUR = 0.07
Controller = Callable[[float, SiteReading, EvModel], Tuple[float, Optional[int]]]


@dataclass
class DayResult:
    ev_kwh: float = 0.0
    solar_kwh: float = 0.0
    import_kwh: float = 0.0
    missed_kwh: float = 0.0
    starts: int = 0
    switches: int = 0
    cost_eur: float = 0.0
    seconds: float = 0.0  # wall time of the run
    extra: Dict[str, float] = field(default_factory=dict)


def make_ev(spec: daylib.DaySpec) -> EvModel:
    return EvModel(
        arrive_s=spec.car_arrive_h * 3600.0,
        depart_s=spec.car_depart_h * 3600.0 + _dst_shift(spec),
        need_wh=spec.car_need_kwh * 1000.0,
        max_a=spec.car_max_a,
        car_phases=spec.car_phases,
    )


def _dst_shift(spec: daylib.DaySpec) -> float:
    """A 23/25 h day: departure at 24:00 means the end of the trace."""
    start, end = daylib.day_bounds(spec.date)
    return (end - start - 86400.0) if spec.car_depart_h >= 24 else 0.0


def _priority_share(pv_minus_house: float, soc: float, s: CoreSettings, max_charge: float) -> float:
    if soc >= s.battery_priority_soc or soc >= 99.9 or pv_minus_house <= 0:
        return 0.0
    return min(max_charge, pv_minus_house)


Observer = Callable[[int, float, float, EvModel], None]


def run_day(
    spec: daylib.DaySpec,
    trace: Trace,
    make: Optional[Callable[[], Controller]],
    s: CoreSettings,
    hours: Optional[float] = None,
    observe: Optional[Observer] = None,
) -> Tuple[DayResult, List[float]]:
    """Simulate one day at 1 s; ``make`` None = no car. Returns the result and per-second import.

    ``observe(second, car power W, solar available to the car W, car)`` sees every second before
    the controller acts (bench/losses.py splits the shortfall by controller state with it)."""
    bat = daylib.battery_for(spec)
    site = SiteModel(trace, bat)
    ev = make_ev(spec)
    ctrl = make() if make else None
    n = len(trace) if hours is None else min(len(trace), int(hours * 3600))
    res, imports = DayResult(), []
    ev_w = (0.0, 0.0, 0.0)
    t0 = time.perf_counter()
    min1_w = 6.0 * VOLTS
    for i in range(n):
        r = site.step(i, ev_w)
        imports.append(r.import_w)
        p_ev = ev_w[0] + ev_w[1] + ev_w[2]
        house = sum(r.consumption_w) - p_ev
        soc_before = r.soc  # close enough for the share (1 s of charge)
        avail = max(0.0, r.pv_w - house - _priority_share(r.pv_w - house, soc_before, s, 5000.0))
        res.ev_kwh += p_ev / 3.6e6
        res.solar_kwh += min(p_ev, avail) / 3.6e6
        res.cost_eur += (r.import_w * trace.price[i] - r.export_w * FEED_IN_EUR) / 3.6e6
        if observe is not None:
            observe(i, p_ev, avail, ev)
        if ev.connected(i) and not ev.full and r.export_w > 0:
            room = ev.max_a * VOLTS * ev.car_phases - p_ev
            if p_ev > 0 or r.export_w >= min1_w:
                res.missed_kwh += min(r.export_w, max(0.0, room)) / 3.6e6
        if ctrl is not None:
            amps, phases = ctrl(float(i), r, ev)
            ev.command(float(i), amps, phases)
        ev_w = ev.step(float(i), 1.0) if ctrl is not None else ev_w
    res.import_kwh = sum(imports) / 3.6e6
    res.starts, res.switches = ev.starts, ev.phase_switches
    res.seconds = time.perf_counter() - t0
    res.extra["soc_end"] = site.soc
    return res, imports


def optimum(spec: daylib.DaySpec, trace: Trace, s: CoreSettings, strict: bool = True) -> float:
    """Perfect-foresight upper bound on EV solar (kWh), see the module docstring."""
    return optimum_day(spec, trace, s, strict).solar_kwh


def optimum_day(
    spec: daylib.DaySpec, trace: Trace, s: CoreSettings, strict: bool = True
) -> DayResult:
    """The optimum's EV solar, and its raw grid import and battery SOC at the end of the day
    (for ``caused_by_ev``: what reaching it would cost in import on this day)."""
    bat = daylib.battery_for(spec)
    site = SiteModel(trace, bat)
    ev = make_ev(spec)
    pmax = ev.max_a * VOLTS * ev.car_phases
    pmin = 6.0 * VOLTS if strict else 0.0
    got_wh = import_wh = 0.0
    ev_w = (0.0, 0.0, 0.0)
    for i in range(len(trace)):
        r = site.step(i, ev_w)
        import_wh += r.import_w / 3600.0
        house = sum(trace.load_w[i])
        avail = max(0.0, r.pv_w - house - _priority_share(r.pv_w - house, r.soc, s, 5000.0))
        p = 0.0
        if ev.connected(i) and got_wh < ev.need_wh and avail > 0 and avail >= pmin:
            p = min(avail, pmax, (ev.need_wh - got_wh) * 3600.0)
        got_wh += p / 3600.0
        ev_w = (p / 3, p / 3, p / 3)  # the optimum's car draws it next second (no lag credit)
    res = DayResult(
        ev_kwh=got_wh / 1000.0, solar_kwh=got_wh / 1000.0, import_kwh=import_wh / 1000.0
    )
    res.extra["soc_end"] = site.soc
    return res


def max_net_solar(spec: daylib.DaySpec, trace: Trace, s: CoreSettings) -> float:
    """The most net solar any controller could get on this day (bench/net_optimum.py), kWh."""
    ev = make_ev(spec)
    surplus = net_optimum.minute_surplus(trace)
    step = net_optimum.STEP_S
    plugged = [
        ev.connected(m * step) and ev.connected(m * step + step - 1) for m in range(len(surplus))
    ]
    levels = net_optimum.car_levels(ev.max_a, ev.car_phases)
    got = net_optimum.max_net_kwh(
        surplus, plugged, daylib.battery_for(spec), s.battery_priority_soc, levels
    )
    return min(spec.car_need_kwh, got)


def caused_by_ev(res: DayResult, base: DayResult, trace: Trace, spec: daylib.DaySpec) -> None:
    """Turn raw day totals into 'caused by the EV' using the no-car run of the same day."""
    bat = daylib.battery_for(spec)
    debt_kwh = max(0.0, base.extra["soc_end"] - res.extra["soc_end"]) / 100.0 * bat.capacity_wh
    debt_kwh /= 1000.0 * bat.efficiency
    mean_price = statistics.fmean(trace.price)
    res.import_kwh = res.import_kwh - base.import_kwh + debt_kwh
    res.cost_eur = res.cost_eur - base.cost_eur + debt_kwh * mean_price


KEEP_SOC = 95.0  # the "core-keep" row: auto.afternoon_battery_soc set
FORECAST_ERROR = [1.0]  # the core-fcst row's forecast × this (--forecast-error)


def trace_forecast(trace: Trace, scale: float = 1.0) -> Tuple[ForecastSlot, ...]:
    """The day's PV − house per quarter hour, times ``scale``: a forecast as good as the weather
    service's day total (scale 1.0) or off by a factor."""
    minutes = net_optimum.minute_surplus(trace)
    per = 900 // net_optimum.STEP_S
    out = []
    for q in range(0, len(minutes), per):
        part = minutes[q : q + per]
        a = trace.start_ts + q * net_optimum.STEP_S
        out.append(
            ForecastSlot(a, a + len(part) * net_optimum.STEP_S, scale * sum(part) / len(part))
        )
    return tuple(out)


def learned_core(s: CoreSettings, spec: daylib.DaySpec, trace: Trace) -> LearningCore:
    """core-learn: the defaults three days after installation, when the battery check has the
    forecast and the battery capacity a GX learns. The three days before were different weather:
    the same kind of day, a clear one and an overcast one, each with the sun where it was on
    its own date (an hour apart on the clock across a DST change)."""
    ctrl = LearningCore(s, spec.ess_min_soc, trace.start_ts)
    day = dt.date.fromisoformat(spec.date)
    kinds = (
        replace(spec, seed=spec.seed + 100),
        replace(spec, sun_mean_s=0.0, cloud_mean_s=0.0),
        replace(spec, sun_mean_s=0.0, cloud_mean_s=600.0, depth=(0.6, 0.8)),
    )
    for back, kind in enumerate(kinds, start=1):
        earlier = daylib.on_date(kind, (day - dt.timedelta(days=back)).isoformat())
        ctrl.learn(daylib.build(earlier), daylib.battery_for(earlier))
    return ctrl


Factory = Callable[[CoreSettings, daylib.DaySpec, Trace], Controller]
CONTROLLERS: Dict[str, Factory] = {
    "core": lambda s, d, tr: CoreController(s, d.ess_min_soc, switching=True),
    "core-keep": lambda s, d, tr: CoreController(
        replace(s, afternoon_battery_soc=KEEP_SOC), d.ess_min_soc, switching=True
    ),
    "core-fcst": lambda s, d, tr: CoreController(
        replace(s, battery_capacity_kwh=daylib.battery_for(d).capacity_wh / 1000.0),
        d.ess_min_soc,
        switching=True,
        start_ts=tr.start_ts,
        pv_forecast=trace_forecast(tr, FORECAST_ERROR[0]),
    ),
    "core-learn": learned_core,
    "core-fixed": lambda s, d, tr: CoreController(s, d.ess_min_soc, switching=False),
    "seed(b)": lambda s, d, tr: SeedRule(d.ess_min_soc),
    "evcc(c)": lambda s, d, tr: EvccRule(s),
}


def bench_auto(specs: Sequence[daylib.DaySpec], s: CoreSettings) -> Dict[str, Dict[str, DayResult]]:
    out: Dict[str, Dict[str, DayResult]] = {}
    for spec in specs:
        trace = daylib.build(spec)
        base, _ = run_day(spec, trace, None, s)
        row: Dict[str, DayResult] = {}
        for name, factory in CONTROLLERS.items():
            res, _ = run_day(spec, trace, lambda f=factory, sp=spec, tr=trace: f(s, sp, tr), s)  # type: ignore[misc]
            caused_by_ev(res, base, trace, spec)
            row[name] = res
        best = optimum_day(spec, trace, s)
        caused_by_ev(best, base, trace, spec)
        row["optimum(a)"] = best
        row["bound"] = DayResult(solar_kwh=optimum(spec, trace, s, strict=False))
        row["net-opt"] = DayResult(solar_kwh=max_net_solar(spec, trace, s))
        out[spec.name] = row
    return out


# ---- SCHEDULED --------------------------------------------------------------------------------
NIGHTS: Tuple[Tuple[str, float], ...] = (  # (date of the evening, kWh by 07:00 next morning)
    ("2026-01-20", 30.0),
    ("2026-03-28", 40.0),  # into the spring DST change (23 h day)
    ("2026-06-16", 15.0),
    ("2026-10-24", 45.0),  # into the autumn DST change (25 h day)
    ("2026-12-15", 60.0),
)


@dataclass
class NightResult:
    need_kwh: float
    ev_kwh: float
    cost_eur: float
    cheapest_eur: float
    on_time: bool
    slots_used: int


def _night_prices(date: str, seed: int) -> Tuple[float, List[PriceSlot]]:
    start, _end = daylib.day_bounds(date)
    raw = daylib.price_slots(start, 48.0, seed, solar_dip=0.0)
    return start, [PriceSlot(a, b, p) for a, b, p in raw]


def cheapest_cost(
    slots: Sequence[PriceSlot], t0: float, t1: float, kwh: float, p_w: float
) -> float:
    """The LP optimum: fill the cheapest time at full power, the last part fractionally.

    Written independently of control/scheduled.py so a planner bug cannot hide in the judge."""
    spans = [(x.price, max(x.start, t0), min(x.end, t1)) for x in slots]
    left_wh, cost = kwh * 1000.0, 0.0
    for price, a, b in sorted(x for x in spans if x[2] > x[1]):
        if left_wh <= 1e-9:
            break
        wh = min(left_wh, p_w * (b - a) / 3600.0)
        cost += wh / 1000.0 * price
        left_wh -= wh
    return cost


def run_night(
    date: str, need_kwh: float, s: CoreSettings, seed: int, dt: float = 5.0
) -> NightResult:
    from control.local_time import deadline_at

    day_start, slots = _night_prices(date, seed)
    plug = day_start + 18 * 3600.0  # 18:00 local is 18 h after midnight on these dates
    deadline = deadline_at(plug, "07:00", s.timezone)
    ev = EvModel(arrive_s=0.0, depart_s=deadline - plug + 3600.0, need_wh=1e9)
    ctrl = CoreController(
        s,
        10.0,
        mode=Mode.SCHEDULED,
        prices=Prices(tuple(slots), "tibber"),
        deadline=(need_kwh, "07:00"),
        start_ts=plug,
    )
    zero = SiteReading((0.0, 0.0, 0.0), 0.0, (0.0, 0.0, 0.0), 0.0, 50.0, 0.0, 0.0)
    price_of = {int(x.start): x.price for x in slots}
    cost, wh, used, t = 0.0, 0.0, set(), 0.0
    while plug + t < deadline:
        amps, phases = ctrl(t, zero, ev)
        ev.command(t, amps, phases)
        before = ev.delivered_wh
        ev.step(t, dt)
        got = ev.delivered_wh - before
        slot_start = int((plug + t) - (plug + t) % 900)
        cost += got / 1000.0 * price_of[slot_start]
        if got > 0:
            used.add(slot_start)
        wh += got
        t += dt
    p_w = ev.max_a * VOLTS * ev.car_phases
    best = cheapest_cost(slots, plug, deadline, min(wh / 1000.0, need_kwh), p_w)
    return NightResult(need_kwh, wh / 1000.0, cost, best, wh >= need_kwh * 1000.0 - 1.0, len(used))


# ---- report -----------------------------------------------------------------------------------
COLS = ("core", "core-keep", "core-fcst", "core-learn", "core-fixed", "seed(b)", "evcc(c)")


def print_auto(table: Dict[str, Dict[str, DayResult]]) -> Dict[str, float]:
    head = f"{'day':17}{'controller':12}{'EV kWh':>8}{'solar':>8}{'import':>8}{'missed':>8}"
    print(head + f"{'starts':>7}{'switch':>7}{'cost €':>8}{'s/day':>7}")
    totals: Dict[str, DayResult] = {c: DayResult() for c in (*COLS, "optimum(a)", "bound")}
    for day, row in table.items():
        for name in COLS:
            r = row[name]
            print(
                f"{day:17}{name:12}{r.ev_kwh:8.1f}{r.solar_kwh:8.1f}{r.import_kwh:8.2f}"
                f"{r.missed_kwh:8.1f}{r.starts:7d}{r.switches:7d}{r.cost_eur:8.2f}{r.seconds:7.1f}"
            )
            _add(totals[name], r)
        opt, opt_import = row["optimum(a)"].solar_kwh, row["optimum(a)"].import_kwh
        print(
            f"{day:17}{'optimum(a)':12}{'':8}{opt:8.1f}{opt_import:8.2f}"
            f"   core/opt = {_ratio(row['core'], opt)}"
        )
        _add(totals["optimum(a)"], row["optimum(a)"])
        _add(totals["bound"], row["bound"])
    print("-" * len(head + " " * 29))
    for name in COLS:
        r = totals[name]
        print(
            f"{'TOTAL':17}{name:12}{r.ev_kwh:8.1f}{r.solar_kwh:8.1f}{r.import_kwh:8.2f}"
            f"{r.missed_kwh:8.1f}{r.starts:7d}{r.switches:7d}{r.cost_eur:8.2f}"
        )
    opt, bound = totals["optimum(a)"].solar_kwh, totals["bound"].solar_kwh
    print(
        f"{'TOTAL':17}{'optimum(a)':12}{'':8}{opt:8.1f}{totals['optimum(a)'].import_kwh:8.2f}"
        f"   (bound without the 6 A floor {bound:.1f})"
    )
    return {"opt": opt, "bound": bound}


def net_solar(r: DayResult) -> float:
    """EV energy that caused no grid import: from the sun, directly or through the battery."""
    return r.ev_kwh - max(0.0, r.import_kwh)


def print_net(table: Dict[str, Dict[str, DayResult]]) -> None:
    """The same days counted by the day's balance instead of second by second (see docstring)."""
    names = ("core", "core-keep", "core-fcst", "core-learn", "evcc(c)")
    print(f"{'day':17}{'max net':>9}" + "".join(f"{n + ' net':>16}" for n in names))
    totals = {n: 0.0 for n in ("net-opt", *names)}
    lowest: Dict[str, Tuple[float, str]] = {}
    for day, row in table.items():
        opt_net = row["net-opt"].solar_kwh
        totals["net-opt"] += opt_net
        cells = []
        for name in names:
            got = net_solar(row[name])
            totals[name] += got
            ratio = f"({got / opt_net:.2f})" if opt_net > 0.05 else "(n/a)"
            if opt_net > 0.05:
                lowest[name] = min(lowest.get(name, (9.9, "")), (got / opt_net, day))
            cells.append(f"{got:9.1f} {ratio:>6}")
        print(f"{day:17}{opt_net:9.1f}" + "".join(f"{c:>16}" for c in cells))
    cells = [f"{totals[n]:9.1f} {'':>6}" for n in names]
    print(f"{'TOTAL':17}{totals['net-opt']:9.1f}" + "".join(f"{c:>16}" for c in cells))
    for name in names:
        if name in lowest:
            low, day = lowest[name]
            print(f"  {name}: lowest day {day} at {low:.3f} of the most net solar possible")


def _ratio(r: DayResult, opt: float) -> str:
    return f"{r.solar_kwh / opt:.3f}" if opt > 0.05 else "n/a (no solar for the car)"


def _add(acc: DayResult, r: DayResult) -> None:
    acc.ev_kwh += r.ev_kwh
    acc.solar_kwh += r.solar_kwh
    acc.import_kwh += r.import_kwh
    acc.missed_kwh += r.missed_kwh
    acc.starts += r.starts
    acc.switches += r.switches
    acc.cost_eur += r.cost_eur


def verdict(table: Dict[str, Dict[str, DayResult]], name: str = "core") -> List[str]:
    """The issue's targets for controller ``name``, checked per day; each miss says by how much.

    A miss is marked "conflict" where the optimum itself imports more than the reference
    rule: there, 0.95 × its solar and less import than that rule cannot both be had."""
    lines = []
    for day, row in table.items():
        core, best = row[name], row["optimum(a)"]
        opt = best.solar_kwh
        if opt > 0.05 and core.solar_kwh < 0.95 * opt:
            lines.append(
                f"MISS {day}: solar {core.solar_kwh:.2f} < 0.95 × optimum {opt:.2f} "
                f"(ratio {core.solar_kwh / opt:.3f})"
            )
        evcc = row["evcc(c)"]
        if core.starts >= evcc.starts and core.starts > 0:
            why = ""
            if evcc.starts == 0:
                why = f" (evcc(c) never charged; here {core.solar_kwh:.1f} kWh of solar)"
            elif core.starts == 1:
                why = " (a tie at the minimum: charging at all takes one start)"
            lines.append(
                f"MISS {day}: {core.starts} starts, not fewer than evcc(c) {evcc.starts}{why}"
            )
        for ref in ("seed(b)", "evcc(c)"):
            other = row[ref].import_kwh
            if core.import_kwh > 0.005 and core.import_kwh >= other:
                note = (
                    f" (conflict: the optimum's solar costs {best.import_kwh:.2f} kWh import)"
                    if best.import_kwh > other + 0.005
                    else ""
                )
                lines.append(
                    f"MISS {day}: grid import {core.import_kwh:.2f} kWh not below "
                    f"{ref} {other:.2f} kWh{note}"
                )
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.control", description=__doc__.split("\n")[0])
    ap.add_argument("--day", action="append", help="only this day (repeatable)")
    ap.add_argument("--no-scheduled", action="store_true")
    ap.add_argument(
        "--family",
        choices=("first", "only", "no"),
        default="first",
        help="the generated days of bench/family.py: before the 13 days (default), only, or not",
    )
    ap.add_argument(
        "--forecast-error",
        type=float,
        default=1.0,
        help="core-fcst: the forecast is the day's own PV − house times this (0.8 = 20 %% low)",
    )
    args = ap.parse_args(argv)
    FORECAST_ERROR[0] = args.forecast_error
    s = CoreSettings()
    if args.family != "no" and not args.day:
        from bench import family

        family.main([])
        if args.family == "only":
            return 0
        print()
    specs = [daylib.by_name(n) for n in args.day] if args.day else list(daylib.DAYS)
    print(
        "AUTO — energy in kWh per day (import and cost: caused by the EV); defaults of the schema"
    )
    table = bench_auto(specs, s)
    print_auto(table)
    print()
    print("Net solar = EV energy − grid import it caused (battery-buffered sun counts); max net =")
    print("the most any controller could get, by perfect foresight (bench/net_optimum.py)")
    print_net(table)
    print()
    for name in ("core", "core-keep", "core-fcst", "core-learn"):
        misses = verdict(table, name)
        print(f"AUTO targets, {name}: " + ("all met" if not misses else f"{len(misses)} missed"))
        for line in misses:
            print("  " + line)
    if not args.no_scheduled:
        print()
        print_scheduled(s)
    return 0


def print_scheduled(s: CoreSettings) -> None:
    print("SCHEDULED — deadline plans, 18:00 → 07:00, 11 kW car, quarter-hour prices")
    print(
        f"{'night of':12}{'need':>6}{'got':>7}{'cost €':>8}{'cheapest':>9}{'ratio':>7}"
        f"{'on time':>8}{'slots':>6}"
    )
    worst = 0.0
    for k, (date, need) in enumerate(NIGHTS):
        r = run_night(date, need, s, seed=100 + k)
        ratio = r.cost_eur / r.cheapest_eur if r.cheapest_eur > 0 else 1.0
        worst = max(worst, ratio)
        print(
            f"{date:12}{r.need_kwh:6.0f}{r.ev_kwh:7.2f}{r.cost_eur:8.3f}{r.cheapest_eur:9.3f}"
            f"{ratio:7.3f}{'yes' if r.on_time else 'NO':>8}{r.slots_used:6d}"
        )
    verdict_text = "met" if worst <= 1.01 else f"MISSED by {100 * (worst - 1.01):.1f} points"
    print(f"SCHEDULED target cost ≤ 1.01 × cheapest: worst {worst:.3f} → {verdict_text}")


if __name__ == "__main__":
    raise SystemExit(main())
