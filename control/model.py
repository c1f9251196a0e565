"""The controller's vocabulary: what goes into a decision and what comes out.

``decide(snap, mem, settings) -> (Decision, Memory)`` (control/core.py) is a pure function of
these frozen dataclasses: no I/O, no clock reads, no logging. The runner (control/runner.py)
builds a ``Snapshot`` from MQTT, calls ``decide``, publishes the ``Decision`` and persists
``Memory``. Keep this module free of behaviour so both sides can depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, FrozenSet, Optional, Tuple, Type, TypeVar

from common.evcs import STATUS_TEXT, Mode, Status

__all__ = ["STATUS_TEXT", "Mode", "Status"]  # the codes live in common.evcs; re-exported here


@dataclass(frozen=True)
class ChargerView:
    """What the controller needs of ``{base}/state`` (None = unknown)."""

    online: bool = False  # bridge availability online and Modbus connected
    mode3: Optional[str] = None
    vehicle_connected: bool = False
    charging: bool = False
    fault: bool = False
    power_w: Optional[float] = None
    phase_current_a: Tuple[Optional[float], Optional[float], Optional[float]] = (None, None, None)
    phase_voltage_v: Tuple[Optional[float], Optional[float], Optional[float]] = (None, None, None)
    energy_wh: Optional[float] = None  # lifetime register 374
    phases_measured: Optional[int] = None
    phases_configured: Optional[int] = None  # register 1215: what the charger is set to use
    station_max_current_a: Optional[float] = None
    phase_switching_available: bool = True  # False once the charger refused 1215
    age_s: float = 0.0  # seconds since the state was published


@dataclass(frozen=True)
class SiteView:
    """The Victron system as Venus publishes it (None = unknown or stale)."""

    grid_power_w: Tuple[Optional[float], Optional[float], Optional[float]] = (None, None, None)
    pv_power_w: Optional[float] = None  # Dc/Pv + PvOnGrid + PvOnOutput
    consumption_w: Tuple[Optional[float], Optional[float], Optional[float]] = (None, None, None)
    battery_soc: Optional[float] = None
    battery_power_w: Optional[float] = None  # + charging, − discharging (Venus convention)
    ess_min_soc: Optional[float] = None
    fresh: bool = False  # every value AUTO needs is present and recent


@dataclass(frozen=True)
class PriceSlot:
    start: float  # unix seconds
    end: float
    price: float  # per kWh, total incl. taxes
    level: Optional[str] = None  # Tibber level: VERY_CHEAP … VERY_EXPENSIVE


@dataclass(frozen=True)
class Prices:
    slots: Tuple[PriceSlot, ...] = ()
    source: str = "none"  # "tibber", "static", "none"
    error: Optional[str] = None  # why prices are missing (shown in the reason)


@dataclass(frozen=True)
class UserSettings:
    """What the user chose (persisted by the runner)."""

    mode: Mode = Mode.MANUAL
    enabled: bool = True  # /StartStop
    auto_start: bool = True
    set_current_a: float = 6.0
    max_current_a: float = 32.0
    deadline: Optional[Tuple[float, str]] = None  # (energy_kwh, "HH:MM")


@dataclass(frozen=True)
class ForecastSlot:
    """Expected PV surplus (after the house) in [start, end), for SCHEDULED planning."""

    start: float  # unix seconds
    end: float
    surplus_w: float


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision may look at, taken at one instant."""

    now: float  # unix seconds (the runner's clock; tests pass simulated time)
    charger: ChargerView
    site: SiteView
    prices: Prices
    user: UserSettings
    pv_forecast: Tuple[ForecastSlot, ...] = ()  # optional; used when scheduled.pv_forecast
    # learned by the runner (control/battery_capacity.py); auto.battery_capacity_kwh overrides it
    battery_capacity_kwh: Optional[float] = None


@dataclass(frozen=True)
class Memory:
    """What the core remembers between decisions: timers are timestamps ("since when")."""

    surplus_since: Optional[float] = None
    deficit_since: Optional[float] = None
    charging_since: Optional[float] = None
    stopped_since: Optional[float] = None
    filtered_surplus_w: Optional[float] = None
    last_amps: float = 0.0
    phases: int = 3
    phase_candidate: Optional[int] = None
    phase_candidate_since: Optional[float] = None
    last_phase_switch: Optional[float] = None
    switch_stage: Optional[str] = None  # None, "pausing", "switching", "settling"
    switch_stage_since: Optional[float] = None
    # Added for the core (all defaulted, so older persisted Memory still loads):
    filtered_at: Optional[float] = None  # when filtered_surplus_w was last updated
    switch_target: Optional[int] = None  # phase count a running switch sequence goes to
    low_soc: bool = False  # Low-SOC pause latched (released with hysteresis)
    mode: Optional[int] = None  # mode of the previous decision (a mode change resets timers)
    plan_key: Optional[str] = None  # "<kWh>@<HH:MM>" of the running deadline plan
    plan_anchor_wh: Optional[float] = None  # charger energy register when the plan began
    # AUTO's slow averages and latches (control/auto.py); all None/False until first seen
    pv_slow_w: Optional[float] = None  # PV power, slow mean: the day's curve
    pv_at: Optional[float] = None  # when pv_slow_w was last updated
    pv_peak_w: Optional[float] = None  # the highest pv_slow_w today: past it, the sun declines
    trend_w: Optional[float] = None  # surplus, slow mean (phase switching, start decisions)
    trend_at: Optional[float] = None
    pv_minus_house_w: Optional[float] = None  # what the sky gives beyond the house, slow mean
    pv_minus_house_at: Optional[float] = None
    pv_minus_house_dev_w: Optional[float] = None  # its mean deviation: how fast clouds pass
    dip_grid_ws: Optional[float] = None  # grid energy (W·s) the car drew in the current dip
    dip_grid_at: Optional[float] = None
    topup: bool = False  # the full battery's top-up is on (hysteresis)
    plan_deadline: Optional[float] = None  # unix seconds the plan must be done by
    plan_power_w: Optional[float] = None  # charging power the car really takes (learned)
    car_single_phase: bool = False  # this car drew on one phase while offered three


@dataclass(frozen=True)
class Step:
    """What one mode (or the switch sequence) proposes; core.decide applies the limits."""

    amps: float
    phases: Optional[int]
    status: Status
    reason: str
    mem: Memory
    plan: Tuple[PriceSlot, ...] = ()
    details: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    amps: float  # setpoint for cmd/current (0 pauses)
    phases: Optional[int]  # desired phase count, None = leave as is
    status: Status
    reason: str  # plain text for control/state ("waiting for 1.4 kW more surplus")
    plan: Tuple[PriceSlot, ...] = ()  # SCHEDULED: the chosen slots
    details: Dict[str, Any] = field(default_factory=dict)


_T = TypeVar("_T")
_FIELDS: Dict[Type[Any], FrozenSet[str]] = {}


def evolve(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for these frozen dataclasses (no ``__post_init__``, no init-only
    fields), without rebuilding every field through ``__init__``: the core replaces its Memory
    about ten times a decision, and the generic replace was half of a decision's CPU time."""
    cls = type(obj)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    new = object.__new__(cls)
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new
