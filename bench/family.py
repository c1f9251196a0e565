"""Judge AUTO on the second family of days (sim/days_family.py): 6 site configurations, tuning
seeds and held-out seeds apart, totals per configuration.

    python -m bench.family                 # tuning and held-out tables (make bench-control)
    python -m bench.family --held-out      # only the held-out seeds
    python -m bench.family --seeds 1-4 --set start_delay_s=30

Configurations: a 1-phase charger, a 3-phase one, and one that switches 1 ↔ 3, each without and
with an ESS battery (the day's own, see sim/days_family.py); the car is three-phase, 16 A.
Every row sees the same days. Rows:

* **auto**: the real core (control/core.py ``decide``) with the defaults, a fresh install (no
  learned forecast or capacity: the battery check stays out of the way);
* **evcc**: the evcc-style rule of bench/rules.py (1 min enable, 3 min disable, 30 s interval);
  on the switching site with evcc's own phase timers (down after the disable delay when the
  3-phase minimum is not covered and the 1-phase one is, up after the enable delay when the
  3-phase minimum is covered);
* **seed**: the seed's rule (bench/rules.py); on the switching site it stays on 1 phase;
* **limit**: the perfect-foresight zero-import limit, grid-only sites: each second the most the
  car could take from PV − house without import (6–16 A on the phases the site allows, a
  switching site picks either each second, no delay, no ramp), capped at the car's need.

Physics: 1 s steps of sim/site_model.py; every controller sees the GX's reading of 2 s before
(measurement lag); the car ramps at 5 A/s after a 3 s response (bench/ev.py). Only the plug-in
window is simulated with a controller; the site before it is the day without a car, and after it
(to midnight, 10 s steps) the battery's debt is counted.

Measures per configuration (totals over the seeds): **net solar** = EV energy − the grid energy
the EV caused (import of the day − import of the same day without the car, plus the battery charge
missing at midnight against that day, over the battery's efficiency); **import caused**;
**starts**; **phase switches**, counted apart from starts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from bench.ev import VOLTS, EvModel
from bench.rules import Command, CoreController, EvccRule, SeedRule
from control.model import evolve
from control.settings import CoreSettings
from sim import days_family as fam
from sim.site_model import BatteryParams, SiteModel, SiteReading, Trace

LAG_S = 2
TAIL_STEP_S = 10
NO_BATTERY = BatteryParams(capacity_wh=1.0, max_charge_w=0.0, max_discharge_w=0.0, soc0=50.0)


@dataclass(frozen=True)
class Site:
    name: str
    phases: int  # the charger's phase setting at the start of the day
    switching: bool
    battery: bool


SITES: List[Site] = [
    Site("1p", 1, False, False),
    Site("3p", 3, False, False),
    Site("1p/3p", 3, True, False),
    Site("1p +ESS", 1, False, True),
    Site("3p +ESS", 3, False, True),
    Site("1p/3p +ESS", 3, True, True),
]
ROWS = ("auto", "evcc", "seed", "limit")


@dataclass
class Tally:
    ev_kwh: float = 0.0
    import_kwh: float = 0.0
    starts: int = 0
    switches: int = 0
    days: int = 0
    extra: Dict[str, float] = field(default_factory=dict)

    @property
    def net_kwh(self) -> float:
        return self.ev_kwh - max(0.0, self.import_kwh)

    def add(self, other: Tally) -> None:
        self.ev_kwh += other.ev_kwh
        self.import_kwh += max(0.0, other.import_kwh)
        self.starts += other.starts
        self.switches += other.switches
        self.days += other.days


Controller = Callable[[float, SiteReading, EvModel], Command]


def _car(day: fam.FamilyDay, site: Site) -> EvModel:
    return EvModel(
        arrive_s=day.arrive_h * 3600.0,
        depart_s=day.depart_h * 3600.0,
        need_wh=day.need_kwh * 1000.0,
        max_a=16.0,
        car_phases=3,
        charger_phases=site.phases,
    )


def _battery(day: fam.FamilyDay, site: Site) -> BatteryParams:
    return day.battery if site.battery else NO_BATTERY


def _tail(site_model: SiteModel, start: int, n: int) -> float:
    """Import (kWh) from ``start`` to the end of the day with no car, in coarse steps."""
    wh = 0.0
    for i in range(start, n, TAIL_STEP_S):
        r = site_model.step(i, (0.0, 0.0, 0.0), float(min(TAIL_STEP_S, n - i)))
        wh += r.import_w * min(TAIL_STEP_S, n - i) / 3600.0
    return wh / 1000.0


@dataclass
class Baseline:
    soc_arrive: float
    window_import_kwh: float
    tail_import_kwh: float
    soc_end: float


def baseline(trace: Trace, bat: BatteryParams, a: int, d: int) -> Baseline:
    model = SiteModel(trace, bat)
    soc_arrive, win = bat.soc0, 0.0
    for i in range(d):
        if i == a:
            soc_arrive = model.soc
        r = model.step(i, (0.0, 0.0, 0.0))
        if i >= a:
            win += r.import_w / 3.6e6
    tail = _tail(model, d, len(trace))
    return Baseline(soc_arrive, win, tail, model.soc)


def run_window(
    trace: Trace,
    bat: BatteryParams,
    base: Baseline,
    ev: EvModel,
    ctrl: Controller,
    has_battery: bool,
) -> Tally:
    """The plug-in window with a controller (lagged readings), then the tail without the car."""
    a, d = int(ev.arrive_s), min(len(trace), int(ev.depart_s))
    model = SiteModel(trace, replace(bat, soc0=base.soc_arrive))
    seen: List[SiteReading] = []
    ev_w = (0.0, 0.0, 0.0)
    imp = 0.0
    for i in range(a, d):
        r = model.step(i, ev_w)
        imp += r.import_w / 3.6e6
        if ev.full and ev.current_a <= 0.0:
            continue  # a full car takes nothing more: no controller can change the rest
        if not has_battery:
            r = evolve(r, soc=100.0)
        seen.append(r)
        lagged = seen[-1 - LAG_S] if len(seen) > LAG_S else seen[0]
        if len(seen) > 8:
            del seen[:4]
        amps, phases = ctrl(float(i), lagged, ev)
        ev.command(float(i), amps, phases)
        ev_w = ev.step(float(i), 1.0)
    tail = _tail(model, d, len(trace))
    debt = max(0.0, base.soc_end - model.soc) / 100.0 * bat.capacity_wh / bat.efficiency / 1000.0
    caused = imp + tail - base.window_import_kwh - base.tail_import_kwh
    caused += debt if has_battery else 0.0
    return Tally(ev.delivered_wh / 1000.0, caused, ev.starts, ev.phase_switches, 1)


def limit(trace: Trace, ev: EvModel, site: Site) -> Tally:
    """The perfect-foresight zero-import limit of a grid-only site (module docstring)."""
    a, d = int(ev.arrive_s), min(len(trace), int(ev.depart_s))
    lo1, hi1 = 6.0 * VOLTS, 16.0 * VOLTS
    lo3, hi3 = 3 * lo1, 3 * hi1
    one = site.phases == 1 or site.switching
    three = site.phases == 3
    got = 0.0
    for i in range(a, d):
        s = trace.pv_w[i] - sum(trace.load_w[i])
        p = 0.0
        if three and s >= lo3:
            p = min(s, hi3)
        elif one and s >= lo1:
            p = min(s, hi1)
        got += p
        if got >= ev.need_wh * 3600.0:
            break
    return Tally(min(got / 3.6e6, ev.need_wh / 1000.0), 0.0, 0, 0, 1)


class NoBatteryCore(CoreController):
    """The core on a site without a battery: the GX publishes no SOC and no battery power."""

    def __call__(self, now: float, r: SiteReading, ev: EvModel) -> Command:
        return super().__call__(now, evolve(r, soc=None, battery_w=None), ev)


def _controller(
    row: str, s: CoreSettings, site: Site, day: fam.FamilyDay, start_ts: float
) -> Controller:
    ess_min = day.battery.ess_min_soc if site.battery else 0.0
    if row == "auto":
        kind = CoreController if site.battery else NoBatteryCore
        return kind(s, ess_min, switching=site.switching, start_ts=start_ts)
    if row == "evcc":
        return EvccRule(s, switching=site.switching)
    return SeedRule(ess_min)


def run_seed(args: Tuple[int, CoreSettings, Sequence[str]]) -> Dict[str, Dict[str, Tally]]:
    """Every site configuration and row of one seed's day."""
    seed, s, rows = args
    day = fam.spec_for(seed)
    trace = fam.build(day)
    out: Dict[str, Dict[str, Tally]] = {}
    bases: Dict[bool, Baseline] = {}
    for site in SITES:
        bat = _battery(day, site)
        probe = _car(day, site)
        a, d = int(probe.arrive_s), min(len(trace), int(probe.depart_s))
        if site.battery not in bases:
            bases[site.battery] = baseline(trace, bat, a, d)
        base = bases[site.battery]
        got: Dict[str, Tally] = {}
        for row in rows:
            ev = _car(day, site)
            if row == "limit":
                if not site.battery:
                    got[row] = limit(trace, ev, site)
                continue
            if row == "seed" and site.switching:
                ev.charger_phases = 1
            ctrl = _controller(row, s, site, day, trace.start_ts)
            got[row] = run_window(trace, bat, base, ev, ctrl, site.battery)
        out[site.name] = got
    return out


def run_family(
    seeds: Sequence[int], s: CoreSettings, rows: Sequence[str] = ROWS, procs: Optional[int] = None
) -> Dict[str, Dict[str, Tally]]:
    """Totals per site configuration and row over ``seeds`` (days in parallel processes)."""
    totals: Dict[str, Dict[str, Tally]] = {x.name: {r: Tally() for r in rows} for x in SITES}
    jobs = [(seed, s, tuple(rows)) for seed in seeds]
    procs = procs or min(len(jobs), os.cpu_count() or 1)
    if procs > 1:
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            results = pool.map(run_seed, jobs, chunksize=1)
    else:
        results = [run_seed(j) for j in jobs]
    for res in results:
        for site_name, by_row in res.items():
            for row, t in by_row.items():
                totals[site_name][row].add(t)
    return totals


def print_table(title: str, totals: Dict[str, Dict[str, Tally]]) -> None:
    print(title)
    print(f"{'site':12}{'row':7}{'net kWh':>9}{'EV kWh':>8}{'import':>8}{'starts':>7}{'switch':>7}")
    for site_name, by_row in totals.items():
        for row, t in by_row.items():
            if t.days == 0:
                continue
            if row == "limit":
                print(f"{site_name:12}{row:7}{t.net_kwh:9.1f}")
                continue
            print(
                f"{site_name:12}{row:7}{t.net_kwh:9.1f}{t.ev_kwh:8.1f}{t.import_kwh:8.2f}"
                f"{t.starts:7d}{t.switches:7d}"
            )
        auto, evcc = by_row.get("auto"), by_row.get("evcc")
        if auto and evcc and auto.days:
            ok = (
                auto.net_kwh >= evcc.net_kwh - 1e-9
                and auto.import_kwh <= evcc.import_kwh + 1e-9
                and auto.starts <= evcc.starts
            )
            print(f"{'':12}auto vs evcc: {'dominates' if ok else 'does NOT dominate'}")


def parse_seeds(text: str) -> List[int]:
    out: List[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def settings_with(pairs: Sequence[str]) -> CoreSettings:
    s = CoreSettings()
    names = {f.name for f in fields(CoreSettings)}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in names:
            raise SystemExit(f"--set {pair}: no such setting {key!r}")
        change: Dict[str, Any] = {key: None if value == "none" else float(value)}
        s = replace(s, **change)
    return s


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.family", description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", help="e.g. 1-40 or 3,5,9001 (default: the tuning and held-out sets)")
    ap.add_argument("--held-out", action="store_true", help="only the held-out seeds")
    ap.add_argument("--tuning", action="store_true", help="only the tuning seeds")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=NUMBER")
    ap.add_argument("--rows", default=",".join(ROWS), help="e.g. auto (the others do not move)")
    ap.add_argument("--sites", help="e.g. '1p,3p +ESS' (default: all six)")
    args = ap.parse_args(argv)
    s = settings_with(args.set)
    rows = tuple(args.rows.split(","))
    if args.sites:
        wanted = args.sites.split(",")
        SITES[:] = [x for x in SITES if x.name in wanted]
    t0 = time.perf_counter()
    sets: List[Tuple[str, Sequence[int]]] = []
    if args.seeds:
        sets.append((f"seeds {args.seeds}", parse_seeds(args.seeds)))
    else:
        if not args.held_out:
            sets.append((f"TUNING seeds ({len(fam.TUNING_SEEDS)} days)", fam.TUNING_SEEDS))
        if not args.tuning:
            sets.append((f"HELD-OUT seeds ({len(fam.HELD_OUT_SEEDS)} days)", fam.HELD_OUT_SEEDS))
    for title, seeds in sets:
        print_table(
            f"AUTO on generated days (sim/days_family.py), {title}, totals",
            run_family(seeds, s, rows),
        )
        print()
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
