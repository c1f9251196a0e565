"""The controller's vocabulary: what goes into a decision and what comes out.

``decide(snap, mem, settings) -> (Decision, Memory)`` (control/core.py) is a pure function of
these frozen dataclasses: no I/O, no clock reads, no logging. The runner (control/runner.py)
builds a ``Snapshot`` from MQTT, calls ``decide``, publishes the ``Decision`` and persists
``Memory``. Keep this module free of behaviour so both sides can depend on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any, Dict, FrozenSet, Optional, Tuple, Type, TypeVar


class Mode(enum.IntEnum):
    MANUAL = 0
    AUTO = 1
    SCHEDULED = 2


class Status(enum.IntEnum):
    """Victron EVCS /Status codes (reference/victron-dbus-mqtt.md §2.3)."""

    DISCONNECTED = 0
    CONNECTED = 1
    CHARGING = 2
    CHARGED = 3
    WAIT_SUN = 4
    WAIT_RFID = 5
    WAIT_START = 6
    LOW_SOC = 7
    GROUND_FAULT = 8
    WELDED_CONTACTS = 9
    CP_SHORTED = 10
    RESIDUAL_CURRENT = 11
    UNDERVOLTAGE = 12
    OVERVOLTAGE = 13
    OVERTEMPERATURE = 14
    CHARGING_LIMIT = 20
    START_CHARGING = 21
    SWITCHING_TO_3P = 22
    SWITCHING_TO_1P = 23
    STOP_CHARGING = 24


STATUS_TEXT: Dict[int, str] = {
    0: "Disconnected",
    1: "Connected",
    2: "Charging",
    3: "Charged",
    4: "Waiting for sun",
    5: "Waiting for RFID",
    6: "Waiting for start",
    7: "Low SOC",
    8: "Ground test error",
    9: "Welded contacts test error",
    10: "CP input test error",
    11: "Residual current detected",
    12: "Undervoltage detected",
    13: "Overvoltage detected",
    14: "Overheating detected",
    20: "Charging limit",
    21: "Start charging",
    22: "Switching to 3 phase",
    23: "Switching to 1 phase",
    24: "Stop charging",
}


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
    extra: Tuple[Tuple[str, Any], ...] = ()  # room for mode-specific state, kept hashable
    # Added for the core (all defaulted, so older persisted Memory still loads):
    filtered_at: Optional[float] = None  # when filtered_surplus_w was last updated
    switch_target: Optional[int] = None  # phase count a running switch sequence goes to
    low_soc: bool = False  # Low-SOC pause latched (released with hysteresis)
    mode: Optional[int] = None  # mode of the previous decision (a mode change resets timers)
    plan_key: Optional[str] = None  # "<kWh>@<HH:MM>" of the running deadline plan
    plan_anchor_wh: Optional[float] = None  # charger energy register when the plan began
    plan_deadline: Optional[float] = None  # unix seconds the plan must be done by
    plan_power_w: Optional[float] = None  # charging power the car really takes (learned)
    car_single_phase: bool = False  # this car drew on one phase while offered three


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
