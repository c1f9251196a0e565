"""What the controller tells the page besides its decision: the site's power flows, the prices
it plans with and the deadline plan's expected finish. Pure: inputs in, JSON-ready dicts out.

The UI gets the site's power from here (``{base}/control/site``) rather than subscribing to the
Venus topics itself: the controller already reads and checks them (staleness included), so the
page shows exactly what the controller decides on, in one small message a second instead of
fifteen, and with no second keepalive to dbus-flashmq.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from control.model import ChargerView, Decision, Memory, Prices, PriceSlot, SiteView
from control.scheduled import is_cheap, percentile_limit, slot_at, upcoming
from control.settings import CoreSettings

SITE_ROUND_W = 10  # the page shows kW with two decimals; finer steps only add messages


def _watts(value: Optional[float]) -> Optional[float]:
    return None if value is None else float(round(value / SITE_ROUND_W) * SITE_ROUND_W)


def _total(values: Sequence[Optional[float]]) -> Optional[float]:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def site_report(site: SiteView, charger: ChargerView, now: float) -> Dict[str, Any]:
    """``{base}/control/site``: power in W (+ grid import, + battery charging), SOC in %.

    The house is Venus's AC consumption without the car: the charger's power is inside it.
    """
    ev_w = charger.power_w if charger.online else None
    consumption = _total(site.consumption_w)
    house = None if consumption is None else max(0.0, consumption - (ev_w or 0.0))
    return {
        "ts": round(now, 1),
        "fresh": site.fresh,
        "pv_w": _watts(site.pv_power_w),
        "grid_w": _watts(_total(site.grid_power_w)),
        "battery_w": _watts(site.battery_power_w),
        "battery_soc": None if site.battery_soc is None else round(site.battery_soc, 1),
        "house_w": _watts(house),
        "ev_w": _watts(ev_w),
    }


def same_but_ts(a: Optional[Dict[str, Any]], b: Dict[str, Any]) -> bool:
    """Equal but for the timestamp (then there is nothing new to publish)."""
    return a is not None and {**a, "ts": 0} == {**b, "ts": 0}


def prices_report(prices: Prices, currency: str, import_rate: Optional[float]) -> Dict[str, Any]:
    """``{base}/control/prices``: the price slots SCHEDULED plans with (empty when static)."""
    return {
        "source": prices.source,
        "error": prices.error,
        "currency": currency,
        "static_rate": import_rate if prices.source != "tibber" else None,
        "slots": [_slot(s) for s in prices.slots],
    }


def _slot(s: PriceSlot) -> Dict[str, Any]:
    return {"start": s.start, "end": s.end, "price": s.price, "level": s.level}


def plan_finish(plan: Sequence[PriceSlot], need_wh: float, power_w: float) -> Optional[float]:
    """When charging in the planned slots at ``power_w`` has delivered ``need_wh``; None if
    the plan falls short (or there is nothing to plan with)."""
    if need_wh <= 0 or power_w <= 0:
        return None
    got_wh = 0.0
    for s in plan:
        slot_wh = (s.end - s.start) * power_w / 3600.0
        if got_wh + slot_wh >= need_wh - 1e-6:
            return s.start + (need_wh - got_wh) / power_w * 3600.0
        got_wh += slot_wh
    return None


def deadline_report(d: Decision, mem: Memory) -> Optional[Dict[str, Any]]:
    """The running "N kWh by HH:MM" plan: deadline, energy left and the expected finish."""
    if mem.plan_key is None or mem.plan_deadline is None:
        return None
    energy, _, hhmm = mem.plan_key.partition("@")
    try:
        target_kwh = float(energy)
    except ValueError:
        return None
    need_wh = d.details.get("need_wh")
    power_w = d.details.get("plan_power_w")
    finish = None
    if isinstance(need_wh, (int, float)) and isinstance(power_w, (int, float)):
        finish = plan_finish(d.plan, float(need_wh), float(power_w))
    return {
        "by": mem.plan_deadline,
        "by_hhmm": hhmm,
        "energy_kwh": target_kwh,
        "left_kwh": None if need_wh is None else round(float(need_wh) / 1000.0, 2),
        "finish": None if finish is None else round(finish),
        "on_time": None if finish is None else finish <= mem.plan_deadline + 1,
    }


def strategy_plan(prices: Prices, now: float, s: CoreSettings) -> Tuple[PriceSlot, ...]:
    """The upcoming slots SCHEDULED's price strategy (level, threshold, percentile) charges in,
    judged as it judges the current one: what the page marks when no deadline plan runs."""
    if not s.tibber_enabled or prices.error or slot_at(prices.slots, now) is None:
        return ()
    ahead = upcoming(prices.slots, now)
    if s.strategy == "percentile":  # one limit for all, not one sort per slot
        limit = percentile_limit(prices.slots, now, s.cheap_percentile)
        return tuple(x for x in ahead if limit is not None and x.price <= limit)
    return tuple(x for x in ahead if is_cheap(x, prices.slots, now, s))
