"""AUTO: charge from solar surplus measured at the grid meter and the battery. Pure.

Surplus (power the car may take, W) is computed from the GX's own balance, so the car's power is
counted once: grid = EV + house + battery − PV (battery + = charging), hence

    surplus = EV − grid + battery_share − reserve,  battery_share = battery power   (SOC ≥ priority)
                                                                  = min(battery, 0) (SOC < priority)

Above ``battery_priority_soc`` what the battery absorbs is offered to the car (ESS then charges
it less); below, the battery keeps it. Battery discharge always reduces the surplus, so ESS
discharging into the car during a cloud is seen as a deficit. The estimate does not change when
the car's own current changes, so there is no integrator in the loop (evcc #8076).

It is smoothed asymmetrically: rises with ``smoothing_s`` (no hunting on short sun), falls four
times faster (little import under a cloud). Timers are timestamps in ``Memory``.
"""

from __future__ import annotations

import bisect
import math
from typing import List, Optional, Tuple

from control import phases as ph
from control.local_time import deadline_at
from control.model import ForecastSlot, Memory, Snapshot, Status, Step, evolve
from control.settings import CoreSettings

FALL_SPEEDUP = 4.0  # falling surplus is followed this many times faster than a rising one
NIGHT_PV_W = 50.0  # below this (slow average) it is night: the day's PV peak starts again
PAST_PEAK = 0.85  # the slow PV average under this share of the day's peak: past the peak
TOPUP_HYSTERESIS = 2.0  # % SOC: the full-battery top-up stops this far below where it starts
# forgotten on stale data
WEATHER_FORGOTTEN = dict.fromkeys(
    ("trend_w", "trend_at", "pv_minus_house_w", "pv_minus_house_at", "pv_minus_house_dev_w")
)


def site_surplus_w(snap: Snapshot, s: CoreSettings) -> Optional[float]:
    """PV − house − reserve from the GX's balance, whoever gets it: the car and what the battery
    absorbs both count (None without a grid reading)."""
    site = snap.site
    if any(g is None for g in site.grid_power_w):
        return None
    grid_w = sum(g or 0.0 for g in site.grid_power_w)
    batt_w = site.battery_power_w or 0.0
    return ev_power_w(snap, s) - grid_w + batt_w - s.reserve_w


def car_surplus_w(site_w: float, snap: Snapshot, shares: bool) -> float:
    """The car's part of ``site_w``: without ``shares`` (``battery_shares``) the battery keeps
    what it absorbs."""
    return site_w if shares else site_w - max(0.0, snap.site.battery_power_w or 0.0)


def battery_shares(soc: Optional[float], past_peak: bool, s: CoreSettings) -> bool:
    """May the car have what the battery is absorbing?

    Above ``battery_priority_soc``, yes. With ``afternoon_battery_soc`` set, once the day's PV
    has passed its peak only above that: a battery that will not fill before dark keeps the
    afternoon sun, or the car's solar would be bought back from the grid in the evening.
    """
    if soc is None:
        return True
    floor = s.battery_priority_soc
    if past_peak and s.afternoon_battery_soc is not None:
        floor = max(floor, s.afternoon_battery_soc)
    return soc >= floor


FILL_MARGIN = 1.3  # the forecast must cover the battery's headroom this many times over


def battery_fills_anyway(snap: Snapshot, s: CoreSettings) -> Optional[bool]:
    """Will the sun the forecast expects for the rest of today fill the battery, with
    ``FILL_MARGIN`` to spare? None with ``battery_check`` off, without the battery's capacity
    (``battery_capacity_kwh`` when set, else the learned one), or without a forecast for now:
    on the first day after installation the learned forecast's slots are all tomorrow's, and
    "no slot today" means "not known yet", not "no sun left" (read as the latter it kept the
    battery's charge from the car all day and made the full-battery top-up flap).

    The car shares the battery's charge only while it does: on a day the battery would not fill,
    what it gives the car is bought back from the grid in the evening, and no solar is gained.
    As the car takes its share the forecast energy left shrinks while the headroom does not, so
    the battery gets its priority back in time to fill by evening. bench/control.py's
    ``core-fcst`` row measures it."""
    soc = snap.site.battery_soc
    capacity_kwh = s.check_capacity_kwh(snap.battery_capacity_kwh)
    if capacity_kwh is None or not snap.pv_forecast or soc is None:
        return None
    curve = _energy_curve(snap.pv_forecast)
    if not curve.covers(snap.now):
        return None
    left_wh = curve.wh_until(_next_midnight(s.timezone, snap.now)) - curve.wh_until(snap.now)
    headroom_wh = max(0.0, 100.0 - soc) / 100.0 * capacity_kwh * 1000.0
    return left_wh >= FILL_MARGIN * headroom_wh


class _EnergyCurve:
    """Forecast surplus energy as a running total over time, so that the energy between two
    instants is two binary searches instead of a walk over a day and a half of slots."""

    def __init__(self, slots: Tuple[ForecastSlot, ...]) -> None:
        ordered = sorted(slots, key=lambda f: f.start)
        self.starts = [f.start for f in ordered]
        self.slots = ordered
        self.before: List[float] = []  # Wh of the slots before each one
        total = 0.0
        for f in ordered:
            self.before.append(total)
            total += max(0.0, f.surplus_w) * (f.end - f.start) / 3600.0

    def covers(self, t: float) -> bool:
        """Is there a slot for instant ``t``?"""
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.slots[i].end

    def wh_until(self, t: float) -> float:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        f = self.slots[i]
        inside = min(max(0.0, t - f.start), f.end - f.start)
        return self.before[i] + max(0.0, f.surplus_w) * inside / 3600.0


_CURVE: List[Tuple[Tuple[ForecastSlot, ...], _EnergyCurve]] = []  # the last forecast seen


def _energy_curve(slots: Tuple[ForecastSlot, ...]) -> _EnergyCurve:
    """Built once per forecast object: the runner hands the same one in for a quarter hour."""
    if _CURVE and _CURVE[0][0] is slots:
        return _CURVE[0][1]
    curve = _EnergyCurve(slots)
    _CURVE[:] = [(slots, curve)]
    return curve


_MIDNIGHT: List[Tuple[str, float, float]] = []  # (timezone, asked at, the next local midnight)


def _next_midnight(tz_name: str, now: float) -> float:
    """Unix seconds of the local midnight that ends ``now``'s day, remembered until it passes
    (the core asks every second; pytz is the costly part)."""
    if _MIDNIGHT and _MIDNIGHT[0][0] == tz_name and _MIDNIGHT[0][1] <= now < _MIDNIGHT[0][2]:
        return _MIDNIGHT[0][2]
    end = deadline_at(now, "00:00", tz_name)
    _MIDNIGHT[:] = [(tz_name, now, end)]
    return end


def track_pv_peak(mem: Memory, snap: Snapshot, s: CoreSettings) -> Memory:
    """A slow PV average (``pv_trend_s``) and its highest value today; reset at night."""
    pv = snap.site.pv_power_w
    if pv is None:
        return mem
    slow, at, peak = mem.pv_slow_w, mem.pv_at, mem.pv_peak_w
    if slow is None or at is None:
        slow, peak = pv, pv
    else:
        k = _blend(snap.now, at, max(1.0, s.pv_trend_s))
        slow += (pv - slow) * k
        peak = max(peak or 0.0, slow)
    if slow < NIGHT_PV_W:
        peak = slow  # a new day starts from the dark
    return evolve(mem, pv_slow_w=slow, pv_at=snap.now, pv_peak_w=peak)


def past_pv_peak(mem: Memory) -> bool:
    slow, peak = mem.pv_slow_w, mem.pv_peak_w
    return slow is not None and peak is not None and peak > NIGHT_PV_W and slow < PAST_PEAK * peak


def ev_power_w(snap: Snapshot, s: CoreSettings) -> float:
    c = snap.charger
    if c.power_w is not None and not math.isnan(c.power_w):
        return c.power_w
    volts = [v if v is not None else s.voltage_v for v in c.phase_voltage_v]
    return sum((a or 0.0) * v for a, v in zip(c.phase_current_a, volts))


def smooth(mem: Memory, raw: float, now: float, s: CoreSettings) -> Memory:
    prev, at = mem.filtered_surplus_w, mem.filtered_at
    mem = _track_trend(mem, raw, now, s)
    if prev is None or at is None or s.smoothing_s <= 0:
        return evolve(mem, filtered_surplus_w=raw, filtered_at=now)
    tau = s.smoothing_s if raw > prev else s.smoothing_s / FALL_SPEEDUP
    value = prev + (raw - prev) * _blend(now, at, tau)
    return evolve(mem, filtered_surplus_w=value, filtered_at=now)


def _blend(now: float, at: float, tau_s: float) -> float:
    """How far an exponential average with time constant ``tau_s`` moves after ``now - at``."""
    return 1.0 - math.exp(-max(0.0, now - at) / tau_s)


def _track_trend(mem: Memory, raw: float, now: float, s: CoreSettings) -> Memory:
    """A slow symmetric average of the car's surplus (``trend_s``): the weather's level."""
    trend, at = mem.trend_w, mem.trend_at
    if trend is None or at is None or s.trend_s <= 0:
        return evolve(mem, trend_w=raw, trend_at=now)
    k = _blend(now, at, s.trend_s)
    return evolve(mem, trend_w=trend + (raw - trend) * k, trend_at=now)


def track_weather(mem: Memory, pv_minus_house_w: float, now: float, s: CoreSettings) -> Memory:
    """How much the site's own surplus (PV − house, whoever gets it) strays from its slow average
    (mean absolute deviation over ``trend_s``): the weather's variability.

    It is measured before the battery's share is decided on purpose: when the battery reaches
    its priority SOC the car's surplus jumps from nothing to kilowatts, and that step is not a
    cloud (measured on the car's surplus it stretched the first start of the day by minutes)."""
    level, at, dev = mem.pv_minus_house_w, mem.pv_minus_house_at, mem.pv_minus_house_dev_w
    if level is None or at is None or s.trend_s <= 0:
        return evolve(
            mem, pv_minus_house_w=pv_minus_house_w, pv_minus_house_at=now, pv_minus_house_dev_w=0.0
        )
    k = _blend(now, at, s.trend_s)
    level += (pv_minus_house_w - level) * k
    dev = (dev or 0.0) + (abs(pv_minus_house_w - level) - (dev or 0.0)) * k
    return evolve(mem, pv_minus_house_w=level, pv_minus_house_at=now, pv_minus_house_dev_w=dev)


def trend_w(mem: Memory) -> float:
    value = mem.trend_w
    return value if value is not None else (mem.filtered_surplus_w or 0.0)


def variability_w(mem: Memory) -> float:
    return mem.pv_minus_house_dev_w or 0.0


def _reset_timers(mem: Memory) -> Memory:
    return evolve(
        mem,
        surplus_since=None,
        deficit_since=None,
        phase_candidate=None,
        phase_candidate_since=None,
        filtered_surplus_w=None,
        filtered_at=None,
        **WEATHER_FORGOTTEN,
    )


def step(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    """AUTO's proposal for this instant; ``max_a`` is the ceiling from station and user."""
    site = snap.site
    keeping = s.afternoon_battery_soc is not None
    if site.fresh and (keeping or site.battery_soc is not None):
        mem = track_pv_peak(mem, snap, s)
    past_peak = keeping and past_pv_peak(mem)
    fills = battery_fills_anyway(snap, s)
    shares = battery_shares(site.battery_soc, past_peak, s) and fills is not False
    sky = site_surplus_w(snap, s) if site.fresh else None
    if sky is None:
        mem = ph.abort(_reset_timers(mem))
        why = "no fresh data from the Victron system (grid meter/battery): AUTO does not charge"
        return Step(0.0, None, Status.CONNECTED, why, mem)
    low, mem = _low_soc(snap, mem, s)
    if low is not None:
        return Step(0.0, None, Status.LOW_SOC, low, ph.abort(_reset_timers(mem)))
    raw = car_surplus_w(sky, snap, shares)
    mem = track_weather(smooth(mem, raw, snap.now, s), sky, snap.now, s)
    details = {
        "surplus_w": round(raw, 1),
        "filtered_surplus_w": round(mem.filtered_surplus_w or 0),
        "trend_w": round(trend_w(mem)),
    }
    seq, mem = ph.advance(snap, mem, s)
    if seq is not None:
        return evolve(seq, details=details)
    charging = mem.last_amps > 0
    out = _charging(snap, mem, s, max_a, fills) if charging else _idle(snap, mem, s, max_a)
    kept_w = _kept_for_battery_w(snap, s, shares)
    if fills is not None:
        details["battery_fills"] = fills
    if kept_w > 0:
        details["battery_kept_w"] = round(kept_w)
        if out.status == Status.WAIT_SUN:
            why = (
                "the forecast sun left today would not fill the battery: it keeps its charge"
                if fills is False
                else "past the PV peak the battery keeps its charge"
            )
            out = evolve(out, reason=f"{out.reason}; {why}")
    return evolve(out, details=details)


def _kept_for_battery_w(snap: Snapshot, s: CoreSettings, shares: bool) -> float:
    """What the afternoon rule or the forecast check withholds from the car right now (W):
    the battery's charge when it is above its priority SOC and still not shared."""
    soc, batt_w = snap.site.battery_soc, snap.site.battery_power_w or 0.0
    if shares or soc is None or batt_w <= 0 or soc < s.battery_priority_soc:
        return 0.0
    return batt_w


def _low_soc(snap: Snapshot, mem: Memory, s: CoreSettings) -> Tuple[Optional[str], Memory]:
    soc, floor = snap.site.battery_soc, snap.site.ess_min_soc
    if soc is None or floor is None:
        return None, evolve(mem, low_soc=False)
    limit = floor + s.low_soc_margin + (s.low_soc_hysteresis if mem.low_soc else 0.0)
    if soc < limit:
        why = (
            f"battery at {soc:.0f} %, below ESS minimum {floor:.0f} % + {s.low_soc_margin:.0f} %"
            + (" (+ hysteresis)" if mem.low_soc else "")
            + ": paused"
        )
        return why, evolve(mem, low_soc=True)
    return None, evolve(mem, low_soc=False)


def _can_switch(snap: Snapshot, mem: Memory) -> bool:
    return snap.charger.phase_switching_available and not mem.car_single_phase


def _min_w(s: CoreSettings, phases: int) -> float:
    return s.min_current_a * phases * s.voltage_v


def _amps_for(surplus_w: float, phases: int, s: CoreSettings, max_a: float) -> float:
    amps = math.floor(surplus_w / (phases * s.voltage_v) * 10.0) / 10.0
    return max(s.min_current_a, min(amps, max_a))


def _start_delay(mem: Memory, s: CoreSettings) -> float:
    """``start_delay_s`` on a steady day, up to ``start_delay_stretch`` times it when the surplus
    (PV − house) has swung by a kilowatt or more on average (broken cloud). The stretch is off
    by default (1): on generated days with clouds every few minutes it kept the car waiting
    for 5 × 60 s while the sun came and went, and the energy-counted stop timer (``_deficit``)
    now keeps the starts down instead."""
    spread = min(1.0, variability_w(mem) / 1000.0)
    return s.start_delay_s * (1.0 + max(0.0, s.start_delay_stretch - 1.0) * spread)


def _idle(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    now, surplus = snap.now, mem.filtered_surplus_w or 0.0
    phases = mem.phases
    cooldown_ok = _cooldown_left(mem, now, s) <= 0
    if _can_switch(snap, mem) and cooldown_ok:
        # Already on 3 phases: stay there while the surplus covers their minimum with the start
        # margin (flipping to 1 phase just before a start costs a switch and a second start
        # soon after). From 1 phase, go up only as a running car would (phase_up_w and trend):
        # a car of unknown phase count starts cheaper on 1.
        three_min = _min_w(s, 3) + s.start_margin_w
        if mem.phases == 3:
            phases = 3 if surplus >= three_min else 1
        else:
            up = surplus >= max(s.phase_up_w, three_min) and trend_w(mem) >= s.phase_down_w
            phases = 3 if up else 1
    need_w = _min_w(s, phases) + s.start_margin_w
    if max_a < s.min_current_a:
        return Step(0.0, None, Status.WAIT_SUN, "current limit below 6 A", _reset_partial(mem))
    if surplus < need_w:
        more = (need_w - surplus) / 1000.0
        return Step(
            0.0,
            None,
            Status.WAIT_SUN,
            f"waiting for {more:.1f} kW more surplus",
            _reset_partial(mem),
        )
    since = mem.surplus_since if mem.surplus_since is not None else now
    mem = evolve(mem, surplus_since=since, deficit_since=None)
    off_left = s.min_off_s - (now - mem.stopped_since) if mem.stopped_since is not None else 0.0
    held_left = _start_delay(mem, s) - (now - since)
    wait = max(held_left, off_left)
    if wait > 0:
        what = "minimum pause" if off_left >= held_left else "surplus held"
        why = f"{surplus / 1000:.1f} kW surplus; starting in {wait:.0f} s ({what})"
        return Step(0.0, None, Status.WAIT_SUN, why, mem)
    if phases != mem.phases:
        mem = ph.begin(mem, now, phases, drawing=False)
        seq, mem = ph.advance(snap, mem, s)
        if seq is not None:
            return seq
    amps = _amps_for(surplus, phases, s, max_a)
    return Step(
        amps, None, Status.START_CHARGING, f"starting on solar surplus ({phases} phase)", mem
    )


def _reset_partial(mem: Memory) -> Memory:
    return evolve(mem, surplus_since=None, deficit_since=None)


def _cooldown_left(mem: Memory, now: float, s: CoreSettings) -> float:
    if mem.last_phase_switch is None:
        return 0.0
    return s.phase_cooldown_s - (now - mem.last_phase_switch)


def _buffered(snap: Snapshot, s: CoreSettings) -> bool:
    """The battery is above its priority SOC: it may bridge a cloud for
    ``buffer_stop_delay_s`` instead of ``stop_delay_s``, even when the battery check says the
    sun left today would not refill what it gives: measured (bench-control, 13 days) that
    costs 5 more starts and 0.3 kWh net solar, and saves no import with the forecast a GX
    learns."""
    soc = snap.site.battery_soc
    return soc is not None and soc >= s.battery_priority_soc


def _charging(
    snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float, fills: Optional[bool]
) -> Step:
    now, surplus, phases = snap.now, mem.filtered_surplus_w or 0.0, mem.phases
    switch, mem = _phase_wish(snap, mem, s)
    if switch is not None:
        return _switch(snap, mem, s, switch)
    # a nearly full battery carries the car through thin sun as it tops it up (bench: a 1-phase
    # car 0.94 → 0.96 of the most net solar possible, nothing else moved)
    topup, mem = _topup_w(snap, mem, s, fills)
    short_w = _min_w(s, phases) - s.allow_grid_w - surplus - topup
    # a pending 3→1 switch will fix the deficit: do not arm the stop timer (evcc #2618)
    rescue = mem.phase_candidate == 1
    if short_w > 0 and not rescue:
        # without a battery the dip is the grid's, so it is counted in energy; with one the
        # battery pays it from a charge that may not come back today, so the time counts
        min_w = _min_w(s, phases)
        counted_w = min(short_w, min_w) if snap.site.battery_soc is None else min_w
        mem, used_ws = _deficit(mem, now, counted_w)
        on_left = s.min_on_s - (now - (mem.charging_since or now))
        delay = s.buffer_stop_delay_s if _buffered(snap, s) else s.stop_delay_s
        budget_ws = _min_w(s, phases) * delay
        left = max((budget_ws - used_ws) / counted_w, on_left)
        if left <= 0:
            one_ok = surplus >= _min_w(s, 1) - s.allow_grid_w
            if (
                phases == 3
                and _can_switch(snap, mem)
                and one_ok
                and _cooldown_left(mem, now, s) <= 0
            ):
                return _switch(snap, evolve(mem, deficit_since=None), s, 1)  # 1 phase, not a stop
            why = f"surplus gone ({short_w / 1000:.1f} kW short of the minimum): stopped"
            return Step(0.0, None, Status.WAIT_SUN, why, mem)
        why = f"{short_w / 1000:.1f} kW short of the minimum; stopping in {left:.0f} s"
        return Step(s.min_current_a, None, Status.CHARGING, why, mem)
    mem = evolve(mem, deficit_since=None)
    target = _amps_for(surplus + topup, phases, s, max_a)
    if 0.0 < target - mem.last_amps < s.deadband_a:
        target = mem.last_amps  # deadband: a small rise is not worth a write; a fall is import
    why = f"charging on {surplus / 1000:.1f} kW solar surplus ({phases} phase)"
    if topup > 0:
        why += f"; the full battery adds up to {topup / 1000:.1f} kW"
    if rescue:
        why += "; switching to 1 phase soon"
    return Step(target, None, Status.CHARGING, why, mem)


def _deficit(mem: Memory, now: float, short_w: float) -> Tuple[Memory, float]:
    """Count the grid energy the car has drawn in this deficit (W·s), at most the car's own
    minimum power each second (the house's import is not the car's).

    The stop timer runs on it: ``stop_delay_s`` at the full minimum, longer when the sun still
    covers part of it. Holding the minimum through a dip gains what sun there is (net solar)
    at the cost of the rest from the grid, so a shallow dip is worth holding longer than a deep
    one for the same import, and each stop saved is a start saved."""
    if mem.deficit_since is None:
        mem = evolve(mem, deficit_since=now, surplus_since=None)
        return evolve(mem, dip_grid_ws=0.0, dip_grid_at=now), 0.0
    used, at = mem.dip_grid_ws or 0.0, mem.dip_grid_at
    used += short_w * max(0.0, now - (at if at is not None else now))
    return evolve(mem, dip_grid_ws=used, dip_grid_at=now), used


def _topup_w(
    snap: Snapshot, mem: Memory, s: CoreSettings, fills: Optional[bool]
) -> Tuple[float, Memory]:
    """What a nearly full battery may add to a charging car's surplus (W).

    A full battery turns away the sun, so what it gives the car now is refilled by surplus that
    would otherwise be exported; the car gets its power at the times it could not take it all.
    bench/net_optimum.py showed the gain: a 1-phase car 0.88 → 0.94 of the most net solar
    possible, an evening plug-in 0.95 → 0.99, for 0.09 kWh more grid import over 13 days; and
    0.96 once the top-up also counts against the stop timer (it carries the car through thin
    sun instead of stopping it).
    On at ``full_battery_soc``, off ``TOPUP_HYSTERESIS`` % below it: without the band the SOC
    sits on the threshold and the setpoint hunts (a thousand changes a day in the bench). Off
    when ``fills`` (``battery_fills_anyway``) says what it gives would not come back today, and
    past the day's PV peak unless the forecast says the battery still fills: what it gives in
    a waning afternoon is bought back in the evening (bench/family.py, generated days with a
    battery, first day: import caused 1p 3.65 → 2.12 kWh with the other changes of that
    session, net solar still above the evcc-style rule's)."""
    soc = snap.site.battery_soc
    keeping = past_pv_peak(mem) and fills is not True
    if s.full_battery_soc is None or soc is None or keeping:
        return 0.0, evolve(mem, topup=False)
    if fills is False:
        return 0.0, evolve(mem, topup=False)
    was_on = mem.topup
    on = soc >= s.full_battery_soc or (was_on and soc >= s.full_battery_soc - TOPUP_HYSTERESIS)
    return (s.full_battery_topup_w if on else 0.0), evolve(mem, topup=on)


def _switch(snap: Snapshot, mem: Memory, s: CoreSettings, target: int) -> Step:
    mem = ph.begin(mem, snap.now, target, drawing=True)
    seq, mem = ph.advance(snap, mem, s)
    if seq is not None:
        return seq
    return Step(0.0, None, ph.switch_status(target), f"switching to {target} phase", mem)


def _phase_wish(snap: Snapshot, mem: Memory, s: CoreSettings) -> Tuple[Optional[int], Memory]:
    """The phase count to switch to now, if its condition has held long enough.

    3→1 only when the slow trend (not one cloud) stays under ``phase_down_w`` for
    ``phase_down_delay_s`` while the car is held at the 3-phase minimum; 1→3 when the surplus and
    its trend are above ``phase_up_w``/``phase_down_w`` for ``phase_delay_s``. Between the two, a
    1-phase car modulates and a 3-phase one holds its minimum (the battery bridges the clouds).
    """
    if not _can_switch(snap, mem):
        return None, evolve(mem, phase_candidate=None, phase_candidate_since=None)
    surplus, now, trend = mem.filtered_surplus_w or 0.0, snap.now, trend_w(mem)
    want: Optional[int] = None
    delay = s.phase_delay_s
    if (
        mem.phases == 3
        and trend < s.phase_down_w
        and _min_w(s, 1) - s.allow_grid_w <= surplus < _min_w(s, 3)
    ):
        want, delay = 1, s.phase_down_delay_s
    elif mem.phases == 1 and surplus > s.phase_up_w and trend >= s.phase_down_w:
        want = 3
    if want is None or _cooldown_left(mem, now, s) > 0:
        return None, evolve(mem, phase_candidate=None, phase_candidate_since=None)
    since = mem.phase_candidate_since if mem.phase_candidate == want else now
    mem = evolve(mem, phase_candidate=want, phase_candidate_since=since)
    if since is not None and now - since >= delay:
        return want, mem
    return None, mem
