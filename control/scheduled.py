"""SCHEDULED: time windows, Tibber price strategies and the "N kWh by HH:MM" planner. Pure.

Order of preference: a deadline plan (cheapest 15-min slots before the deadline) when prices
exist; else a Tibber strategy (level / threshold / percentile) for the current slot; else the
configured time windows. Missing prices or a price error fall back to windows, and the reason
says why. Local times (windows, deadline, the "starts at" text) use the configured time zone
through pytz, so DST days have 23 or 25 hours and windows keep their wall-clock times.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import List, Optional, Sequence, Tuple

from control.local_time import day_bit, deadline_at, hhmm, local
from control.model import ForecastSlot, Memory, PriceSlot, Snapshot, Status, Step, evolve
from control.settings import CoreSettings, Window

PIECE_S = 900  # plan in quarter hours (Tibber QUARTER_HOURLY, EPEX 15-min products)
LEVELS_CHEAP = ("CHEAP", "VERY_CHEAP")


# ---- windows --------------------------------------------------------------------------------
def active_window(windows: Sequence[Window], now: float, tz_name: str) -> Optional[Window]:
    t = local(now, tz_name)
    minute, today = t.hour * 60 + t.minute, t.date()
    yesterday = today - dt.timedelta(days=1)
    for w in windows:
        if w.start_min == w.end_min:
            hit = bool(w.days_mask & day_bit(today))
        elif w.start_min < w.end_min:
            hit = bool(w.days_mask & day_bit(today)) and w.start_min <= minute < w.end_min
        else:  # overnight: belongs to the day it starts on
            hit = (bool(w.days_mask & day_bit(today)) and minute >= w.start_min) or (
                bool(w.days_mask & day_bit(yesterday)) and minute < w.end_min
            )
        if hit:
            return w
    return None


# ---- prices ---------------------------------------------------------------------------------
def slot_at(slots: Sequence[PriceSlot], now: float) -> Optional[PriceSlot]:
    for slot in slots:
        if slot.start <= now < slot.end:
            return slot
    return None


def upcoming(slots: Sequence[PriceSlot], now: float) -> List[PriceSlot]:
    """The current slot and later ones; past slots never count."""
    return sorted((x for x in slots if x.end > now), key=lambda x: x.start)


def level_of(slot: PriceSlot, slots: Sequence[PriceSlot]) -> str:
    """Tibber's level, or the same bands computed against the average when it is missing."""
    if slot.level:
        return slot.level.upper()
    avg = sum(x.price for x in slots) / len(slots) if slots else slot.price
    ratio = slot.price / avg if avg > 0 else 1.0
    if ratio <= 0.6:
        return "VERY_CHEAP"
    if ratio <= 0.9:
        return "CHEAP"
    return "NORMAL" if ratio < 1.15 else ("EXPENSIVE" if ratio < 1.4 else "VERY_EXPENSIVE")


def percentile_limit(slots: Sequence[PriceSlot], now: float, fraction: float) -> Optional[float]:
    """Highest price among the cheapest ``fraction`` of upcoming slots (nearest rank)."""
    prices = sorted(x.price for x in upcoming(slots, now))
    if not prices:
        return None
    rank = max(1, math.ceil(fraction * len(prices)))
    return prices[min(rank, len(prices)) - 1]


def is_cheap(slot: PriceSlot, slots: Sequence[PriceSlot], now: float, s: CoreSettings) -> bool:
    if s.strategy == "threshold":
        return slot.price <= s.max_price_total
    if s.strategy == "percentile":
        limit = percentile_limit(slots, now, s.cheap_percentile)
        return limit is not None and slot.price <= limit
    level = level_of(slot, slots)
    return (level == "CHEAP" and s.charge_on_cheap) or (
        level == "VERY_CHEAP" and s.charge_on_very_cheap
    )


def _why_cheap(slot: PriceSlot, slots: Sequence[PriceSlot], now: float, s: CoreSettings) -> str:
    if s.strategy == "threshold":
        return f"price {slot.price:.3f} at or below {s.max_price_total:.3f}"
    if s.strategy == "percentile":
        return f"price {slot.price:.3f} in the cheapest {s.cheap_percentile:.0%} of upcoming slots"
    return f"price level {level_of(slot, slots)}"


# ---- deadline -------------------------------------------------------------------------------
def pieces(slots: Sequence[PriceSlot], start: float, end: float) -> List[PriceSlot]:
    """Quarter-hour pieces of the priced time in [start, end), aligned on each slot's start."""
    out: List[PriceSlot] = []
    for slot in slots:
        t = slot.start
        while t < slot.end:
            a, b = max(t, start), min(t + PIECE_S, slot.end, end)
            if b > a:
                out.append(PriceSlot(a, b, slot.price, slot.level))
            t += PIECE_S
    return out


def _free_fraction(piece: PriceSlot, forecast: Sequence[ForecastSlot], power_w: float) -> float:
    """Share of the planned charging power that forecast PV covers in this piece."""
    mid = (piece.start + piece.end) / 2
    for f in forecast:
        if f.start <= mid < f.end:
            return max(0.0, min(1.0, f.surplus_w / power_w))
    return 0.0


def plan_cheapest(
    slots: Sequence[PriceSlot],
    now: float,
    deadline: float,
    need_wh: float,
    power_w: float,
    forecast: Sequence[ForecastSlot] = (),
) -> Tuple[Tuple[PriceSlot, ...], bool]:
    """The cheapest quarter hours in [now, deadline) that deliver ``need_wh`` at ``power_w``.

    Ties go to the later slot (evcc's rule: stay flexible). Returns (chosen pieces in time order,
    feasible). With ``forecast`` the PV share of a piece is free. Not feasible → every piece.
    """
    if need_wh <= 0 or power_w <= 0:
        return (), True
    cands = pieces(slots, now, deadline)
    need_s = need_wh / power_w * 3600.0

    def cost(p: PriceSlot) -> float:
        return p.price * (1.0 - _free_fraction(p, forecast, power_w)) if forecast else p.price

    chosen: List[PriceSlot] = []
    got = 0.0
    for p in sorted(cands, key=lambda p: (cost(p), -p.start)):
        if got >= need_s - 1e-6:
            break
        chosen.append(p)
        got += p.end - p.start
    return tuple(sorted(chosen, key=lambda p: p.start)), got >= need_s - 1e-6


def _prices_ok(snap: Snapshot) -> Optional[str]:
    """None when prices are usable, else why not."""
    p = snap.prices
    if p.error:
        return f"price error ({p.error})"
    if not p.slots:
        return "no prices"
    if slot_at(p.slots, snap.now) is None:
        return "no price for the current slot"
    return None


# ---- the mode -------------------------------------------------------------------------------
def step(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float, phases: int) -> Step:
    plan = _deadline_plan(snap, mem, s)
    if plan is not None:
        return _run_plan(snap, plan, s, max_a, phases)
    bad = _prices_ok(snap)
    if s.tibber_enabled and bad is None:
        return _strategy(snap, mem, s, max_a)
    prefix = f"{bad}: " if s.tibber_enabled else ""
    return _windows(snap, mem, s, max_a, prefix)


def _windows(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float, prefix: str) -> Step:
    if not s.windows:
        return Step(0.0, None, Status.WAIT_START, prefix + "no time window configured", mem)
    w = active_window(s.windows, snap.now, s.timezone)
    if w is None:
        why = prefix + "outside the time windows" + _next_window(s, snap.now)
        return Step(0.0, None, Status.WAIT_START, why, mem)
    amps = max_a if w.current_a is None else min(w.current_a, max_a)
    why = f"{prefix}in time window {hhmm(w.start_min)}–{hhmm(w.end_min)}"
    return Step(amps, None, Status.CHARGING, why, mem)


def _next_window(s: CoreSettings, now: float) -> str:
    t = now - now % 60
    for _ in range(7 * 24 * 4):  # look a week ahead in quarter hours
        t += PIECE_S
        if active_window(s.windows, t, s.timezone) is not None:
            return f"; next at {local(t, s.timezone):%a %H:%M}"
    return ""


def _strategy(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    slots, now = snap.prices.slots, snap.now
    cur = slot_at(slots, now)
    assert cur is not None
    if is_cheap(cur, slots, now, s):
        return Step(
            max_a, None, Status.CHARGING, "cheap now: " + _why_cheap(cur, slots, now, s), mem
        )
    for nxt in upcoming(slots, now):
        if nxt.start > now and is_cheap(nxt, slots, now, s):
            why = f"cheapest slots start at {local(nxt.start, s.timezone):%H:%M} ({s.strategy})"
            return Step(0.0, None, Status.WAIT_START, why, mem)
    return Step(
        0.0, None, Status.WAIT_START, f"no cheap slot in the known prices ({s.strategy})", mem
    )


def _deadline_plan(snap: Snapshot, mem: Memory, s: CoreSettings) -> Optional[Tuple[str, Memory]]:
    """The running plan's key (with memory updated), or None when no plan applies."""
    if snap.user.deadline is not None:
        kwh, hhmm = snap.user.deadline
    elif s.deadline_energy_kwh > 0:
        kwh, hhmm = s.deadline_energy_kwh, s.deadline_time
    else:
        return None
    if kwh <= 0:
        return None
    key = f"{kwh:g}@{hhmm}"
    if mem.plan_key != key or mem.plan_deadline is None:
        mem = evolve(
            mem,
            plan_key=key,
            plan_anchor_wh=snap.charger.energy_wh,
            plan_deadline=deadline_at(snap.now, hhmm, s.timezone),
        )
    if mem.plan_anchor_wh is None and snap.charger.energy_wh is not None:
        mem = evolve(mem, plan_anchor_wh=snap.charger.energy_wh)
    return key, mem


def delivered_wh(snap: Snapshot, mem: Memory) -> float:
    if snap.charger.energy_wh is None or mem.plan_anchor_wh is None:
        return 0.0
    return max(0.0, snap.charger.energy_wh - mem.plan_anchor_wh)


def _run_plan(
    snap: Snapshot, plan: Tuple[str, Memory], s: CoreSettings, max_a: float, phases: int
) -> Step:
    key, mem = plan
    now, deadline = snap.now, mem.plan_deadline or snap.now
    target_wh = float(key.split("@")[0]) * 1000.0
    done_wh = delivered_wh(snap, mem)
    need_wh = target_wh - done_wh
    hhmm = key.split("@")[1]
    if need_wh <= 0:
        why = f"plan done: {done_wh / 1000:.1f} kWh delivered for {hhmm}"
        return Step(0.0, None, Status.CHARGED, why, mem)
    if now >= deadline:
        why = f"deadline {hhmm} passed with {done_wh / 1000:.1f} of {target_wh / 1000:.1f} kWh"
        return _windows(snap, mem, s, max_a, why + "; ")
    mem = _learn_power(snap, mem, max_a)
    power_w = mem.plan_power_w or max_a * phases * s.voltage_v
    bad = _prices_ok(snap)
    left_kwh = need_wh / 1000
    if bad is not None:
        # no prices: windows, but never miss the deadline (latest possible start)
        if (deadline - now) <= need_wh / power_w * 3600.0 + PIECE_S:
            why = f"{bad}: charging now to reach {left_kwh:.1f} kWh more by {hhmm}"
            return Step(max_a, None, Status.CHARGING, why, mem)
        return _windows(snap, mem, s, max_a, f"{bad}: ")
    forecast = snap.pv_forecast if s.pv_forecast else ()
    chosen, feasible = plan_cheapest(snap.prices.slots, now, deadline, need_wh, power_w, forecast)
    details = {"need_wh": round(need_wh), "plan_power_w": round(power_w)}
    if not feasible:
        why = f"not enough time for {left_kwh:.1f} kWh by {hhmm}: charging now"
        return Step(max_a, None, Status.CHARGING, why, mem, chosen, details)
    if chosen and chosen[0].start <= now < chosen[0].end:
        why = f"charging in a planned cheap slot: {left_kwh:.1f} kWh more by {hhmm}"
        return Step(max_a, None, Status.CHARGING, why, mem, chosen, details)
    first = f"{local(chosen[0].start, s.timezone):%H:%M}" if chosen else "?"
    why = f"cheapest slots start at {first} ({left_kwh:.1f} kWh by {hhmm})"
    return Step(0.0, None, Status.WAIT_START, why, mem, chosen, details)


def _learn_power(snap: Snapshot, mem: Memory, max_a: float) -> Memory:
    """What the car really takes at full current (cars often take less than offered)."""
    p = snap.charger.power_w
    settled = mem.charging_since is not None and snap.now - mem.charging_since >= 30
    if not (snap.charger.charging and settled and p and p > 500 and mem.last_amps >= max_a):
        return mem
    old = mem.plan_power_w
    return evolve(mem, plan_power_w=p if old is None else old + 0.05 * (p - old))
