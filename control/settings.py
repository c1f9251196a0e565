"""The controller's knobs, read once from the validated config into a frozen ``CoreSettings``.

Every field maps to a config key (section.key in the comment). Keys the schema does not have yet
are read with ``.get(key, default)`` so an older schema still works; they are listed in
``NEW_KEYS`` for the schema owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Final, Optional, Tuple

MIN_CURRENT_A: Final = 6.0  # IEC 61851 PWM cannot advertise less

# Keys read here that schemas/config.schema.json does not define yet (with their defaults).
NEW_KEYS: Final[Dict[str, Any]] = {  # now in the schema too; kept as fallbacks
    "auto.min_current_a": 6.0,
    "auto.phase_pause_s": 10.0,
    "auto.phase_settle_s": 30.0,
    "auto.low_soc_hysteresis": 3.0,
    "auto.trend_s": 300.0,
    "auto.start_margin_w": 0.0,
    "auto.start_delay_stretch": 1.0,
    "auto.buffer_stop_delay_s": 180.0,
    "auto.phase_down_delay_s": 120.0,
}


@dataclass(frozen=True)
class Window:
    """One time window: on the days in ``days_mask`` (Sun=1 … Sat=64) from start to end.

    ``end_min <= start_min`` is an overnight window that runs into the next day; it belongs to the
    day it starts on. ``start_min == end_min`` means the whole day.
    """

    days_mask: int
    start_min: int  # minutes after local midnight
    end_min: int
    current_a: Optional[float] = None  # None: the user's max current


@dataclass(frozen=True)
class CoreSettings:
    # victron.*
    voltage_v: float = 230.0  # victron.nominal_voltage_v
    fuse_limit_a: float = 25.0  # victron.fuse_limit_a
    # defaults.* / controls.*
    station_max_a: float = 32.0  # defaults.station_max_current (when 1100 is unreadable)
    max_set_current_a: float = 64.0  # controls.max_set_current
    # auto.*
    min_current_a: float = MIN_CURRENT_A
    start_delay_s: float = 60.0
    # Without a battery: the grid energy the car may draw in a dip before it stops, as seconds
    # at its full minimum (longer when the sun still covers part of it); with one: seconds.
    stop_delay_s: float = 90.0
    min_on_s: float = 300.0
    min_off_s: float = 120.0
    deadband_a: float = 0.5
    smoothing_s: float = 20.0
    battery_priority_soc: float = 80.0
    # After the day's PV peak, the battery's charging counts as surplus only above this SOC
    # (None: battery_priority_soc all day). 95 keeps the afternoon sun for a battery that would
    # not fill otherwise: no evening import caused by the car, a little less solar in the car.
    afternoon_battery_soc: Optional[float] = None
    pv_trend_s: float = 1800.0  # time constant of the slow PV average that finds the day's peak
    # At or above this SOC a charging car is offered up to full_battery_topup_w more than the
    # surplus: the nearly full battery tops it up and the sun refills it (None: off).
    full_battery_soc: Optional[float] = 95.0
    full_battery_topup_w: float = 2000.0
    # With a PV forecast and the battery's capacity, the car shares the battery's charge only
    # while the forecast sun left today still fills the battery. The capacity is this when set,
    # else what the runner learned from the battery's SOC and power (control/battery_capacity.py).
    battery_check: bool = True
    battery_capacity_kwh: Optional[float] = None
    low_soc_margin: float = 5.0
    low_soc_hysteresis: float = 3.0
    reserve_w: float = 0.0
    allow_grid_w: float = 0.0
    phase_up_w: float = 4500.0  # 1→3 when the surplus is above this (fast and trend)
    phase_down_w: float = 4000.0  # 3→1 when the trend is below this for phase_down_delay_s
    phase_delay_s: float = 120.0  # 1→3: how long the surplus must hold
    phase_cooldown_s: float = 720.0
    phase_down_delay_s: float = 120.0  # 3→1: how long the trend must stay low
    trend_s: float = 300.0  # time constant of the slow surplus average (phases, start delay)
    start_margin_w: float = 0.0  # start only with this much more than the minimum power
    start_delay_stretch: float = 1.0  # start delay × up to this when PV − house swings a lot
    buffer_stop_delay_s: float = 180.0  # stop delay while the battery is above priority SOC
    phase_pause_s: float = 10.0  # pause → switch: let the car stop drawing first
    phase_settle_s: float = 30.0  # switch → resume: let the contactors and the car settle
    # schedule.items, tibber.*, scheduled.*, timezone
    windows: Tuple[Window, ...] = ()
    tibber_enabled: bool = False
    strategy: str = "level"
    charge_on_cheap: bool = True
    charge_on_very_cheap: bool = True
    max_price_total: float = 0.0
    cheap_percentile: float = 0.3
    deadline_energy_kwh: float = 0.0
    deadline_time: str = "07:00"
    pv_forecast: bool = False
    timezone: str = "Europe/Amsterdam"

    def check_capacity_kwh(self, learned_kwh: Optional[float]) -> Optional[float]:
        """The battery capacity AUTO's battery check works with: the configured one, else the
        learned one; None with the check off."""
        if not self.battery_check:
            return None
        return self.battery_capacity_kwh if self.battery_capacity_kwh is not None else learned_kwh

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> CoreSettings:
        """From a config returned by ``common.config.load_config``/``validate_config``."""
        from control.scheduled import parse_windows  # scheduled imports this module

        vic = cfg.get("victron", {})
        auto = cfg.get("auto", {})
        tib = cfg.get("tibber", {})
        sch = cfg.get("scheduled", {})
        d = cls()
        return cls(
            voltage_v=float(vic.get("nominal_voltage_v", d.voltage_v)),
            fuse_limit_a=float(vic.get("fuse_limit_a", d.fuse_limit_a)),
            station_max_a=float(cfg.get("defaults", {}).get("station_max_current", 32.0)),
            max_set_current_a=float(cfg.get("controls", {}).get("max_set_current", 64.0)),
            min_current_a=float(auto.get("min_current_a", d.min_current_a)),
            start_delay_s=float(auto.get("start_delay_s", d.start_delay_s)),
            stop_delay_s=float(auto.get("stop_delay_s", d.stop_delay_s)),
            min_on_s=float(auto.get("min_on_s", d.min_on_s)),
            min_off_s=float(auto.get("min_off_s", d.min_off_s)),
            deadband_a=float(auto.get("deadband_a", d.deadband_a)),
            smoothing_s=float(auto.get("smoothing_s", d.smoothing_s)),
            battery_priority_soc=float(auto.get("battery_priority_soc", d.battery_priority_soc)),
            afternoon_battery_soc=_optional_float(auto.get("afternoon_battery_soc")),
            full_battery_soc=_optional_float(auto.get("full_battery_soc", d.full_battery_soc)),
            full_battery_topup_w=float(auto.get("full_battery_topup_w", d.full_battery_topup_w)),
            battery_check=bool(auto.get("battery_check", d.battery_check)),
            battery_capacity_kwh=_optional_float(auto.get("battery_capacity_kwh")),
            low_soc_margin=float(auto.get("low_soc_margin", d.low_soc_margin)),
            low_soc_hysteresis=float(auto.get("low_soc_hysteresis", d.low_soc_hysteresis)),
            reserve_w=float(auto.get("reserve_w", d.reserve_w)),
            allow_grid_w=float(auto.get("allow_grid_w", d.allow_grid_w)),
            phase_up_w=float(auto.get("phase_switch_up_w", d.phase_up_w)),
            phase_down_w=float(auto.get("phase_switch_down_w", d.phase_down_w)),
            phase_delay_s=float(auto.get("phase_switch_delay_s", d.phase_delay_s)),
            phase_cooldown_s=float(auto.get("phase_switch_cooldown_s", d.phase_cooldown_s)),
            phase_down_delay_s=float(auto.get("phase_down_delay_s", d.phase_down_delay_s)),
            trend_s=float(auto.get("trend_s", d.trend_s)),
            start_margin_w=float(auto.get("start_margin_w", d.start_margin_w)),
            start_delay_stretch=float(auto.get("start_delay_stretch", d.start_delay_stretch)),
            buffer_stop_delay_s=float(auto.get("buffer_stop_delay_s", d.buffer_stop_delay_s)),
            phase_pause_s=float(auto.get("phase_pause_s", d.phase_pause_s)),
            phase_settle_s=float(auto.get("phase_settle_s", d.phase_settle_s)),
            windows=parse_windows(cfg.get("schedule", {}).get("items", [])),
            tibber_enabled=bool(tib.get("enabled", False)),
            strategy=str(tib.get("strategy", d.strategy)),
            charge_on_cheap=bool(tib.get("charge_on_cheap", True)),
            charge_on_very_cheap=bool(tib.get("charge_on_very_cheap", True)),
            max_price_total=float(tib.get("max_price_total", 0.0)),
            cheap_percentile=float(tib.get("cheap_percentile", d.cheap_percentile)),
            deadline_energy_kwh=float(sch.get("deadline_energy_kwh", 0.0)),
            deadline_time=str(sch.get("deadline_time", d.deadline_time)),
            pv_forecast=bool(sch.get("pv_forecast", False)),
            timezone=str(cfg.get("timezone", d.timezone)),
        )


def _optional_float(value: Any) -> Optional[float]:
    return None if value is None else float(value)
