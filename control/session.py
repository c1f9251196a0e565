"""Charging sessions, pure: a session starts at plug-in and ends at unplug.

Energy is always ``lifetime register − register at start`` (``energy_wh`` is derived, never
summed), so a restart of the bridge, the controller or the charger neither loses nor double
counts energy: the open session is persisted with its start register and simply continues.
Cost and the solar share are attributed per increment of the register, with the price of the
slot it was charged in and the site flows seen at that moment. The EV is counted last: the house
uses the solar first, then the EV takes the rest of the PV, then battery discharge, then grid.
Grid energy costs the import price (the Tibber slot's, or the static rate). Solar energy costs
what the user gives up by not exporting it (``pricing.feed_in_eur_per_kwh``, 0 by default), and
so does battery energy: an ESS battery is filled from the PV surplus that would have been fed in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Optional, Tuple

from control.model import SiteView

MAX_TICK_GAP_S = 30.0  # a longer gap (a restart) adds no charging time: we do not know it


@dataclass(frozen=True)
class Session:
    start: float
    start_energy_wh: float  # lifetime register at plug-in (rebased if the register went back)
    last_energy_wh: float  # last register value seen
    last_update: float
    charging_time_s: float = 0.0
    cost: float = 0.0  # solar_cost + grid_cost (sessions saved before the split: the whole cost)
    solar_wh: float = 0.0
    battery_wh: float = 0.0
    grid_wh: float = 0.0
    end: Optional[float] = None
    solar_cost: float = 0.0  # solar and battery energy at the feed-in price
    grid_cost: float = 0.0  # grid energy at the import price

    @property
    def energy_wh(self) -> float:
        return max(0.0, self.last_energy_wh - self.start_energy_wh)

    @property
    def active(self) -> bool:
        return self.end is None

    @property
    def solar_share(self) -> Optional[float]:
        total = self.solar_wh + self.battery_wh + self.grid_wh
        return None if total <= 0 else min(1.0, max(0.0, self.solar_wh / total))

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Optional[Session]:
        """A session from persisted JSON, or None if it does not look like one."""
        if not isinstance(raw, dict):
            return None
        names = {f.name for f in fields(cls)}
        try:
            kwargs = {k: (None if v is None else float(v)) for k, v in raw.items() if k in names}
            return cls(**kwargs)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Reading:
    """What a session update looks at, taken at one instant."""

    now: float
    plugged: bool
    energy_wh: Optional[float]  # lifetime register; None = unknown (NaN, charger offline)
    power_w: Optional[float]
    price: Optional[float]  # import, per kWh, current slot; None = unknown (grid cost not counted)
    site: SiteView
    feed_in_price: float = 0.0  # per kWh: what a kWh of solar exported would have earned


def ev_sources(ev_w: float, site: SiteView) -> Tuple[float, float, float]:
    """Split the EV's power into (solar, battery, grid) shares that sum to 1."""
    if ev_w <= 0 or not site.fresh:
        return 0.0, 0.0, 1.0
    grid = sum(g for g in site.grid_power_w if g is not None)
    from_grid = min(ev_w, max(0.0, grid))
    battery = site.battery_power_w
    from_battery = min(ev_w - from_grid, max(0.0, -(battery or 0.0)))
    from_solar = max(0.0, ev_w - from_grid - from_battery)
    return from_solar / ev_w, from_battery / ev_w, from_grid / ev_w


MAX_UNSEEN_WH = 100_000.0  # more than a car takes between two sightings: not ours to count


def update(
    session: Optional[Session],
    r: Reading,
    min_power_w: float = 100.0,
    idle_energy_wh: Optional[float] = None,
) -> Tuple[Optional[Session], Optional[Session]]:
    """(open session after this reading, session that ended now or None).

    ``idle_energy_wh`` is the meter when a socket without a car was last seen: a car plugged in
    while nobody watched (charger rebooting, bridge or controller down) charged at the safe
    current from then on, and that energy belongs to the new session.
    """
    if session is not None and not r.plugged:
        return None, replace(session, end=r.now, last_update=r.now)
    if session is None:
        if not r.plugged or r.energy_wh is None:
            return None, None
        start_wh = r.energy_wh
        if idle_energy_wh is not None and 0 <= r.energy_wh - idle_energy_wh <= MAX_UNSEEN_WH:
            start_wh = idle_energy_wh
        unseen_wh = r.energy_wh - start_wh  # counted as grid energy at today's price: unknown
        cost = unseen_wh / 1000.0 * r.price if r.price is not None else 0.0
        return (
            Session(
                r.now, start_wh, r.energy_wh, r.now, cost=cost, grid_wh=unseen_wh, grid_cost=cost
            ),
            None,
        )
    return _advance(session, r, min_power_w), None


def _advance(s: Session, r: Reading, min_power_w: float) -> Session:
    dt = r.now - s.last_update
    charging = r.power_w is not None and r.power_w >= min_power_w
    charging_time = s.charging_time_s + (dt if charging and 0 < dt <= MAX_TICK_GAP_S else 0.0)
    if r.energy_wh is None:
        return replace(s, last_update=r.now, charging_time_s=charging_time)
    if r.energy_wh < s.last_energy_wh:
        # The register went back (charger replaced or reset): keep what was counted, rebase.
        return replace(
            s,
            start_energy_wh=r.energy_wh - s.energy_wh,
            last_energy_wh=r.energy_wh,
            last_update=r.now,
            charging_time_s=charging_time,
        )
    delta_wh = r.energy_wh - s.last_energy_wh
    solar, battery, grid = ev_sources(r.power_w or 0.0, r.site)
    grid_cost = delta_wh * grid / 1000.0 * r.price if r.price is not None else 0.0
    solar_cost = delta_wh * (solar + battery) / 1000.0 * r.feed_in_price
    return replace(
        s,
        last_energy_wh=r.energy_wh,
        last_update=r.now,
        charging_time_s=charging_time,
        cost=s.cost + grid_cost + solar_cost,
        solar_cost=s.solar_cost + solar_cost,
        grid_cost=s.grid_cost + grid_cost,
        solar_wh=s.solar_wh + delta_wh * solar,
        battery_wh=s.battery_wh + delta_wh * battery,
        grid_wh=s.grid_wh + delta_wh * grid,
    )


def summary(session: Optional[Session], now: float, currency: str) -> Dict[str, Any]:
    """The ``session`` object of control/state (schemas/control_state.schema.json)."""
    if session is None:
        return {
            "active": False,
            "start": None,
            "end": None,
            "energy_kwh": 0.0,
            "time_s": 0,
            "charging_time_s": 0,
            "cost": None,
            "currency": currency,
            "solar_share": None,
            **split_summary(None),
        }
    end = session.end if session.end is not None else now
    return {
        "active": session.active,
        "start": session.start,
        "end": session.end,
        "energy_kwh": round(session.energy_wh / 1000.0, 3),
        "time_s": round(max(0.0, end - session.start)),
        "charging_time_s": round(session.charging_time_s),
        "cost": round(session.cost, 4),
        "currency": currency,
        "solar_share": None if session.solar_share is None else round(session.solar_share, 3),
        **split_summary(session),
    }


def cost_split(session: Session) -> Tuple[Optional[float], Optional[float]]:
    """(solar_cost, grid_cost), or (None, None) when the session began before the cost was
    split (its parts do not add up to its cost: the early part is known only as a whole)."""
    if abs(session.solar_cost + session.grid_cost - session.cost) > 1e-6:
        return None, None
    return session.solar_cost, session.grid_cost


def split_summary(session: Optional[Session]) -> Dict[str, Any]:
    """Where the session's energy came from and what each part cost."""
    if session is None:
        keys = ("solar_kwh", "battery_kwh", "grid_kwh", "solar_cost", "grid_cost")
        return dict.fromkeys(keys)
    solar_cost, grid_cost = cost_split(session)
    return {
        "solar_kwh": round(session.solar_wh / 1000.0, 3),
        "battery_kwh": round(session.battery_wh / 1000.0, 3),
        "grid_kwh": round(session.grid_wh / 1000.0, 3),
        "solar_cost": None if solar_cost is None else round(solar_cost, 4),
        "grid_cost": None if grid_cost is None else round(grid_cost, 4),
    }
