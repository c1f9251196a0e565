"""The controllers the bench compares: the real core and two reference rules.

Each controller is called once per simulated second with the GX's reading of that second and the
car, and returns (amps, phases or None). The reference rules are written as their authors
describe them (the seed's README, evcc's loadpoint documentation), not tuned:

* ``SeedRule`` — rhernaus/victron-alfen-charger: surplus = PV − (consumption − EV), no grid meter,
  no battery, start at once when it covers 6 A on the car's phases, once started hold 6 A through
  a dip for 300 s, then stop; excess forced to 0 while the battery is below the ESS minimum.
* ``EvccRule`` — evcc's PV mode defaults: a 30 s control interval, start after 60 s of enough
  surplus, stop after 180 s without (holding the minimum meanwhile), 6–16 A, fixed phases, the
  same grid-meter surplus and battery priority as the core (evcc ``prioritySoc``, with its 100 W
  residual below it).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from bench.ev import VOLTS, EvModel
from control.battery_capacity import CapacityLearner
from control.core import decide
from control.forecast import PvForecaster, site_surplus_w
from control.model import (
    ChargerView,
    ForecastSlot,
    Memory,
    Mode,
    Prices,
    SiteView,
    Snapshot,
    UserSettings,
)
from control.settings import CoreSettings
from sim.site_model import BatteryParams, SiteModel, SiteReading, Trace

Command = Tuple[float, Optional[int]]


class CoreController:
    """The real ``decide`` fed with what the runner would build from MQTT."""

    def __init__(
        self,
        settings: CoreSettings,
        ess_min_soc: float,
        switching: bool = True,
        mode: Mode = Mode.AUTO,
        prices: Optional[Prices] = None,
        deadline: Optional[Tuple[float, str]] = None,
        max_current_a: float = 32.0,
        start_ts: float = 0.0,
        pv_forecast: Tuple[ForecastSlot, ...] = (),
    ) -> None:
        self.s = settings
        self.start_ts = start_ts
        self.pv_forecast = pv_forecast
        self.mem = Memory()
        self.ess_min_soc = ess_min_soc
        self.switching = switching
        self.user = UserSettings(mode=mode, max_current_a=max_current_a, deadline=deadline)
        self.prices = prices or Prices()
        self.last_reason = ""
        self.last_details: Dict[str, Any] = {}
        self.battery_capacity_kwh: Optional[float] = None  # what the runner would have learned

    def __call__(self, now: float, r: SiteReading, ev: EvModel) -> Command:
        """``now`` is seconds since the start of the day (the car's clock)."""
        connected = ev.connected(now)
        cur = ev.current_a if connected else 0.0
        ph = ev.phases
        charger = ChargerView(
            online=True,
            mode3=ev.mode3(now),
            vehicle_connected=connected,
            charging=cur > 0,
            power_w=cur * VOLTS * ph,
            phase_current_a=(cur, cur if ph == 3 else 0.0, cur if ph == 3 else 0.0),
            phase_voltage_v=(VOLTS, VOLTS, VOLTS),
            energy_wh=ev.lifetime_wh,
            phases_measured=ph if cur > 0 else None,
            phases_configured=ev.charger_phases,
            station_max_current_a=32.0,
            phase_switching_available=self.switching,
        )
        site = SiteView(
            grid_power_w=r.grid_w,
            pv_power_w=r.pv_w,
            consumption_w=r.consumption_w,
            battery_soc=r.soc,
            battery_power_w=r.battery_w,
            ess_min_soc=self.ess_min_soc,
            fresh=True,
        )
        snap = Snapshot(
            self.start_ts + now,
            charger,
            site,
            self.prices,
            self.user,
            self.pv_forecast,
            self.battery_capacity_kwh,
        )
        dec, self.mem = decide(snap, self.mem, self.s)
        self.last_reason = dec.reason
        self.last_details = dec.details
        return dec.amps, dec.phases


class LearningCore(CoreController):
    """The core with what a GX learns: a ``PvForecaster`` that learned earlier days and
    records today's site surplus as it happens (once a minute), asked as the runner asks it, and
    the battery's capacity from its SOC (in a BMS's 1 % steps) and power."""

    def __init__(
        self,
        settings: CoreSettings,
        ess_min_soc: float,
        start_ts: float,
        forecast_every_s: int = 60,
    ) -> None:
        super().__init__(settings, ess_min_soc, switching=True, start_ts=start_ts)
        self.forecast_every_s = forecast_every_s  # the runner records every second
        self.forecaster = PvForecaster(settings.timezone)
        self.capacity = CapacityLearner()

    def learn(self, trace: Trace, battery: BatteryParams, every_s: int = 10) -> None:
        """One earlier day without a car: the forecast sampled once a minute, the battery
        every ``every_s`` seconds."""
        site = SiteModel(trace, battery)
        for i in range(0, len(trace), every_s):
            r = site.step(i, (0.0, 0.0, 0.0), float(every_s))
            if i % 60 == 0:
                self.forecaster.record(trace.start_ts + i, r.pv_w - sum(r.consumption_w))
            self.capacity.record(trace.start_ts + i, round(r.soc), r.battery_w)

    def __call__(self, now: float, r: SiteReading, ev: EvModel) -> Command:
        t = self.start_ts + now
        if int(now) % self.forecast_every_s == 0:
            ev_w = ev.current_a * VOLTS * ev.phases if ev.connected(now) else 0.0
            self.forecaster.record(t, site_surplus_w(r.pv_w, r.consumption_w, ev_w))
        self.capacity.record(t, round(r.soc), r.battery_w)
        self.battery_capacity_kwh = self.capacity.kwh
        self.pv_forecast = self.forecaster.quarter_hour_forecast(t)
        return super().__call__(now, r, ev)


class SeedRule:
    def __init__(self, ess_min_soc: float, min_charge_s: float = 300.0) -> None:
        self.ess_min_soc = ess_min_soc
        self.min_charge_s = min_charge_s
        self.dip_since: Optional[float] = None
        self.amps = 0.0

    def __call__(self, now: float, r: SiteReading, ev: EvModel) -> Command:
        phases = ev.phases
        ev_w = ev.current_a * VOLTS * phases
        excess = r.pv_w - (sum(r.consumption_w) - ev_w)
        if r.soc < self.ess_min_soc:
            excess = 0.0
        amps = min(excess / (phases * VOLTS), 32.0)
        if amps >= 6.0:
            self.dip_since = None
        elif self.amps > 0:  # charging: hold 6 A through a dip for min_charge_s
            self.dip_since = self.dip_since if self.dip_since is not None else now
            amps = 6.0 if now - self.dip_since < self.min_charge_s else 0.0
        else:
            amps = 0.0
        if not ev.connected(now):
            amps, self.dip_since = 0.0, None
        self.amps = amps
        return amps, None


class EvccRule:
    def __init__(
        self,
        settings: CoreSettings,
        interval_s: float = 30.0,
        enable_s: float = 60.0,
        switching: bool = False,
    ) -> None:
        self.s = settings
        self.interval_s = interval_s
        self.enable_s = enable_s
        self.disable_s = 180.0
        self.next_t: Optional[float] = None
        self.enable_since: Optional[float] = None
        self.disable_since: Optional[float] = None
        self.amps = 0.0
        # evcc's automatic phases: its phase timer runs the enable delay up, the disable delay down
        self.switching = switching
        self.phase_since: Optional[float] = None
        self.phase_want: Optional[int] = None
        self.phase_pending: Optional[int] = None  # paused until the charger takes the new count

    def __call__(self, now: float, r: SiteReading, ev: EvModel) -> Command:
        if not ev.connected(now):
            self.amps, self.enable_since, self.disable_since = 0.0, None, None
            return 0.0, None
        if self.phase_pending is not None:
            if ev.charger_phases != self.phase_pending:
                return 0.0, self.phase_pending
            self.phase_pending = None
            self.next_t = now + self.interval_s
            return self.amps, None
        if self.next_t is not None and now < self.next_t:
            return self.amps, None
        self.next_t = now + self.interval_s
        phases = ev.phases
        share = r.battery_w if r.soc >= self.s.battery_priority_soc else min(r.battery_w, 0.0)
        # evcc forces a 100 W residual below prioritySoc so the battery still sees surplus (#16632)
        residual = 100.0 if r.soc < self.s.battery_priority_soc else 0.0
        surplus = ev.current_a * VOLTS * phases - sum(r.grid_w) + share - residual
        target = min(16.0, surplus / (phases * VOLTS))
        if self.switching:
            switched = self._scale_phases(now, surplus, ev)
            if switched is not None:
                return switched
        if self.amps <= 0:
            if target >= 6.0:
                self.enable_since = self.enable_since if self.enable_since is not None else now
                if now - self.enable_since >= self.enable_s:
                    self.amps, self.enable_since = target, None
            else:
                self.enable_since = None
        elif target < 6.0:
            self.disable_since = self.disable_since if self.disable_since is not None else now
            if now - self.disable_since >= self.disable_s:
                self.amps, self.disable_since = 0.0, None
            else:
                self.amps = 6.0
        else:
            self.amps, self.disable_since = target, None
        return self.amps, None

    def _scale_phases(self, now: float, surplus_w: float, ev: EvModel) -> Optional[Command]:
        """evcc's pvScalePhases: 3 → 1 when the 3-phase minimum is not covered but the 1-phase
        one is, for the disable delay; 1 → 3 when the 3-phase minimum is covered, for the enable
        delay. A switch pauses the car (the charger takes 1215 only while nothing is drawn)."""
        min1, min3 = 6.0 * VOLTS, 3 * 6.0 * VOLTS
        want: Optional[int] = None
        if ev.charger_phases == 3 and min1 <= surplus_w < min3:
            want = 1
        elif ev.charger_phases == 1 and surplus_w >= min3:
            want = 3
        if want is None or want != self.phase_want:
            self.phase_want, self.phase_since = want, (now if want is not None else None)
            return None
        delay = self.disable_s if want == 1 else self.enable_s
        if self.phase_since is None or now - self.phase_since < delay:
            return None
        self.phase_want, self.phase_since = None, None
        self.enable_since = self.disable_since = None
        # evcc pauses, switches and resumes at the minimum of the new phase count
        self.amps = 6.0 if ev.current_a > 0 or self.amps > 0 else 0.0
        self.phase_pending = want
        return 0.0, want
