"""What the controller learns from the site: the PV surplus by quarter hour (the forecast
SCHEDULED and AUTO's battery check use) and the battery's capacity."""

from __future__ import annotations

from typing import Optional, Tuple

from control.battery_capacity import CapacityLearner
from control.forecast import PvForecaster, site_surplus_w
from control.model import ForecastSlot, Snapshot
from control.settings import CoreSettings
from control.store import Store


class Learners:
    def __init__(self, timezone: str) -> None:
        self.forecaster = PvForecaster(timezone)
        self.capacity = CapacityLearner()

    def load(self, store: Store) -> None:
        self.forecaster.load_json(store.load_pv_history())
        self.capacity.load_json(store.load_battery())

    def record(self, snap: Snapshot, now: float) -> None:
        """Learn from one tick; a stale site is a gap, not a zero."""
        if not snap.site.fresh:
            self.capacity.record(now, None, None)
            return
        self.capacity.record(now, snap.site.battery_soc, snap.site.battery_power_w)
        ev_w = snap.charger.power_w if snap.charger.online else 0.0
        self.forecaster.record(
            now, site_surplus_w(snap.site.pv_power_w, snap.site.consumption_w, ev_w)
        )

    def forecast(self, now: float, settings: CoreSettings) -> Tuple[ForecastSlot, ...]:
        """The PV forecast when SCHEDULED or AUTO's battery check wants it, else none."""
        wants = settings.pv_forecast or settings.check_capacity_kwh(self.capacity.kwh) is not None
        return self.forecaster.quarter_hour_forecast(now) if wants else ()

    @property
    def capacity_kwh(self) -> Optional[float]:
        return self.capacity.kwh
