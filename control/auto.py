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

import math
from dataclasses import replace
from typing import Optional, Tuple

from control import phases as ph
from control.model import Memory, Snapshot, Status
from control.phases import Step
from control.settings import CoreSettings

FALL_SPEEDUP = 4.0  # falling surplus is followed this many times faster than a rising one


def raw_surplus_w(snap: Snapshot, s: CoreSettings) -> Optional[float]:
    site = snap.site
    if any(g is None for g in site.grid_power_w):
        return None
    grid_w = sum(g or 0.0 for g in site.grid_power_w)
    batt_w = site.battery_power_w or 0.0
    soc = site.battery_soc
    share = batt_w if soc is None or soc >= s.battery_priority_soc else min(batt_w, 0.0)
    return ev_power_w(snap, s) - grid_w + share - s.reserve_w


def ev_power_w(snap: Snapshot, s: CoreSettings) -> float:
    c = snap.charger
    if c.power_w is not None and not math.isnan(c.power_w):
        return c.power_w
    volts = [v if v is not None else s.voltage_v for v in c.phase_voltage_v]
    return sum((a or 0.0) * v for a, v in zip(c.phase_current_a, volts))


def smooth(mem: Memory, raw: float, now: float, s: CoreSettings) -> Memory:
    prev, at = mem.filtered_surplus_w, mem.filtered_at
    if prev is None or at is None or s.smoothing_s <= 0:
        return replace(mem, filtered_surplus_w=raw, filtered_at=now)
    dt = max(0.0, now - at)
    tau = s.smoothing_s if raw > prev else s.smoothing_s / FALL_SPEEDUP
    value = prev + (raw - prev) * (1.0 - math.exp(-dt / tau))
    return replace(mem, filtered_surplus_w=value, filtered_at=now)


def _reset_timers(mem: Memory) -> Memory:
    return replace(
        mem,
        surplus_since=None,
        deficit_since=None,
        phase_candidate=None,
        phase_candidate_since=None,
        filtered_surplus_w=None,
        filtered_at=None,
    )


def step(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    """AUTO's proposal for this instant; ``max_a`` is the ceiling from station and user."""
    site = snap.site
    raw = raw_surplus_w(snap, s) if site.fresh else None
    if raw is None:
        mem = ph.abort(_reset_timers(mem))
        why = "no fresh data from the Victron system (grid meter/battery): AUTO does not charge"
        return Step(0.0, None, Status.CONNECTED, why, mem)
    low, mem = _low_soc(snap, mem, s)
    if low is not None:
        return Step(0.0, None, Status.LOW_SOC, low, ph.abort(_reset_timers(mem)))
    mem = smooth(mem, raw, snap.now, s)
    details = {"surplus_w": round(raw, 1), "filtered_surplus_w": round(mem.filtered_surplus_w or 0)}
    seq, mem = ph.advance(snap, mem, s)
    if seq is not None:
        return replace(seq, details=details)
    out = _charging(snap, mem, s, max_a) if mem.last_amps > 0 else _idle(snap, mem, s, max_a)
    return replace(out, details=details)


def _low_soc(snap: Snapshot, mem: Memory, s: CoreSettings) -> Tuple[Optional[str], Memory]:
    soc, floor = snap.site.battery_soc, snap.site.ess_min_soc
    if soc is None or floor is None:
        return None, replace(mem, low_soc=False)
    limit = floor + s.low_soc_margin + (s.low_soc_hysteresis if mem.low_soc else 0.0)
    if soc < limit:
        why = (
            f"battery at {soc:.0f} %, below ESS minimum {floor:.0f} % + {s.low_soc_margin:.0f} %"
            + (" (+ hysteresis)" if mem.low_soc else "")
            + ": paused"
        )
        return why, replace(mem, low_soc=True)
    return None, replace(mem, low_soc=False)


def _can_switch(snap: Snapshot, mem: Memory) -> bool:
    return snap.charger.phase_switching_available and not mem.car_single_phase


def _min_w(s: CoreSettings, phases: int) -> float:
    return s.min_current_a * phases * s.voltage_v


def _amps_for(surplus_w: float, phases: int, s: CoreSettings, max_a: float) -> float:
    amps = math.floor(surplus_w / (phases * s.voltage_v) * 10.0) / 10.0
    return max(s.min_current_a, min(amps, max_a))


def _idle(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    now, surplus = snap.now, mem.filtered_surplus_w or 0.0
    phases = mem.phases
    cooldown_ok = _cooldown_left(mem, now, s) <= 0
    if _can_switch(snap, mem) and cooldown_ok:
        phases = 3 if surplus >= max(s.phase_up_w, _min_w(s, 3)) else 1
    need_w = _min_w(s, phases)
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
    mem = replace(mem, surplus_since=since, deficit_since=None)
    off_left = s.min_off_s - (now - mem.stopped_since) if mem.stopped_since is not None else 0.0
    wait = max(s.start_delay_s - (now - since), off_left)
    if wait > 0:
        what = "minimum pause" if off_left >= s.start_delay_s - (now - since) else "surplus held"
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
    return replace(mem, surplus_since=None, deficit_since=None)


def _cooldown_left(mem: Memory, now: float, s: CoreSettings) -> float:
    if mem.last_phase_switch is None:
        return 0.0
    return s.phase_cooldown_s - (now - mem.last_phase_switch)


def _charging(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    now, surplus, phases = snap.now, mem.filtered_surplus_w or 0.0, mem.phases
    switch, mem = _phase_wish(snap, mem, s)
    if switch is not None:
        mem = ph.begin(mem, now, switch, drawing=True)
        seq, mem = ph.advance(snap, mem, s)
        if seq is not None:
            return seq
    short_w = _min_w(s, phases) - s.allow_grid_w - surplus
    # a pending 3→1 switch will fix the deficit: do not arm the stop timer (evcc #2618)
    rescue = mem.phase_candidate == 1
    if short_w > 0 and not rescue:
        since = mem.deficit_since if mem.deficit_since is not None else now
        mem = replace(mem, deficit_since=since, surplus_since=None)
        on_left = s.min_on_s - (now - (mem.charging_since or now))
        left = max(s.stop_delay_s - (now - since), on_left)
        if left <= 0:
            why = f"surplus gone ({short_w / 1000:.1f} kW short of the minimum): stopped"
            return Step(0.0, None, Status.WAIT_SUN, why, mem)
        why = f"{short_w / 1000:.1f} kW short of the minimum; stopping in {left:.0f} s"
        return Step(s.min_current_a, None, Status.CHARGING, why, mem)
    mem = replace(mem, deficit_since=None)
    target = _amps_for(surplus, phases, s, max_a)
    if abs(target - mem.last_amps) < s.deadband_a and mem.last_amps <= max_a:
        target = mem.last_amps  # deadband: small changes are not worth a write
    why = f"charging on {surplus / 1000:.1f} kW solar surplus ({phases} phase)"
    if rescue:
        why += "; switching to 1 phase soon"
    return Step(target, None, Status.CHARGING, why, mem)


def _phase_wish(snap: Snapshot, mem: Memory, s: CoreSettings) -> Tuple[Optional[int], Memory]:
    """The phase count to switch to now, if a threshold has held for the delay."""
    if not _can_switch(snap, mem):
        return None, replace(mem, phase_candidate=None, phase_candidate_since=None)
    surplus, now = mem.filtered_surplus_w or 0.0, snap.now
    want: Optional[int] = None
    if mem.phases == 3 and surplus < s.phase_down_w and surplus >= _min_w(s, 1) - s.allow_grid_w:
        want = 1
    elif mem.phases == 1 and surplus > s.phase_up_w:
        want = 3
    if want is None or _cooldown_left(mem, now, s) > 0:
        return None, replace(mem, phase_candidate=None, phase_candidate_since=None)
    since = mem.phase_candidate_since if mem.phase_candidate == want else now
    mem = replace(mem, phase_candidate=want, phase_candidate_since=since)
    if since is not None and now - since >= s.phase_delay_s:
        return want, mem
    return None, mem
