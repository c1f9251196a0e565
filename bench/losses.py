"""Where AUTO's EV solar falls short of the optimum, split by what the core was doing (prints).

    python -m bench.losses                       # every day of sim/days.py
    python -m bench.losses --day busy_house --set start_delay_stretch=2.5

It replays the same days as ``make bench-control`` (bench/control.py, same definitions) and puts
every second of the core's run in one bucket, by the core's state during that second:

* **fed**: the car draws more than the solar available to it; the battery (or the grid) carries
  the rest. That energy is EV energy but not EV solar, and it fills the car earlier.
* **idle**: plugged in, not full, drawing nothing, while the solar available to the car covers
  6 A on one phase: what the optimum would have taken.
* **under**: drawing less than the solar available and less than the car's maximum.

States: ``holding the minimum`` (a deficit is running out its stop delay), ``modulating``,
``phase switch``, ``car responding`` (offered, not drawing yet), ``start delay`` (surplus seen,
waiting for it to hold or for the minimum pause), ``below the start threshold``, ``low SOC``.
``--set`` overrides CoreSettings fields, so a tuning idea is measured in seconds instead of argued.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bench import control as bc
from bench.ev import VOLTS, EvModel
from bench.rules import CoreController
from control.model import Memory
from control.settings import CoreSettings
from sim import days as daylib

KWH = 3.6e6  # W·s per kWh


def state_of(mem: Memory, drawing: bool) -> str:
    """The core's state from its memory after its last decision (what holds this second)."""
    if mem.switch_stage is not None:
        return "phase switch"
    if mem.last_amps > 0 and not drawing:
        return "car responding"  # offered, not drawing yet (the car's few seconds)
    if mem.last_amps > 0:
        return "holding the minimum" if mem.deficit_since is not None else "modulating"
    if mem.low_soc:
        return "low SOC"
    if mem.surplus_since is not None:
        return "start delay"
    return "below the start threshold"


@dataclass
class Breakdown:
    """kWh per (bucket, state); ``fed`` is also split by the phase count."""

    solar_kwh: float = 0.0
    ev_kwh: float = 0.0
    fed: Dict[Tuple[int, str], float] = field(default_factory=lambda: defaultdict(float))
    idle: Dict[str, float] = field(default_factory=lambda: defaultdict(float))
    under: Dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, p_ev: float, avail: float, ev: EvModel, state: str) -> None:
        self.ev_kwh += p_ev / KWH
        self.solar_kwh += min(p_ev, avail) / KWH
        car_max_w = ev.max_a * VOLTS * ev.car_phases
        if p_ev > avail:
            self.fed[(ev.phases, state)] += (p_ev - avail) / KWH
        elif p_ev > 0:
            if ev.current_a < ev.max_a and not ev.full:
                self.under[state] += max(0.0, min(avail, car_max_w) - p_ev) / KWH
        elif not ev.full and avail >= 6.0 * VOLTS:  # plugged in: the caller checks
            self.idle[state] += min(avail, car_max_w) / KWH


def explain_day(
    spec: daylib.DaySpec, s: CoreSettings, hours: Optional[float] = None
) -> Tuple[Breakdown, bc.DayResult]:
    """The core's day (as bench-control runs it) and its breakdown."""
    trace = daylib.build(spec)
    ctrl = CoreController(s, spec.ess_min_soc, switching=True)
    out = Breakdown()

    def observe(i: int, p_ev: float, avail: float, ev: EvModel) -> None:
        if not ev.connected(i):
            return
        out.add(p_ev, avail, ev, state_of(ctrl.mem, p_ev > 0))

    res, _ = bc.run_day(spec, trace, lambda: ctrl, s, hours=hours, observe=observe)
    return out, res


def parse_overrides(pairs: Sequence[str]) -> Dict[str, Any]:
    """``FIELD=NUMBER`` pairs for the numeric CoreSettings fields."""
    numeric = {f.name for f in fields(CoreSettings) if str(f.type) in ("float", "Optional[float]")}
    out: Dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in numeric:
            raise SystemExit(f"--set {pair}: expected FIELD=NUMBER, FIELD a number in CoreSettings")
        out[key] = float(value)
    return out


def report(name: str, b: Breakdown, opt_kwh: float) -> List[str]:
    ratio = f"{b.solar_kwh / opt_kwh:.3f}" if opt_kwh > 0.05 else "n/a"
    lines = [
        f"{name}: EV {b.ev_kwh:.2f} kWh, EV solar {b.solar_kwh:.2f}, optimum {opt_kwh:.2f} "
        f"(ratio {ratio})"
    ]
    fed = {f"{st} ({ph} phase)": v for (ph, st), v in b.fed.items()}
    for label, bucket in (("fed", fed), ("idle", b.idle), ("under", b.under)):
        parts = [f"{k} {v:.2f}" for k, v in sorted(bucket.items(), key=lambda kv: -kv[1])]
        lines.append(f"  {label:6}{sum(bucket.values()):6.2f}  " + ("; ".join(parts) or "-"))
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.losses", description=__doc__.split("\n")[0])
    ap.add_argument("--day", action="append", help="only this day (repeatable)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=NUMBER")
    args = ap.parse_args(argv)
    s = replace(CoreSettings(), **parse_overrides(args.set))
    specs = [daylib.by_name(n) for n in args.day] if args.day else list(daylib.DAYS)
    for spec in specs:
        b, _ = explain_day(spec, s)
        print("\n".join(report(spec.name, b, bc.optimum(spec, daylib.build(spec), s))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
