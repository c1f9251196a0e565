"""The controller's knobs, read once from the validated config into a frozen ``CoreSettings``.

Every field that comes from the config names its key (``section.key``) in its metadata; its
default is the schema's (schemas/config.schema.json), the one place a config default is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from common.config_fields import config_field as _config
from common.config_fields import optional_float as _optional_float
from common.config_fields import read_fields
from control.local_time import minutes


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
    voltage_v: float = _config("victron.nominal_voltage_v")
    fuse_limit_a: float = _config("victron.fuse_limit_a")
    # defaults.* / controls.*
    station_max_a: float = _config("defaults.station_max_current")  # when 1100 is unreadable
    max_set_current_a: float = _config("controls.max_set_current")
    # auto.*
    min_current_a: float = _config("auto.min_current_a")
    start_delay_s: float = _config("auto.start_delay_s")
    # Without a battery: the grid energy the car may draw in a dip before it stops, as seconds
    # at its full minimum (longer when the sun still covers part of it); with one: seconds.
    stop_delay_s: float = _config("auto.stop_delay_s")
    min_on_s: float = _config("auto.min_on_s")
    min_off_s: float = _config("auto.min_off_s")
    deadband_a: float = _config("auto.deadband_a")
    smoothing_s: float = _config("auto.smoothing_s")
    battery_priority_soc: float = _config("auto.battery_priority_soc")
    # After the day's PV peak, the battery's charging counts as surplus only above this SOC
    # (None: battery_priority_soc all day). 95 keeps the afternoon sun for a battery that would
    # not fill otherwise: no evening import caused by the car, a little less solar in the car.
    afternoon_battery_soc: Optional[float] = _config("auto.afternoon_battery_soc", _optional_float)
    pv_trend_s: float = 1800.0  # time constant of the slow PV average that finds the day's peak
    # At or above this SOC a charging car is offered up to full_battery_topup_w more than the
    # surplus: the nearly full battery tops it up and the sun refills it (None: off).
    full_battery_soc: Optional[float] = _config("auto.full_battery_soc", _optional_float)
    full_battery_topup_w: float = _config("auto.full_battery_topup_w")
    # With a PV forecast and the battery's capacity, the car shares the battery's charge only
    # while the forecast sun left today still fills the battery. The capacity is this when set,
    # else what the runner learned from the battery's SOC and power (control/battery_capacity.py).
    battery_check: bool = _config("auto.battery_check", bool)
    battery_capacity_kwh: Optional[float] = _config("auto.battery_capacity_kwh", _optional_float)
    low_soc_margin: float = _config("auto.low_soc_margin")
    low_soc_hysteresis: float = _config("auto.low_soc_hysteresis")
    reserve_w: float = _config("auto.reserve_w")
    allow_grid_w: float = _config("auto.allow_grid_w")
    # 1→3 when the surplus is above phase_up_w (fast and trend) for phase_delay_s; 3→1 when the
    # trend is below phase_down_w for phase_down_delay_s.
    phase_up_w: float = _config("auto.phase_switch_up_w")
    phase_down_w: float = _config("auto.phase_switch_down_w")
    phase_delay_s: float = _config("auto.phase_switch_delay_s")
    phase_cooldown_s: float = _config("auto.phase_switch_cooldown_s")
    phase_down_delay_s: float = _config("auto.phase_down_delay_s")
    # time constant of the slow surplus average (phases, start delay)
    trend_s: float = _config("auto.trend_s")
    # start only with this much more than the minimum power
    start_margin_w: float = _config("auto.start_margin_w")
    # start delay × up to this when PV − house swings a lot
    start_delay_stretch: float = _config("auto.start_delay_stretch")
    # stop delay while the battery is above priority SOC
    buffer_stop_delay_s: float = _config("auto.buffer_stop_delay_s")
    phase_pause_s: float = _config("auto.phase_pause_s")  # pause → switch: the car stops drawing
    phase_settle_s: float = _config("auto.phase_settle_s")  # switch → resume: contactors settle
    # schedule.items, tibber.*, scheduled.*, timezone
    windows: Tuple[Window, ...] = ()
    tibber_enabled: bool = _config("tibber.enabled", bool)
    strategy: str = _config("tibber.strategy", str)
    charge_on_cheap: bool = _config("tibber.charge_on_cheap", bool)
    charge_on_very_cheap: bool = _config("tibber.charge_on_very_cheap", bool)
    max_price_total: float = _config("tibber.max_price_total")
    cheap_percentile: float = _config("tibber.cheap_percentile")
    deadline_energy_kwh: float = _config("scheduled.deadline_energy_kwh")
    deadline_time: str = _config("scheduled.deadline_time", str)
    pv_forecast: bool = _config("scheduled.pv_forecast", bool)
    timezone: str = _config("timezone", str)

    def check_capacity_kwh(self, learned_kwh: Optional[float]) -> Optional[float]:
        """The battery capacity AUTO's battery check works with: the configured one, else the
        learned one; None with the check off."""
        if not self.battery_check:
            return None
        return self.battery_capacity_kwh if self.battery_capacity_kwh is not None else learned_kwh

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> CoreSettings:
        """From a config returned by ``common.config.load_config``/``validate_config``; a key
        it lacks takes the schema's default."""

        values = read_fields(cls, cfg)
        items = cfg.get("schedule", {}).get("items") or []  # no items: no windows
        return cls(windows=parse_windows(items), **values)


def _flag(value: Any) -> bool:
    return bool(value) if value is not None else True


def parse_windows(items: Iterable[Dict[str, Any]]) -> Tuple[Window, ...]:
    """Both item forms: legacy ``enabled/days_mask/start/end`` and ``active/days/start_time/end_time``
    (``days``: 0=Mon … 6=Sun). Disabled items and items without times are dropped."""
    out: List[Window] = []
    for item in items:
        if not _flag(item.get("enabled", item.get("active"))):
            continue
        if not _flag(item.get("active", True)):
            continue
        start = item.get("start_time", item.get("start"))
        end = item.get("end_time", item.get("end"))
        if not start or not end:
            continue
        if item.get("days") is not None:
            mask = sum(1 << ((int(d) + 1) % 7) for d in set(item["days"]))
        else:
            mask = int(item.get("days_mask", 127))
        cur = item.get("current")
        out.append(Window(mask, minutes(start), minutes(end), None if cur is None else float(cur)))
    return tuple(out)
